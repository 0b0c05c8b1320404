"""marketplaces: the platforms we sell on, their encrypted API keys and sync settings."""

from __future__ import annotations

from db.models import Marketplace
from db.pool import Executor

_COLUMNS = (
    "id, name, slug, api_base_url, api_key_encrypted, is_active, auto_sync_enabled, "
    "sync_interval_minutes, last_sync_at"
)


async def list_all(db: Executor) -> list[Marketplace]:
    return Marketplace.from_records(await db.fetch(f"SELECT {_COLUMNS} FROM marketplaces ORDER BY id"))


async def list_active(db: Executor) -> list[Marketplace]:
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM marketplaces WHERE is_active = TRUE ORDER BY id")
    return Marketplace.from_records(rows)


async def get_by_slug(db: Executor, slug: str) -> Marketplace | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM marketplaces WHERE slug = $1", slug)
    return Marketplace.from_record(row) if row else None


async def get(db: Executor, marketplace_id: int) -> Marketplace | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM marketplaces WHERE id = $1", marketplace_id)
    return Marketplace.from_record(row) if row else None


async def create(
    db: Executor, *, name: str, slug: str, api_base_url: str | None, sync_interval_minutes: int = 60,
) -> Marketplace:
    row = await db.fetchrow(
        f"""INSERT INTO marketplaces (name, slug, api_base_url, sync_interval_minutes)
            VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}""",
        name, slug, api_base_url, sync_interval_minutes,
    )
    assert row is not None
    return Marketplace.from_record(row)


async def set_api_key(db: Executor, marketplace_id: int, encrypted: str | None) -> None:
    await db.execute(
        "UPDATE marketplaces SET api_key_encrypted = $2 WHERE id = $1", marketplace_id, encrypted
    )


async def set_active(db: Executor, marketplace_id: int, active: bool) -> None:
    await db.execute("UPDATE marketplaces SET is_active = $2 WHERE id = $1", marketplace_id, active)


async def mark_synced(db: Executor, marketplace_id: int) -> None:
    await db.execute(
        "UPDATE marketplaces SET last_sync_at = now() AT TIME ZONE 'UTC' WHERE id = $1", marketplace_id
    )
