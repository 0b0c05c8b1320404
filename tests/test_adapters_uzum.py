"""The Uzum adapter against the Uzum sandbox: auth, batch shapes, bisecting, pacing, faults, orders."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sync.adapters.base import (
    DailyQuota,
    FetchedOrders,
    MarketplaceError,
    PriceUpdate,
    StockUpdate,
    WatchedOrders,
)
from sync.adapters.uzum import UzumAdapter
from sync.http import ClientOptions
from sync.sandbox import ManualClock, UzumState, uzum_app
from sync.sandbox.uzum import BASE
from tests.adapters_support import harness, uzum_account

pytestmark = pytest.mark.asyncio

PRICES = f"POST {BASE}/v1/product/{{shopId}}/sendPriceData"
STOCKS = f"POST {BASE}/v2/fbs/sku/stocks"
ORDERS = f"GET {BASE}/v2/fbs/orders"


def barcode(i: int) -> str:
    return f"00{i:011d}"  # leading zeros: the catalogue's int64 would lose them


def seeded(count: int = 250, **kwargs: Any) -> UzumState:
    kwargs.setdefault("enforce_limits", False)
    kwargs.setdefault("clock", ManualClock())
    state = UzumState(**kwargs)
    state.seed_catalog(
        [
            {
                "productId": 1000 + i,
                "productTitle": f"Product {i}",
                "skuId": 5000 + i,
                "barcode": barcode(i),
                "sellerItemCode": f"SKU-{i}",
                "fullPrice": 100_000,
                "sellPrice": 90_000,
                "amount": 1,
            }
            for i in range(count)
        ]
    )
    return state


def price(i: int, full: int | str, sale: int | str | None = None, **keys: Any) -> PriceUpdate:
    mapped = {"product_id": 1000 + i, "sku_id": 5000 + i, **keys}
    return PriceUpdate(i, f"SKU-{i}", mapped, Decimal(full), None if sale is None else Decimal(sale))


def stock(i: int, quantity: int, code: str | None = None) -> StockUpdate:
    return StockUpdate(i, f"SKU-{i}", {"barcode": code or barcode(i)}, quantity)


async def test_prices_go_one_call_per_product_with_the_raw_token() -> None:
    state = seeded(3)
    state.seed_catalog([{"productId": 1000, "skuId": 5900, "barcode": "4780000005900", "fullPrice": 1000}])
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url))
        assert isinstance(adapter, UzumAdapter)
        items = [price(0, 120_000, 99_000), price(1, 80_000), price(2, 70_000, 70_000)]
        items.append(PriceUpdate(9, "SKU-0b", {"product_id": 1000, "sku_id": 5900}, Decimal(2000), None))
        result = await adapter.push_prices(items)
    assert [(r.ref, r.ok) for r in result.items] == [(0, True), (1, True), (2, True), (9, True)]
    assert result.calls == 3 == state.calls.count(PRICES, 200)
    bodies = {r.body["productId"]: r.body["skuList"] for r in state.calls.for_endpoint(PRICES)}
    assert bodies[1000] == [
        {"skuId": 5000, "fullPrice": 120_000, "sellPrice": 99_000},
        {"skuId": 5900, "fullPrice": 2000, "sellPrice": 2000},
    ]
    assert bodies[1001] == [{"skuId": 5001, "fullPrice": 80_000, "sellPrice": 80_000}]
    assert (state.skus[5000].full_price, state.skus[5000].sell_price) == (120_000, 99_000)
    # the sandbox refuses "Bearer <token>": every call authenticated with the bare token
    assert {r.identity for r in state.calls.records} == {"sandbox-uzum-token"}


async def test_bearer_prefix_is_refused_once_and_the_secret_stays_out(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Bearer sandbox-uzum-token"
    state = seeded(250)
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url, token=secret))
        result = await adapter.push_stocks([stock(i, 5) for i in range(250)])
    assert state.calls.count(STOCKS) == 1 == result.calls  # 401: no retry, and the other batches not sent
    assert not any(r.ok for r in result.items)
    assert "HTTP 401" in (result.items[0].error or "")
    assert all((r.error or "").startswith("not sent: ") for r in result.items[100:])
    texts = [r.error or "" for r in result.items] + [caplog.text]
    assert not any("sandbox-uzum-token" in text for text in texts)


async def test_prices_are_checked_before_any_call() -> None:
    state = seeded(10)
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url))
        result = await adapter.push_prices(
            [
                price(0, "1000.50"),
                price(1, 0),
                price(2, 1_000_000_000),
                price(3, 50_000, 60_000),
                PriceUpdate(4, "SKU-4", {"product_id": 1004}, Decimal(1000), None),
                price(5, 10_000, 9_000),
                price(5, 11_000, sku_id=5005, product_id=1005),
            ]
        )
    errors = [r.error for r in result.items]
    assert [r.ok for r in result.items] == [False, False, False, False, False, True, False]
    assert "whole so'm" in (errors[0] or "")
    assert "1..999999000" in (errors[1] or "") and "1..999999000" in (errors[2] or "")
    assert "above the full price" in (errors[3] or "")
    assert "not mapped" in (errors[4] or "")
    assert "twice" in (errors[6] or "")
    assert result.calls == 1 == state.calls.count(PRICES)


async def test_stocks_go_in_batches_of_100_by_string_barcode() -> None:
    state = seeded(250)
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url))
        result = await adapter.push_stocks([stock(i, i % 7) for i in range(250)])
    assert all(r.ok for r in result.items)
    records = state.calls.for_endpoint(STOCKS)
    assert sorted(r.items or 0 for r in records) == [50, 100, 100]
    assert result.calls == 3
    first = records[0].body["skuAmountList"][0]
    assert first == {"barcode": barcode(0), "amount": 0} and isinstance(first["barcode"], str)
    assert all(state.skus[5000 + i].amount == i % 7 for i in range(250))


async def test_a_failed_batch_is_bisected_so_good_items_land() -> None:
    state = seeded(250)
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url))
        items = [stock(i, 40 + i % 3) for i in range(250)]
        items[30] = stock(30, 5, code="4780000099999")  # Uzum knows no such barcode
        items[170] = stock(170, 5, code="4780000099998")
        result = await adapter.push_stocks(items)
    failed = [r for r in result.items if not r.ok]
    assert [r.ref for r in failed] == [30, 170]
    assert "4780000099999 not found" in (failed[0].error or "")
    assert all(state.skus[5000 + i].amount == 40 + i % 3 for i in range(250) if i not in (30, 170))
    # 3 batches; each failed 100-batch costs 2 calls per level down to the one bad barcode
    assert result.calls <= 3 + 2 * 2 * 7
    assert state.calls.count(STOCKS) == result.calls


async def test_pacing_uses_the_burst_then_the_rate_without_a_single_429() -> None:
    state = seeded(25, enforce_limits=True)  # 5 requests/s, burst 10
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url))
        start = h.manual()
        result = await adapter.push_prices([price(i, 120_000) for i in range(25)])
        elapsed = h.elapsed_since(start)
    assert all(r.ok for r in result.items)
    assert state.calls.count(PRICES, 200) == 25
    assert state.calls.count(PRICES, 429) == 0
    # the lower bound (25 - 10) / 5 = 3 s plus the one-time 0.25 s margin, exactly
    assert elapsed == pytest.approx(3.25, abs=1e-6)


async def test_pacing_follows_the_gateways_headers() -> None:
    state = seeded(12, enforce_limits=True)
    state.configure_limits(groups={"default": {"requests": 2, "period": 1, "burst": 3}})
    async with harness(uzum_app(state)) as h:
        # one at a time: before the first answer nothing says the gateway is slower than 5 rps
        options = ClientOptions(timeout=10, backoff_base=0.01, concurrency=1)
        adapter = h.adapter(uzum_account(h.base_url), options=options)
        start = h.manual()
        result = await adapter.push_prices([price(i, 120_000) for i in range(12)])
        elapsed = h.elapsed_since(start)
    assert all(r.ok for r in result.items)
    assert state.calls.count(PRICES, 429) == 0
    assert elapsed == pytest.approx((12 - 3) / 2 + 0.25, abs=1e-6)


async def test_429_waits_retry_after_then_succeeds() -> None:
    state = seeded(5)
    state.inject_fault("429", 1, path=f"{BASE}/v2/fbs/sku/stocks", retry_after=3)
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url))
        start = h.manual()
        result = await adapter.push_stocks([stock(i, 9) for i in range(5)])
        elapsed = h.elapsed_since(start)
    assert all(r.ok for r in result.items)
    assert [r.status for r in state.calls.for_endpoint(STOCKS)] == [429, 200]
    assert result.calls == 2
    assert elapsed >= 3


async def test_5xx_and_a_timeout_are_retried_with_bounds() -> None:
    state = seeded(5)
    async with harness(uzum_app(state)) as h:
        # the only real-time wait: a 2.5 s stall against a 1 s timeout (a normal answer takes ms)
        options = ClientOptions(timeout=1.0, backoff_base=0.01, backoff_cap=0.02, max_tries=4)
        adapter = h.adapter(uzum_account(h.base_url), options=options)
        state.inject_fault("500", 2, path=f"{BASE}/v2/fbs/sku/stocks")
        after_5xx = await adapter.push_stocks([stock(i, 3) for i in range(5)])
        state.inject_fault("timeout", 1, path=f"{BASE}/v2/fbs/sku/stocks", delay=2.5)
        after_timeout = await adapter.push_stocks([stock(i, 4) for i in range(5)])
        state.inject_fault("503", -1, path=f"{BASE}/v2/fbs/sku/stocks")
        gave_up = await adapter.push_stocks([stock(i, 6) for i in range(5)])
        state.clear_faults()
    assert after_5xx.calls == 3 and all(r.ok for r in after_5xx.items)
    assert after_timeout.calls == 2 and all(r.ok for r in after_timeout.items)
    assert gave_up.calls == 4  # max_tries, not a call more
    assert not any(r.ok for r in gave_up.items)
    assert "HTTP 503" in (gave_up.items[0].error or "")
    assert all(state.skus[5000 + i].amount == 4 for i in range(5))


async def test_a_4xx_is_never_retried() -> None:
    state = seeded(5)
    state.set_credentials({"token": "read-only", "permissions": ["SKU_READ"]})
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url, token="read-only"))
        result = await adapter.push_prices([price(i, 1000) for i in range(5)])
    assert state.calls.count(PRICES) == 1 == result.calls
    assert "fbs-2-seller-access-denied" in (result.items[0].error or "")
    assert all((r.error or "").startswith("not sent") for r in result.items[1:])


async def test_a_garbage_answer_fails_its_batch_and_the_run_goes_on() -> None:
    state = seeded(250)
    state.inject_fault("garbage", 1, path=f"{BASE}/v2/fbs/sku/stocks", body="html")
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url))
        result = await adapter.push_stocks([stock(i, 2) for i in range(250)])
        state.inject_fault("garbage", 1, path=f"{BASE}/v2/fbs/orders", body="truncated")
        with pytest.raises(MarketplaceError) as caught:
            await adapter.fetch_orders(datetime.now(UTC) - timedelta(days=1))
    assert [r.ok for r in result.items].count(False) == 100
    assert "not JSON" in (result.items[0].error or "")
    assert all(r.ok for r in result.items[100:])
    assert caught.value.kind == "bad_response"


async def test_orders_page_by_50_per_status_and_map_statuses() -> None:
    state = seeded(5)
    now_ms = state.now_ms()
    day_ms = 86_400_000
    state.add_orders([{"orderItems": [{"skuId": 5000, "amount": 1}], "reserve": False} for _ in range(120)])
    dbs = state.add_orders({"orderItems": [{"skuId": 5001, "amount": 2}], "scheme": "DBS", "status": "PACKING"})[0]
    returned = state.add_orders({"orderItems": [{"skuId": 5002}], "status": "RETURNED"})[0]
    old = state.add_orders({"orderItems": [{"skuId": 5003}], "dateCreated": now_ms - 10 * day_ms})[0]
    state.set_order_status(str(old["id"]), {"status": "COMPLETED"})  # changed now: counts
    stale = state.add_orders(
        {"orderItems": [{"skuId": 5004}], "dateCreated": now_ms - 10 * day_ms, "status": "CANCELED"}
    )[0]
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url))
        assert isinstance(adapter, WatchedOrders)
        adapter.watch_orders_from(datetime.now(UTC) - timedelta(days=11))  # we hold an order that old
        orders = await adapter.fetch_orders(datetime.now(UTC) - timedelta(days=1))
    assert isinstance(orders, FetchedOrders) and orders.skipped == []
    by_id = {o.marketplace_order_id: o for o in orders}
    assert len(by_id) == 123 and str(stale["id"]) not in by_id
    created = [r for r in state.calls.for_endpoint(ORDERS) if r.query["status"] == "CREATED"]
    assert [r.items for r in created] == [50, 50, 20]
    assert {r.query["size"] for r in state.calls.for_endpoint(ORDERS)} == {"50"}
    assert state.calls.count(ORDERS) == 3 + 10  # the other ten statuses fit one page each
    packing = by_id[str(dbs["id"])]
    assert (packing.status, packing.raw_status) == ("confirmed", "PACKING")
    assert (packing.customer_name, packing.customer_phone) == ("Sandbox Buyer", "998901234567")
    line = packing.lines[0]
    assert (line.seller_sku, line.quantity, line.price, line.keys["sku_id"]) == ("SKU-1", 2, Decimal(90_000), 5001)
    assert (by_id[str(returned["id"])].status, by_id[str(returned["id"])].is_return) == ("cancelled", True)
    assert by_id[str(old["id"])].status == "delivered"
    assert by_id[str(old["id"])].created_at < datetime.now(UTC).replace(tzinfo=None) - timedelta(days=9)


async def test_catalogue_pages_and_keeps_string_barcodes() -> None:
    state = seeded(150)
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url))
        items = await adapter.list_catalog()
    assert len(items) == 150
    first = items[0]
    assert first.seller_sku == "SKU-0" and first.barcodes == [barcode(0)]
    assert first.keys == {
        "shop_id": 1,
        "product_id": 1000,
        "sku_id": 5000,
        "barcode": barcode(0),
        "seller_sku": "SKU-0",
    }
    assert state.calls.count(f"GET {BASE}/v1/product/shop/{{shopId}}") == 2
    assert state.calls.count(f"GET {BASE}/v3/fbs/sku/stocks") == 2


async def test_missing_shop_id_is_a_config_error_per_item() -> None:
    state = seeded(2)
    async with harness(uzum_app(state)) as h:
        account = uzum_account(h.base_url, shop_id=None)
        adapter = h.adapter(account)
        result = await adapter.push_prices([price(0, 1000)])
        with pytest.raises(MarketplaceError) as caught:
            await adapter.list_catalog()
    assert "shop_id" in (result.items[0].error or "") and result.calls == 0
    assert caught.value.kind == "config"


async def test_a_bug_in_one_batch_leaves_the_other_batches_results() -> None:
    state = seeded(250)
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url))
        assert isinstance(adapter, UzumAdapter)
        real_check = adapter._check
        seen: list[Any] = []

        def check_with_a_bug(data: Any, what: str) -> None:
            seen.append(data)
            if len(seen) == 2:
                raise RuntimeError("a bug")
            real_check(data, what)

        adapter._check = check_with_a_bug  # type: ignore[method-assign]
        result = await adapter.push_stocks([stock(i, 1) for i in range(250)])
    failed = [r for r in result.items if not r.ok]
    assert len(failed) == 100 and "internal error (RuntimeError)" in (failed[0].error or "")
    assert sum(r.ok for r in result.items) == 150


async def test_final_status_lists_are_read_from_a_date_so_history_is_never_paged_whole() -> None:
    state = seeded(3)
    day_ms = 86_400_000
    long_ago = state.now_ms() - 200 * day_ms
    # a large shop's history: 30 pages of completed orders, all long done
    state.add_orders([{"orderItems": [{"skuId": 5000}], "dateCreated": long_ago, "status": "COMPLETED",
                       "reserve": False} for _ in range(1500)])
    fresh = state.add_orders({"orderItems": [{"skuId": 5001}], "status": "CANCELED"})[0]  # created and cancelled
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url), )
        assert isinstance(adapter, WatchedOrders)
        adapter.watch_orders_from(None)
        orders = await adapter.fetch_orders(datetime.now(UTC) - timedelta(hours=2))
    assert [o.marketplace_order_id for o in orders] == [str(fresh["id"])]
    calls = state.calls.for_endpoint(ORDERS)
    assert len(calls) == 11  # one page per status: the 1,500 old completed orders are not read
    dated = {r.query["status"] for r in calls if "dateFrom" in r.query}
    assert dated == {"COMPLETED", "CANCELED", "RETURNED"}
    since_ms = int((datetime.now(UTC) - timedelta(hours=2)).timestamp() * 1000)
    assert all(abs(int(r.query["dateFrom"]) - since_ms) < 60_000 for r in calls if "dateFrom" in r.query)


async def test_pending_cancellation_keeps_the_order_and_its_stock_until_canceled() -> None:
    state = seeded(2)
    order = state.add_orders({"orderItems": [{"skuId": 5000}], "status": "PENDING_CANCELLATION"})[0]
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url))
        (held,) = await adapter.fetch_orders(datetime.now(UTC) - timedelta(hours=1))
        state.set_order_status(str(order["id"]), {"status": "CANCELED"})
        (final,) = await adapter.fetch_orders(datetime.now(UTC) - timedelta(hours=1))
    assert (held.on_hold, held.status, held.raw_status) == (True, "pending", "PENDING_CANCELLATION")
    assert (final.on_hold, final.status) == (False, "cancelled")


async def test_pushes_stop_before_the_daily_quota_runs_out_and_keep_the_reserve() -> None:
    state = seeded(40, enforce_limits=True)
    state.configure_limits(daily_quota=25)
    async with harness(uzum_app(state)) as h:
        adapter = h.adapter(uzum_account(h.base_url, daily_reserve=5))
        assert isinstance(adapter, DailyQuota)
        result = await adapter.push_prices([price(i, 120_000, 110_000) for i in range(40)])
        assert adapter.daily_quota() == (5, 25)
        orders = await adapter.fetch_orders(datetime.now(UTC) - timedelta(hours=1))  # the reserve is for this
        later = h.adapter(uzum_account(h.base_url, daily_reserve=5))
        assert isinstance(later, DailyQuota)
        later.assume_daily_quota(0, 25)  # what the earlier run saw: nothing is sent at all
        again = await later.push_prices([price(i, 120_000) for i in range(40)])
    sent = state.calls.for_endpoint(PRICES)
    assert len(sent) == 20 and [r.ok for r in result.items] == [True] * 20 + [False] * 20
    assert "daily request quota is used up (5 of 25 left today, 5 kept for order import)" in (
        result.items[-1].error or "")
    assert state.calls.count(ORDERS) == 5  # the reserve, then it stops at 0: never a 429 wait
    assert len(orders.skipped) == 1 and "daily request quota is used up (0 of 25" in orders.skipped[0]
    assert not any(r.ok for r in again.items) and again.calls == 0
