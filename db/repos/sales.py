"""A Mini App sale's reads and writes in as few statements as PostgreSQL allows.

Checkout used to make ~19 round trips (one statement per row it touches); every one costs the store
process and PostgreSQL CPU and holds the customer's and the products' row locks a little longer.
Here the checkout (store.services.checkout.place_order) is: BEGIN, lock the customer, `recent_key`,
`lock_cart`, `record`, COMMIT. The statements are the same as the single-table repositories'
(orders.create, orders.add_items, payments.create/add_event, idempotency.save, cart.clear,
outbox.add_event/request_pushes/notify_catalog), joined as data-modifying CTEs: PostgreSQL runs
every one of them exactly once, in the one statement, inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from db.models import CartItem, Order, OrderItem, OrderPayment, Product
from db.pool import Executor
from db.repos import orders, payments
from db.repos.cart import line_of
from db.repos.idempotency import IdempotencyRecord
from db.repos.outbox import CATALOG_CHANNEL, request_pushes_sql
from db.repos.products import COLUMN_NAMES as PRODUCT_COLUMNS
from db.repos.products import TAKE_FOR_SALE

_ORDER = orders.COLUMN_NAMES
_ITEM = orders.ITEM_COLUMN_NAMES
_PAYMENT = payments.PAYMENT_COLUMN_NAMES


def _prefixed(alias: str, prefix: str, columns: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{column} AS {prefix}{column}" for column in columns)


def _unprefixed(record: asyncpg.Record, prefix: str, columns: tuple[str, ...]) -> dict[str, Any]:
    return {column: record[prefix + column] for column in columns}


async def recent_key(db: Executor, user_id: int, key: str, ttl_seconds: int) -> IdempotencyRecord | None:
    """Forget the customer's keys older than `ttl_seconds` and return `key`'s record if it is
    younger: idempotency.prune and idempotency.get in one statement."""
    row = await db.fetchrow(
        """WITH pruned AS (
               DELETE FROM idempotency_keys
               WHERE user_id = $1 AND created_at < (now() AT TIME ZONE 'UTC') - make_interval(secs => $3))
           SELECT user_id, key, fingerprint, order_id, created_at FROM idempotency_keys
           WHERE user_id = $1 AND key = $2
             AND created_at >= (now() AT TIME ZONE 'UTC') - make_interval(secs => $3)""",
        user_id, key, ttl_seconds,
    )
    return IdempotencyRecord.from_record(row) if row else None


async def lock_cart(db: Executor, user_id: int) -> list[tuple[CartItem, Product]]:
    """The customer's cart lines (in the order they were added) with their products locked FOR
    UPDATE in id order, as products.lock_many locks them, and read as they are after the lock."""
    rows = await db.fetch(
        f"""SELECT c.id AS cart_item_id, c.quantity AS cart_quantity, c.price_snapshot,
                   {", ".join("p." + column for column in PRODUCT_COLUMNS)}
            FROM cart_items c JOIN products p ON p.id = c.product_id
            WHERE c.user_id = $1 ORDER BY p.id FOR UPDATE OF p""",
        user_id,
    )
    return sorted((line_of(row, user_id) for row in rows), key=lambda line: line[0].id)


@dataclass(frozen=True, slots=True)
class NewSale:
    user_id: int
    customer_name: str
    customer_phone: str
    delivery_address: str
    delivery_notes: str | None
    subtotal: Decimal
    delivery_fee: Decimal
    total: Decimal
    lines: list[orders.NewOrderItem]  # products in id order (the lock order)
    payment_method: str
    amount_tiyin: int
    payment_expires_at: datetime | None
    idempotency_key: str
    fingerprint: str
    order_job: str  # the outbox job that tells the customer and the admins (events.JOB_ORDER_CREATED)
    order_job_queue: str
    push_debounce_seconds: float
    order_prefix: str = "AS"


@dataclass(frozen=True, slots=True)
class RecordedSale:
    order: Order
    items: list[OrderItem]
    payment: OrderPayment
    sold: int  # products whose stock was taken; fewer than the lines means too few units were left


async def record(db: Executor, sale: NewSale) -> RecordedSale:
    """Every write of a Mini App sale in one statement: take the stock (and count order_count),
    insert the order with its number, its items, its payment and the payment's audit event, keep the
    Idempotency-Key, empty the cart, remember the phone, and write the events (the order-created
    outbox job, a debounced stock push per product, the catalog NOTIFY). The caller holds the
    customer's and the products' locks and checks `sold`: fewer than the lines means roll back."""
    ids = [line.product_id for line in sale.lines]
    quantities = [line.quantity for line in sale.lines]
    rows = await db.fetch(
        f"""WITH sold AS ({TAKE_FOR_SALE}
            ), new_order AS (
                INSERT INTO orders (order_number, source, user_id, customer_name, customer_phone, subtotal,
                                    delivery_fee, total, status, payment_status, delivery_address, delivery_notes,
                                    created_at)
                VALUES ($3 || '-' || to_char(now() AT TIME ZONE 'Asia/Tashkent', 'YYYY') || '-'
                            || lpad(nextval('order_number_seq')::text, 6, '0'),
                        'app', $4, $5, $6, $7, $8, $9, 'pending', 'unpaid', $10, $11, now() AT TIME ZONE 'UTC')
                RETURNING {", ".join(_ORDER)}
            ), items AS (
                INSERT INTO order_items (order_id, product_id, product_name, product_sku, price, quantity, subtotal)
                SELECT o.id, l.product_id, l.product_name, l.product_sku, l.price, l.quantity, l.subtotal
                FROM new_order o, unnest($1::int[], $12::text[], $13::text[], $14::numeric[], $2::int[],
                                         $15::numeric[])
                     WITH ORDINALITY AS l(product_id, product_name, product_sku, price, quantity, subtotal, n)
                ORDER BY l.n
                RETURNING {", ".join(_ITEM)}
            ), payment AS (
                INSERT INTO order_payments (order_id, method, amount_tiyin, expires_at)
                SELECT o.id, $16, $17, $18 FROM new_order o
                RETURNING {", ".join(_PAYMENT)}
            ), payment_started AS (
                INSERT INTO payment_events (order_id, event, provider, amount_tiyin, new_payment_status, actor)
                SELECT o.id, 'started', $16, $17, o.payment_status, 'customer' FROM new_order o
            ), kept_key AS (
                INSERT INTO idempotency_keys (user_id, key, fingerprint, order_id, created_at)
                SELECT $4, $19, $20, o.id, now() AT TIME ZONE 'UTC' FROM new_order o
            ), emptied AS (
                DELETE FROM cart_items WHERE user_id = $4
            ), phone AS (
                UPDATE users SET phone = $6 WHERE id = $4 AND phone IS DISTINCT FROM $6
            ), order_event AS (
                INSERT INTO outbox_events (job_name, args, job_id, queue, defer_seconds)
                SELECT $21, jsonb_build_array(o.id), 'order-created:' || o.id, $22, 0 FROM new_order o
            ), pushes AS ({request_pushes_sql("$1", "'stock'", "$23")}
            ), notified AS (
                SELECT pg_notify($24, '')
            )
            SELECT (SELECT count(*) FROM sold) AS sold, (SELECT count(*) FROM notified) AS notified,
                   {_prefixed("o", "o_", _ORDER)}, {_prefixed("i", "i_", _ITEM)},
                   {_prefixed("pay", "pay_", _PAYMENT)}
            FROM new_order o, items i, payment pay""",
        ids, quantities, sale.order_prefix, sale.user_id, sale.customer_name, sale.customer_phone,
        sale.subtotal, sale.delivery_fee, sale.total, sale.delivery_address, sale.delivery_notes,
        [line.product_name for line in sale.lines], [line.product_sku for line in sale.lines],
        [line.price for line in sale.lines], [line.subtotal for line in sale.lines],
        sale.payment_method, sale.amount_tiyin, sale.payment_expires_at, sale.idempotency_key, sale.fingerprint,
        sale.order_job, sale.order_job_queue, sale.push_debounce_seconds, CATALOG_CHANNEL,
    )
    first = rows[0]
    return RecordedSale(
        order=Order(**_unprefixed(first, "o_", _ORDER)),
        items=sorted((OrderItem(**_unprefixed(row, "i_", _ITEM)) for row in rows), key=lambda item: item.id),
        payment=OrderPayment(**_unprefixed(first, "pay_", _PAYMENT)),
        sold=int(first["sold"]),
    )
