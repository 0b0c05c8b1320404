"""sync_logs: one row per marketplace sync run."""

from __future__ import annotations

from db.models import SyncLog, SyncLogItem
from db.pool import Executor

INTERRUPTED = "interrupted (the process stopped)"  # error_message of a run closed after its process died
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


async def close_open(db: Executor, marketplace_id: int, sync_type: str) -> int:
    """Close every open run of this marketplace and type as interrupted. Only for the caller holding
    that (marketplace, type)'s run lock: runs never overlap, so any open row then belongs to a
    process that died. Returns how many were closed."""
    rows = await db.fetch(
        """UPDATE sync_logs SET completed_at = now() AT TIME ZONE 'UTC', status = 'error', error_message = $3
           WHERE marketplace_id = $1 AND sync_type = $2 AND completed_at IS NULL RETURNING id""",
        marketplace_id, sync_type, INTERRUPTED,
    )
    return len(rows)


async def open_runs(db: Executor) -> list[tuple[int, str, str]]:
    """(id, marketplace slug, sync type) of every run not finished (running, or its process died)."""
    rows = await db.fetch(
        """SELECT l.id, m.slug, l.sync_type FROM sync_logs l JOIN marketplaces m ON m.id = l.marketplace_id
           WHERE l.completed_at IS NULL ORDER BY l.id"""
    )
    return [(r["id"], r["slug"], r["sync_type"]) for r in rows]


async def close_interrupted(db: Executor, log_ids: list[int]) -> int:
    """Close these runs, if still open, as interrupted (their process stopped). Returns how many."""
    if not log_ids:
        return 0
    rows = await db.fetch(
        """UPDATE sync_logs SET completed_at = now() AT TIME ZONE 'UTC', status = 'error', error_message = $2
           WHERE id = ANY($1::int[]) AND completed_at IS NULL RETURNING id""",
        log_ids, INTERRUPTED,
    )
    return len(rows)


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


async def find(db: Executor, log_id: int) -> SyncLog | None:
    """One run by id (the bot's failed-sync alert)."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM sync_logs WHERE id = $1", log_id)
    return SyncLog.from_record(row) if row else None


# --- marketplace sync (issue #4) ---


async def add_items(db: Executor, log_id: int, items: list[tuple[int | None, str, str]]) -> None:
    """Record failed items of a run: (marketplace_products.id or None, our SKU / order id, message)."""
    if not items:
        return
    await db.execute(
        """INSERT INTO sync_log_items (sync_log_id, marketplace_product_id, item_ref, message)
           SELECT $1, i.mapping_id, left(i.item_ref, 255), i.message
           FROM unnest($2::int[], $3::text[], $4::text[]) WITH ORDINALITY AS i(mapping_id, item_ref, message, n)
           ORDER BY i.n""",
        log_id, [i[0] for i in items], [i[1] for i in items], [i[2] for i in items],
    )


async def items(db: Executor, log_id: int) -> list[SyncLogItem]:
    rows = await db.fetch(
        """SELECT id, sync_log_id, marketplace_product_id, item_ref, message FROM sync_log_items
           WHERE sync_log_id = $1 ORDER BY id""",
        log_id,
    )
    return SyncLogItem.from_records(rows)


# --- drift reconcile (issue #12) ---


async def add_differences(db: Executor, log_id: int, items: list[tuple[int | None, str, str, str, str]]) -> None:
    """Record what a reconcile found: (marketplace_products.id, our SKU, message, ours, theirs)."""
    if not items:
        return
    await db.execute(
        """INSERT INTO sync_log_items (sync_log_id, marketplace_product_id, item_ref, message, ours, theirs)
           SELECT $1, i.mapping_id, left(i.item_ref, 255), i.message, i.ours, i.theirs
           FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[])
                WITH ORDINALITY AS i(mapping_id, item_ref, message, ours, theirs, n)
           ORDER BY i.n""",
        log_id, [i[0] for i in items], [i[1] for i in items], [i[2] for i in items], [i[3] for i in items],
        [i[4] for i in items],
    )


async def differences(db: Executor, log_id: int) -> list[tuple[str, str, str | None, str | None]]:
    """(item_ref, message, ours, theirs) of a run's items, in order."""
    rows = await db.fetch(
        "SELECT item_ref, message, ours, theirs FROM sync_log_items WHERE sync_log_id = $1 ORDER BY id", log_id)
    return [(r["item_ref"], r["message"], r["ours"], r["theirs"]) for r in rows]
