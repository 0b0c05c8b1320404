"""Orders imported from the marketplaces: the idempotent insert into `orders` and the marketplace
side of each (table marketplace_orders: raw status, return flag, stock taken, audit payload)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from db.models import MarketplaceOrder, Order
from db.pool import Executor

_ORDER_COLUMNS = (
    "id, order_number, source, marketplace_order_id, user_id, customer_name, customer_phone, "
    "subtotal, delivery_fee, total, status, payment_status, delivery_address, delivery_notes, "
    "created_at, confirmed_at, delivered_at, cancelled_at"
)
_COLUMNS = "order_id, marketplace_id, raw_status, is_return, stock_taken, stock_short, stock_returned_at, imported_at"


async def insert_order(
    db: Executor, *, order_number: str, source: str, marketplace_order_id: str, customer_name: str,
    customer_phone: str, subtotal: Decimal, total: Decimal, status: str, payment_status: str,
    delivery_address: str | None, delivery_notes: str | None, created_at: datetime,
) -> Order | None:
    """Insert the order unless (source, marketplace_order_id) exists: the new row, or None when the
    order was already there (also when another transaction inserted it first: this waits for it).
    Entering confirmed / delivered / cancelled stamps the matching time column. Part of the caller's
    transaction."""
    row = await db.fetchrow(
        f"""INSERT INTO orders (order_number, source, marketplace_order_id, user_id, customer_name,
                customer_phone, subtotal, delivery_fee, total, status, payment_status, delivery_address,
                delivery_notes, created_at, confirmed_at, delivered_at, cancelled_at)
            VALUES ($1, $2, $3, NULL, $4, $5, $6, 0, $7, $8::text, $9, $10, $11, $12,
                    CASE WHEN $8::text IN ('confirmed', 'shipped', 'delivered') THEN now() AT TIME ZONE 'UTC' END,
                    CASE WHEN $8::text = 'delivered' THEN now() AT TIME ZONE 'UTC' END,
                    CASE WHEN $8::text = 'cancelled' THEN now() AT TIME ZONE 'UTC' END)
            ON CONFLICT (source, marketplace_order_id) DO NOTHING
            RETURNING {_ORDER_COLUMNS}""",
        order_number, source, marketplace_order_id, customer_name, customer_phone, subtotal, total, status,
        payment_status, delivery_address, delivery_notes, created_at,
    )
    return Order.from_record(row) if row else None


async def lock_order(db: Executor, source: str, marketplace_order_id: str) -> Order | None:
    """The order with this marketplace id, FOR UPDATE; needs a transaction."""
    row = await db.fetchrow(
        f"""SELECT {_ORDER_COLUMNS} FROM orders WHERE source = $1 AND marketplace_order_id = $2 FOR UPDATE""",
        source, marketplace_order_id,
    )
    return Order.from_record(row) if row else None


async def create(
    db: Executor, *, order_id: int, marketplace_id: int, raw_status: str, is_return: bool,
    stock_taken: dict[str, int], stock_short: dict[str, int], payload: dict[str, Any],
) -> None:
    """The marketplace side of a newly imported order; part of the same transaction as its insert."""
    await db.execute(
        """INSERT INTO marketplace_orders (order_id, marketplace_id, raw_status, is_return, stock_taken,
               stock_short, payload, imported_at, status_seen_at)
           VALUES ($1, $2, left($3, 64), $4, $5, $6, $7, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')""",
        order_id, marketplace_id, raw_status, is_return, stock_taken, stock_short, payload,
    )


async def get(db: Executor, order_id: int) -> MarketplaceOrder | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM marketplace_orders WHERE order_id = $1", order_id)
    return MarketplaceOrder.from_record(row) if row else None


async def note_status(
    db: Executor, order_id: int, raw_status: str, is_return: bool, payload: dict[str, Any] | None = None,
) -> None:
    """Remember the marketplace's latest status (and, when given, the order as it sent it this time)."""
    await db.execute(
        """UPDATE marketplace_orders SET raw_status = left($2, 64), is_return = is_return OR $3,
               payload = COALESCE($4::jsonb, payload), status_seen_at = now() AT TIME ZONE 'UTC'
           WHERE order_id = $1""",
        order_id, raw_status, is_return, payload,
    )


async def open_order_ids(db: Executor, source: str) -> list[str]:
    """Marketplace ids of this source's orders that can still change (not delivered, not cancelled)."""
    rows = await db.fetch(
        """SELECT marketplace_order_id FROM orders
           WHERE source = $1 AND marketplace_order_id IS NOT NULL AND status NOT IN ('delivered', 'cancelled')
           ORDER BY id""",
        source,
    )
    return [r["marketplace_order_id"] for r in rows]


async def oldest_watched(db: Executor, source: str, delivered_since: datetime) -> datetime | None:
    """Creation time of this source's oldest order that may still change on the marketplace: open
    (not delivered, not cancelled), or delivered since `delivered_since` (a return may follow)."""
    value: datetime | None = await db.fetchval(
        """SELECT min(created_at) FROM orders
           WHERE source = $1 AND marketplace_order_id IS NOT NULL
             AND (status NOT IN ('delivered', 'cancelled') OR (status = 'delivered' AND created_at >= $2))""",
        source, delivered_since,
    )
    return value


async def mark_stock_returned(db: Executor, order_id: int) -> bool:
    """Record that the order's taken stock went back; False when that had already happened (the
    caller then must not give it back again). Part of the caller's transaction."""
    value = await db.fetchval(
        """UPDATE marketplace_orders SET stock_returned_at = now() AT TIME ZONE 'UTC'
           WHERE order_id = $1 AND stock_returned_at IS NULL RETURNING order_id""",
        order_id,
    )
    return value is not None

