"""categories: a two-level tree named in Uzbek and Russian."""

from __future__ import annotations

from db.models import Category
from db.pool import Executor

_COLUMNS = "id, name_uz, name_ru, parent_id, icon, image_url, sort_order, is_active"


async def list_active(db: Executor) -> list[Category]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM categories WHERE is_active = TRUE ORDER BY sort_order, id"
    )
    return Category.from_records(rows)


async def get(db: Executor, category_id: int) -> Category | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM categories WHERE id = $1", category_id)
    return Category.from_record(row) if row else None


async def children(db: Executor, parent_id: int | None) -> list[Category]:
    rows = await db.fetch(
        f"""SELECT {_COLUMNS} FROM categories
            WHERE is_active = TRUE AND parent_id IS NOT DISTINCT FROM $1
            ORDER BY sort_order, id""",
        parent_id,
    )
    return Category.from_records(rows)


async def create(
    db: Executor, *, name_uz: str, name_ru: str | None, parent_id: int | None = None,
    icon: str | None = None, sort_order: int = 0,
) -> Category:
    row = await db.fetchrow(
        f"""INSERT INTO categories (name_uz, name_ru, parent_id, icon, sort_order)
            VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}""",
        name_uz, name_ru, parent_id, icon, sort_order,
    )
    assert row is not None
    return Category.from_record(row)


async def find_by_name(db: Executor, name_uz: str, parent_id: int | None) -> Category | None:
    row = await db.fetchrow(
        f"""SELECT {_COLUMNS} FROM categories
            WHERE name_uz = $1 AND parent_id IS NOT DISTINCT FROM $2 ORDER BY id LIMIT 1""",
        name_uz, parent_id,
    )
    return Category.from_record(row) if row else None


async def count(db: Executor) -> int:
    value: int = await db.fetchval("SELECT count(*) FROM categories")
    return value


async def subtree_ids(db: Executor, category_id: int) -> list[int]:
    """The category and every active category below it, at any depth."""
    rows = await db.fetch(
        """WITH RECURSIVE tree AS (
               SELECT id FROM categories WHERE id = $1 AND is_active = TRUE
               UNION
               SELECT c.id FROM categories c JOIN tree ON c.parent_id = tree.id WHERE c.is_active = TRUE
           )
           SELECT id FROM tree ORDER BY id""",
        category_id,
    )
    return [r["id"] for r in rows]


async def list_all(db: Executor) -> list[Category]:
    """Every category, active or not (category paths in the catalog import / export)."""
    return Category.from_records(await db.fetch(f"SELECT {_COLUMNS} FROM categories ORDER BY id"))
