"""marketplace_sync_state: per marketplace and sync type, when the last full run started and where
the next order import starts."""

from __future__ import annotations

from datetime import datetime

from db.models import SyncState
from db.pool import Executor


async def list_all(db: Executor) -> list[SyncState]:
    rows = await db.fetch(
        "SELECT marketplace_id, sync_type, last_run_at, cursor_at FROM marketplace_sync_state ORDER BY 1, 2"
    )
    return SyncState.from_records(rows)


async def get(db: Executor, marketplace_id: int, sync_type: str) -> SyncState | None:
    row = await db.fetchrow(
        """SELECT marketplace_id, sync_type, last_run_at, cursor_at FROM marketplace_sync_state
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


async def move_cursor(db: Executor, marketplace_id: int, sync_type: str, cursor_at: datetime) -> None:
    """Move the high-water mark forwards only (a slow run finishing late never moves it back)."""
    await db.execute(
        """INSERT INTO marketplace_sync_state (marketplace_id, sync_type, cursor_at) VALUES ($1, $2, $3)
           ON CONFLICT (marketplace_id, sync_type) DO UPDATE
           SET cursor_at = GREATEST(marketplace_sync_state.cursor_at, EXCLUDED.cursor_at)""",
        marketplace_id, sync_type, cursor_at,
    )
