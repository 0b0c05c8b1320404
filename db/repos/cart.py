"""cart_items: one line per (customer, product), with the price seen when it was added."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from db.models import CartItem, Product
from db.pool import Executor
from db.repos.products import COLUMN_NAMES as PRODUCT_COLUMNS


async def list_for_user(db: Executor, user_id: int) -> list[CartItem]:
    rows = await db.fetch(
        """SELECT id, user_id, product_id, quantity, price_snapshot FROM cart_items
           WHERE user_id = $1 ORDER BY id""",
        user_id,
    )
    return CartItem.from_records(rows)


async def refresh_snapshot(db: Executor, user_id: int, product_id: int, price: Decimal) -> None:
    await db.execute(
        "UPDATE cart_items SET price_snapshot = $3 WHERE user_id = $1 AND product_id = $2",
        user_id, product_id, price,
    )


async def clear(db: Executor, user_id: int) -> None:
    await db.execute("DELETE FROM cart_items WHERE user_id = $1", user_id)


async def count_lines(db: Executor, user_id: int) -> int:
    value: int = await db.fetchval("SELECT count(*) FROM cart_items WHERE user_id = $1", user_id)
    return value


async def product_state(db: Executor, user_id: int, product_id: int) -> tuple[int, bool]:
    """(units of the product in the customer's cart, 0 when none; is it among their favorites)."""
    row = await db.fetchrow(
        """SELECT coalesce((SELECT quantity FROM cart_items WHERE user_id = $1 AND product_id = $2), 0) AS in_cart,
                  EXISTS (SELECT 1 FROM favorites WHERE user_id = $1 AND product_id = $2) AS is_favorite""",
        user_id, product_id,
    )
    assert row is not None
    return int(row["in_cart"]), bool(row["is_favorite"])


def line_of(row: asyncpg.Record, user_id: int) -> tuple[CartItem, Product]:
    """A cart line and its product from a row of `c.id AS cart_item_id, c.quantity AS
    cart_quantity, c.price_snapshot` and the product's columns."""
    return (CartItem(row["cart_item_id"], user_id, row["id"], row["cart_quantity"], row["price_snapshot"]),
            Product.from_record(row))


async def list_with_products(db: Executor, user_id: int) -> list[tuple[CartItem, Product]]:
    """The customer's cart lines with their products as they are now, in one query."""
    rows = await db.fetch(
        f"""SELECT c.id AS cart_item_id, c.quantity AS cart_quantity, c.price_snapshot,
                   {", ".join("p." + column for column in PRODUCT_COLUMNS)}
            FROM cart_items c JOIN products p ON p.id = c.product_id
            WHERE c.user_id = $1 ORDER BY c.id""",
        user_id,
    )
    return [line_of(row, user_id) for row in rows]


@dataclass(frozen=True, slots=True)
class CartWrite:
    """What `put` did: `outcome` is "ok" (the line was written), "removed" (quantity 0), or why
    the write was refused ("not_found", "not_sold", "sold_out", "not_enough", "cart_full");
    `lines` the cart after it; `product` the product asked for as it is now (None when no such)."""

    outcome: str
    lines: list[tuple[CartItem, Product]]
    product: Product | None


async def put(db: Executor, user_id: int, product_id: int, quantity: int, max_lines: int) -> CartWrite:
    """Set the customer's line of the product to `quantity` (0 removes it) at today's price, under
    the customer's lock, in one round trip: store_cart_put (migration 0010) holds the rules and
    commits without waiting for the disk. Run it outside a transaction (it is its own)."""
    rows = await db.fetch("SELECT * FROM store_cart_put($1, $2, $3, $4)", user_id, product_id, quantity, max_lines)
    lines: list[tuple[CartItem, Product]] = []
    target: Product | None = None
    for row in rows:
        product = Product.from_record(row["product"]) if row["product"] is not None else None
        if row["cart_item_id"] is not None and product is not None:
            lines.append((CartItem(row["cart_item_id"], user_id, product.id, row["cart_quantity"],
                                   row["price_snapshot"]), product))
        if product is not None and product.id == product_id:
            target = product
    return CartWrite(str(rows[0]["outcome"]), lines, target)
