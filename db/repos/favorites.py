"""favorites: a plain wish list."""

from __future__ import annotations

from db.pool import Executor


async def add(db: Executor, user_id: int, product_id: int) -> None:
    await db.execute(
        """INSERT INTO favorites (user_id, product_id) VALUES ($1, $2)
           ON CONFLICT (user_id, product_id) DO NOTHING""",
        user_id, product_id,
    )


async def remove(db: Executor, user_id: int, product_id: int) -> None:
    await db.execute("DELETE FROM favorites WHERE user_id = $1 AND product_id = $2", user_id, product_id)


async def product_ids(db: Executor, user_id: int) -> list[int]:
    rows = await db.fetch(
        "SELECT product_id FROM favorites WHERE user_id = $1 ORDER BY created_at DESC, id DESC", user_id
    )
    return [r["product_id"] for r in rows]
