"""marketplace_products: our product <-> the marketplace's product, and what it last accepted."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from db.models import MarketplaceProduct, SyncCandidate
from db.pool import Executor

_COLUMNS = (
    "id, product_id, marketplace_id, marketplace_sku, marketplace_product_id, marketplace_url, "
    "marketplace_price, last_price_sync_at, marketplace_stock, last_stock_sync_at, is_active, "
    "marketplace_keys, marketplace_full_price"
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
    marketplace_keys: dict[str, Any] | None = None,
) -> MarketplaceProduct:
    """Map the product (or re-map it). A mapping that now points at another marketplace item forgets
    what the old item last accepted, so the next push sends its price and stock in full."""
    row = await db.fetchrow(
        f"""INSERT INTO marketplace_products
                (product_id, marketplace_id, marketplace_sku, marketplace_product_id, marketplace_url,
                 marketplace_keys)
            VALUES ($1, $2, $3, $4, $5, COALESCE($6::jsonb, '{{}}'::jsonb))
            ON CONFLICT (product_id, marketplace_id) DO UPDATE SET
                marketplace_sku = EXCLUDED.marketplace_sku,
                marketplace_product_id = EXCLUDED.marketplace_product_id,
                marketplace_url = COALESCE(EXCLUDED.marketplace_url, marketplace_products.marketplace_url),
                marketplace_keys = COALESCE($6::jsonb, marketplace_products.marketplace_keys),
                marketplace_price = CASE WHEN marketplace_products.marketplace_sku = EXCLUDED.marketplace_sku
                                         THEN marketplace_products.marketplace_price END,
                marketplace_full_price = CASE WHEN marketplace_products.marketplace_sku = EXCLUDED.marketplace_sku
                                              THEN marketplace_products.marketplace_full_price END,
                marketplace_stock = CASE WHEN marketplace_products.marketplace_sku = EXCLUDED.marketplace_sku
                                         THEN marketplace_products.marketplace_stock END
            RETURNING {_COLUMNS}""",
        product_id, marketplace_id, marketplace_sku, marketplace_product_id, marketplace_url, marketplace_keys,
    )
    assert row is not None
    return MarketplaceProduct.from_record(row)


# --- marketplace sync (issue #4) ---

_CANDIDATE_COLUMNS = (
    "mp.id, mp.product_id, mp.marketplace_id, mp.marketplace_sku, mp.marketplace_keys, mp.marketplace_price, "
    "mp.marketplace_full_price, mp.marketplace_stock, p.sku, p.price, p.sale_price, "
    "COALESCE(p.stock_quantity, 0) AS stock_quantity"
)


async def price_candidates(
    db: Executor, marketplace_id: int, *, full: bool, product_ids: list[int] | None = None,
) -> list[SyncCandidate]:
    """Active mappings whose price differs from what the marketplace last accepted (all with `full`),
    optionally only for some products."""
    rows = await db.fetch(
        f"""SELECT {_CANDIDATE_COLUMNS} FROM marketplace_products mp JOIN products p ON p.id = mp.product_id
            WHERE mp.marketplace_id = $1 AND mp.is_active = TRUE
              AND ($2::int[] IS NULL OR mp.product_id = any($2::int[]))
              AND ($3 OR mp.marketplace_price IS DISTINCT FROM COALESCE(p.sale_price, p.price)
                      OR mp.marketplace_full_price IS DISTINCT FROM p.price)
            ORDER BY mp.id""",
        marketplace_id, product_ids, full,
    )
    return SyncCandidate.from_records(rows)


async def stock_candidates(
    db: Executor, marketplace_id: int, *, full: bool, product_ids: list[int] | None = None,
) -> list[SyncCandidate]:
    """Active mappings whose stock differs from what the marketplace last accepted (all with `full`)."""
    rows = await db.fetch(
        f"""SELECT {_CANDIDATE_COLUMNS} FROM marketplace_products mp JOIN products p ON p.id = mp.product_id
            WHERE mp.marketplace_id = $1 AND mp.is_active = TRUE
              AND ($2::int[] IS NULL OR mp.product_id = any($2::int[]))
              AND ($3 OR mp.marketplace_stock IS DISTINCT FROM COALESCE(p.stock_quantity, 0))
            ORDER BY mp.id""",
        marketplace_id, product_ids, full,
    )
    return SyncCandidate.from_records(rows)


async def record_prices(db: Executor, accepted: list[tuple[int, Decimal, Decimal]]) -> None:
    """(mapping id, price the buyer pays, full price) the marketplace accepted; stamps last_price_sync_at."""
    if not accepted:
        return
    await db.execute(
        """UPDATE marketplace_products mp SET marketplace_price = v.price, marketplace_full_price = v.full_price,
                last_price_sync_at = now() AT TIME ZONE 'UTC'
           FROM unnest($1::int[], $2::numeric[], $3::numeric[]) AS v(id, price, full_price)
           WHERE mp.id = v.id""",
        [a[0] for a in accepted], [a[1] for a in accepted], [a[2] for a in accepted],
    )


async def record_stocks(db: Executor, accepted: list[tuple[int, int]]) -> None:
    """(mapping id, quantity) the marketplace accepted; stamps last_stock_sync_at."""
    if not accepted:
        return
    await db.execute(
        """UPDATE marketplace_products mp SET marketplace_stock = v.quantity,
                last_stock_sync_at = now() AT TIME ZONE 'UTC'
           FROM unnest($1::int[], $2::int[]) AS v(id, quantity)
           WHERE mp.id = v.id""",
        [a[0] for a in accepted], [a[1] for a in accepted],
    )


async def seconds_since_stock_sync(db: Executor, mapping_ids: Sequence[int]) -> dict[int, float]:
    """Seconds since the marketplace last accepted each mapping's stock (mappings never pushed are left out)."""
    rows = await db.fetch(
        """SELECT id, extract(epoch FROM now() AT TIME ZONE 'UTC' - last_stock_sync_at)::float8 AS age
           FROM marketplace_products WHERE id = any($1::int[]) AND last_stock_sync_at IS NOT NULL""",
        list(mapping_ids),
    )
    return {row["id"]: float(row["age"]) for row in rows}


async def count_for_marketplace(db: Executor, marketplace_id: int) -> int:
    value: int = await db.fetchval(
        "SELECT count(*) FROM marketplace_products WHERE marketplace_id = $1 AND is_active = TRUE", marketplace_id
    )
    return value


async def forget_values(db: Executor, stock_ids: list[int], price_ids: list[int]) -> None:
    """The marketplace does not hold what we recorded (a reconcile read it back): forget it, so every
    delta run pushes these until the marketplace accepts ours again."""
    if stock_ids:
        await db.execute("UPDATE marketplace_products SET marketplace_stock = NULL WHERE id = any($1::int[])",
                         stock_ids)
    if price_ids:
        await db.execute(
            """UPDATE marketplace_products SET marketplace_price = NULL, marketplace_full_price = NULL
               WHERE id = any($1::int[])""",
            price_ids,
        )
