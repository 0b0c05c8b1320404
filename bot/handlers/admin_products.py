"""Admins: /product SKU, /stock SKU QTY, /price SKU PRICE [SALE_PRICE], /lowstock [N].

Changes go through `store.services.products_admin`, which tells the marketplaces after commit.
"""

from __future__ import annotations

import asyncpg
from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from arq.connections import ArqRedis

from bot import render, reports
from bot.filters import IsAdmin
from bot.messaging import answer
from db.repos import categories, marketplace_products, marketplaces, products
from store.errors import NotFound, ValidationFailed
from store.i18n import t
from store.services import products_admin
from store.settings import Settings
from store.validation import InvalidInput, clean_text, printable


def parse_sku(raw: str) -> str:
    """A SKU from a command: one line of printable text, at most 100 characters (VARCHAR(100))."""
    try:
        return clean_text(raw, max_length=100, multiline=False)
    except InvalidInput:
        raise ValidationFailed("admin.error.sku", value=printable(raw[:40])) from None


async def product_text(db: asyncpg.Pool, sku: str, lang: str) -> str:
    sku = parse_sku(sku)
    product = await products.get_by_sku(db, sku)
    if product is None:
        raise NotFound("admin.error.product_not_found", sku=sku)
    all_categories = {c.id: c for c in await categories.list_all(db)}
    by_id = {m.id: m for m in await marketplaces.list_all(db)}
    mappings = [(by_id[m.marketplace_id], m) for m in await marketplace_products.list_for_product(db, product.id)
                if m.marketplace_id in by_id]
    return render.product_card(product, render.category_path(product.category_id, all_categories), mappings, lang)


async def show_product(message: Message, command: CommandObject, db: asyncpg.Pool, lang: str) -> None:
    args = (command.args or "").split()
    if len(args) != 1:
        await message.answer(t("bot.product.usage", lang))
        return
    await message.answer(await product_text(db, args[0][:100], lang))


async def set_stock(message: Message, command: CommandObject, db: asyncpg.Pool, redis: ArqRedis,
                    lang: str) -> None:
    args = (command.args or "").split()
    if len(args) != 2:
        await message.answer(t("bot.stock.usage", lang))
        return
    quantity = products_admin.parse_quantity(args[1])
    result = await products_admin.set_stock(db, parse_sku(args[0]), quantity)
    await message.answer(t("bot.stock.done", lang, sku=render.esc(result.product.sku), old=result.previous,
                           new=result.product.stock_quantity))


async def set_price(message: Message, command: CommandObject, db: asyncpg.Pool, redis: ArqRedis,
                    lang: str) -> None:
    args = (command.args or "").split()
    if len(args) not in (2, 3):
        await message.answer(t("bot.price.usage", lang))
        return
    price = products_admin.parse_money(args[1])
    sale_price = products_admin.parse_money(args[2]) if len(args) == 3 else None
    result = await products_admin.set_price(db, parse_sku(args[0]), price, sale_price)
    product = result.product
    sale = render.money(product.sale_price, lang) if product.sale_price is not None else t("bot.price.no_sale", lang)
    await message.answer(t("bot.price.done", lang, sku=render.esc(product.sku),
                           old=render.money(result.previous_price, lang), new=render.money(product.price, lang),
                           sale=sale))


async def low_stock(message: Message, command: CommandObject, db: asyncpg.Pool, settings: Settings,
                    lang: str) -> None:
    args = (command.args or "").split()
    if len(args) > 1:
        await message.answer(t("bot.lowstock.usage", lang))
        return
    threshold = products_admin.parse_quantity(args[0]) if args else settings.low_stock_threshold
    await answer(message, await reports.low_stock_text(db, threshold, lang))


def create_router() -> Router:
    """A new router per dispatcher (an aiogram router can belong to one dispatcher only)."""
    router = Router(name=__name__)
    router.message.filter(IsAdmin())
    router.message.register(show_product, Command("product"))
    router.message.register(set_stock, Command("stock"))
    router.message.register(set_price, Command("price"))
    router.message.register(low_stock, Command("lowstock"))
    return router
