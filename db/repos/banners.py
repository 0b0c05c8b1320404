"""banners: the home page carousel."""

from __future__ import annotations

from db.models import Banner
from db.pool import Executor

_COLUMNS = "id, title_uz, title_ru, image_url, link_type, link_id, link_url, sort_order, is_active, image_url_ru"


async def list_active(db: Executor) -> list[Banner]:
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM banners WHERE is_active = TRUE ORDER BY sort_order, id")
    return Banner.from_records(rows)


async def create(
    db: Executor, *, title_uz: str | None, title_ru: str | None, image_url: str,
    link_type: str | None = None, link_id: int | None = None, link_url: str | None = None,
    sort_order: int = 0, image_url_ru: str | None = None,
) -> Banner:
    row = await db.fetchrow(
        f"""INSERT INTO banners (title_uz, title_ru, image_url, link_type, link_id, link_url, sort_order,
                                 image_url_ru)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}""",
        title_uz, title_ru, image_url, link_type, link_id, link_url, sort_order, image_url_ru,
    )
    assert row is not None
    return Banner.from_record(row)
