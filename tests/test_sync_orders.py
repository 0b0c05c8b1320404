"""Order import against the sandboxes: every marketplace order becomes exactly one order, whether it
is fetched once, three times, by two workers at once, or by a worker killed half-way and restarted;
stock is taken once, cancellations give it back once, statuses only move forwards, and what cannot
be matched or is short is recorded and reported."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from db.models import Order, Product
from db.repos import marketplace_orders, marketplaces, orders, sync_logs
from store.services import marketplace_admin, marketplace_sync
from store.settings import Settings
from tests.sync_support import Bench, make_products, open_bench, product, uzum_ids, wb_ids


@pytest.fixture
async def bench(pool: asyncpg.Pool, settings: Settings, redis_url: str) -> AsyncIterator[Bench]:
    async with open_bench(pool, settings, redis_url) as opened:
        yield opened


async def import_now(bench: Bench, slug: str) -> list[object]:
    report = await marketplace_sync.run_sync(bench.deps, slug, "orders")
    return list(report.logs)


async def by_marketplace_id(pool: asyncpg.Pool, slug: str) -> dict[str, Order]:
    rows = await pool.fetch("SELECT id FROM orders WHERE source = $1", slug)
    found = [await orders.get(pool, r["id"]) for r in rows]
    return {o.marketplace_order_id: o for o in found if o is not None and o.marketplace_order_id}


async def numbers_used(pool: asyncpg.Pool) -> int:
    """How many order numbers the sequence has handed out (it is not reset between tests)."""
    value: int = await pool.fetchval(
        "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM order_number_seq")
    return value


async def stocks(pool: asyncpg.Pool, items: list[Product]) -> list[int]:
    return [(await product(pool, p.id)).stock_quantity for p in items]


async def test_new_orders_become_one_order_each_however_often_they_are_fetched(bench: Bench) -> None:
    items = await make_products(bench.pool, 3, stock=10)
    await bench.add_marketplaces()
    for slug in ("uzum", "wildberries", "ozon"):
        await bench.map_products(slug, items, sandbox_stock=10)
    dbs = bench.uzum.add_orders({"scheme": "DBS", "orderItems": [
        {"skuId": uzum_ids(0)["sku_id"], "amount": 2}, {"skuId": uzum_ids(1)["sku_id"]}]})[0]
    fbs = bench.uzum.add_orders({"orderItems": [{"skuId": uzum_ids(2)["sku_id"]}]})[0]
    wb_order = bench.wb.add_orders({"chrtId": wb_ids(1)["chrt_id"], "price": 1_234_500})[0]
    posting = bench.ozon.add_orders({"products": [{"offer_id": items[2].sku, "quantity": 3, "price": "15000"}]})[0]

    numbers_before = await numbers_used(bench.pool)
    for _ in range(3):
        for slug in ("uzum", "wildberries", "ozon"):
            (entry,) = await import_now(bench, slug)
            assert entry.status == "success", entry  # type: ignore[attr-defined]

    assert await orders.count(bench.pool) == 4
    assert await numbers_used(bench.pool) == numbers_before + 4  # fetching a known order again uses none
    uzum = await by_marketplace_id(bench.pool, "uzum")
    assert set(uzum) == {str(dbs["id"]), str(fbs["id"])}
    first = uzum[str(dbs["id"])]
    assert (first.customer_name, first.customer_phone) == ("Sandbox Buyer", "+998901234567")
    assert first.order_number.startswith("UZ-") and first.status == "pending" and first.user_id is None
    assert first.total == Decimal(2 * 11000 + 12000) and first.delivery_address == "Tashkent, Amir Temur 1"
    lines = {i.product_sku: (i.product_id, i.quantity, i.price) for i in await orders.items(bench.pool, first.id)}
    assert lines == {items[0].sku: (items[0].id, 2, Decimal("11000")), items[1].sku: (items[1].id, 1, Decimal("12000"))}
    hidden = uzum[str(fbs["id"])]  # FBS: the marketplace gives no buyer, the row says whose buyer it is
    assert (hidden.customer_name, hidden.customer_phone) == ("Uzum", "—")
    (wb,) = (await by_marketplace_id(bench.pool, "wildberries")).values()
    assert wb.marketplace_order_id == str(wb_order["id"]) and wb.total == Decimal("12345")
    (oz,) = (await by_marketplace_id(bench.pool, "ozon")).values()
    assert oz.marketplace_order_id == posting["posting_number"] and oz.total == Decimal(45000)
    # Stock was taken once per order: 2 (uzum) | 1 (uzum) + 1 (wb) | 1 (uzum) + 3 (ozon)
    assert await stocks(bench.pool, items) == [8, 8, 6]
    side = await marketplace_orders.get(bench.pool, first.id)
    assert side is not None and side.stock_taken == {str(items[0].id): 2, str(items[1].id): 1}
    assert side.raw_status == "CREATED"
    # With each order, in its transaction: the new-order notification and the stock pushes.
    written = {r["job_id"] for r in await bench.pool.fetch("SELECT job_id FROM outbox_events")}
    assert {f"order-created:{o.id}" for o in (first, hidden, wb, oz)} <= written
    pushes = {r["product_id"] for r in await bench.pool.fetch(
        "SELECT product_id FROM pending_pushes WHERE sync_type = 'stock'")}
    assert {p.id for p in items} <= pushes


async def test_two_workers_importing_at_once_make_exactly_one_order_each(bench: Bench) -> None:
    items = await make_products(bench.pool, 6, stock=50)
    await bench.add_marketplaces(("ozon",))
    await bench.map_products("ozon", items)
    for n in range(30):
        bench.ozon.add_orders({"products": [{"offer_id": items[n % 6].sku, "quantity": 1 + n % 2},
                                            {"offer_id": items[(n + 1) % 6].sku}]})
    marketplace = await marketplaces.get_by_slug(bench.pool, "ozon")
    assert marketplace is not None
    keybox = marketplace_admin.keybox_for(bench.settings)

    async def worker() -> marketplace_sync.RunResult:
        adapter = bench.adapter(marketplace_admin.account_for(marketplace, keybox))
        return await marketplace_sync.import_orders(bench.deps, marketplace, adapter)

    results = await asyncio.gather(worker(), worker())  # no lock: the database alone must keep them apart

    assert [r.failures for r in results] == [[], []]
    assert await orders.count(bench.pool) == 30
    assert await bench.pool.fetchval("SELECT count(*) FROM order_items") == 60
    taken = {p.id: 0 for p in items}
    for n in range(30):
        taken[items[n % 6].id] += 1 + n % 2
        taken[items[(n + 1) % 6].id] += 1
    assert await stocks(bench.pool, items) == [50 - taken[p.id] for p in items]


async def test_a_cancellation_returns_the_stock_once_and_a_return_is_flagged(bench: Bench) -> None:
    items = await make_products(bench.pool, 2, stock=5)
    await bench.add_marketplaces(("uzum", "wildberries"))
    await bench.map_products("uzum", items)
    await bench.map_products("wildberries", items)
    cancelled = bench.uzum.add_orders({"orderItems": [{"skuId": uzum_ids(0)["sku_id"], "amount": 2}]})[0]
    returned = bench.uzum.add_orders({"orderItems": [{"skuId": uzum_ids(1)["sku_id"]}]})[0]
    wb_order = bench.wb.add_orders({"chrtId": wb_ids(0)["chrt_id"]})[0]
    await import_now(bench, "uzum")
    await import_now(bench, "wildberries")
    assert await stocks(bench.pool, items) == [2, 4]

    bench.uzum.set_order_status(str(cancelled["id"]), {"status": "CANCELED"})
    bench.uzum.set_order_status(str(returned["id"]), {"status": "COMPLETED"})
    bench.wb.set_order_status(str(wb_order["id"]), {"supplierStatus": "cancel"})
    for _ in range(2):
        await import_now(bench, "uzum")
        await import_now(bench, "wildberries")
    assert await stocks(bench.pool, items) == [5, 4]  # 2 (uzum) + 1 (wb) back, once
    bench.uzum.set_order_status(str(returned["id"]), {"status": "RETURNED"})  # the buyer sent it back
    for _ in range(2):
        await import_now(bench, "uzum")
    assert await stocks(bench.pool, items) == [5, 5]

    uzum = await by_marketplace_id(bench.pool, "uzum")
    first, back = uzum[str(cancelled["id"])], uzum[str(returned["id"])]
    assert (first.status, back.status) == ("cancelled", "cancelled")
    assert first.cancelled_at is not None and back.delivered_at is not None
    first_side, back_side = await marketplace_orders.get(bench.pool, first.id), await marketplace_orders.get(
        bench.pool, back.id)
    assert first_side is not None and back_side is not None
    assert (first_side.is_return, back_side.is_return, back_side.raw_status) == (False, True, "RETURNED")
    assert first_side.stock_returned_at is not None
    (wb,) = (await by_marketplace_id(bench.pool, "wildberries")).values()
    assert wb.status == "cancelled"
    written = {r["job_id"] for r in await bench.pool.fetch("SELECT job_id FROM outbox_events")}
    assert f"order-status:{first.id}:cancelled" in written


async def test_statuses_only_move_forwards_and_arbitration_keeps_the_last_one(bench: Bench) -> None:
    items = await make_products(bench.pool, 1, stock=5)
    await bench.add_marketplaces(("ozon",))
    await bench.map_products("ozon", items)
    number = bench.ozon.add_orders({"products": [{"offer_id": items[0].sku}]})[0]["posting_number"]
    seen = []
    for status in ("awaiting_deliver", "delivering", "awaiting_packaging", "arbitration", "delivered", "cancelled"):
        bench.ozon.set_order_status(number, {"status": status})
        await import_now(bench, "ozon")
        (order,) = (await by_marketplace_id(bench.pool, "ozon")).values()
        side = await marketplace_orders.get(bench.pool, order.id)
        assert side is not None
        seen.append((order.status, side.raw_status))
    assert seen == [
        ("confirmed", "awaiting_deliver"), ("shipped", "delivering"), ("shipped", "awaiting_packaging"),
        ("shipped", "arbitration"), ("delivered", "delivered"), ("cancelled", "cancelled"),
    ]
    assert await stocks(bench.pool, items) == [5]  # the cancellation after delivery gave the unit back


async def test_unknown_items_and_short_stock_are_recorded_and_reported(bench: Bench) -> None:
    items = await make_products(bench.pool, 2, stock=1)
    await bench.add_marketplaces(("uzum",))
    await bench.map_products("uzum", items)
    bench.uzum.seed_catalog([{"productId": 999, "skuId": 9999, "barcode": "4780000099999",
                              "sellerItemCode": "ALIEN-1", "sellPrice": 5000, "amount": 4}])
    order = bench.uzum.add_orders({"orderItems": [
        {"skuId": uzum_ids(0)["sku_id"], "amount": 3}, {"skuId": 9999}, {"skuId": uzum_ids(1)["sku_id"]}]})[0]

    (entry,) = await import_now(bench, "uzum")

    recorded = (await by_marketplace_id(bench.pool, "uzum"))[str(order["id"])]
    lines = {i.product_sku: i for i in await orders.items(bench.pool, recorded.id)}
    assert lines["ALIEN-1"].product_id is None and lines["ALIEN-1"].quantity == 1
    assert lines[items[0].sku].quantity == 3  # the sale is recorded as it happened
    assert await stocks(bench.pool, items) == [0, 0]  # took the one unit there was, never below zero
    side = await marketplace_orders.get(bench.pool, recorded.id)
    assert side is not None
    assert (side.stock_taken, side.stock_short) == ({str(items[0].id): 1, str(items[1].id): 1}, {str(items[0].id): 2})
    assert (entry.status, entry.items_processed, entry.items_failed) == ("partial", 1, 1)  # type: ignore[attr-defined]
    message = entry.error_message  # type: ignore[attr-defined]
    assert "ALIEN-1" in message and "not mapped" in message and f"{items[0].sku}: 3 ordered but only 1" in message
    (item,) = await sync_logs.items(bench.pool, entry.id)  # type: ignore[attr-defined]
    assert item.item_ref == f"uzum {order['id']}"

    # Cancelled later: exactly what was taken comes back, not what was ordered.
    bench.uzum.set_order_status(str(order["id"]), {"status": "CANCELED"})
    await import_now(bench, "uzum")
    assert await stocks(bench.pool, items) == [1, 1]


def _cli(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    environ = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "SECRET_KEYS"}}
    environ.update(DATABASE_URL=settings.database_url or "", REDIS_URL=settings.redis_url or "",
                   DATA_DIR=str(settings.data_dir), SECRET_KEYS="", LOG_LEVEL="WARNING")
    return subprocess.Popen([sys.executable, "-m", "store.cli", *args], env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


async def test_a_worker_killed_mid_import_and_restarted_loses_and_duplicates_nothing(bench: Bench) -> None:
    items = await make_products(bench.pool, 6, stock=10)
    await bench.add_marketplaces(("ozon",))
    await bench.map_products("ozon", items)
    start = datetime.now(UTC) - timedelta(minutes=30)
    for n, item in enumerate(items):  # one posting per product, oldest first: imported in this order
        bench.ozon.add_orders({"products": [{"offer_id": item.sku}],
                               "in_process_at": (start + timedelta(minutes=n)).isoformat()})
    # A checkout holds product 4's row: the import commits orders 1-3, then waits on order 4's stock.
    blocker = await bench.pool.acquire()
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.execute("SELECT 1 FROM products WHERE id = $1 FOR UPDATE", items[3].id)
    process = _cli(bench.settings, "sync", "run", "ozon", "--type", "orders")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[0].decode()
            waiting = await bench.pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = any(pg_blocking_pids(pid))",
                await blocker.fetchval("SELECT pg_backend_pid()"))
            if waiting and await orders.count(bench.pool) == 3:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the import never reached the locked product")
        process.send_signal(signal.SIGKILL)  # the worker dies mid-import: no clean-up runs at all
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        await transaction.rollback()
        await bench.pool.release(blocker)

    assert await orders.count(bench.pool) == 3
    assert await stocks(bench.pool, items) == [9, 9, 9, 10, 10, 10]
    (killed,) = await sync_logs.recent(bench.pool)
    assert (killed.status, killed.error_message, killed.completed_at) == ("error", "run did not finish", None)

    # Its lock outlives it for a while (so no second run overlaps a slow one) ...
    restarted = await marketplace_sync.run_sync(bench.deps, "ozon", "orders")
    assert (restarted.logs, restarted.skipped) == ([], ["orders"])
    # ... and expires LOCK_TTL seconds after the last renewal; fast-forward that, then restart.
    assert await bench.redis.pexpire(marketplace_sync.lock_key("ozon", "orders"), 1)
    await asyncio.sleep(0.01)
    restarted = await marketplace_sync.run_sync(bench.deps, "ozon", "orders")
    assert [e.status for e in restarted.logs] == ["success"]

    assert await orders.count(bench.pool) == 6
    assert await bench.pool.fetchval("SELECT count(DISTINCT marketplace_order_id) FROM orders") == 6
    assert await stocks(bench.pool, items) == [9] * 6
    again = await marketplace_sync.run_sync(bench.deps, "ozon", "orders")
    assert [e.status for e in again.logs] == ["success"] and await orders.count(bench.pool) == 6
