"""marketplace_quotas: the last per-day request quota a marketplace's answers carried (Uzum)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.pool import Executor


@dataclass(frozen=True)
class Quota:
    marketplace_id: int
    daily_limit: int | None
    daily_remaining: int
    observed_at: datetime


async def get(db: Executor, marketplace_id: int) -> Quota | None:
    row = await db.fetchrow(
        """SELECT marketplace_id, daily_limit, daily_remaining, observed_at FROM marketplace_quotas
           WHERE marketplace_id = $1""",
        marketplace_id,
    )
    return Quota(**dict(row)) if row else None


async def list_all(db: Executor) -> list[Quota]:
    rows = await db.fetch(
        "SELECT marketplace_id, daily_limit, daily_remaining, observed_at FROM marketplace_quotas ORDER BY 1"
    )
    return [Quota(**dict(r)) for r in rows]


async def record(db: Executor, marketplace_id: int, remaining: int, limit: int | None) -> None:
    await db.execute(
        """INSERT INTO marketplace_quotas (marketplace_id, daily_limit, daily_remaining, observed_at)
           VALUES ($1, $2, $3, now() AT TIME ZONE 'UTC')
           ON CONFLICT (marketplace_id) DO UPDATE SET daily_limit = EXCLUDED.daily_limit,
               daily_remaining = EXCLUDED.daily_remaining, observed_at = EXCLUDED.observed_at""",
        marketplace_id, limit, remaining,
    )
