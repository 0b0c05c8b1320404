"""outbox_events and pending_pushes: what a committed change sets off (see db/migrations/0005_outbox.sql).

Writers (`add_event`, `request_pushes`) run inside the caller's transaction. The relay and the push
drainer (sync/relay.py) read and settle the rows; a lease or FOR UPDATE SKIP LOCKED keeps two
workers from taking the same row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from db.pool import Executor

OUTBOX_CHANNEL = "amazing_store_outbox"
CATALOG_CHANNEL = "amazing_store_catalog"


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: int
    job_name: str
    args: list[Any]
    job_id: str
    queue: str
    defer_seconds: Decimal
    attempts: int
    created_at: datetime


async def add_event(db: Executor, job_name: str, args: Sequence[Any], job_id: str, queue: str,
                    defer_seconds: float = 0.0) -> None:
    await db.execute(
        """INSERT INTO outbox_events (job_name, args, job_id, queue, defer_seconds)
           VALUES ($1, $2, $3, $4, $5)""",
        job_name, list(args), job_id, queue, Decimal(str(round(defer_seconds, 3))),
    )


async def notify_catalog(db: Executor) -> None:
    """Every store process drops its catalog cache when this transaction commits (webapp.cache)."""
    await db.execute("SELECT pg_notify($1, '')", CATALOG_CHANNEL)


async def take_due_events(db: Executor, limit: int) -> list[OutboxEvent]:
    """Pending events whose time has come, oldest first, locked for this transaction (others skip them)."""
    rows = await db.fetch(
        """SELECT id, job_name, args, job_id, queue, defer_seconds, attempts, created_at FROM outbox_events
           WHERE delivered_at IS NULL AND next_attempt_at <= now() AT TIME ZONE 'UTC'
           ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )
    return [OutboxEvent(**dict(row)) for row in rows]


async def mark_delivered(db: Executor, ids: Sequence[int]) -> None:
    if ids:
        await db.execute(
            "UPDATE outbox_events SET delivered_at = now() AT TIME ZONE 'UTC', last_error = NULL WHERE id = ANY($1)",
            list(ids),
        )


async def mark_failed(db: Executor, ids: Sequence[int], error: str, retry_in: float) -> None:
    if ids:
        await db.execute(
            """UPDATE outbox_events SET attempts = attempts + 1, last_error = $2,
                      next_attempt_at = now() AT TIME ZONE 'UTC' + make_interval(secs => $3)
               WHERE id = ANY($1)""",
            list(ids), error[:1000], retry_in,
        )


async def next_event_due(db: Executor) -> datetime | None:
    value: datetime | None = await db.fetchval(
        "SELECT min(next_attempt_at) FROM outbox_events WHERE delivered_at IS NULL")
    return value


async def prune_delivered(db: Executor, older_than_seconds: float) -> int:
    status = await db.execute(
        """DELETE FROM outbox_events WHERE delivered_at IS NOT NULL
           AND delivered_at < now() AT TIME ZONE 'UTC' - make_interval(secs => $1)""",
        older_than_seconds,
    )
    return int(status.split()[-1])


async def pending_event_count(db: Executor) -> int:
    value: int = await db.fetchval("SELECT count(*) FROM outbox_events WHERE delivered_at IS NULL")
    return value


# --- pending marketplace pushes ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingPush:
    product_id: int
    sync_type: str
    version: int
    attempts: int


def request_pushes_sql(ids: str, sync_type: str, debounce: str) -> str:
    """The upsert of `request_pushes`, its parameters named by the caller (also a CTE of the
    checkout's one write statement, db/repos/sales.py)."""
    return f"""INSERT INTO pending_pushes (product_id, sync_type, due_at)
               SELECT p.id, {sync_type}, now() AT TIME ZONE 'UTC' + make_interval(secs => {debounce})
               FROM products p WHERE p.id = ANY({ids}::int[])
               ORDER BY p.id
               ON CONFLICT (product_id, sync_type) DO UPDATE SET version = pending_pushes.version + 1,
                   due_at = CASE WHEN pending_pushes.attempts = 0
                                 THEN LEAST(pending_pushes.due_at, EXCLUDED.due_at)
                                 ELSE pending_pushes.due_at END"""


async def request_pushes(db: Executor, sync_type: str, product_ids: Iterable[int], debounce: float) -> None:
    """Upsert one pending row per product: a new row is due after `debounce` seconds; an existing one
    keeps its due time (a burst of changes is one push, and a failure's backoff is not cut short)
    and its version moves on, so a push running now knows its value is stale. A row that waits only
    for a marketplace's deferral (`attempts` 0, see settle_retry) is due after `debounce` again: the
    other marketplaces take the new value at once instead of waiting out Ozon's 30 s with it."""
    ids = sorted(set(product_ids))
    if not ids:
        return
    await db.execute(request_pushes_sql("$1", "$2", "$3"), ids, sync_type, debounce)


async def claim_pushes(db: Executor, limit: int, lease_seconds: float) -> list[PendingPush]:
    """Take up to `limit` due rows that no live lease holds, under a lease of `lease_seconds`."""
    rows = await db.fetch(
        """UPDATE pending_pushes p SET claimed_until = now() AT TIME ZONE 'UTC' + make_interval(secs => $2)
           FROM (SELECT product_id, sync_type FROM pending_pushes
                 WHERE due_at <= now() AT TIME ZONE 'UTC'
                   AND (claimed_until IS NULL OR claimed_until < now() AT TIME ZONE 'UTC')
                 ORDER BY due_at, product_id LIMIT $1 FOR UPDATE SKIP LOCKED) due
           WHERE p.product_id = due.product_id AND p.sync_type = due.sync_type
           RETURNING p.product_id, p.sync_type, p.version, p.attempts""",
        limit, lease_seconds,
    )
    return [PendingPush(**dict(row)) for row in rows]


async def settle_landed(db: Executor, pushes: Sequence[PendingPush]) -> None:
    """These pushes landed: delete each row still at the version pushed; a row changed since is
    released and due at once (the newer value goes out on the next drain)."""
    if not pushes:
        return
    ids, types, versions = [p.product_id for p in pushes], [p.sync_type for p in pushes], [p.version for p in pushes]
    await db.execute(
        """DELETE FROM pending_pushes p USING unnest($1::int[], $2::text[], $3::bigint[]) AS s(pid, st, ver)
           WHERE p.product_id = s.pid AND p.sync_type = s.st AND p.version = s.ver""",
        ids, types, versions,
    )
    await db.execute(
        """UPDATE pending_pushes p SET claimed_until = NULL, attempts = 0, last_error = NULL,
                  due_at = now() AT TIME ZONE 'UTC'
           FROM unnest($1::int[], $2::text[]) AS s(pid, st)
           WHERE p.product_id = s.pid AND p.sync_type = s.st""",
        ids, types,
    )


async def settle_retry(db: Executor, pushes: Sequence[PendingPush], retry_in: Sequence[float], error: str,
                       *, count_attempt: bool = True, deferral: bool = False) -> None:
    """These pushes did not land: release them, due again after their own delay. `count_attempt`
    False: our own trouble (Redis, the database), not the marketplace's: the backoff does not grow.
    `deferral`: they landed everywhere but where a marketplace asked to wait (Ozon's 30-s rule):
    no failure (attempts back to 0), and a row changed during the push is due at once."""
    if not pushes:
        return
    await db.execute(
        """UPDATE pending_pushes p SET claimed_until = NULL, last_error = $4,
                  attempts = CASE WHEN $6 THEN 0 ELSE p.attempts + $5::int END,
                  due_at = now() AT TIME ZONE 'UTC'
                           + CASE WHEN $6 AND p.version <> s.ver THEN interval '0'
                                  ELSE make_interval(secs => s.delay) END
           FROM unnest($1::int[], $2::text[], $3::float8[], $7::bigint[]) AS s(pid, st, delay, ver)
           WHERE p.product_id = s.pid AND p.sync_type = s.st""",
        [p.product_id for p in pushes], [p.sync_type for p in pushes], list(retry_in), error[:1000],
        1 if count_attempt else 0, deferral, [p.version for p in pushes],
    )


async def next_push_due(db: Executor) -> datetime | None:
    """When the earliest unclaimed (or lease-expired) row falls due."""
    value: datetime | None = await db.fetchval(
        """SELECT min(GREATEST(due_at, COALESCE(claimed_until, due_at))) FROM pending_pushes""")
    return value


async def pending_push_count(db: Executor) -> int:
    value: int = await db.fetchval("SELECT count(*) FROM pending_pushes")
    return value
