"""products: the catalog and the master stock.

Stock changes go through `store.services.stock`, which calls `adjust_stock` / `set_stock`
inside the caller's transaction; nothing else writes `stock_quantity`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import asyncpg

from db.models import Product
from db.pool import Executor

if TYPE_CHECKING:
    from store.services.catalog import Filters

_COLUMNS = (
    "id, sku, barcode, name_uz, name_ru, description_uz, description_ru, category_id, price, "
    "sale_price, image_url, stock_quantity, is_active, view_count, order_count, created_at, updated_at"
)
COLUMN_NAMES = tuple(name.strip() for name in _COLUMNS.split(","))


async def get(db: Executor, product_id: int) -> Product | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM products WHERE id = $1", product_id)
    return Product.from_record(row) if row else None


async def get_by_sku(db: Executor, sku: str) -> Product | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM products WHERE sku = $1", sku)
    return Product.from_record(row) if row else None


async def get_many(db: Executor, product_ids: list[int]) -> list[Product]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM products WHERE id = any($1::int[]) ORDER BY id", product_ids
    )
    return Product.from_records(rows)


async def lock_many(db: Executor, product_ids: list[int]) -> list[Product]:
    """SELECT ... FOR UPDATE in id order (a consistent lock order avoids deadlocks).

    Needs a transaction.
    """
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM products WHERE id = any($1::int[]) ORDER BY id FOR UPDATE",
        sorted(set(product_ids)),
    )
    return Product.from_records(rows)


async def create(
    db: Executor, *, sku: str, name_uz: str, price: Decimal, name_ru: str | None = None,
    sale_price: Decimal | None = None, barcode: str | None = None, description_uz: str | None = None,
    description_ru: str | None = None, category_id: int | None = None, image_url: str | None = None,
    stock_quantity: int = 0, is_active: bool = True,
) -> Product:
    row = await db.fetchrow(
        f"""INSERT INTO products (sku, barcode, name_uz, name_ru, description_uz, description_ru,
                category_id, price, sale_price, image_url, stock_quantity, is_active)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            RETURNING {_COLUMNS}""",
        sku, barcode, name_uz, name_ru, description_uz, description_ru, category_id, price,
        sale_price, image_url, stock_quantity, is_active,
    )
    assert row is not None
    return Product.from_record(row)


async def adjust_stock(db: Executor, product_id: int, delta: int) -> int | None:
    """Add `delta` (negative to take) to the stock; None when that would go below zero."""
    value: int | None = await db.fetchval(
        """UPDATE products SET stock_quantity = stock_quantity + $2
           WHERE id = $1 AND stock_quantity + $2 >= 0
           RETURNING stock_quantity""",
        product_id, delta,
    )
    return value


# Take $2[i] units of product $1[i] and count them in order_count, where enough are left; RETURNING
# the ids taken: a CTE of the checkout's one write statement (db/repos/sales.py).
TAKE_FOR_SALE = """UPDATE products p SET stock_quantity = p.stock_quantity - s.quantity,
                                  order_count = p.order_count + s.quantity
                   FROM unnest($1::int[], $2::int[]) AS s(id, quantity)
                   WHERE p.id = s.id AND p.stock_quantity >= s.quantity
                   RETURNING p.id"""


async def set_stock(db: Executor, product_id: int, quantity: int) -> int | None:
    """Set the stock to an absolute value; returns the previous value, None if no such product."""
    value: int | None = await db.fetchval(
        """UPDATE products p SET stock_quantity = $2
           FROM (SELECT id, stock_quantity AS old FROM products WHERE id = $1 FOR UPDATE) prev
           WHERE p.id = prev.id RETURNING prev.old""",
        product_id, quantity,
    )
    return value


async def set_prices(db: Executor, product_id: int, price: Decimal, sale_price: Decimal | None) -> None:
    await db.execute(
        "UPDATE products SET price = $2, sale_price = $3 WHERE id = $1", product_id, price, sale_price
    )


async def add_order_count(db: Executor, product_id: int, quantity: int) -> None:
    await db.execute(
        "UPDATE products SET order_count = order_count + $2 WHERE id = $1", product_id, quantity
    )


async def count_view(db: Executor, product_id: int) -> None:
    await db.execute("UPDATE products SET view_count = view_count + 1 WHERE id = $1", product_id)


async def add_views(pool: asyncpg.Pool, counts: dict[int, int]) -> None:
    """Add counted views to `view_count` (webapp.views), one transaction for the batch. Rows are
    locked in id order first, as checkout locks them, so a batch never deadlocks with a sale."""
    ids = sorted(counts)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM products WHERE id = ANY($1::int[]) ORDER BY id FOR UPDATE", ids)
        await conn.execute(
            """UPDATE products p SET view_count = p.view_count + v.n
               FROM unnest($1::int[], $2::int[]) AS v(id, n) WHERE p.id = v.id""",
            ids, [counts[i] for i in ids],
        )


async def count(db: Executor) -> int:
    value: int = await db.fetchval("SELECT count(*) FROM products")
    return value


async def low_stock(db: Executor, threshold: int) -> list[Product]:
    rows = await db.fetch(
        f"""SELECT {_COLUMNS} FROM products
            WHERE is_active = TRUE AND stock_quantity <= $1 ORDER BY stock_quantity, sku""",
        threshold,
    )
    return Product.from_records(rows)


# ORDER BY clauses by the API's sort names; identifiers cannot be parameters, so only these exist.
# "relevance" (the default with a query, see store.services.catalog) is `RELEVANCE` first, then popular.
SEARCH_ORDER = {
    "relevance": "order_count DESC, view_count DESC, id",
    "popular": "order_count DESC, view_count DESC, id",
    "price_asc": "COALESCE(sale_price, price), id",
    "price_desc": "COALESCE(sale_price, price) DESC, id",
    "newest": "created_at DESC, id DESC",
}

# How well a product matches the folded query q.f (migration 0009): a whole word at the start of a
# name, a whole word anywhere, the start of a name, every word inside the names, then typos by
# trigram word similarity.
RELEVANCE = """CASE
        WHEN p.search_text LIKE ' ' || q.f || ' %'
          OR ' ' || store_search_fold(COALESCE(p.name_ru, '')) || ' ' LIKE ' ' || q.f || ' %' THEN 0
        WHEN p.search_text LIKE '% ' || q.f || ' %' THEN 1
        WHEN p.search_text LIKE ' ' || q.f || '%'
          OR ' ' || store_search_fold(COALESCE(p.name_ru, '')) LIKE ' ' || q.f || '%' THEN 2
        WHEN NOT EXISTS (SELECT 1 FROM unnest(q.words) w WHERE p.search_text NOT LIKE '%' || w || '%') THEN 3
        ELSE 4 END, word_similarity(q.f, p.search_text) DESC"""


async def search(
    db: Executor, *, category_ids: list[int] | None = None, name_pattern: str | None = None,
    code: str | None = None, on_sale: bool = False, sort: str = "popular", limit: int = 20, offset: int = 0,
    query: str | None = None, filters: Filters | None = None,
) -> tuple[list[Product], int]:
    """Active products, one page of them and the total count.

    `query` is the customer's words, folded in SQL by store_search_fold (migration 0009): a product
    matches when every folded word is inside its folded names or SKU, or (a word of four letters or
    more) close to a word of them: a typo, pg_trgm word similarity at least 0.5 ("samsng" is 0.57 to
    Samsung, unrelated words stay under 0.35; pg_trgm's `<%` threshold is 0.6, which misses it).
    `name_pattern` (an ILIKE pattern) is matched against both names and the SKU as written; `code`
    exactly against the barcode; a product matches when any does. `sort` is a key of SEARCH_ORDER;
    "relevance" ranks by RELEVANCE first. `filters` (store.services.catalog.Filters): in stock only,
    and the price paid today between price_min and price_max.
    """
    where = """p.is_active = TRUE
              AND ($1::int[] IS NULL OR p.category_id = any($1::int[]))
              AND ($2::text IS NULL OR p.name_uz ILIKE $2 OR p.name_ru ILIKE $2 OR p.sku ILIKE $2
                   OR p.barcode = $3
                   OR q.f <> '' AND NOT EXISTS (
                       SELECT 1 FROM unnest(q.words) w
                       WHERE p.search_text NOT LIKE '%' || w || '%'
                         AND (length(w) < 4 OR word_similarity(w, p.search_text) < 0.5)))
              AND (NOT $4 OR p.sale_price IS NOT NULL AND p.sale_price < p.price)
              AND (NOT $6 OR p.stock_quantity > 0)
              AND ($7::numeric IS NULL OR CASE WHEN p.sale_price < p.price THEN p.sale_price ELSE p.price END >= $7)
              AND ($8::numeric IS NULL OR CASE WHEN p.sale_price < p.price THEN p.sale_price ELSE p.price END <= $8)"""
    folded = """(SELECT f, string_to_array(f, ' ') AS words
                 FROM (SELECT store_search_fold($5::text) AS f) s) q"""
    in_stock = bool(filters and filters.in_stock)
    low = filters.price_min if filters else None
    high = filters.price_max if filters else None
    args = (category_ids, name_pattern, code, on_sale, query, in_stock, low, high)
    order = SEARCH_ORDER[sort]
    if sort == "relevance" and query:
        order = f"{RELEVANCE}, {order}"
    columns = ", ".join(f"p.{c}" for c in COLUMN_NAMES)
    rows = await db.fetch(
        f"""SELECT {columns}, count(*) OVER () AS total_count FROM products p, {folded} WHERE {where}
            ORDER BY {order}
            LIMIT $9 OFFSET $10""",
        *args, limit, offset,
    )
    if rows:
        total = int(rows[0]["total_count"])
    else:  # past the last page (or nothing matches): the count still tells how many there are
        total = 0 if offset == 0 else int(await db.fetchval(
            f"SELECT count(*) FROM products p, {folded} WHERE {where}", *args))
    return Product.from_records(rows), total


# --- the bot: admin edits and the CSV catalog import / export (issue #5) ---

# Catalog fields an import may write; stock is not one of them (it goes through store.services.stock).
DETAIL_COLUMNS = ("barcode", "name_uz", "name_ru", "description_uz", "description_ru", "category_id", "price",
                  "sale_price", "image_url", "is_active")


async def list_all(db: Executor) -> list[Product]:
    """Every product, active or not, by SKU (the catalog export)."""
    return Product.from_records(await db.fetch(f"SELECT {_COLUMNS} FROM products ORDER BY sku"))


async def lock_many_by_sku(db: Executor, skus: list[str]) -> list[Product]:
    """The products with these SKUs, FOR UPDATE in id order; needs a transaction."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM products WHERE sku = any($1::text[]) ORDER BY id FOR UPDATE", skus
    )
    return Product.from_records(rows)


async def get_many_by_sku(db: Executor, skus: list[str]) -> list[Product]:
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM products WHERE sku = any($1::text[]) ORDER BY id", skus)
    return Product.from_records(rows)


async def update_details(db: Executor, product_id: int, changes: dict[str, object]) -> None:
    """Set the given catalog fields (names from DETAIL_COLUMNS only); nothing to change is a no-op."""
    unknown = set(changes) - set(DETAIL_COLUMNS)
    if unknown:
        raise ValueError(f"not catalog fields: {sorted(unknown)}")
    if not changes:
        return
    names = list(changes)
    assignments = ", ".join(f"{name} = ${index}" for index, name in enumerate(names, start=2))
    await db.execute(f"UPDATE products SET {assignments} WHERE id = $1", product_id, *changes.values())
