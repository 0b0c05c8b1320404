"""marketplace_products: our product <-> the marketplace's product, and what it last accepted."""

from __future__ import annotations

from db.models import MarketplaceProduct
from db.pool import Executor

_COLUMNS = (
    "id, product_id, marketplace_id, marketplace_sku, marketplace_product_id, marketplace_url, "
    "marketplace_price, last_price_sync_at, marketplace_stock, last_stock_sync_at, is_active"
)


async def list_for_marketplace(db: Executor, marketplace_id: int) -> list[MarketplaceProduct]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM marketplace_products WHERE marketplace_id = $1 ORDER BY id",
        marketplace_id,
    )
    return MarketplaceProduct.from_records(rows)


async def list_for_product(db: Executor, product_id: int) -> list[MarketplaceProduct]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM marketplace_products WHERE product_id = $1 ORDER BY id", product_id
    )
    return MarketplaceProduct.from_records(rows)


async def upsert(
    db: Executor, *, product_id: int, marketplace_id: int, marketplace_sku: str,
    marketplace_product_id: str | None = None, marketplace_url: str | None = None,
) -> MarketplaceProduct:
    row = await db.fetchrow(
        f"""INSERT INTO marketplace_products
                (product_id, marketplace_id, marketplace_sku, marketplace_product_id, marketplace_url)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (product_id, marketplace_id) DO UPDATE SET
                marketplace_sku = EXCLUDED.marketplace_sku,
                marketplace_product_id = EXCLUDED.marketplace_product_id,
                marketplace_url = COALESCE(EXCLUDED.marketplace_url, marketplace_products.marketplace_url)
            RETURNING {_COLUMNS}""",
        product_id, marketplace_id, marketplace_sku, marketplace_product_id, marketplace_url,
    )
    assert row is not None
    return MarketplaceProduct.from_record(row)
