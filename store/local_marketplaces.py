"""Local mode: the three marketplace sandboxes run inside the store, so the owner sees the sync work
without any marketplace account.

`sandboxes_ctx` (a cleanup_ctx that store.app adds only in local mode) starts the Uzum, Wildberries
and Ozon sandboxes on free ports and points every demo marketplace (one whose settings say
`"sandbox": true`) at them. A sandbox keeps its state in memory only, so at each start its catalogue
is filled from our mappings as the marketplace last accepted them (prices, stock), plus one demo
order each: the first sync after a restart has nothing to catch up, and the order import shows an
order arriving (the same order every start, so it is imported once).

`seed_demo_marketplaces` (called by `amazing-store run --seed-demo` in local mode) creates the three
demo marketplaces if they are missing, stores the sandboxes' API keys encrypted (with SECRET_KEYS,
or the local key generated once under DATA_DIR) and maps the first demo products. Idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from db.models import Marketplace, MarketplaceProduct, Product
from db.repos import marketplace_products, marketplaces, products
from store import keys
from store.crypto import KeyBox
from store.services import marketplace_admin
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
from sync.sandbox.uzum import DEFAULT_SHOP_ID as UZUM_SHOP
from sync.sandbox.wildberries import DEFAULT_AUTHORIZATION as WB_TOKEN
from sync.sandbox.wildberries import DEFAULT_WAREHOUSE_ID as WB_WAREHOUSE

log = logging.getLogger(__name__)

DEMO_PRODUCTS = 12  # demo SKUs mapped on each marketplace (the first ones by SKU)
# slug -> (name, settings, the sandbox's API key as `set-key` takes it)
DEMO: dict[str, tuple[str, dict[str, Any], str]] = {
    "uzum": ("Uzum Market (sandbox)", {"shop_id": UZUM_SHOP}, UZUM_TOKEN),
    "wildberries": ("Wildberries (sandbox)", {"warehouse_id": WB_WAREHOUSE}, WB_TOKEN),
    "ozon": ("Ozon (sandbox)", {"warehouse_id": OZON_WAREHOUSE}, f"{OZON_CLIENT}:{OZON_KEY}"),
}

# One demo order per marketplace, with fixed ids: every start shows it again, it is imported once.
DEMO_ORDER: dict[str, Any] = {"uzum": 10_000_001, "wildberries": 13_833_711, "ozon": "0100000001-0001-1"}


@dataclass
class LocalSandboxes:
    uzum: UzumState
    wildberries: WildberriesState
    ozon: OzonState
    running: dict[str, RunningSandbox]

    def url(self, slug: str) -> str:
        base = self.running[slug].base_url
        return base + UZUM_BASE if slug == "uzum" else base


SANDBOXES = web.AppKey("sandboxes", LocalSandboxes)


def demo_keys(slug: str, position: int) -> dict[str, Any]:
    """The sandbox ids of the demo product at `position` (stable, so restarts find the same items)."""
    if slug == "uzum":
        return {"product_id": 100_000 + position, "sku_id": 1_000_000 + position,
                "barcode": f"4789{position:09d}"}
    if slug == "wildberries":
        return {"nm_id": 200_000 + position, "chrt_id": 2_000_000 + position, "barcodes": [f"4788{position:09d}"]}
    return {"product_id": 300_000 + position, "sku": 3_000_000 + position}  # offer_id: our SKU


async def start_sandboxes() -> LocalSandboxes:
    uzum, wb, ozon = UzumState(), WildberriesState(), OzonState()
    running: dict[str, RunningSandbox] = {}
    try:
        running["uzum"] = await start_sandbox(uzum_app(uzum))
        running["wildberries"] = await start_sandbox(wildberries_app(wb))
        running["ozon"] = await start_sandbox(ozon_app(ozon))
    except BaseException:
        for sandbox in running.values():
            await sandbox.close()
        raise
    return LocalSandboxes(uzum, wb, ozon, running)


def _is_demo(marketplace: Marketplace) -> bool:
    return marketplace.settings.get("sandbox") is True


async def connect_sandboxes(pool: asyncpg.Pool, sandboxes: LocalSandboxes) -> int:
    """Point the demo marketplaces at the running sandboxes and fill each sandbox with their
    mapped products as last accepted; returns how many marketplaces were connected."""
    connected = 0
    for marketplace in await marketplaces.list_all(pool):
        if not _is_demo(marketplace) or marketplace.slug not in sandboxes.running:
            continue
        await marketplaces.update(pool, marketplace.id, api_base_url=sandboxes.url(marketplace.slug))
        mappings = await marketplace_products.list_for_marketplace(pool, marketplace.id)
        catalog = {p.id: p for p in await products.get_many(pool, [m.product_id for m in mappings])}
        _fill(sandboxes, marketplace.slug, [(m, catalog[m.product_id]) for m in mappings if m.product_id in catalog])
        connected += 1
    return connected


def _fill(sandboxes: LocalSandboxes, slug: str, items: list[tuple[MarketplaceProduct, Product]]) -> None:
    if not items:
        return
    if slug == "uzum":
        sandboxes.uzum.seed_catalog([
            {"productId": m.marketplace_keys["product_id"], "skuId": m.marketplace_keys["sku_id"],
             "barcode": m.marketplace_keys["barcode"], "sellerItemCode": p.sku, "productTitle": p.name_uz,
             "fullPrice": int(m.marketplace_full_price or p.price), "sellPrice": int(m.marketplace_price or p.price),
             "amount": m.marketplace_stock or 0}
            for m, p in items
        ])
        if DEMO_ORDER["uzum"] not in sandboxes.uzum.orders:
            sandboxes.uzum.add_orders({"id": DEMO_ORDER["uzum"], "reserve": False,
                                       "orderItems": [{"skuId": items[0][0].marketplace_keys["sku_id"]}]})
    elif slug == "wildberries":
        sandboxes.wildberries.seed_catalog([
            {"nmID": m.marketplace_keys["nm_id"], "vendorCode": p.sku, "title": p.name_uz,
             "price": int(m.marketplace_full_price or p.price),
             "sizes": [{"chrtID": m.marketplace_keys["chrt_id"], "skus": m.marketplace_keys.get("barcodes", []),
                        "amount": m.marketplace_stock or 0}]}
            for m, p in items
        ])
        if DEMO_ORDER["wildberries"] not in sandboxes.wildberries.orders:
            sandboxes.wildberries.add_orders({"id": DEMO_ORDER["wildberries"], "reserve": False,
                                              "chrtId": items[-1][0].marketplace_keys["chrt_id"]})
    else:
        sandboxes.ozon.seed_catalog([
            {"offer_id": m.marketplace_keys["offer_id"], "product_id": m.marketplace_keys.get("product_id"),
             "sku": m.marketplace_keys.get("sku"), "name": p.name_uz,
             "price": str(int(m.marketplace_price or p.price)), "stock": m.marketplace_stock or 0}
            for m, p in items
        ])
        if DEMO_ORDER["ozon"] not in sandboxes.ozon.postings:
            offer_id = items[len(items) // 2][0].marketplace_keys["offer_id"]
            sandboxes.ozon.add_orders({"posting_number": DEMO_ORDER["ozon"], "reserve": False,
                                       "products": [{"offer_id": offer_id}]})


async def seed_demo_marketplaces(pool: asyncpg.Pool, keybox: KeyBox, sandboxes: LocalSandboxes) -> dict[str, int]:
    """Create the missing demo marketplaces (pointing at the sandboxes, keys stored encrypted) and map
    the first DEMO_PRODUCTS demo products on each; a marketplace of the same slug that is not a
    demo one is left alone. Idempotent."""
    created = {"marketplaces": 0, "mappings": 0}
    demo_products = [p for p in await products.list_all(pool) if p.sku.startswith("AS-")][:DEMO_PRODUCTS]
    for slug, (name, settings, secret) in DEMO.items():
        marketplace = await marketplaces.get_by_slug(pool, slug)
        if marketplace is None:
            marketplace = await marketplaces.create(pool, name=name, slug=slug, api_base_url=sandboxes.url(slug),
                                                    sync_interval_minutes=5, settings={**settings, "sandbox": True})
            await marketplace_admin.set_api_key(pool, keybox, slug, secret)
            created["marketplaces"] += 1
        elif not _is_demo(marketplace):
            continue
        mapped = {m.product_id for m in await marketplace_products.list_for_marketplace(pool, marketplace.id)}
        for position, product in enumerate(demo_products):
            if product.id in mapped:
                continue
            ids = demo_keys(slug, position)
            if slug == "ozon":
                ids["offer_id"] = product.sku
            spec = marketplace_admin.spec_for(slug)
            item, card = marketplace_admin.identity(spec, ids)
            await marketplace_products.upsert(pool, product_id=product.id, marketplace_id=marketplace.id,
                                              marketplace_sku=item, marketplace_product_id=card, marketplace_keys=ids)
            created["mappings"] += 1
    await connect_sandboxes(pool, sandboxes)
    return created


async def sandboxes_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (local mode only): the sandboxes run while the store runs."""
    sandboxes = await start_sandboxes()
    app[SANDBOXES] = sandboxes
    try:
        connected = await connect_sandboxes(app[keys.DB], sandboxes)
        log.info("local mode: marketplace sandboxes at %s%s",
                 ", ".join(f"{slug} {s.base_url}" for slug, s in sandboxes.running.items()),
                 f" ({connected} demo marketplaces connected)" if connected else "")
        yield
    finally:
        for sandbox in sandboxes.running.values():
            await sandbox.close()
