"""sync_logs: one row per marketplace sync run."""

from __future__ import annotations

from db.models import SyncLog
from db.pool import Executor

_COLUMNS = (
    "id, marketplace_id, sync_type, status, items_processed, items_failed, error_message, "
    "started_at, completed_at"
)


async def start(db: Executor, marketplace_id: int, sync_type: str) -> int:
    """Open a run. Its status reads 'error' until `finish` records the outcome, so a run that
    dies half-way (a killed worker) is never mistaken for a success."""
    value: int = await db.fetchval(
        """INSERT INTO sync_logs (marketplace_id, sync_type, status, error_message, started_at)
           VALUES ($1, $2, 'error', 'run did not finish', now() AT TIME ZONE 'UTC') RETURNING id""",
        marketplace_id, sync_type,
    )
    return value


async def finish(
    db: Executor, log_id: int, *, status: str, items_processed: int, items_failed: int,
    error_message: str | None,
) -> SyncLog:
    row = await db.fetchrow(
        f"""UPDATE sync_logs SET status = $2, items_processed = $3, items_failed = $4,
                error_message = $5, completed_at = now() AT TIME ZONE 'UTC'
            WHERE id = $1 RETURNING {_COLUMNS}""",
        log_id, status, items_processed, items_failed, error_message,
    )
    assert row is not None
    return SyncLog.from_record(row)


async def recent(db: Executor, marketplace_id: int | None = None, limit: int = 20) -> list[SyncLog]:
    rows = await db.fetch(
        f"""SELECT {_COLUMNS} FROM sync_logs
            WHERE $1::int IS NULL OR marketplace_id = $1
            ORDER BY started_at DESC, id DESC LIMIT $2""",
        marketplace_id, limit,
    )
    return SyncLog.from_records(rows)


async def latest_per_type(db: Executor) -> list[SyncLog]:
    rows = await db.fetch(
        f"""SELECT DISTINCT ON (marketplace_id, sync_type) {_COLUMNS} FROM sync_logs
            ORDER BY marketplace_id, sync_type, started_at DESC, id DESC"""
    )
    return SyncLog.from_records(rows)
