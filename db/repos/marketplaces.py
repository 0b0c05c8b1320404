"""marketplaces: the platforms we sell on, their encrypted API keys and sync settings."""

from __future__ import annotations

from typing import Any

from db.models import Marketplace
from db.pool import Executor

_COLUMNS = (
    "id, name, slug, api_base_url, api_key_encrypted, is_active, auto_sync_enabled, "
    "sync_interval_minutes, last_sync_at, settings"
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
    settings: dict[str, Any] | None = None,
) -> Marketplace:
    row = await db.fetchrow(
        f"""INSERT INTO marketplaces (name, slug, api_base_url, sync_interval_minutes, settings)
            VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}""",
        name, slug, api_base_url, sync_interval_minutes, settings or {},
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


# --- marketplace sync (issue #4) ---


async def update(
    db: Executor, marketplace_id: int, *, name: str | None = None, api_base_url: str | None = None,
    settings: dict[str, Any] | None = None, auto_sync_enabled: bool | None = None,
    sync_interval_minutes: int | None = None,
) -> Marketplace:
    """Change the given fields (None keeps a field as it is); `settings` replaces the whole object."""
    row = await db.fetchrow(
        f"""UPDATE marketplaces SET name = COALESCE($2, name), api_base_url = COALESCE($3, api_base_url),
                settings = COALESCE($4, settings), auto_sync_enabled = COALESCE($5, auto_sync_enabled),
                sync_interval_minutes = COALESCE($6, sync_interval_minutes)
            WHERE id = $1 RETURNING {_COLUMNS}""",
        marketplace_id, name, api_base_url, settings, auto_sync_enabled, sync_interval_minutes,
    )
    assert row is not None
    return Marketplace.from_record(row)


async def lock_with_keys(db: Executor) -> list[Marketplace]:
    """Every marketplace with a stored API key, FOR UPDATE (key rotation); needs a transaction."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM marketplaces WHERE api_key_encrypted IS NOT NULL ORDER BY id FOR UPDATE"
    )
    return Marketplace.from_records(rows)


async def list_syncing_product(db: Executor, product_id: int) -> list[Marketplace]:
    """Active marketplaces with auto sync on and an API key where this product has an active mapping."""
    rows = await db.fetch(
        f"""SELECT {", ".join("m." + c.strip() for c in _COLUMNS.split(","))} FROM marketplaces m
            WHERE m.is_active = TRUE AND m.auto_sync_enabled = TRUE AND m.api_key_encrypted IS NOT NULL
              AND EXISTS (SELECT 1 FROM marketplace_products mp
                          WHERE mp.marketplace_id = m.id AND mp.product_id = $1 AND mp.is_active = TRUE)
            ORDER BY m.id""",
        product_id,
    )
    return Marketplace.from_records(rows)


async def list_syncing_products(db: Executor, product_ids: list[int]) -> list[Marketplace]:
    """Active marketplaces with auto sync on and an API key where any of these products has an
    active mapping."""
    rows = await db.fetch(
        f"""SELECT {", ".join("m." + c.strip() for c in _COLUMNS.split(","))} FROM marketplaces m
            WHERE m.is_active = TRUE AND m.auto_sync_enabled = TRUE AND m.api_key_encrypted IS NOT NULL
              AND EXISTS (SELECT 1 FROM marketplace_products mp
                          WHERE mp.marketplace_id = m.id AND mp.product_id = ANY($1::int[]) AND mp.is_active = TRUE)
            ORDER BY m.id""",
        product_ids,
    )
    return Marketplace.from_records(rows)
