"""order_payments, payment_transactions and payment_events (migration 0006): how orders are paid.

Every write here is part of the caller's transaction, and the caller holds the order row lock
(`orders.lock`) while it changes anything about that order's payment.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from db.models import OrderPayment, PaymentEvent, PaymentTransaction
from db.pool import Executor

_PAYMENT = "order_id, method, amount_tiyin, expires_at, paid_at, refunded_at, created_at"
PAYMENT_COLUMN_NAMES = tuple(name.strip() for name in _PAYMENT.split(","))
_TX = ("id, order_id, provider, provider_transaction_id, amount_tiyin, state, reason, provider_time, "
       "create_time, perform_time, cancel_time, details")
_EVENT = ("id, order_id, transaction_id, event, provider, amount_tiyin, old_payment_status, new_payment_status, "
          "actor, note, created_at")


# --- order_payments ---


async def create(db: Executor, order_id: int, method: str, amount_tiyin: int,
                 expires_at: datetime | None) -> OrderPayment:
    row = await db.fetchrow(
        f"""INSERT INTO order_payments (order_id, method, amount_tiyin, expires_at)
            VALUES ($1, $2, $3, $4) RETURNING {_PAYMENT}""",
        order_id, method, amount_tiyin, expires_at,
    )
    assert row is not None
    return OrderPayment.from_record(row)


async def get(db: Executor, order_id: int) -> OrderPayment | None:
    row = await db.fetchrow(f"SELECT {_PAYMENT} FROM order_payments WHERE order_id = $1", order_id)
    return OrderPayment.from_record(row) if row else None


async def for_orders(db: Executor, order_ids: list[int]) -> dict[int, OrderPayment]:
    rows = await db.fetch(f"SELECT {_PAYMENT} FROM order_payments WHERE order_id = any($1::int[])", order_ids)
    return {row["order_id"]: OrderPayment.from_record(row) for row in rows}


async def mark_paid(db: Executor, order_id: int, method: str) -> None:
    """The order's payment landed by `method` (which may differ from the one chosen at checkout)."""
    await db.execute(
        "UPDATE order_payments SET paid_at = now() AT TIME ZONE 'UTC', method = $2 WHERE order_id = $1",
        order_id, method,
    )


async def mark_refunded(db: Executor, order_id: int) -> None:
    await db.execute("UPDATE order_payments SET refunded_at = now() AT TIME ZONE 'UTC' WHERE order_id = $1",
                     order_id)


async def set_method(db: Executor, order_id: int, method: str) -> None:
    await db.execute("UPDATE order_payments SET method = $2 WHERE order_id = $1", order_id, method)


async def expired_unpaid(db: Executor, now: datetime, limit: int = 100) -> list[int]:
    """Orders whose online payment is overdue at `now` (UTC), still pending or confirmed (not shipped,
    delivered or cancelled), oldest first."""
    rows = await db.fetch(
        """SELECT p.order_id FROM order_payments p JOIN orders o ON o.id = p.order_id
           WHERE p.paid_at IS NULL AND p.expires_at IS NOT NULL AND p.expires_at <= $1 AND p.method <> 'cash'
             AND o.status IN ('pending', 'confirmed') AND o.payment_status = 'unpaid'
           ORDER BY p.expires_at, p.order_id LIMIT $2""",
        now, limit,
    )
    return [row["order_id"] for row in rows]


# --- payment_transactions ---


async def find_transaction(db: Executor, provider: str, provider_transaction_id: str) -> PaymentTransaction | None:
    row = await db.fetchrow(
        f"SELECT {_TX} FROM payment_transactions WHERE provider = $1 AND provider_transaction_id = $2",
        provider, provider_transaction_id,
    )
    return PaymentTransaction.from_record(row) if row else None


async def get_transaction(db: Executor, transaction_id: int) -> PaymentTransaction | None:
    row = await db.fetchrow(f"SELECT {_TX} FROM payment_transactions WHERE id = $1", transaction_id)
    return PaymentTransaction.from_record(row) if row else None


async def active_transaction(db: Executor, order_id: int, provider: str) -> PaymentTransaction | None:
    row = await db.fetchrow(
        f"SELECT {_TX} FROM payment_transactions WHERE order_id = $1 AND provider = $2 AND state = 1",
        order_id, provider,
    )
    return PaymentTransaction.from_record(row) if row else None


async def transactions_for_order(db: Executor, order_id: int) -> list[PaymentTransaction]:
    rows = await db.fetch(f"SELECT {_TX} FROM payment_transactions WHERE order_id = $1 ORDER BY id", order_id)
    return PaymentTransaction.from_records(rows)


async def insert_transaction(
    db: Executor, *, order_id: int, provider: str, provider_transaction_id: str, amount_tiyin: int, state: int,
    create_time: int, provider_time: int | None = None, perform_time: int = 0,
    details: dict[str, Any] | None = None,
) -> PaymentTransaction:
    row = await db.fetchrow(
        f"""INSERT INTO payment_transactions (order_id, provider, provider_transaction_id, amount_tiyin, state,
                create_time, provider_time, perform_time, details)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_TX}""",
        order_id, provider, provider_transaction_id, amount_tiyin, state, create_time, provider_time,
        perform_time, details or {},
    )
    assert row is not None
    return PaymentTransaction.from_record(row)


async def perform_transaction(db: Executor, transaction_id: int, perform_time: int) -> PaymentTransaction:
    row = await db.fetchrow(
        f"UPDATE payment_transactions SET state = 2, perform_time = $2 WHERE id = $1 RETURNING {_TX}",
        transaction_id, perform_time,
    )
    assert row is not None
    return PaymentTransaction.from_record(row)


async def cancel_transaction(db: Executor, transaction_id: int, state: int, reason: int | None,
                             cancel_time: int) -> PaymentTransaction:
    """state -1 (cancelled before perform) or -2 (cancelled after perform: the money went back)."""
    row = await db.fetchrow(
        f"""UPDATE payment_transactions SET state = $2, reason = $3, cancel_time = $4
            WHERE id = $1 RETURNING {_TX}""",
        transaction_id, state, reason, cancel_time,
    )
    assert row is not None
    return PaymentTransaction.from_record(row)


async def statement(db: Executor, provider: str, time_from: int, time_to: int) -> list[tuple[PaymentTransaction, str]]:
    """Transactions of `provider` whose provider time lies in [time_from, time_to] (ms), with the
    order number they pay, oldest first (Payme's GetStatement)."""
    rows = await db.fetch(
        f"""SELECT {', '.join('t.' + c.strip() for c in _TX.split(','))}, o.order_number
            FROM payment_transactions t JOIN orders o ON o.id = t.order_id
            WHERE t.provider = $1 AND t.provider_time BETWEEN $2 AND $3
            ORDER BY t.provider_time, t.id""",
        provider, time_from, time_to,
    )
    return [(PaymentTransaction.from_record(row), row["order_number"]) for row in rows]


# --- payment_events (audit) ---


async def add_event(
    db: Executor, *, order_id: int, event: str, actor: str, transaction_id: int | None = None,
    provider: str | None = None, amount_tiyin: int | None = None, old_payment_status: str | None = None,
    new_payment_status: str | None = None, note: str | None = None,
) -> None:
    await db.execute(
        """INSERT INTO payment_events (order_id, transaction_id, event, provider, amount_tiyin,
               old_payment_status, new_payment_status, actor, note)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        order_id, transaction_id, event, provider, amount_tiyin, old_payment_status, new_payment_status, actor,
        note,
    )


async def events(db: Executor, order_id: int) -> list[PaymentEvent]:
    rows = await db.fetch(f"SELECT {_EVENT} FROM payment_events WHERE order_id = $1 ORDER BY id", order_id)
    return PaymentEvent.from_records(rows)


async def revenue_by_method(db: Executor, since: datetime) -> list[tuple[str, int, Decimal, Decimal]]:
    """Orders created at or after `since` (UTC) and not cancelled, per payment method (`marketplace`
    for orders without a payment row): (method, orders, revenue, of which paid online)."""
    rows = await db.fetch(
        """SELECT COALESCE(p.method, 'marketplace') AS method, count(*) AS orders,
                  COALESCE(sum(o.total), 0) AS revenue,
                  COALESCE(sum(o.total) FILTER (WHERE o.payment_status = 'paid'), 0) AS paid
           FROM orders o LEFT JOIN order_payments p ON p.order_id = o.id
           WHERE o.created_at >= $1 AND o.status IS DISTINCT FROM 'cancelled'
           GROUP BY 1 ORDER BY revenue DESC, method""",
        since,
    )
    return [(r["method"], r["orders"], r["revenue"], r["paid"]) for r in rows]
