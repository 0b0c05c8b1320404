"""The catalog read cache: pages are served from memory, and every change customers would see (stock,
prices, a checkout, a catalog import) shows at once, in this process and in another one."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import pytest

from store.services import products_admin
from store.settings import Settings
from tests.conftest import MakeClient
from tests.tma import Shop, start_shop
from webapp.cache import CATALOG_CACHE, CatalogCache

SKU = "AS-TEA-GRN"


async def _cache_on(shop: Shop) -> CatalogCache:
    cache = shop.app[CATALOG_CACHE]
    for _ in range(200):
        if cache.enabled:
            return cache
        await asyncio.sleep(0.02)
    raise AssertionError("the cache never subscribed to its invalidation channel")


async def _listed(shop: Shop, field: str) -> object:
    reply = await shop.customer().get(f"/api/products?q={SKU}")
    assert reply.status == 200, reply.body
    [item] = reply.body["items"]
    return item[field]


async def _eventually(check: object, want: object) -> None:
    assert callable(check)
    for _ in range(200):
        if await check() == want:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never became {want!r}, still {await check()!r}")


@pytest.fixture
async def shop(settings: Settings, pool: asyncpg.Pool, make_client: MakeClient) -> Shop:
    return await start_shop(settings, pool, make_client)


async def test_reads_are_served_from_the_cache_until_the_catalog_changes(shop: Shop) -> None:
    cache = await _cache_on(shop)
    before = await _listed(shop, "stock_quantity")
    hits = cache.hits
    # A change that bypasses the services (no event) is not seen while cached: proof the cache serves.
    await shop.pool.execute("UPDATE products SET stock_quantity = 7 WHERE sku = $1", SKU)
    assert await _listed(shop, "stock_quantity") == before
    assert cache.hits > hits

    # The same change through the stock service is seen at once.
    await products_admin.set_stock(shop.pool, SKU, 3)
    await _eventually(lambda: _listed(shop, "stock_quantity"), 3)


async def test_a_price_change_and_a_checkout_invalidate(shop: Shop) -> None:
    await _cache_on(shop)
    assert Decimal(str(await _listed(shop, "price"))) == Decimal("18000")
    await products_admin.set_price(shop.pool, SKU, Decimal("21000"), None)
    await _eventually(lambda: _listed(shop, "price"), "21000.00")

    stock_before = await _listed(shop, "stock_quantity")
    customer = shop.customer()
    product = await shop.product(SKU)
    assert (await customer.put_cart(product.id, 2)).status == 200
    assert (await customer.checkout()).status == 201
    await _eventually(lambda: _listed(shop, "stock_quantity"), int(str(stock_before)) - 2)


async def test_another_process_cache_hears_the_change(
    shop: Shop, settings: Settings, make_client: MakeClient
) -> None:
    other = await start_shop(settings, shop.pool, make_client, seed=False)
    await _cache_on(shop)
    await _cache_on(other)
    assert await _listed(other, "stock_quantity") == await _listed(shop, "stock_quantity")
    await products_admin.set_stock(shop.pool, SKU, 42)
    await _eventually(lambda: _listed(other, "stock_quantity"), 42)


async def test_a_lost_invalidation_channel_turns_the_cache_off_until_it_is_back(shop: Shop) -> None:
    """Stale stock is bounded: while the LISTEN connection is gone nothing is served from memory, and
    the reconnect starts from an empty cache (a change made meanwhile is seen)."""
    from webapp.cache import LISTEN_NAME, TTL_SECONDS

    cache = await _cache_on(shop)
    await _listed(shop, "stock_quantity")
    killed = await shop.pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", LISTEN_NAME)
    assert killed >= 1
    for _ in range(400):  # found by the next check on the connection (every LISTEN_CHECK_SECONDS)
        if not cache.enabled:
            break
        await asyncio.sleep(0.05)
    assert not cache.enabled
    # A change nobody announced: with the cache off it is read from PostgreSQL.
    await shop.pool.execute("UPDATE products SET stock_quantity = 11 WHERE sku = $1", SKU)
    assert await _listed(shop, "stock_quantity") == 11
    await _cache_on(shop)  # reconnected by itself
    assert await _listed(shop, "stock_quantity") == 11
    assert cache.ttl <= TTL_SECONDS == 15.0  # the last safety net on every entry
