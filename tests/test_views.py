"""Product views counted in memory and written in batches (webapp.views), and the catalog cache's
byte bound (webapp.cache): the two changes that took the product page off PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from db.repos import products
from store.settings import Settings
from tests.conftest import MakeClient
from tests.tma import start_shop
from webapp import views
from webapp.cache import ENTRY_OVERHEAD, CatalogCache
from webapp.views import VIEWS, ViewCounter


def test_a_customer_counts_once_per_product_per_window() -> None:
    counter = ViewCounter(dedup_seconds=3600)
    assert counter.record(1, 10, now=0.0) is True
    assert counter.record(1, 10, now=5.0) is False  # a reload
    assert counter.record(2, 10, now=5.0) is True  # another customer
    assert counter.record(1, 11, now=5.0) is True  # another product
    assert counter.record(1, 10, now=3601.0) is True  # an hour later it is a new view
    assert counter.pending == {10: 3, 11: 1}


def test_the_memory_of_who_saw_what_is_bounded() -> None:
    counter = ViewCounter(dedup_seconds=3600, max_seen=1000)
    for user in range(5000):
        counter.record(user, 7, now=float(user) / 1000)
    assert len(counter._seen) <= 1000
    assert counter.pending == {7: 5000}  # forgetting a pair never loses a view
    assert counter.record(4999, 7, now=5.0) is False  # the newest pairs are the ones kept


async def test_views_reach_the_database_within_seconds_without_a_request_writing(
    settings: Settings, pool: asyncpg.Pool, make_client: MakeClient,
) -> None:
    shop = await start_shop(settings, pool, make_client)
    kettle = await shop.product("AS-KIT-KTL")
    for telegram_id in range(1001, 1006):
        assert (await shop.customer(telegram_id).get(f"/api/products/{kettle.id}")).status == 200
    deadline = time.monotonic() + 60  # written every FLUSH_SECONDS; generous for a loaded machine
    while (await shop.product("AS-KIT-KTL")).view_count != kettle.view_count + 5:
        assert time.monotonic() < deadline, "the views were never written"
        await asyncio.sleep(0.1)


async def test_views_counted_just_before_a_clean_stop_are_written(
    settings: Settings, pool: asyncpg.Pool, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(views, "FLUSH_SECONDS", 3600.0)  # only the stop can write them
    shop = await start_shop(settings, pool, make_client)
    kettle = await shop.product("AS-KIT-KTL")
    for telegram_id in range(1001, 1004):
        assert (await shop.customer(telegram_id).get(f"/api/products/{kettle.id}")).status == 200
    assert (await shop.product("AS-KIT-KTL")).view_count == kettle.view_count
    await shop.client.close()  # the app's cleanup: the server stopped, the pool still open
    assert (await shop.product("AS-KIT-KTL")).view_count == kettle.view_count + 3


async def test_a_failed_write_keeps_the_views_for_the_next_one(
    pool: asyncpg.Pool, settings: Settings, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop = await start_shop(settings, pool, make_client)
    kettle = await shop.product("AS-KIT-KTL")
    counter = ViewCounter()
    counter.record(1, kettle.id)
    counter.record(2, kettle.id)
    real = products.add_views

    async def down(*_: object) -> None:
        raise ConnectionRefusedError("PostgreSQL is restarting")

    monkeypatch.setattr(products, "add_views", down)
    with pytest.raises(ConnectionRefusedError):
        await counter.flush(pool)
    counter.record(3, kettle.id)  # counted while the database was away
    monkeypatch.setattr(products, "add_views", real)
    assert await counter.flush(pool) == 3
    assert (await shop.product("AS-KIT-KTL")).view_count == kettle.view_count + 3
    assert counter.pending == {}
    assert shop.app[VIEWS].pending == {}


def test_the_catalog_cache_is_bounded_by_bytes_and_drops_the_least_recently_used() -> None:
    cache = CatalogCache(max_bytes=100 * (1000 + ENTRY_OVERHEAD + 3))
    cache.enabled = True
    body = b"x" * 1000
    for i in range(100):
        cache.put(f"k{i}", body)
    assert cache.get("k0") == body  # used: it is now the most recent
    for i in range(100, 150):
        cache.put(f"k{i}", body)
    assert cache.bytes <= cache.max_bytes
    assert cache.get("k0") == body and cache.get("k1") is None  # k1 was the least recently used
    cache.put("huge", b"y" * (cache.max_bytes // 4))  # one page may not take a quarter of it
    assert cache.get("huge") is None and cache.get("k0") == body
    big = [f"k{i}" for i in range(100, 150)]
    assert all(cache.get(k) == body for k in big)
    cache.invalidate()
    assert cache.bytes == 0 and cache.get("k0") is None
