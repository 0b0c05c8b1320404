"""Drift reconcile against the three sandboxes: values changed on the marketplaces behind the
store's back are found (and only those), recorded with both values, fixed by pushing ours, and the
admins get one line; a second run finds nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import asyncpg
import pytest
from pydantic import SecretStr

from bot import notices
from db.models import SyncLog
from db.repos import sync_logs
from store.services import marketplace_sync
from store.settings import Settings
from sync.sandbox.ozon import DEFAULT_WAREHOUSE_ID as OZON_WAREHOUSE
from sync.sandbox.wildberries import DEFAULT_WAREHOUSE_ID as WB_WAREHOUSE
from tests.sync_support import Bench, make_products, open_bench, ozon_ids, uzum_ids, wb_ids

ADMIN = 900_001


@pytest.fixture
async def bench(pool: asyncpg.Pool, settings: Settings, redis_url: str) -> AsyncIterator[Bench]:
    async with open_bench(pool, settings, redis_url) as opened:
        yield opened


async def in_sync(bench: Bench, slug: str) -> None:
    for sync_type in ("stock", "price"):
        (entry,) = (await marketplace_sync.run_sync(bench.deps, slug, sync_type, full=True)).logs
        assert entry.status == "success", entry.error_message


async def reconcile(bench: Bench, slug: str) -> tuple[SyncLog, list[tuple[str, str, str | None, str | None]]]:
    (entry,) = (await marketplace_sync.run_sync(bench.deps, slug, "reconcile")).logs
    return entry, await sync_logs.differences(bench.pool, entry.id)


async def test_reconcile_finds_exactly_what_changed_behind_our_back_and_fixes_it(bench: Bench) -> None:
    items = await make_products(bench.pool, 4, stock=10)  # T-00003 is on sale: 13 000, 11 700
    await bench.add_marketplaces()
    for slug in ("uzum", "wildberries", "ozon"):
        await bench.map_products(slug, items)
        await in_sync(bench, slug)
    skus = [p.sku for p in items]

    # by hand in the cabinets
    bench.uzum.skus[uzum_ids(0)["sku_id"]].amount = 3
    bench.uzum.skus[uzum_ids(1)["sku_id"]].sell_price = 9_000
    bench.wb.stocks[WB_WAREHOUSE][wb_ids(2)["chrt_id"]] = 55
    bench.wb.cards[wb_ids(3)["nm_id"]].discount = 30
    bench.ozon.stocks[(OZON_WAREHOUSE, ozon_ids(0)["product_id"])] = 0
    bench.ozon.products[ozon_ids(2)["product_id"]].price = Decimal(99_000)

    uzum, uzum_found = await reconcile(bench, "uzum")
    assert uzum_found == [(skus[0], "stock differed", "10", "3"), (skus[1], "price differed", "12000", "9000")]
    assert (uzum.status, uzum.items_processed) == ("success", 4)
    assert (uzum.error_message or "").startswith("Uzum: 1 stock and 1 price differed; fixed")
    assert bench.uzum.skus[uzum_ids(0)["sku_id"]].amount == 10
    assert bench.uzum.skus[uzum_ids(1)["sku_id"]].sell_price == 12_000

    wb, wb_found = await reconcile(bench, "wildberries")
    assert wb_found == [(skus[2], "stock differed", "10", "55"),
                        (skus[3], "price differed", "14000 (-0%)", "14000 (-30%)")]
    assert wb.status == "success"
    assert bench.wb.stocks[WB_WAREHOUSE][wb_ids(2)["chrt_id"]] == 10
    assert bench.wb.cards[wb_ids(3)["nm_id"]].discount == 0

    ozon, ozon_found = await reconcile(bench, "ozon")
    assert ozon_found == [(skus[0], "stock differed", "10", "0"),
                          (skus[2], "price differed", "11700 (was 13000)", "99000 (was 13000)")]
    assert ozon.status == "success"
    assert bench.ozon.stocks[(OZON_WAREHOUSE, ozon_ids(0)["product_id"])] == 10
    assert bench.ozon.products[ozon_ids(2)["product_id"]].price == Decimal(11_700)

    for slug in ("uzum", "wildberries", "ozon"):  # nothing drifted since: nothing found, nothing pushed
        again, found = await reconcile(bench, slug)
        assert found == [] and again.status == "success"
        assert "no stock or price differed" in (again.error_message or "")

    queued = {r["job_id"] for r in await bench.pool.fetch(
        "SELECT job_id FROM outbox_events WHERE job_name = 'notify_reconcile'")}  # written with the run's end
    assert f"reconcile-notice:{uzum.id}" in queued

    # the admins' line, in their language
    admin_settings = bench.settings.model_copy(update={"bot_token": SecretStr("1:x"), "admin_ids": frozenset({ADMIN})})
    ctx = {"settings": admin_settings, "db": bench.pool, "redis": bench.redis}
    await notices.notify_reconcile(ctx, ozon.id)
    job = await bench.redis.get(f"arq:job:send:reconcile:{ozon.id}:{ADMIN}")
    assert job is not None and b"Ozon: 1 ta qoldiq va 1 ta narx farq qildi; tuzatildi" in job
    quiet, _ = await reconcile(bench, "ozon")
    await notices.notify_reconcile(ctx, quiet.id)
    assert await bench.redis.get(f"arq:job:send:reconcile:{quiet.id}:{ADMIN}") is None


async def test_an_item_gone_from_the_marketplace_is_reported_not_fixed_and_pushed_again_later(bench: Bench) -> None:
    items = await make_products(bench.pool, 2, stock=10)
    await bench.add_marketplaces(("wildberries",))
    await bench.map_products("wildberries", items)
    await in_sync(bench, "wildberries")
    bench.wb.trash_card(wb_ids(1)["nm_id"])
    bench.wb.stocks[WB_WAREHOUSE][wb_ids(0)["chrt_id"]] = 1
    entry, found = await reconcile(bench, "wildberries")
    assert entry.status == "partial"
    differed = [f for f in found if f[1].endswith("differed")]
    assert differed[0] == (items[0].sku, "stock differed", "10", "1")
    assert (differed[1][0], differed[1][1], differed[1][2]) == (items[1].sku, "price differed", "12000 (-0%)")
    assert "no card nmID" in (differed[1][3] or "")
    assert any(ref == items[1].sku and "price not fixed" in message for ref, message, _, _ in found)
    assert "1 stock and 1 price differed; 1 not fixed" in (entry.error_message or "")
    # forgotten: the next delta price run tries the vanished card again (and says it is gone)
    (delta,) = (await marketplace_sync.run_sync(bench.deps, "wildberries", "price")).logs
    assert delta.items_processed == 1 and delta.status == "error"


async def test_reconcile_is_due_daily_by_default_and_on_its_own_setting(bench: Bench) -> None:
    await bench.add_marketplaces(("ozon",))
    now = marketplace_sync.utcnow()
    assert ("ozon", "reconcile") not in await marketplace_sync.due_syncs(bench.pool, now)  # no delta run yet
    await bench.pool.execute(
        """INSERT INTO marketplace_sync_state (marketplace_id, sync_type, last_run_at)
           SELECT id, t, $1 FROM marketplaces, unnest(ARRAY['orders', 'stock', 'price', 'reconcile']) AS t""",
        now)
    assert await marketplace_sync.due_syncs(bench.pool, now + timedelta(hours=23)) == [
        ("ozon", "orders"), ("ozon", "stock"), ("ozon", "price")]
    assert ("ozon", "reconcile") in await marketplace_sync.due_syncs(bench.pool, now + timedelta(hours=24))
    from store.services import marketplace_admin

    await marketplace_admin.configure(bench.pool, "ozon", {"reconcile_interval": "120"})
    assert ("ozon", "reconcile") in await marketplace_sync.due_syncs(bench.pool, now + timedelta(hours=2))
