"""Issue #13 item 6: a 200 that applied nothing is not "accepted".

Every push endpoint of every adapter (stocks and prices; Uzum, Wildberries, Ozon) counts an item as
pushed only when the marketplace's success answer has the documented shape and confirms it. The
sandboxes' `garbage` fault answers 200 without applying the request: an `empty` body, `{}`
(`object`), JSON of another `shape`, or a `hollow` answer (the marketplace's own success wrapper
with nothing in it). Such an item fails with "the marketplace answered 200 but ..." and is sent
again by the next push, which then lands. The service-level delta-sync scenario (the issue's
Uzum 591 / WB 590 / master 589) is in tests/test_sync_push.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

import tests.test_adapters_ozon as oz
import tests.test_adapters_uzum as uz
import tests.test_adapters_wildberries as wb
from sync.adapters.base import PushResult
from sync.adapters.ozon import _item_errors
from sync.sandbox import SandboxState, ozon_app, uzum_app, wildberries_app
from sync.sandbox.ozon import DEFAULT_WAREHOUSE_ID as OZON_WAREHOUSE
from sync.sandbox.uzum import BASE as UZUM_BASE
from sync.sandbox.wildberries import DEFAULT_WAREHOUSE_ID as WB_WAREHOUSE
from tests.adapters_support import harness, ozon_account, uzum_account, wb_account

pytestmark = pytest.mark.asyncio

BODIES = ("empty", "object", "shape", "hollow")
ITEMS = 3


def _setup(slug: str) -> tuple[SandboxState, Any, Any]:
    if slug == "uzum":
        return uz.seeded(ITEMS), uzum_app, uzum_account
    if slug == "wildberries":
        wb_state = wb.seeded(ITEMS)
        wb_state.configure({"price_processing_delay": 0})
        return wb_state, wildberries_app, wb_account
    ozon_state = oz.seeded(ITEMS)
    ozon_state.configure({"stock_pair_window": 0})  # the second push of a pair at once
    return ozon_state, ozon_app, ozon_account


PATHS = {
    ("uzum", "stock"): f"{UZUM_BASE}/v2/fbs/sku/stocks",
    ("uzum", "price"): f"{UZUM_BASE}/v1/product/1/sendPriceData",
    ("wildberries", "stock"): f"/api/v3/stocks/{WB_WAREHOUSE}",
    ("wildberries", "price"): "/api/v2/upload/task",
    ("ozon", "stock"): "/v2/products/stocks",
    ("ozon", "price"): "/v1/product/import/prices",
}


async def _push(adapter: Any, slug: str, sync_type: str, value: int) -> PushResult:
    if sync_type == "stock":
        make = {"uzum": uz.stock, "wildberries": wb.stock, "ozon": oz.stock}[slug]
        result: PushResult = await adapter.push_stocks([make(i, value) for i in range(ITEMS)])
    elif slug == "uzum":
        result = await adapter.push_prices([uz.price(i, value) for i in range(ITEMS)])
    elif slug == "wildberries":
        result = await adapter.push_prices([wb.price(i, value) for i in range(ITEMS)])
    else:
        result = await adapter.push_prices([oz.price(i, str(value)) for i in range(ITEMS)])
    return result


def _on_marketplace(state: Any, slug: str, sync_type: str, i: int) -> int | None:
    if slug == "uzum":
        sku = state.skus[5000 + i]
        return int(sku.amount if sync_type == "stock" else sku.full_price)
    if slug == "wildberries":
        if sync_type == "stock":
            found: int | None = state.stocks.get(WB_WAREHOUSE, {}).get(200_000 + i)
            return found
        return int(state.cards[100_000 + i].price)
    if sync_type == "stock":
        found = state.stocks.get((OZON_WAREHOUSE, 600_000 + i))
        return found
    return int(state.products[600_000 + i].price)


CASES = [
    (slug, sync_type, body)
    for slug in ("uzum", "wildberries", "ozon")
    for sync_type in ("stock", "price")
    for body in BODIES
    # Uzum's sendPriceData declares a bare "200 OK": no body (and the empty wrapper, which is what a
    # real success answer carries) is a success there, so only wrong shapes can be refused.
    if not (slug, sync_type) == ("uzum", "price") or body in ("object", "shape")
]


@pytest.mark.parametrize(("slug", "sync_type", "body"), CASES)
async def test_a_200_that_applied_nothing_is_not_accepted_and_the_next_push_lands(
    slug: str, sync_type: str, body: str
) -> None:
    state, app, account = _setup(slug)
    value = 77 if sync_type == "stock" else 4321
    before = [_on_marketplace(state, slug, sync_type, i) for i in range(ITEMS)]
    state.inject_fault("garbage", -1, path=PATHS[(slug, sync_type)], body=body)
    async with harness(app(state)) as h:
        adapter = h.adapter(account(h.base_url))
        first = await _push(adapter, slug, sync_type, value)
        assert [_on_marketplace(state, slug, sync_type, i) for i in range(ITEMS)] == before  # nothing applied
        state.clear_faults()
        second = await _push(adapter, slug, sync_type, value)
    assert not any(r.ok for r in first.items), first.items
    for item in first.items:
        assert "200" in (item.error or ""), item.error
        if body != "empty" or (slug, sync_type) in (("uzum", "stock"),):
            assert "the marketplace answered 200 but" in (item.error or ""), item.error
    assert all(r.ok for r in second.items), second.items
    assert [_on_marketplace(state, slug, sync_type, i) for i in range(ITEMS)] == [value] * ITEMS


async def test_wildberries_stocks_are_confirmed_only_by_204() -> None:
    """WB documents 204 No Content for a stock update; a 200 (even with an empty body) is not it."""
    state = wb.seeded(2)
    state.inject_fault("garbage", 1, path=f"/api/v3/stocks/{WB_WAREHOUSE}", body="empty")
    async with harness(wildberries_app(state)) as h:
        result = await h.adapter(wb_account(h.base_url)).push_stocks([wb.stock(0, 5), wb.stock(1, 6)])
    assert [r.ok for r in result.items] == [False, False]
    assert "HTTP 200" in (result.items[0].error or "") and "204" in (result.items[0].error or "")


async def test_an_ozon_row_without_updated_true_is_not_confirmed() -> None:
    assert _item_errors({"offer_id": "A", "updated": True, "errors": []}) is None
    assert "not updated" in (_item_errors({"offer_id": "A", "updated": False, "errors": []}) or "")
    assert "answered 200 but" in (_item_errors({"offer_id": "A", "errors": []}) or "")
    assert "answered 200 but" in (_item_errors({"offer_id": "A"}) or "")


async def test_ozons_30_second_rule_is_a_deferral_with_retry_after() -> None:
    state = oz.seeded(2)
    async with harness(ozon_app(state)) as h:
        adapter = h.adapter(ozon_account(h.base_url))
        await adapter.push_stocks([oz.stock(0, 5)])
        again = await adapter.push_stocks([oz.stock(0, 6), oz.stock(1, 6, offer="GONE")])
        prices = await adapter.push_prices([oz.price(0, "1500"), oz.price(1, "0")])
    deferred, gone = again.items
    assert (deferred.ok, deferred.retry_after) == (False, 30.0)
    assert "TOO_MANY_REQUESTS" in (deferred.error or "")
    assert (gone.ok, gone.retry_after) == (False, None)  # a real failure is not deferred
    assert all(r.retry_after is None for r in prices.items)


async def test_an_uzum_stock_answer_confirms_only_the_barcodes_it_lists() -> None:
    """When Uzum's answer lists the SKUs it updated (payload.skuAmountList), a barcode we sent that
    is not there is not confirmed; one listed as a number (its leading zeros lost) still counts."""
    state = uz.seeded(3)
    app = uzum_app(state)

    @web.middleware
    async def drop_one(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        if request.path.endswith("/v2/fbs/sku/stocks") and isinstance(response, web.Response) and response.text:
            body = json.loads(response.text)
            listed = body["payload"]["skuAmountList"]
            body["payload"]["skuAmountList"] = [{**e, "barcode": int(e["barcode"])} for e in listed[:1]]
            return web.json_response(body)
        return response

    app.middlewares.append(drop_one)
    async with harness(app) as h:
        result = await h.adapter(uzum_account(h.base_url)).push_stocks([uz.stock(i, 4) for i in range(3)])
    assert [r.ok for r in result.items] == [True, False, False]
    assert "does not list this barcode" in (result.items[1].error or "")
