"""products: the catalog and the master stock.

Stock changes go through `store.services.stock`, which calls `adjust_stock` / `set_stock`
inside the caller's transaction; nothing else writes `stock_quantity`.
"""

from __future__ import annotations

from decimal import Decimal

from db.models import Product
from db.pool import Executor

_COLUMNS = (
    "id, sku, barcode, name_uz, name_ru, description_uz, description_ru, category_id, price, "
    "sale_price, image_url, stock_quantity, is_active, view_count, order_count, created_at, updated_at"
)


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
    db: Executor, *, sku: str, name_uz: str, name_ru: str | None, price: Decimal,
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
