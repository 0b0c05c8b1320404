"""The Wildberries adapter against the WB sandbox: asynchronous price uploads, 409 arrays, the key
guard, parallel buckets at the documented limits, orders and statuses, cards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sync.adapters.base import FetchedOrders, MarketplaceError, OrderStatusSource, PriceUpdate, StockUpdate
from sync.adapters.wildberries import WildberriesAdapter, check_stock_payload, make_client, order_status, wb_discount
from sync.sandbox import ManualClock, WildberriesState, wildberries_app
from sync.sandbox.wildberries import DEFAULT_WAREHOUSE_ID as WAREHOUSE
from tests.adapters_support import FAST, harness, wb_account

UPLOAD = "POST /api/v2/upload/task"
HISTORY = "GET /api/v2/history/tasks"
BUFFER = "GET /api/v2/buffer/tasks"
GOODS = "GET /api/v2/history/goods/task"
STOCKS = "PUT /api/v3/stocks/{warehouseId}"


def seeded(count: int = 2500, **kwargs: Any) -> WildberriesState:
    kwargs.setdefault("enforce_limits", False)
    kwargs.setdefault("clock", ManualClock())
    state = WildberriesState(**kwargs)
    state.seed_catalog(
        [
            {
                "nmID": 100_000 + i,
                "vendorCode": f"SKU-{i}",
                "chrtID": 200_000 + i,
                "skus": [f"20{i:08d}"],
                "price": 1000,
            }
            for i in range(count)
        ]
    )
    return state


def price(i: int, full: int, sale: int | None = None, **keys: Any) -> PriceUpdate:
    sale_price = None if sale is None else Decimal(sale)
    return PriceUpdate(i, f"SKU-{i}", {"nm_id": 100_000 + i, **keys}, Decimal(full), sale_price)


def stock(i: int, quantity: int, **keys: Any) -> StockUpdate:
    return StockUpdate(i, f"SKU-{i}", {"chrt_id": 200_000 + i, **keys}, quantity)


def test_discount_is_the_whole_percent_closest_to_the_sale_price() -> None:
    assert wb_discount(1200, None) == (0, Decimal(1200))
    assert wb_discount(1200, Decimal(1300)) == (0, Decimal(1200))
    assert wb_discount(1200, Decimal(1000)) == (17, Decimal(996))  # 16 % would be 1008
    assert wb_discount(1000, Decimal(900)) == (10, Decimal(900))
    assert wb_discount(1000, Decimal(1)) == (99, Decimal(10))  # WB's maximum discount


def test_status_pairs_map_with_wb_status_winning_once_terminal() -> None:
    assert order_status("new", "waiting") == "pending"
    assert order_status("confirm", "waiting") == "confirmed"
    assert order_status("confirm", "sorted") == "shipped"
    assert order_status("complete", "sold") == "delivered"
    assert order_status("complete", "canceled_by_client") == "cancelled"
    assert order_status("cancel", "waiting") == "cancelled"
    with pytest.raises(ValueError, match="unknown wbStatus"):
        order_status("new", "teleported")


def test_the_stock_payload_guard_refuses_anything_but_chrt_id_and_amount() -> None:
    check_stock_payload({"stocks": [{"chrtId": 1, "amount": 0}, {"chrtId": 2, "amount": 100_000}]})
    bad: list[Any] = [
        {"stocks": [{"chrtID": 1, "amount": 1}]},  # wrong case: WB would answer 204 and change nothing
        {"stocks": [{"sku": "2000", "amount": 1}]},
        {"stocks": [{"chrtId": 1, "amount": 1, "warehouseId": 5}]},
        {"stocks": [{"chrtId": 1, "amount": True}]},
        {"stocks": [{"chrtId": 1, "amount": 1.0}]},
        {"stocks": [{"chrtId": 1, "amount": 100_001}]},
        {"stocks": []},
        {"stocks": [{"chrtId": i, "amount": 1} for i in range(1001)]},
        {"stocks": [{"chrtId": 1, "amount": 1}], "extra": 1},
    ]
    for payload in bad:
        with pytest.raises(MarketplaceError):
            check_stock_payload(payload)


async def test_prices_upload_by_1000_and_each_upload_is_read_back() -> None:
    state = seeded(2500)
    async with harness(wildberries_app(state)) as h:
        adapter = h.adapter(wb_account(h.base_url))
        items = [price(i, 1200, 1000) for i in range(2500)]
        items.append(price(0, 1200, 1000))  # a second product on the same card: one line, both ok
        result = await adapter.push_prices(items)
    assert all(r.ok for r in result.items)
    assert "buyers pay 996 (17% off 1200), not 1000" in (result.items[0].note or "")
    assert [r.items for r in state.calls.for_endpoint(UPLOAD)] == [1000, 1000, 500]
    assert state.calls.count(HISTORY) == 3 and state.calls.count(BUFFER) == 0  # done by the first poll
    assert result.calls == 6
    assert all((c.price, c.discount) == (1200, 17) for c in state.cards.values())
    sent = state.calls.for_endpoint(UPLOAD)[0].body["data"][0]
    assert sent == {"nmID": 100_000, "price": 1200, "discount": 17}


async def test_per_item_errors_of_an_upload_come_from_the_goods_history() -> None:
    state = seeded(10)
    async with harness(wildberries_app(state)) as h:
        adapter = h.adapter(wb_account(h.base_url))
        items = [price(i, 300 if i in (2, 5) else 1100) for i in range(10)]  # 3x lower: quarantine
        items.append(PriceUpdate(99, "GONE", {"nm_id": 999_999}, Decimal(500), None))
        result = await adapter.push_prices(items)
    failed = {r.ref: r.error for r in result.items if not r.ok}
    assert set(failed) == {2, 5, 99}
    assert "price quarantine" in (failed[2] or "") and "not found" in (failed[99] or "")
    assert state.calls.count(GOODS) == 1
    assert state.cards[100_000].price == 1100 and state.cards[100_002].price == 1000


async def test_already_set_prices_are_success_once_read_back() -> None:
    state = seeded(3)
    async with harness(wildberries_app(state)) as h:
        adapter = h.adapter(wb_account(h.base_url))
        result = await adapter.push_prices([price(i, 1000) for i in range(3)])
    assert all(r.ok and r.note == "already set on Wildberries" for r in result.items)
    assert result.calls == 1 + 3  # the refused upload, then each nmID read back by filterNmID
    assert state.calls.count("GET /api/v2/list/goods/filter") == 3


async def test_a_card_gone_from_wildberries_is_a_failed_item_not_already_set() -> None:
    state = seeded(20)
    state.trash_card(100_001)
    async with harness(wildberries_app(state)) as h:
        adapter = h.adapter(wb_account(h.base_url))
        # WB answers one 400 "specified incorrectly, or already set" for the whole upload
        alone = await adapter.push_prices([price(1, 1100)])
        mixed = await adapter.push_prices([price(0, 1000), price(1, 1100)])
        # more than a few nmIDs: the goods list is paged instead of one call per nmID
        many = await adapter.push_prices([price(i, 1000) for i in range(2, 20)] + [price(1, 1100)])
    assert not alone.items[0].ok and "no card nmID 100001 (deleted or in the trash)" in (alone.items[0].error or "")
    assert mixed.items[0].ok and mixed.items[0].note == "already set on Wildberries"
    assert not mixed.items[1].ok and "100001" in (mixed.items[1].error or "")
    assert [r.ok for r in many.items] == [True] * 18 + [False]
    goods = state.calls.for_endpoint("GET /api/v2/list/goods/filter")
    assert [c.query.get("filterNmID") for c in goods][-1] is None  # the last push read the list page


async def test_an_order_sold_in_roubles_is_imported_at_the_converted_price_in_sum() -> None:
    state = seeded(3)
    sold = state.add_orders(
        {"chrtId": 200_001, "currencyCode": 643, "price": 150_000, "convertedPrice": 25_000_000}
    )[0]
    async with harness(wildberries_app(state)) as h:
        adapter = h.adapter(wb_account(h.base_url))
        orders = await adapter.fetch_orders(datetime.now(UTC) - timedelta(hours=1))
    assert sold["convertedCurrencyCode"] == 860 and orders.skipped == []
    line = orders[0].lines[0]
    assert line.price == Decimal(250_000)  # so'm, from convertedPrice x100
    assert (line.keys["sold_price"], line.keys["sold_currency"]) == ("1500", 643)  # the buyer's, kept


async def test_an_upload_still_processing_is_reported_unconfirmed_after_a_bounded_wait() -> None:
    state = seeded(3)
    state.configure({"price_processing_delay": 10_000})
    async with harness(wildberries_app(state)) as h:
        client = make_client(wb_account(h.base_url), h.session, h.limiter, options=FAST, clock=h.clock)
        adapter = WildberriesAdapter(wb_account(h.base_url), client, task_wait=20)
        start = h.manual()
        result = await adapter.push_prices([price(i, 1100) for i in range(3)])
        waited = h.elapsed_since(start)
    assert not any(r.ok for r in result.items)
    assert "still processing after 20 s" in (result.items[0].error or "")
    assert waited <= 20 + 1
    assert state.calls.count(BUFFER) == 1 and 3 <= state.calls.count(HISTORY) <= 8


async def test_stocks_put_by_1000_with_exactly_chrt_id_and_amount() -> None:
    state = seeded(2500)
    async with harness(wildberries_app(state)) as h:
        adapter = h.adapter(wb_account(h.base_url))
        result = await adapter.push_stocks([stock(i, i % 50) for i in range(2500)])
    assert all(r.ok for r in result.items) and result.calls == 3
    records = state.calls.for_endpoint(STOCKS)
    assert sorted(r.items or 0 for r in records) == [500, 1000, 1000]
    assert all(r.ignored == 0 for r in records)
    assert all(set(item) == {"chrtId", "amount"} for r in records for item in r.body["stocks"])
    assert state.stocks[WAREHOUSE][200_007] == 7 and len(state.stocks[WAREHOUSE]) == 2500


async def test_a_409_fails_the_listed_items_and_the_rest_is_sent_again() -> None:
    state = seeded(300)
    async with harness(wildberries_app(state)) as h:
        adapter = h.adapter(wb_account(h.base_url))
        items = [stock(i, 9) for i in range(300)]
        items[10] = StockUpdate(10, "GONE-1", {"chrt_id": 999_001}, 9)
        items[250] = StockUpdate(250, "GONE-2", {"chrt_id": 999_002}, 9)
        result = await adapter.push_stocks(items)
    failed = {r.ref: r.error for r in result.items if not r.ok}
    assert set(failed) == {10, 250} and "NotFound" in (failed[10] or "")
    assert [r.status for r in state.calls.for_endpoint(STOCKS)] == [409, 204]
    assert all(state.stocks[WAREHOUSE][200_000 + i] == 9 for i in range(300) if i not in (10, 250))


async def test_items_wb_would_refuse_or_ignore_fail_before_sending() -> None:
    state = seeded(3)
    async with harness(wildberries_app(state)) as h:
        adapter = h.adapter(wb_account(h.base_url, warehouse_id=None))
        result = await adapter.push_stocks(
            [
                stock(0, 100_001, warehouse_id=WAREHOUSE),
                StockUpdate(1, "SKU-1", {"chrt_id": "12ab"}, 1),
                stock(2, 5),  # no warehouse anywhere
                stock(0, 1, warehouse_id=WAREHOUSE),
            ]
        )
    errors = [r.error or "" for r in result.items]
    assert "0..100000" in errors[0] and "needs chrt_id" in errors[1] and "warehouse_id" in errors[2]
    assert result.items[3].ok and result.calls == 1


async def test_prices_and_stocks_buckets_run_in_parallel_at_the_documented_limits() -> None:
    state = seeded(7000, enforce_limits=True)  # prices 10 / 6 s burst 5; stocks 300 / min burst 20
    async with harness(wildberries_app(state)) as h:
        adapter = h.adapter(wb_account(h.base_url))
        start = h.manual()
        prices, stocks = await asyncio.gather(
            adapter.push_prices([price(i, 1100) for i in range(7000)]),
            adapter.push_stocks([stock(i, 3) for i in range(7000)]),
        )
        elapsed = h.elapsed_since(start)
    assert all(r.ok for r in prices.items) and all(r.ok for r in stocks.items)
    assert prices.calls == 14 and stocks.calls == 7  # 7 uploads + 7 polls; 7 PUTs of 1000
    assert not any(r.status == 429 for r in state.calls.records)
    # 14 price-group requests: 5 at once, 9 more at 0.6 s, plus the 0.25 s margin; stocks fit the burst
    assert elapsed == pytest.approx(9 * 0.6 + 0.25, abs=1e-6)


async def test_429_waits_x_ratelimit_retry_and_5xx_is_retried() -> None:
    state = seeded(5)
    state.inject_fault("429", 1, path="/api/v3/stocks", retry_after=4)
    state.inject_fault("502", 1, path="/api/v2/upload/task")
    async with harness(wildberries_app(state)) as h:
        adapter = h.adapter(wb_account(h.base_url))
        start = h.manual()
        stocks = await adapter.push_stocks([stock(i, 1) for i in range(5)])
        waited = h.elapsed_since(start)
        prices = await adapter.push_prices([price(i, 1100) for i in range(5)])
    assert all(r.ok for r in stocks.items) and stocks.calls == 2 and waited >= 4
    assert all(r.ok for r in prices.items)
    assert [r.status for r in state.calls.for_endpoint(UPLOAD)] == [502, 200]


async def test_garbage_from_the_upload_fails_that_batch_only() -> None:
    state = seeded(1500)
    state.inject_fault("garbage", 1, path="/api/v2/upload/task", body="shape")
    async with harness(wildberries_app(state)) as h:
        adapter = h.adapter(wb_account(h.base_url))
        result = await adapter.push_prices([price(i, 1100) for i in range(1500)])
    oks = [r.ok for r in result.items]
    assert oks.count(False) == 1000 and all(oks[1000:])
    assert "price upload: the marketplace answered 200 but data is not an object" in (result.items[0].error or "")


async def test_orders_new_and_since_with_their_statuses() -> None:
    state = seeded(10)
    now = datetime.now(UTC)
    new = state.add_orders({"chrtId": 200_001, "price": 99_600})[0]
    confirmed = state.add_orders({"chrtId": 200_002, "supplierStatus": "confirm"})[0]
    sold = state.add_orders({"chrtId": 200_003, "supplierStatus": "complete", "wbStatus": "sold"})[0]
    old = state.add_orders(
        {"chrtId": 200_004, "supplierStatus": "confirm", "createdAt": (now - timedelta(days=40)).isoformat()}
    )[0]
    state.configure({"currency_code": 643})
    rubles = state.add_orders({"chrtId": 200_005, "supplierStatus": "confirm"})[0]
    async with harness(wildberries_app(state)) as h:
        adapter = h.adapter(wb_account(h.base_url))
        recent = await adapter.fetch_orders(now - timedelta(days=1))
        wider = await adapter.fetch_orders(now - timedelta(days=45))
        assert isinstance(adapter, OrderStatusSource)
        state.set_order_status(str(confirmed["id"]), {"supplierStatus": "complete", "wbStatus": "sorted"})
        statuses = await adapter.fetch_order_statuses([str(confirmed["id"]), str(old["id"]), "12345", "x"])
    assert isinstance(recent, FetchedOrders)
    by_id = {o.marketplace_order_id: o for o in recent}
    assert set(by_id) == {str(new["id"]), str(confirmed["id"]), str(sold["id"])}
    assert [s.split(":")[0] for s in recent.skipped] == [str(rubles["id"])]
    assert "643" in recent.skipped[0]
    first = by_id[str(new["id"])]
    assert (first.status, first.raw_status, first.customer_name, first.customer_phone) == (
        "pending",
        "new/waiting",
        None,
        None,
    )
    line = first.lines[0]
    assert (line.quantity, line.price, line.seller_sku) == (1, Decimal(996), "SKU-1")
    assert line.keys["chrt_id"] == 200_001 and line.keys["nm_id"] == 100_001
    assert by_id[str(confirmed["id"])].status == "confirmed"
    assert by_id[str(sold["id"])].status == "delivered"
    assert str(old["id"]) in {o.marketplace_order_id for o in wider}
    assert statuses == {
        str(confirmed["id"]): ("shipped", "complete/sorted"),
        str(old["id"]): ("confirmed", "confirm/waiting"),
    }
    windows = [r for r in state.calls.for_endpoint("GET /api/v3/orders")]
    assert len(windows) == 1 + 2  # one 30-day window, then two for 45 days


async def test_cards_are_read_with_the_cursor_one_item_per_size() -> None:
    state = seeded(250)
    state.seed_catalog(
        [
            {
                "nmID": 900_001,
                "vendorCode": "SHIRT",
                "sizes": [
                    {"chrtID": 900_011, "techSize": "S", "skus": ["111"]},
                    {"chrtID": 900_012, "techSize": "M", "skus": ["112"]},
                ],
            }
        ]
    )
    async with harness(wildberries_app(state)) as h:
        adapter = h.adapter(wb_account(h.base_url))
        items = await adapter.list_catalog()
    assert len(items) == 252
    assert state.calls.count("POST /content/v2/get/cards/list") == 3
    shirt = [i for i in items if i.seller_sku == "SHIRT"]
    assert [(i.keys["chrt_id"], i.keys["tech_size"], i.barcodes) for i in shirt] == [
        (900_011, "S", ["111"]),
        (900_012, "M", ["112"]),
    ]
    assert items[0].keys == {
        "nm_id": 100_000,
        "chrt_id": 200_000,
        "vendor_code": "SKU-0",
        "barcodes": ["2000000000"],
        "tech_size": "0",
    }
