"""The Ozon adapter against the Ozon sandbox: headers, batch sizes, per-item results, the 80/min stock
budget, postings by cursor, the product list."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sync.adapters import build_adapter
from sync.adapters.base import MarketplaceError, PriceUpdate, StockUpdate
from sync.http import ClientOptions
from sync.ratelimit import LocalRateLimiter
from sync.sandbox import ManualClock, OzonState, ozon_app
from sync.sandbox.ozon import DEFAULT_CLIENT_ID
from sync.sandbox.ozon import DEFAULT_WAREHOUSE_ID as WAREHOUSE
from tests.adapters_support import harness, ozon_account

PRICES = "POST /v1/product/import/prices"
STOCKS = "POST /v2/products/stocks"
POSTINGS = "POST /v4/posting/fbs/list"


def seeded(count: int = 250, **kwargs: Any) -> OzonState:
    kwargs.setdefault("enforce_limits", False)
    kwargs.setdefault("clock", ManualClock())
    state = OzonState(**kwargs)
    state.seed_catalog(
        [{"offer_id": f"SKU-{i}", "product_id": 600_000 + i, "price": "1000"} for i in range(count)]
    )
    return state


def price(i: int, full: str, sale: str | None = None) -> PriceUpdate:
    keys = {"offer_id": f"SKU-{i}", "product_id": 600_000 + i}
    return PriceUpdate(i, f"SKU-{i}", keys, Decimal(full), None if sale is None else Decimal(sale))


def stock(i: int, quantity: int, offer: str | None = None) -> StockUpdate:
    return StockUpdate(i, f"SKU-{i}", {"offer_id": offer or f"SKU-{i}"}, quantity)


async def test_client_id_and_api_key_headers_and_a_wrong_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    state = seeded(3)
    async with harness(ozon_app(state)) as h:
        good = await h.adapter(ozon_account(h.base_url)).push_prices([price(0, "1100")])
        wrong = h.adapter(ozon_account(h.base_url, api_key="not-the-key-4242"))
        refused = await wrong.push_prices([price(i, "1200") for i in range(3)])
    assert good.items[0].ok
    assert [r.identity for r in state.calls.records] == [DEFAULT_CLIENT_ID, None]
    assert refused.calls == 1 and not any(r.ok for r in refused.items)
    assert "HTTP 403" in (refused.items[0].error or "")
    assert not any("not-the-key-4242" in text for text in [caplog.text, *(r.error or "" for r in refused.items)])


async def test_prices_go_by_1000_as_strings_with_the_sale_as_price_and_full_as_old_price() -> None:
    state = seeded(2500)
    async with harness(ozon_app(state)) as h:
        adapter = h.adapter(ozon_account(h.base_url))
        items = [price(i, "1500.50", "1200" if i % 2 else None) for i in range(2500)]
        result = await adapter.push_prices(items)
    assert all(r.ok for r in result.items)
    records = state.calls.for_endpoint(PRICES)
    assert [r.items for r in records] == [1000, 1000, 500] and result.calls == 3
    body = records[0].body["prices"]
    assert body[0] == {"offer_id": "SKU-0", "price": "1500.5", "old_price": "0", "currency_code": "UZS",
                       "product_id": 600_000}
    assert body[1] == {"offer_id": "SKU-1", "price": "1200", "old_price": "1500.5", "currency_code": "UZS",
                       "product_id": 600_001}
    product = state.product_by_offer("SKU-1")
    assert product is not None and (product.price, product.old_price) == (Decimal(1200), Decimal("1500.5"))


async def test_per_item_price_errors_are_reported_per_item() -> None:
    state = seeded(5)
    async with harness(ozon_app(state)) as h:
        adapter = h.adapter(ozon_account(h.base_url))
        items = [price(i, "2000") for i in range(5)]
        items[3] = PriceUpdate(3, "GONE", {"offer_id": "GONE"}, Decimal(10), None)
        result = await adapter.push_prices(items)
        rubles = await h.adapter(ozon_account(h.base_url, currency_code="RUB")).push_prices([price(0, "2100")])
    assert [r.ok for r in result.items] == [True, True, True, False, True]
    assert result.items[3].error == "Ozon: NOT_FOUND: Product not found"
    assert "currency_differs_from_contract" in (rubles.items[0].error or "")


async def test_stocks_go_by_100_pairs_with_per_item_results_and_the_30_second_rule() -> None:
    state = seeded(250)
    async with harness(ozon_app(state)) as h:
        adapter = h.adapter(ozon_account(h.base_url))
        items = [stock(i, 7) for i in range(250)]
        items[42] = stock(42, 7, offer="GONE")
        first = await adapter.push_stocks(items)
        again = await adapter.push_stocks([stock(0, 8)])
        h.manual.advance(31)
        later = await adapter.push_stocks([stock(0, 8)])
    assert [r.ref for r in first.items if not r.ok] == [42]
    assert [r.items for r in state.calls.for_endpoint(STOCKS)][:3] == [100, 100, 50]
    body = state.calls.for_endpoint(STOCKS)[0].body["stocks"][0]
    assert body == {"offer_id": "SKU-0", "stock": 7, "warehouse_id": WAREHOUSE}
    assert "TOO_MANY_REQUESTS" in (again.items[0].error or "")
    assert later.items[0].ok and state.stocks[(WAREHOUSE, 600_000)] == 8


async def test_stock_calls_are_paced_by_the_minute_budget_without_429() -> None:
    state = seeded(1000, enforce_limits=True)
    state.configure_limits(groups={"stocks": {"requests": 80, "period": 60, "burst": 5}})
    async with harness(ozon_app(state)) as h:
        adapter = h.adapter(ozon_account(h.base_url), limits={"stocks": {"burst": 5}})
        start = h.manual()
        result = await adapter.push_stocks([stock(i, 1) for i in range(1000)])
        elapsed = h.elapsed_since(start)
    assert all(r.ok for r in result.items) and result.calls == 10
    assert state.calls.count(STOCKS, 429) == 0
    assert elapsed == pytest.approx(5 * 0.75 + 0.25, abs=1e-6)  # 5 at once, 5 at 80/min, the margin


async def test_a_repeat_after_a_timeout_explains_too_many_requests() -> None:
    state = seeded(3)
    state.inject_fault("timeout", 1, path="/v2/products/stocks", delay=2.5)  # applied, answered too late
    async with harness(ozon_app(state)) as h:
        options = ClientOptions(timeout=1.0, backoff_base=0.01, backoff_cap=0.02)
        result = await h.adapter(ozon_account(h.base_url), options=options).push_stocks([stock(0, 5)])
    assert result.calls == 2 and not result.items[0].ok
    assert "may have set it already" in (result.items[0].error or "")
    assert state.stocks[(WAREHOUSE, 600_000)] == 5


async def test_postings_page_by_cursor_and_map_statuses() -> None:
    state = seeded(5)
    long_ago = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    state.add_orders([{"products": [{"offer_id": "SKU-1", "quantity": 2, "price": "1530.50"}]} for _ in range(140)])
    packed = state.add_orders({"products": [{"offer_id": "SKU-2"}], "status": "awaiting_deliver"})[0]
    disputed = state.add_orders({"products": [{"offer_id": "SKU-3"}], "status": "arbitration"})[0]
    rfbs = state.add_orders(
        {
            "products": [{"offer_id": "SKU-4"}],
            "customer": {"name": "Ali Valiyev", "phone": "+998901112233", "address": {"address_tail": "Chilonzor 5"}},
        }
    )[0]
    stale = state.add_orders({"products": [{"offer_id": "SKU-1"}], "in_process_at": long_ago})[0]
    moved = state.add_orders({"products": [{"offer_id": "SKU-1"}], "in_process_at": long_ago})[0]
    state.set_order_status(moved["posting_number"], {"status": "delivered"})
    async with harness(ozon_app(state)) as h:
        orders = await h.adapter(ozon_account(h.base_url)).fetch_orders(datetime.now(UTC) - timedelta(days=1))
    by_id = {o.marketplace_order_id: o for o in orders}
    assert len(by_id) == 144 and stale["posting_number"] not in by_id
    assert [r.items for r in state.calls.for_endpoint(POSTINGS)] == [100, 44]
    first = next(o for o in orders if o.raw_status == "awaiting_packaging")
    assert first.status == "pending" and first.customer_name is None
    line = first.lines[0]
    assert (line.seller_sku, line.quantity, line.price) == ("SKU-1", 2, Decimal("1530.50"))
    assert by_id[packed["posting_number"]].status == "confirmed"
    assert (by_id[disputed["posting_number"]].on_hold, by_id[disputed["posting_number"]].status) == (True, "shipped")
    assert by_id[moved["posting_number"]].status == "delivered"
    buyer = by_id[rfbs["posting_number"]]
    assert (buyer.customer_name, buyer.customer_phone, buyer.delivery_address) == (
        "Ali Valiyev",
        "+998901112233",
        "Chilonzor 5",
    )


async def test_product_list_pages_and_faults_do_not_crash() -> None:
    state = seeded(1500)
    state.inject_fault("502", 1, path="/v3/product/list")
    async with harness(ozon_app(state)) as h:
        adapter = h.adapter(ozon_account(h.base_url))
        items = await adapter.list_catalog()
        state.inject_fault("garbage", 1, path="/v4/posting/fbs/list", body="empty")
        with pytest.raises(MarketplaceError) as caught:
            await adapter.fetch_orders(datetime.now(UTC) - timedelta(days=1))
    assert len(items) == 1500 and items[0].keys == {"offer_id": "SKU-0", "product_id": 600_000}
    assert [r.status for r in state.calls.for_endpoint("POST /v3/product/list")] == [502, 200, 200]
    assert caught.value.kind == "bad_response" and "empty body" in str(caught.value)


async def test_an_account_without_client_id_is_a_config_error() -> None:
    state = seeded(1)
    async with harness(ozon_app(state)) as h:
        with pytest.raises(MarketplaceError) as caught:
            build_adapter(ozon_account(h.base_url, client_id=None), h.session, LocalRateLimiter())
    assert caught.value.kind == "config" and "client_id" in str(caught.value)


async def test_without_warehouse_id_the_only_fbs_warehouse_is_used_and_said() -> None:
    state = seeded(3)
    state.configure({"stock_pair_window": 0})
    async with harness(ozon_app(state)) as h:
        account = ozon_account(h.base_url)
        account = type(account)(account.slug, account.base_url, account.secret,
                                {k: v for k, v in account.settings.items() if k != "warehouse_id"}, id=account.id)
        adapter = h.adapter(account)
        first = await adapter.push_stocks([StockUpdate(i, f"SKU-{i}", {"offer_id": f"SKU-{i}"}, 4) for i in range(3)])
        again = await adapter.push_stocks([StockUpdate(0, "SKU-0", {"offer_id": "SKU-0"}, 5)])
    assert all(r.ok for r in first.items + again.items)
    assert f"used the account's only FBS warehouse {WAREHOUSE} (Sandbox FBS)" in (first.items[0].note or "")
    assert state.calls.count("POST /v2/warehouse/list") == 1  # asked once per adapter
    assert state.stocks[(WAREHOUSE, 600_000)] == 5


async def test_without_warehouse_id_several_warehouses_are_listed_in_the_error() -> None:
    state = seeded(2)
    state.seed_catalog({"warehouses": [{"warehouse_id": 22_000_000_777, "name": "Chilonzor"}], "items": []})
    async with harness(ozon_app(state)) as h:
        account = ozon_account(h.base_url)
        account = type(account)(account.slug, account.base_url, account.secret,
                                {k: v for k, v in account.settings.items() if k != "warehouse_id"}, id=account.id)
        result = await h.adapter(account).push_stocks(
            [StockUpdate(i, f"SKU-{i}", {"offer_id": f"SKU-{i}"}, 4) for i in range(2)])
    assert not any(r.ok for r in result.items)
    error = result.items[0].error or ""
    assert f"has 2 FBS warehouses: {WAREHOUSE} (Sandbox FBS), 22000000777 (Chilonzor)" in error
    assert "marketplace set ozon warehouse_id=ID" in error
    assert state.calls.count(STOCKS) == 0
