"""An admin changes a product's stock or price (the bot's /stock and /price).

Stock goes through `store.services.stock` and `events.stock_changed`, a price change through
`events.price_changed`, so the marketplaces hear about both. Each change is one transaction, its
events written in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import asyncpg

from db.models import Product
from db.repos import products
from store.errors import NotFound, ValidationFailed
from store.services import events, stock
from store.validation import InvalidInput, ascii_int, printable

MAX_STOCK = 1_000_000
MAX_PRICE = Decimal("99999999.99")  # NUMERIC(10,2)
_MONEY = re.compile(r"[0-9]{1,8}(?:\.[0-9]{1,2})?")
_MONEY_JUNK = re.compile(r"[\s\u00a0\u202f_']")


def parse_money(text: str) -> Decimal:
    """So'm as people write them: `125000`, `125 000`, `125000.50`, `125000,50`. Raises ValidationFailed."""
    cleaned = _MONEY_JUNK.sub("", text.strip())
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    if not _MONEY.fullmatch(cleaned):
        raise ValidationFailed("admin.error.money", value=printable(text.strip()[:40]))
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise ValidationFailed("admin.error.money", value=printable(text.strip()[:40])) from None
    if amount > MAX_PRICE:
        raise ValidationFailed("admin.error.money", value=printable(text.strip()[:40]))
    return amount


def parse_quantity(text: str) -> int:
    """Whole units 0..MAX_STOCK in ASCII digits ("²" and other digit-like characters are refused)."""
    try:
        return ascii_int(text, maximum=MAX_STOCK)
    except InvalidInput:
        raise ValidationFailed("admin.error.quantity", value=printable(text.strip()[:40]), max=MAX_STOCK) from None


def check_prices(price: Decimal, sale_price: Decimal | None) -> None:
    """A sale price is lower than the price (else it is not a sale); raises ValidationFailed."""
    if sale_price is not None and sale_price >= price:
        raise ValidationFailed("admin.error.sale_not_lower")


@dataclass(frozen=True, slots=True)
class StockSet:
    product: Product  # after the change
    previous: int


@dataclass(frozen=True, slots=True)
class PriceSet:
    product: Product  # after the change
    previous_price: Decimal
    previous_sale_price: Decimal | None


async def set_stock(pool: asyncpg.Pool, sku: str, quantity: int) -> StockSet:
    """Set the counted stock of `sku`. Raises NotFound; setting the same value twice is harmless
    (no marketplace push when nothing changed)."""
    if not 0 <= quantity <= MAX_STOCK:
        raise ValidationFailed("admin.error.quantity", value=quantity, max=MAX_STOCK)
    async with pool.acquire() as conn, conn.transaction():
        found = await products.lock_many_by_sku(conn, [sku])
        if not found:
            raise NotFound("admin.error.product_not_found", sku=sku)
        previous = await stock.set_quantity(conn, found[0].id, quantity)
        product = await products.get(conn, found[0].id)
        assert product is not None
        if previous != quantity:
            await events.stock_changed(conn, [product.id])
    return StockSet(product, previous)


async def set_price(
    pool: asyncpg.Pool, sku: str, price: Decimal, sale_price: Decimal | None,
) -> PriceSet:
    """Set the price and the sale price (None: no sale) of `sku`. Raises NotFound, ValidationFailed."""
    if not Decimal(0) <= price <= MAX_PRICE or (sale_price is not None and not Decimal(0) <= sale_price):
        raise ValidationFailed("admin.error.money", value=price)
    check_prices(price, sale_price)
    async with pool.acquire() as conn, conn.transaction():
        found = await products.lock_many_by_sku(conn, [sku])
        if not found:
            raise NotFound("admin.error.product_not_found", sku=sku)
        before = found[0]
        await products.set_prices(conn, before.id, price, sale_price)
        product = await products.get(conn, before.id)
        assert product is not None
        if (before.price, before.sale_price) != (product.price, product.sale_price):
            await events.price_changed(conn, [product.id])
    return PriceSet(product, before.price, before.sale_price)
