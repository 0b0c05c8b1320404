"""idempotency_keys: which order a customer's Idempotency-Key already produced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.pool import Executor


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    user_id: int
    key: str
    fingerprint: str
    order_id: int
    created_at: datetime

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> IdempotencyRecord:
        return cls(record["user_id"], record["key"], record["fingerprint"], record["order_id"], record["created_at"])


async def get(db: Executor, user_id: int, key: str) -> IdempotencyRecord | None:
    row = await db.fetchrow(
        """SELECT user_id, key, fingerprint, order_id, created_at FROM idempotency_keys
           WHERE user_id = $1 AND key = $2""",
        user_id, key,
    )
    return IdempotencyRecord.from_record(row) if row else None


async def save(db: Executor, user_id: int, key: str, fingerprint: str, order_id: int) -> None:
    """Record the order a key produced; part of the checkout's transaction, so a failed checkout
    leaves no key behind."""
    await db.execute(
        """INSERT INTO idempotency_keys (user_id, key, fingerprint, order_id, created_at)
           VALUES ($1, $2, $3, $4, now() AT TIME ZONE 'UTC')""",
        user_id, key, fingerprint, order_id,
    )


async def prune(db: Executor, user_id: int, older_than_seconds: int) -> int:
    """Forget the customer's keys older than the retention; returns how many."""
    status = await db.execute(
        """DELETE FROM idempotency_keys
           WHERE user_id = $1 AND created_at < (now() AT TIME ZONE 'UTC') - make_interval(secs => $2)""",
        user_id, older_than_seconds,
    )
    return int(status.split()[-1])
