"""marketplace_sync_state: per marketplace and sync type, when the last scheduled run started, how
many scheduled runs failed in a row and when the next one is due sooner than the interval, and
where the next order import starts."""

from __future__ import annotations

from datetime import datetime

from db.models import SyncState
from db.pool import Executor


async def list_all(db: Executor) -> list[SyncState]:
    rows = await db.fetch(
        "SELECT marketplace_id, sync_type, last_run_at, cursor_at, failures, retry_at FROM marketplace_sync_state "
        "ORDER BY 1, 2"
    )
    return SyncState.from_records(rows)


async def get(db: Executor, marketplace_id: int, sync_type: str) -> SyncState | None:
    row = await db.fetchrow(
        """SELECT marketplace_id, sync_type, last_run_at, cursor_at, failures, retry_at FROM marketplace_sync_state
           WHERE marketplace_id = $1 AND sync_type = $2""",
        marketplace_id, sync_type,
    )
    return SyncState.from_record(row) if row else None


async def mark_run_started(db: Executor, marketplace_id: int, sync_type: str) -> None:
    await db.execute(
        """INSERT INTO marketplace_sync_state (marketplace_id, sync_type, last_run_at)
           VALUES ($1, $2, now() AT TIME ZONE 'UTC')
           ON CONFLICT (marketplace_id, sync_type) DO UPDATE SET last_run_at = EXCLUDED.last_run_at""",
        marketplace_id, sync_type,
    )


async def record_outcome(
    db: Executor, marketplace_id: int, sync_type: str, *, failed: bool, retry_in: list[float] | None = None,
    defer_seconds: float | None = None,
) -> int:
    """After a scheduled run: a failure counts one more in a row and makes the next run due after
    `retry_in[failures - 1]` seconds (the last step once past the end); otherwise the count starts
    over and the next run is due after `defer_seconds` (items the marketplace deferred) or at the
    interval (NULL). Returns the failures in a row."""
    steps = retry_in or [0.0]
    value: int = await db.fetchval(
        """INSERT INTO marketplace_sync_state AS s (marketplace_id, sync_type, failures, retry_at)
           VALUES ($1, $2, CASE WHEN $3 THEN 1 ELSE 0 END,
                   CASE WHEN $3 THEN now() AT TIME ZONE 'UTC' + make_interval(secs => ($4::float8[])[1])
                        WHEN $5::float8 IS NOT NULL
                        THEN now() AT TIME ZONE 'UTC' + make_interval(secs => $5) END)
           ON CONFLICT (marketplace_id, sync_type) DO UPDATE SET
               failures = CASE WHEN $3 THEN s.failures + 1 ELSE 0 END,
               retry_at = CASE
                   WHEN $3 THEN now() AT TIME ZONE 'UTC'
                                + make_interval(
                                    secs => ($4::float8[])[least(s.failures + 1, cardinality($4::float8[]))])
                   WHEN $5::float8 IS NOT NULL THEN now() AT TIME ZONE 'UTC' + make_interval(secs => $5)
               END
           RETURNING failures""",
        marketplace_id, sync_type, failed, steps, defer_seconds,
    )
    return value


async def move_cursor(db: Executor, marketplace_id: int, sync_type: str, cursor_at: datetime) -> None:
    """Move the high-water mark forwards only (a slow run finishing late never moves it back)."""
    await db.execute(
        """INSERT INTO marketplace_sync_state (marketplace_id, sync_type, cursor_at) VALUES ($1, $2, $3)
           ON CONFLICT (marketplace_id, sync_type) DO UPDATE
           SET cursor_at = GREATEST(marketplace_sync_state.cursor_at, EXCLUDED.cursor_at)""",
        marketplace_id, sync_type, cursor_at,
    )
