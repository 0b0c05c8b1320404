"""Marketplace sync test bench: the three sandboxes on real ports, marketplaces pointing at them with
encrypted keys, products mapped through the real CSV mapping, and SyncDeps with the real adapters,
the Redis rate limiter and fast client options (short timeouts, small backoff)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
from arq import create_pool as create_arq_pool
from arq.connections import ArqRedis, RedisSettings

from db.models import Product
from db.repos import products
from store.services import marketplace_admin
from store.services.marketplace_sync import SyncDeps
from store.settings import Settings
from sync.adapters import build_adapter
from sync.adapters.base import Account, MarketplaceAdapter
from sync.http import ClientOptions
from sync.ratelimit import RedisRateLimiter
from sync.sandbox import (
    OzonState,
    RunningSandbox,
    UzumState,
    WildberriesState,
    ozon_app,
    start_sandbox,
    uzum_app,
    wildberries_app,
)
from sync.sandbox.ozon import DEFAULT_API_KEY as OZON_KEY
from sync.sandbox.ozon import DEFAULT_CLIENT_ID as OZON_CLIENT
from sync.sandbox.ozon import DEFAULT_WAREHOUSE_ID as OZON_WAREHOUSE
from sync.sandbox.uzum import BASE as UZUM_BASE
from sync.sandbox.uzum import DEFAULT_AUTHORIZATION as UZUM_TOKEN
from sync.sandbox.wildberries import DEFAULT_AUTHORIZATION as WB_TOKEN
from sync.sandbox.wildberries import DEFAULT_WAREHOUSE_ID as WB_WAREHOUSE

SLUGS = ("uzum", "wildberries", "ozon")
FAST = ClientOptions(timeout=2.0, max_tries=3, backoff_base=0.01, backoff_cap=0.05)

# The sandbox ids of our product number i (its position in the list given to `map_products`).
def uzum_ids(i: int) -> dict[str, Any]:
    return {"product_id": 700_000 + i, "sku_id": 7_000_000 + i, "barcode": f"47800{i:07d}"}


def wb_ids(i: int) -> dict[str, Any]:
    return {"nm_id": 800_000 + i, "chrt_id": 9_000_000 + i, "barcode": f"47811{i:07d}"}


def ozon_ids(i: int) -> dict[str, Any]:
    return {"product_id": 600_000 + i, "sku": 1_600_000 + i}


@dataclass
class Bench:
    pool: asyncpg.Pool
    redis: ArqRedis
    settings: Settings
    session: aiohttp.ClientSession
    uzum: UzumState
    wb: WildberriesState
    ozon: OzonState
    running: dict[str, RunningSandbox]
    options: ClientOptions = FAST
    mapped: dict[str, list[Product]] = field(default_factory=dict)

    def adapter(self, account: Account) -> MarketplaceAdapter:
        return build_adapter(account, self.session, RedisRateLimiter(self.redis), options=self.options)

    @property
    def deps(self) -> SyncDeps:
        return SyncDeps(self.pool, self.redis, marketplace_admin.keybox_for(self.settings), self.adapter)

    def url(self, slug: str) -> str:
        base = self.running[slug].base_url
        return base + UZUM_BASE if slug == "uzum" else base

    def state(self, slug: str) -> Any:
        return {"uzum": self.uzum, "wildberries": self.wb, "ozon": self.ozon}[slug]

    async def add_marketplaces(self, slugs: Sequence[str] = SLUGS, *, fast_uzum: bool = True) -> None:
        """The marketplaces, pointing at the sandboxes, with the sandboxes' credentials set-key'd.
        Uzum publishes no rate limit and its order list takes one status per call (11 calls per
        import): with `fast_uzum` both sides allow 50 rps, so the tests are not paced at 5 rps."""
        keybox = marketplace_admin.keybox_for(self.settings)
        for slug in slugs:
            extra = {"uzum": {"shop_id": "1"}, "wildberries": {"warehouse_id": str(WB_WAREHOUSE)},
                     "ozon": {"warehouse_id": str(OZON_WAREHOUSE)}}[slug]
            if slug == "uzum" and fast_uzum:
                extra["rate_limits"] = '{"default": {"requests": 50, "period": 1, "burst": 50}}'
                self.uzum.configure_limits(groups={"default": {"requests": 50, "period": 1, "burst": 50}})
            await marketplace_admin.add_marketplace(self.pool, slug=slug, name=slug.title(),
                                                    api_base_url=self.url(slug), settings=extra)
            secret = {"uzum": UZUM_TOKEN, "wildberries": WB_TOKEN, "ozon": f"{OZON_CLIENT}:{OZON_KEY}"}[slug]
            await marketplace_admin.set_api_key(self.pool, keybox, slug, secret)

    async def map_products(self, slug: str, items: Sequence[Product], *, sandbox_stock: int = 0) -> None:
        """Put the products in the sandbox's catalogue (stock `sandbox_stock`, our prices) and map them
        with the CSV mapping command's service."""
        self.mapped[slug] = list(items)
        rows = []
        if slug == "uzum":
            self.uzum.seed_catalog([{**_camel_uzum(uzum_ids(i)), "sellerItemCode": p.sku, "productTitle": p.name_uz,
                                     "fullPrice": int(p.price), "sellPrice": int(p.current_price),
                                     "amount": sandbox_stock} for i, p in enumerate(items)])
            rows = ["sku,product_id,sku_id,barcode"] + [
                f"{p.sku},{uzum_ids(i)['product_id']},{uzum_ids(i)['sku_id']},{uzum_ids(i)['barcode']}"
                for i, p in enumerate(items)]
        elif slug == "wildberries":
            self.wb.seed_catalog([{"nmID": wb_ids(i)["nm_id"], "vendorCode": p.sku, "title": p.name_uz,
                                   "price": int(p.price), "discount": 0,
                                   "sizes": [{"chrtID": wb_ids(i)["chrt_id"], "skus": [wb_ids(i)["barcode"]],
                                              "amount": sandbox_stock}]} for i, p in enumerate(items)])
            rows = ["sku,nm_id,chrt_id,barcodes"] + [
                f"{p.sku},{wb_ids(i)['nm_id']},{wb_ids(i)['chrt_id']},{wb_ids(i)['barcode']}"
                for i, p in enumerate(items)]
        else:
            self.ozon.seed_catalog([{"offer_id": p.sku, "product_id": ozon_ids(i)["product_id"],
                                     "sku": ozon_ids(i)["sku"], "name": p.name_uz, "price": str(int(p.price)),
                                     "stock": sandbox_stock} for i, p in enumerate(items)])
            rows = ["sku,offer_id,product_id,ozon_sku"] + [
                f"{p.sku},{p.sku},{ozon_ids(i)['product_id']},{ozon_ids(i)['sku']}" for i, p in enumerate(items)]
        report = await marketplace_admin.map_from_csv(self.pool, slug, ("\n".join(rows) + "\n").encode())
        assert not report.errors, report.errors

    def stock_on(self, slug: str, product: Product) -> int | None:
        """What the sandbox holds as this product's stock now."""
        i = self.mapped[slug].index(product)
        if slug == "uzum":
            return int(self.uzum.skus[uzum_ids(i)["sku_id"]].amount)
        if slug == "wildberries":
            return self.wb.stocks.get(WB_WAREHOUSE, {}).get(wb_ids(i)["chrt_id"])
        return self.ozon.stocks.get((OZON_WAREHOUSE, ozon_ids(i)["product_id"]))


def _camel_uzum(ids: dict[str, Any]) -> dict[str, Any]:
    return {"productId": ids["product_id"], "skuId": ids["sku_id"], "barcode": ids["barcode"]}


async def make_products(pool: asyncpg.Pool, count: int, *, stock: int = 10, prefix: str = "T") -> list[Product]:
    """`count` products T-00001... priced 11 000, 12 000, ... (every third 10 % off), in one statement."""
    await pool.execute(
        """INSERT INTO products (sku, name_uz, price, sale_price, stock_quantity)
           SELECT $1 || '-' || lpad(n::text, 5, '0'), 'Mahsulot ' || n, 10000 + n * 1000,
                  CASE WHEN n % 3 = 0 THEN (10000 + n * 1000) * 0.9 END, $2
           FROM generate_series(1, $3) AS n""",
        prefix, stock, count,
    )
    found = await products.get_many_by_sku(pool, [f"{prefix}-{n:05d}" for n in range(1, count + 1)])
    return sorted(found, key=lambda p: p.sku)


async def product(pool: asyncpg.Pool, product_id: int) -> Product:
    found = await products.get(pool, product_id)
    assert found is not None
    return found


def money(value: int) -> Decimal:
    return Decimal(value)


@asynccontextmanager
async def open_bench(pool: asyncpg.Pool, settings: Settings, redis_url: str) -> AsyncIterator[Bench]:
    """Fresh sandboxes (WB price uploads settle in 0.05 s; Ozon takes a pair again at once)."""
    uzum, wb, ozon = UzumState(), WildberriesState(), OzonState()
    wb.configure({"price_processing_delay": 0.05})
    ozon.configure({"stock_pair_window": 0})
    running = {
        "uzum": await start_sandbox(uzum_app(uzum)),
        "wildberries": await start_sandbox(wildberries_app(wb)),
        "ozon": await start_sandbox(ozon_app(ozon)),
    }
    redis = await create_arq_pool(RedisSettings.from_dsn(redis_url))
    session = aiohttp.ClientSession()
    try:
        yield Bench(pool, redis, settings, session, uzum, wb, ozon, running)
    finally:
        await session.close()
        await redis.aclose()
        for sandbox in running.values():
            await sandbox.close()
