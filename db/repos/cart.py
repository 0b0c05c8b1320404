"""cart_items: one line per (customer, product), with the price seen when it was added."""

from __future__ import annotations

from decimal import Decimal

from db.models import CartItem
from db.pool import Executor


async def list_for_user(db: Executor, user_id: int) -> list[CartItem]:
    rows = await db.fetch(
        """SELECT id, user_id, product_id, quantity, price_snapshot FROM cart_items
           WHERE user_id = $1 ORDER BY id""",
        user_id,
    )
    return CartItem.from_records(rows)


async def set_quantity(
    db: Executor, user_id: int, product_id: int, quantity: int, price_snapshot: Decimal
) -> None:
    """Upsert the line; quantity 0 removes it."""
    if quantity <= 0:
        await db.execute(
            "DELETE FROM cart_items WHERE user_id = $1 AND product_id = $2", user_id, product_id
        )
        return
    await db.execute(
        """INSERT INTO cart_items (user_id, product_id, quantity, price_snapshot)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (user_id, product_id) DO UPDATE
           SET quantity = EXCLUDED.quantity, price_snapshot = EXCLUDED.price_snapshot""",
        user_id, product_id, quantity, price_snapshot,
    )


async def refresh_snapshot(db: Executor, user_id: int, product_id: int, price: Decimal) -> None:
    await db.execute(
        "UPDATE cart_items SET price_snapshot = $3 WHERE user_id = $1 AND product_id = $2",
        user_id, product_id, price,
    )


async def clear(db: Executor, user_id: int) -> None:
    await db.execute("DELETE FROM cart_items WHERE user_id = $1", user_id)


async def get_line(db: Executor, user_id: int, product_id: int) -> CartItem | None:
    row = await db.fetchrow(
        """SELECT id, user_id, product_id, quantity, price_snapshot FROM cart_items
           WHERE user_id = $1 AND product_id = $2""",
        user_id, product_id,
    )
    return CartItem.from_record(row) if row else None


async def count_lines(db: Executor, user_id: int) -> int:
    value: int = await db.fetchval("SELECT count(*) FROM cart_items WHERE user_id = $1", user_id)
    return value
