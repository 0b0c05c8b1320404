"""orders and order_items: every sale, from the Mini App and from the marketplaces."""

from __future__ import annotations

from db.models import Order, OrderItem
from db.pool import Executor

_COLUMNS = (
    "id, order_number, source, marketplace_order_id, user_id, customer_name, customer_phone, "
    "subtotal, delivery_fee, total, status, payment_status, delivery_address, delivery_notes, "
    "created_at, confirmed_at, delivered_at, cancelled_at"
)
_ITEM_COLUMNS = "id, order_id, product_id, product_name, product_sku, price, quantity, subtotal"


async def get(db: Executor, order_id: int) -> Order | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM orders WHERE id = $1", order_id)
    return Order.from_record(row) if row else None


async def get_by_number(db: Executor, order_number: str) -> Order | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM orders WHERE order_number = $1", order_number)
    return Order.from_record(row) if row else None


async def lock(db: Executor, order_id: int) -> Order | None:
    """The order row FOR UPDATE; needs a transaction."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM orders WHERE id = $1 FOR UPDATE", order_id)
    return Order.from_record(row) if row else None


async def list_for_user(db: Executor, user_id: int, limit: int = 50, offset: int = 0) -> list[Order]:
    rows = await db.fetch(
        f"""SELECT {_COLUMNS} FROM orders WHERE user_id = $1
            ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3""",
        user_id, limit, offset,
    )
    return Order.from_records(rows)


async def items(db: Executor, order_id: int) -> list[OrderItem]:
    rows = await db.fetch(f"SELECT {_ITEM_COLUMNS} FROM order_items WHERE order_id = $1 ORDER BY id", order_id)
    return OrderItem.from_records(rows)


async def items_for_orders(db: Executor, order_ids: list[int]) -> dict[int, list[OrderItem]]:
    rows = await db.fetch(
        f"SELECT {_ITEM_COLUMNS} FROM order_items WHERE order_id = any($1::int[]) ORDER BY id", order_ids
    )
    grouped: dict[int, list[OrderItem]] = {oid: [] for oid in order_ids}
    for row in rows:
        grouped[row["order_id"]].append(OrderItem.from_record(row))
    return grouped


async def count(db: Executor) -> int:
    value: int = await db.fetchval("SELECT count(*) FROM orders")
    return value
