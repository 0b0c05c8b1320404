"""orders and order_items: every sale, from the Mini App and from the marketplaces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from db.models import Order, OrderItem, ProductSales, SourceSales
from db.pool import Executor

_COLUMNS = (
    "id, order_number, source, marketplace_order_id, user_id, customer_name, customer_phone, "
    "subtotal, delivery_fee, total, status, payment_status, delivery_address, delivery_notes, "
    "created_at, confirmed_at, delivered_at, cancelled_at"
)
_ITEM_COLUMNS = "id, order_id, product_id, product_name, product_sku, price, quantity, subtotal"
COLUMN_NAMES = tuple(name.strip() for name in _COLUMNS.split(","))
ITEM_COLUMN_NAMES = tuple(name.strip() for name in _ITEM_COLUMNS.split(","))


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


async def next_order_number(db: Executor, prefix: str = "AS") -> str:
    """A new unique, human-readable number: PREFIX-YYYY-NNNNNN (the year in Tashkent time).

    Numbers come from one sequence, so they never repeat, even across years; a rolled-back
    checkout leaves a gap, which is harmless."""
    value: str = await db.fetchval(
        """SELECT $1 || '-' || to_char(now() AT TIME ZONE 'Asia/Tashkent', 'YYYY') || '-'
                  || lpad(nextval('order_number_seq')::text, 6, '0')""",
        prefix,
    )
    return value


async def create(
    db: Executor, *, order_number: str, source: str, user_id: int | None, customer_name: str,
    customer_phone: str, subtotal: Decimal, delivery_fee: Decimal, total: Decimal,
    delivery_address: str | None, delivery_notes: str | None, marketplace_order_id: str | None = None,
) -> Order:
    """Insert the order (status pending, unpaid). Part of the caller's transaction."""
    row = await db.fetchrow(
        f"""INSERT INTO orders (order_number, source, marketplace_order_id, user_id, customer_name,
                customer_phone, subtotal, delivery_fee, total, status, payment_status,
                delivery_address, delivery_notes, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 'unpaid', $10, $11,
                    now() AT TIME ZONE 'UTC')
            RETURNING {_COLUMNS}""",
        order_number, source, marketplace_order_id, user_id, customer_name, customer_phone,
        subtotal, delivery_fee, total, delivery_address, delivery_notes,
    )
    assert row is not None
    return Order.from_record(row)


@dataclass(frozen=True, slots=True)
class NewOrderItem:
    """One line to snapshot into order_items."""

    product_id: int | None
    product_name: str
    product_sku: str
    price: Decimal
    quantity: int

    @property
    def subtotal(self) -> Decimal:
        return self.price * self.quantity


async def add_items(db: Executor, order_id: int, lines: list[NewOrderItem]) -> list[OrderItem]:
    rows = await db.fetch(
        f"""INSERT INTO order_items (order_id, product_id, product_name, product_sku, price, quantity, subtotal)
            SELECT $1, l.product_id, l.product_name, l.product_sku, l.price, l.quantity, l.subtotal
            FROM unnest($2::int[], $3::text[], $4::text[], $5::numeric[], $6::int[], $7::numeric[])
                 WITH ORDINALITY AS l(product_id, product_name, product_sku, price, quantity, subtotal, n)
            ORDER BY l.n
            RETURNING {_ITEM_COLUMNS}""",
        order_id, [x.product_id for x in lines], [x.product_name for x in lines],
        [x.product_sku for x in lines], [x.price for x in lines], [x.quantity for x in lines],
        [x.subtotal for x in lines],
    )
    return sorted(OrderItem.from_records(rows), key=lambda item: item.id)


async def lock_by_number(db: Executor, order_number: str) -> Order | None:
    """The order row FOR UPDATE, found by its number; needs a transaction."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM orders WHERE order_number = $1 FOR UPDATE", order_number)
    return Order.from_record(row) if row else None


# The timestamp column each status stamps when an order enters it.
_STATUS_STAMPS = {"confirmed": "confirmed_at", "delivered": "delivered_at", "cancelled": "cancelled_at"}


async def set_status(db: Executor, order_id: int, status: str) -> Order:
    """Write the new status and stamp its time column (confirmed_at, delivered_at, cancelled_at)."""
    stamp = _STATUS_STAMPS.get(status)
    assignments = "status = $2" + (f", {stamp} = now() AT TIME ZONE 'UTC'" if stamp else "")
    row = await db.fetchrow(f"UPDATE orders SET {assignments} WHERE id = $1 RETURNING {_COLUMNS}", order_id, status)
    assert row is not None
    return Order.from_record(row)


async def count_for_user(db: Executor, user_id: int) -> int:
    value: int = await db.fetchval("SELECT count(*) FROM orders WHERE user_id = $1", user_id)
    return value


# --- the bot's admin views (issue #5) ---


async def list_filtered(
    db: Executor, *, status: str | None, source: str | None, limit: int, offset: int,
    payment_status: str | None = None,
) -> list[Order]:
    """Newest first; a None filter matches every order."""
    rows = await db.fetch(
        f"""SELECT {_COLUMNS} FROM orders
            WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR COALESCE(source, 'app') = $2)
              AND ($5::text IS NULL OR payment_status = $5)
            ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4""",
        status, source, limit, offset, payment_status,
    )
    return Order.from_records(rows)


async def count_filtered(db: Executor, *, status: str | None, source: str | None,
                         payment_status: str | None = None) -> int:
    value: int = await db.fetchval(
        """SELECT count(*) FROM orders
           WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR COALESCE(source, 'app') = $2)
             AND ($3::text IS NULL OR payment_status = $3)""",
        status, source, payment_status,
    )
    return value


async def sales_by_source(db: Executor, since: datetime) -> list[SourceSales]:
    """Orders created at or after `since` (UTC), per source, the biggest revenue first."""
    rows = await db.fetch(
        """SELECT COALESCE(source, 'app') AS source,
                  count(*) FILTER (WHERE status IS DISTINCT FROM 'cancelled') AS orders,
                  count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
                  COALESCE(sum(total) FILTER (WHERE status IS DISTINCT FROM 'cancelled'), 0) AS revenue
           FROM orders WHERE created_at >= $1
           GROUP BY 1 ORDER BY revenue DESC, source""",
        since,
    )
    return SourceSales.from_records(rows)


async def top_products(db: Executor, since: datetime, limit: int = 5) -> list[ProductSales]:
    """The SKUs sold most (units) in orders created at or after `since`, cancelled orders left out."""
    rows = await db.fetch(
        """SELECT i.product_sku AS sku, (array_agg(i.product_name ORDER BY i.id DESC))[1] AS name,
                  sum(i.quantity)::int AS quantity, sum(i.subtotal) AS revenue
           FROM order_items i JOIN orders o ON o.id = i.order_id
           WHERE o.created_at >= $1 AND o.status IS DISTINCT FROM 'cancelled'
           GROUP BY i.product_sku ORDER BY quantity DESC, revenue DESC, sku LIMIT $2""",
        since, limit,
    )
    return ProductSales.from_records(rows)


async def set_payment_status(db: Executor, order_id: int, payment_status: str) -> Order:
    """Write orders.payment_status (unpaid, paid, refunded); store.services.payments is the only caller."""
    row = await db.fetchrow(f"UPDATE orders SET payment_status = $2 WHERE id = $1 RETURNING {_COLUMNS}",
                            order_id, payment_status)
    assert row is not None
    return Order.from_record(row)
