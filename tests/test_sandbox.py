"""The marketplace sandboxes themselves: real API shapes, batch limits, auth, rate limits, faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from sync.sandbox import (
    FaultRule,
    ManualClock,
    OzonState,
    SandboxControl,
    SandboxError,
    UzumState,
    WildberriesState,
    ozon_app,
    start_sandbox,
    uzum_app,
    wildberries_app,
)
from sync.sandbox.__main__ import parse_args, seed_demo
from sync.sandbox.ozon import DEFAULT_API_KEY, DEFAULT_CLIENT_ID, DEFAULT_WAREHOUSE_ID
from sync.sandbox.uzum import BASE as UZUM
from sync.sandbox.uzum import DEFAULT_AUTHORIZATION as UZUM_AUTH
from sync.sandbox.wildberries import ALREADY_SET
from sync.sandbox.wildberries import DEFAULT_AUTHORIZATION as WB_AUTH
from sync.sandbox.wildberries import DEFAULT_WAREHOUSE_ID as WB_WAREHOUSE

pytestmark = pytest.mark.asyncio

UZUM_HEADERS = {"Authorization": UZUM_AUTH}
WB_HEADERS = {"Authorization": WB_AUTH}
OZON_HEADERS = {"Client-Id": DEFAULT_CLIENT_ID, "Api-Key": DEFAULT_API_KEY}


@dataclass
class Reply:
    status: int
    headers: CIMultiDict[str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


class Client:
    """A tiny HTTP client bound to one TestServer."""

    def __init__(self, server: TestServer, session: aiohttp.ClientSession, headers: dict[str, str]) -> None:
        self.server = server
        self.session = session
        self.headers = headers

    async def call(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        deadline: float | None = None,
        **kwargs: Any,
    ) -> Reply:
        request_headers = self.headers if headers is None else headers
        client_timeout = aiohttp.ClientTimeout(total=deadline) if deadline else None
        async with self.session.request(
            method, self.server.make_url(path), headers=request_headers, timeout=client_timeout, **kwargs
        ) as response:
            return Reply(response.status, CIMultiDict(response.headers), await response.text())

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return await self.call("POST", path, json=body, **kwargs)

    async def put(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return await self.call("PUT", path, json=body, **kwargs)

    async def control(self, method: str, path: str, body: Any = None) -> Reply:
        return await self.call(method, f"/_sandbox{path}", headers={}, json=body)


@contextlib.asynccontextmanager
async def serve(app: web.Application, headers: dict[str, str]) -> AsyncIterator[Client]:
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            yield Client(server, session, headers)
    finally:
        await server.close()


# --------------------------------------------------------------------------------------------
# Uzum


def uzum_seeded(**kwargs: Any) -> UzumState:
    kwargs.setdefault("enforce_limits", False)  # tests of rate limits turn them on
    state = UzumState(**kwargs)
    state.seed_catalog(
        {
            "shops": [{"id": 1, "name": "Main"}, {"id": 2, "name": "Second"}],
            "items": [
                {
                    "productId": 11,
                    "productTitle": "Tea",
                    "skuId": 111,
                    "barcode": "0478000000011",
                    "sellerItemCode": "TEA-1",
                    "fullPrice": 50_000,
                    "sellPrice": 45_000,
                    "amount": 7,
                },
                {
                    "productId": 11,
                    "skuId": 112,
                    "barcode": "4780000000012",
                    "sellerItemCode": "TEA-2",
                    "fullPrice": 60_000,
                    "sellPrice": 60_000,
                    "amount": 3,
                },
                {
                    "productId": 12,
                    "productTitle": "Cup",
                    "skuId": 121,
                    "barcode": "4780000000021",
                    "sellerItemCode": "CUP-1",
                    "fullPrice": 20_000,
                    "amount": 0,
                },
                {"productId": 13, "productTitle": "Pot", "skuId": 131, "barcode": "4780000000031"},
                {
                    "productId": 21,
                    "productTitle": "Other shop",
                    "shopId": 2,
                    "skuId": 211,
                    "barcode": "4780000000211",
                },
            ],
        }
    )
    return state


async def test_uzum_auth_rejects_bearer_prefix_and_wrong_tokens() -> None:
    async with serve(uzum_app(uzum_seeded()), UZUM_HEADERS) as client:
        ok = await client.get(f"{UZUM}/v1/shops")
        assert ok.status == 200
        assert ok.json == [{"id": 1, "name": "Main"}, {"id": 2, "name": "Second"}]
        for headers in ({}, {"Authorization": f"Bearer {UZUM_AUTH}"}, {"Authorization": "wrong"}):
            reply = await client.get(f"{UZUM}/v1/shops", headers=headers)
            assert reply.status == 401, headers
            assert reply.json["errors"][0]["code"] == "unauthorized"
            assert reply.json["payload"] is None


async def test_uzum_catalogue_pages_and_loses_barcode_leading_zeros() -> None:
    async with serve(uzum_app(uzum_seeded()), UZUM_HEADERS) as client:
        first = await client.get(f"{UZUM}/v1/product/shop/1", params={"page": 0, "size": 2})
        assert first.status == 200
        assert first.json["totalProductsAmount"] == 3
        assert [p["productId"] for p in first.json["productList"]] == [11, 12]
        tea = first.json["productList"][0]
        assert [s["skuId"] for s in tea["skuList"]] == [111, 112]
        sku = tea["skuList"][0]
        assert sku["barcode"] == 478000000011  # int64 in the catalogue: the leading zero is gone
        assert sku["sellerItemCode"] == "TEA-1"
        assert sku["price"] == 45_000
        second = await client.get(f"{UZUM}/v1/product/shop/1", params={"page": 1, "size": 2})
        assert [p["productId"] for p in second.json["productList"]] == [13]
        missing = await client.get(f"{UZUM}/v1/product/shop/1", params={"size": 2})
        assert missing.status == 400


async def test_uzum_send_price_data_validates_whole_request() -> None:
    state = uzum_seeded()
    async with serve(uzum_app(state), UZUM_HEADERS) as client:
        url = f"{UZUM}/v1/product/1/sendPriceData"
        bad_bodies = [
            {"productId": 11, "skuList": [{"skuId": 111, "fullPrice": 40_000, "sellPrice": 41_000}]},
            {"productId": 11, "skuList": [{"skuId": 111, "fullPrice": 40_000.5, "sellPrice": 30_000}]},
            {"productId": 11, "skuList": [{"skuId": 111, "fullPrice": 0, "sellPrice": 0}]},
            {"productId": 11, "skuList": [{"skuId": 111, "fullPrice": 999_999_001, "sellPrice": 10}]},
            {"productId": 11, "skuList": [{"skuId": 121, "fullPrice": 40_000, "sellPrice": 30_000}]},
            {
                "productId": 11,
                "skuList": [
                    {"skuId": 112, "fullPrice": 70_000, "sellPrice": 65_000},
                    {"skuId": 111, "fullPrice": 1, "sellPrice": 2},
                ],
            },
            {"skuList": [{"skuId": 111, "fullPrice": 40_000, "sellPrice": 30_000}]},
        ]
        for body in bad_bodies:
            reply = await client.post(url, body)
            assert reply.status == 400, body
            assert set(reply.json) == {"payload", "errors", "timestamp"}
            assert reply.json["errors"][0]["code"] and reply.json["errors"][0]["message"]
        assert state.skus[112].full_price == 60_000  # all or nothing
        ok = await client.post(
            url,
            {
                "productId": 11,
                "skuList": [
                    {"skuId": 111, "fullPrice": 55_000, "sellPrice": 49_000},
                    {"skuId": 112, "sellPrice": 59_000},
                ],
            },
        )
        assert ok.status == 200
        assert ok.json["errors"] == []
    assert (state.skus[111].full_price, state.skus[111].sell_price) == (55_000, 49_000)
    assert (state.skus[112].full_price, state.skus[112].sell_price) == (60_000, 59_000)
    record = state.calls.for_endpoint("POST /api/seller-openapi/v1/product/{shopId}/sendPriceData")[-1]
    assert (record.status, record.items, record.changed) == (200, 2, 2)


async def test_uzum_stock_update_by_string_barcode() -> None:
    state = uzum_seeded()
    async with serve(uzum_app(state), UZUM_HEADERS) as client:
        unknown = await client.post(
            f"{UZUM}/v2/fbs/sku/stocks",
            {"skuAmountList": [{"barcode": "4780000000012", "amount": 9}, {"barcode": "nope", "amount": 1}]},
        )
        assert unknown.status == 400
        assert unknown.json["errors"][0]["code"] == "storage-service-05"
        assert state.skus[112].amount == 3
        # a numeric barcode loses its leading zero, exactly like the int64 catalogue value would
        numeric = await client.post(
            f"{UZUM}/v2/fbs/sku/stocks", {"skuAmountList": [{"barcode": 478000000011, "amount": 1}]}
        )
        assert numeric.status == 400
        ok = await client.post(
            f"{UZUM}/v2/fbs/sku/stocks",
            {
                "skuAmountList": [
                    {"barcode": "0478000000011", "amount": 2},
                    {"barcode": "4780000000012", "amount": 9},
                ]
            },
        )
        assert ok.status == 200
        assert ok.json["errors"] == []
        assert (state.skus[111].amount, state.skus[112].amount) == (2, 9)
        page = await client.get(f"{UZUM}/v3/fbs/sku/stocks", params={"page": 0, "size": 2})
        rows = page.json["payload"]["skuAmountList"]
        assert [(r["skuId"], r["barcode"], r["amount"]) for r in rows] == [
            (111, "0478000000011", 2),
            (112, "4780000000012", 9),
        ]
        assert rows[0]["sellerSkuCode"] == "TEA-1"
        too_big = await client.get(f"{UZUM}/v3/fbs/sku/stocks", params={"size": 101})
        assert too_big.status == 400
        state.configure({"max_stock_batch": 1})
        over = await client.post(
            f"{UZUM}/v2/fbs/sku/stocks",
            {
                "skuAmountList": [
                    {"barcode": "0478000000011", "amount": 2},
                    {"barcode": "4780000000012", "amount": 9},
                ]
            },
        )
        assert over.status == 400


async def test_uzum_orders_page_by_50_per_status() -> None:
    state = uzum_seeded()
    state.add_orders(
        {
            "orders": [
                {"orderItems": [{"skuId": 111, "amount": 1}], "dateCreated": 1_700_000_000_000 + i}
                for i in range(120)
            ]
        }
    )
    packing = state.add_orders(
        [{"orderItems": [{"sellerItemCode": "TEA-2", "amount": 2}], "status": "PACKING"}]
    )
    async with serve(uzum_app(state), UZUM_HEADERS) as client:
        url = f"{UZUM}/v2/fbs/orders"
        assert (await client.get(url, params={"shopIds": 1, "size": 51})).status == 400
        assert (await client.get(url, params={"size": 10})).status == 400  # shopIds is required
        sizes = []
        seen: set[int] = set()
        for page in range(4):
            reply = await client.get(url, params={"shopIds": 1, "page": page, "size": 50})
            assert reply.status == 200
            assert reply.json["payload"]["totalAmount"] == 120
            sizes.append(len(reply.json["payload"]["orders"]))
            seen.update(o["id"] for o in reply.json["payload"]["orders"])
        assert sizes == [50, 50, 20, 0]
        assert len(seen) == 120
        by_status = await client.get(url, params={"shopIds": "1,2", "status": "PACKING", "size": 50})
        assert [o["id"] for o in by_status.json["payload"]["orders"]] == [packing[0]["id"]]
        two_statuses = await client.get(f"{url}?shopIds=1&status=CREATED&status=PACKING")
        assert two_statuses.status == 400
        bad_dates = await client.get(url, params={"shopIds": 1, "dateFrom": 10, "dateTo": 5})
        assert bad_dates.json["errors"][0]["code"] == "seller-order-12"
        one = await client.get(f"{UZUM}/v1/fbs/order/{packing[0]['id']}")
        order = one.json["payload"]
        assert {
            "id",
            "status",
            "scheme",
            "shopId",
            "price",
            "dateCreated",
            "deliveryInfo",
            "orderItems",
        } <= set(order)
        assert isinstance(order["dateCreated"], int)
        assert order["price"] == 2 * 60_000
        line = order["orderItems"][0]
        assert {
            "id",
            "skuId",
            "sellerSkuCode",
            "sellerPrice",
            "amount",
            "productTitle",
            "skuTitle",
            "productId",
        } <= set(line)
        assert set(order["deliveryInfo"]) >= {"customerFullname", "customerPhone", "deliveryAddress"}
        assert (await client.get(f"{UZUM}/v1/fbs/order/1")).status == 404
        confirmed = await client.post(f"{UZUM}/v1/fbs/order/{seen.pop()}/confirm")
        assert confirmed.json["payload"]["status"] == "PACKING"
    assert state.skus[111].amount == 0  # 120 orders reserved the 7 units
    assert state.skus[112].amount == 1


async def test_uzum_token_bucket_429_with_retry_after() -> None:
    state = uzum_seeded(clock=ManualClock(), enforce_limits=True)
    state.configure_limits(groups={"default": {"requests": 2, "period": 1, "burst": 3}})
    async with serve(uzum_app(state), UZUM_HEADERS) as client:
        replies = [await client.get(f"{UZUM}/v1/shops") for _ in range(4)]
    assert [r.status for r in replies] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in replies] == ["2", "1", "0", "0"]
    assert replies[0].headers["x-ratelimit-replenish-rate"] == "2"
    assert replies[0].headers["x-ratelimit-burst-capacity"] == "3"
    assert replies[3].headers["Retry-After"] == "1"
    assert state.calls.count("GET /api/seller-openapi/v1/shops", 429) == 1


async def test_uzum_daily_quota_headers() -> None:
    state = uzum_seeded(clock=ManualClock(), enforce_limits=True)
    state.configure_limits(daily_quota=2)
    async with serve(uzum_app(state), UZUM_HEADERS) as client:
        replies = [await client.get(f"{UZUM}/v1/shops") for _ in range(3)]
    assert [r.status for r in replies] == [200, 200, 429]
    assert replies[0].headers["x-ratelimit-limit-per-day"] == "2"
    assert [r.headers["x-ratelimit-remaining-per-day"] for r in replies[:2]] == ["1", "0"]


# --------------------------------------------------------------------------------------------
# Wildberries


def wb_seeded(**kwargs: Any) -> WildberriesState:
    kwargs.setdefault("enforce_limits", False)  # tests of rate limits turn them on
    state = WildberriesState(**kwargs)
    state.seed_catalog(
        {
            "cards": [
                {
                    "nmID": 1000 + i,
                    "vendorCode": f"SKU-{i}",
                    "price": 10_000,
                    "discount": 10,
                    "sizes": [
                        {"chrtID": 5000 + i, "techSize": "0", "skus": [f"20000000{i:05d}"], "amount": 5}
                    ],
                }
                for i in range(5)
            ],
            "warehouses": [{"id": 77, "name": "Busy", "isProcessing": True}],
        }
    )
    return state


async def test_wb_auth() -> None:
    state = wb_seeded()
    state.set_credentials({"tokens": [WB_AUTH, {"token": "prices-only", "categories": ["prices"]}]})
    async with serve(wildberries_app(state), WB_HEADERS) as client:
        assert (await client.get("/api/v3/warehouses")).status == 200
        assert (
            await client.get("/api/v3/warehouses", headers={"Authorization": f"Bearer {WB_AUTH}"})
        ).status == 200
        missing = await client.get("/api/v3/warehouses", headers={})
        assert missing.status == 401
        assert missing.headers["Content-Type"].startswith("application/problem+json")
        assert missing.json["status"] == 401
        scoped = await client.get("/api/v3/warehouses", headers={"Authorization": "prices-only"})
        assert scoped.status == 401


async def test_wb_stocks_204_409_array_and_silent_unknown_keys() -> None:
    state = wb_seeded()
    async with serve(wildberries_app(state), WB_HEADERS) as client:
        url = f"/api/v3/stocks/{WB_WAREHOUSE}"
        ok = await client.put(url, {"stocks": [{"chrtId": 5000, "amount": 42}]})
        assert (ok.status, ok.text) == (204, "")
        assert state.stocks[WB_WAREHOUSE][5000] == 42

        silent = await client.put(
            url, {"stocks": [{"chrt_id": 5001, "amount": 9}, {"chrtID": 5002, "qty": 1}]}
        )
        assert silent.status == 204  # like WB: unknown key names are not validated...
        assert state.stocks[WB_WAREHOUSE][5001] == 5  # ...and nothing changed
        record = state.calls.for_endpoint("PUT /api/v3/stocks/{warehouseId}")[-1]
        assert (record.items, record.ignored, record.changed) == (2, 2, 0)
        assert record.note and "chrt_id" in record.note

        sku = await client.put(url, {"stocks": [{"sku": "2000000000000", "amount": 1}]})
        assert sku.status == 400
        assert sku.json["code"] == "SKUUploadDisabled"

        unknown = await client.put(
            url, {"stocks": [{"chrtId": 5000, "amount": 1}, {"chrtId": 999, "amount": 3}]}
        )
        assert unknown.status == 409
        assert isinstance(unknown.json, list)
        assert unknown.json[0]["code"] == "NotFound"
        assert unknown.json[0]["data"] == [{"sku": "", "chrtId": 999, "amount": 3}]
        assert state.stocks[WB_WAREHOUSE][5000] == 42  # the whole request was refused

        too_much = await client.put(url, {"stocks": [{"chrtId": 5000, "amount": 100_001}]})
        assert too_much.status == 409
        assert too_much.json[0]["code"] == "UploadDataLimit"
        busy = await client.put("/api/v3/stocks/77", {"stocks": [{"chrtId": 5000, "amount": 1}]})
        assert busy.json[0]["code"] == "StoreIsProcessing"
        batch = await client.put(url, {"stocks": [{"chrtId": 5000, "amount": 1}] * 1001})
        assert batch.status == 400
        empty = await client.put(url, {"stocks": []})
        assert empty.status == 400
        assert (
            await client.put("/api/v3/stocks/404", {"stocks": [{"chrtId": 5000, "amount": 1}]})
        ).status == 404


async def test_wb_limits_4xx_costs_ten_and_429_problem() -> None:
    state = wb_seeded(clock=ManualClock(), enforce_limits=True)
    async with serve(wildberries_app(state), WB_HEADERS) as client:
        first = await client.get("/api/v3/warehouses")
        assert first.headers["X-Ratelimit-Remaining"] == "19"
        assert first.headers["X-Ratelimit-Limit"] == "20"
        bad = await client.put(f"/api/v3/stocks/{WB_WAREHOUSE}", {"stocks": [{"chrtId": 1, "amount": 1}]})
        assert bad.status == 409
        assert bad.headers["X-Ratelimit-Remaining"] == "9"  # 1 + 9 more for a 4XX

        prices = [await client.get("/api/v2/history/tasks", params={"uploadID": 1}) for _ in range(6)]
        assert [r.status for r in prices] == [200] * 5 + [429]
        limited = prices[-1]
        assert limited.headers["Content-Type"].startswith("application/problem+json")
        assert limited.headers["X-Ratelimit-Retry"] == "1"  # 10 per 6 s: one token per 0.6 s
        assert limited.headers["X-Ratelimit-Limit"] == "5"
        assert int(limited.headers["X-Ratelimit-Reset"]) >= 1
        assert {"title", "detail", "status", "requestId"} <= set(limited.json)
        assert limited.json["status"] == 429
        # the content group is a separate bucket
        cards = await client.post("/content/v2/get/cards/list", {"settings": {"cursor": {"limit": 1}}})
        assert cards.status == 200
    assert state.limiter.snapshot()["groups"]["prices"] == {
        "requests": 10.0,
        "period": 6.0,
        "burst": 5,
        "rate": 10 / 6,
    }


async def test_wb_price_upload_is_asynchronous_with_per_item_errors() -> None:
    clock = ManualClock()
    state = wb_seeded(clock=clock)
    state.configure({"price_processing_delay": 5})
    async with serve(wildberries_app(state), WB_HEADERS) as client:
        bad_bodies: list[dict[str, Any]] = [
            {"data": [{"nmID": 1000, "price": 9000.5}]},
            {"data": [{"nmID": 1000, "price": 9000}, {"nmID": 1000, "price": 9100}]},
            {"data": [{"nmID": 1000 + i, "price": 9000} for i in range(1001)]},
            {"data": []},
        ]
        for body in bad_bodies:
            reply = await client.post("/api/v2/upload/task", body)
            assert reply.status == 400, body
            assert reply.json["error"] is True and reply.json["errorText"]
        same = await client.post(
            "/api/v2/upload/task", {"data": [{"nmID": 1000, "price": 10_000, "discount": 10}]}
        )
        assert (same.status, same.json["errorText"]) == (400, ALREADY_SET)

        upload = await client.post(
            "/api/v2/upload/task",
            {"data": [{"nmID": 1000, "price": 12_000, "discount": 5}, {"nmID": 999_999, "price": 100}]},
        )
        assert upload.status == 200
        assert upload.json["error"] is False and upload.json["errorText"] == ""
        assert upload.json["data"]["alreadyExists"] is False
        upload_id = upload.json["data"]["id"]
        again = await client.post(
            "/api/v2/upload/task",
            {"data": [{"nmID": 1000, "price": 12_000, "discount": 5}, {"nmID": 999_999, "price": 100}]},
        )
        assert (again.status, again.json["data"]) == (208, {"id": upload_id, "alreadyExists": True})

        buffered = await client.get("/api/v2/buffer/tasks", params={"uploadID": upload_id})
        assert buffered.json["data"]["status"] == 1
        assert (await client.get("/api/v2/history/tasks", params={"uploadID": upload_id})).json[
            "data"
        ] is None
        assert state.cards[1000].price == 10_000

        clock.advance(5)
        history = await client.get("/api/v2/history/tasks", params={"uploadID": upload_id})
        assert history.json["data"]["status"] == 5
        assert history.json["data"]["overAllGoodsNumber"] == 2
        assert history.json["data"]["successGoodsNumber"] == 1
        goods = await client.get(
            "/api/v2/history/goods/task", params={"uploadID": upload_id, "limit": 10, "offset": 0}
        )
        rows = {row["nmID"]: row for row in goods.json["data"]["historyGoods"]}
        assert rows[1000]["status"] == 2 and rows[1000]["errorText"] == ""
        assert rows[999_999]["status"] == 3 and rows[999_999]["errorText"]
        assert (await client.get("/api/v2/buffer/tasks", params={"uploadID": upload_id})).json["data"] is None
    assert (state.cards[1000].price, state.cards[1000].discount) == (12_000, 5)


async def test_wb_cards_cursor_paging() -> None:
    async with serve(wildberries_app(wb_seeded()), WB_HEADERS) as client:
        cursor: dict[str, Any] = {"limit": 2}
        seen: list[int] = []
        for _ in range(4):
            reply = await client.post(
                "/content/v2/get/cards/list", {"settings": {"cursor": cursor, "filter": {"withPhoto": -1}}}
            )
            assert reply.status == 200
            cards = reply.json["cards"]
            seen.extend(card["nmID"] for card in cards)
            if cards:
                assert cards[0]["sizes"][0]["chrtID"] == cards[0]["nmID"] + 4000
                assert cards[0]["vendorCode"].startswith("SKU-")
            if reply.json["cursor"]["total"] < 2:
                break
            cursor = {
                "limit": 2,
                "updatedAt": reply.json["cursor"]["updatedAt"],
                "nmID": reply.json["cursor"]["nmID"],
            }
        assert sorted(seen) == [1000, 1001, 1002, 1003, 1004]
        assert seen == [1004, 1003, 1002, 1001, 1000]  # newest first unless sort.ascending
        over = await client.post("/content/v2/get/cards/list", {"settings": {"cursor": {"limit": 101}}})
        assert over.status == 400
        assert over.json["error"] is True


async def test_wb_orders() -> None:
    state = wb_seeded()
    created = state.add_orders([{"chrtId": 5000}, {"nmId": 1001}, {"article": "SKU-2", "price": 777_00}])
    async with serve(wildberries_app(state), WB_HEADERS) as client:
        new = await client.get("/api/v3/orders/new")
        orders = new.json["orders"]
        assert [o["id"] for o in orders] == [o["id"] for o in created]
        first = orders[0]
        assert {
            "id",
            "rid",
            "orderUid",
            "createdAt",
            "nmId",
            "chrtId",
            "article",
            "skus",
            "price",
            "convertedPrice",
            "currencyCode",
            "warehouseId",
        } <= set(first)
        assert first["price"] == 10_000 * 90  # sale price x100
        assert first["createdAt"].endswith("Z")
        assert orders[2]["price"] == 77_700
        state.set_order_status(str(created[0]["id"]), {"supplierStatus": "confirm"})
        assert len((await client.get("/api/v3/orders/new")).json["orders"]) == 2
        statuses = await client.post("/api/v3/orders/status", {"orders": [created[0]["id"], 1]})
        assert statuses.json["orders"] == [
            {
                "id": created[0]["id"],
                "supplierStatus": "confirm",
                "wbStatus": "waiting",
                "isCancellable": True,
            }
        ]
        assert (await client.post("/api/v3/orders/status", {"orders": list(range(1, 1002))})).status == 400
        assert (await client.post("/api/v3/orders/status", {"orders": []})).status == 400
        page = await client.get("/api/v3/orders", params={"limit": 2, "next": 0})
        assert len(page.json["orders"]) == 2
        rest = await client.get("/api/v3/orders", params={"limit": 2, "next": page.json["next"]})
        assert [o["id"] for o in rest.json["orders"]] == [created[2]["id"]]
        long_period = await client.get(
            "/api/v3/orders", params={"limit": 2, "next": 0, "dateFrom": 0, "dateTo": 31 * 86400}
        )
        assert long_period.status == 400
    assert state.stocks[WB_WAREHOUSE][5000] == 4  # one unit reserved


# --------------------------------------------------------------------------------------------
# Ozon


def ozon_seeded(**kwargs: Any) -> OzonState:
    kwargs.setdefault("enforce_limits", False)  # tests of rate limits turn them on
    state = OzonState(**kwargs)
    state.seed_catalog(
        {
            "items": [
                {"offer_id": f"OF-{i}", "product_id": 100 + i, "price": "1000", "stock": 10} for i in range(5)
            ]
        }
    )
    return state


async def test_ozon_auth() -> None:
    async with serve(ozon_app(ozon_seeded()), OZON_HEADERS) as client:
        assert (await client.post("/v2/warehouse/list", {"limit": 200})).status == 200
        missing = await client.post("/v2/warehouse/list", {}, headers={"Api-Key": DEFAULT_API_KEY})
        assert missing.status == 401
        assert missing.json["code"] == 16
        wrong = await client.post(
            "/v2/warehouse/list", {}, headers={"Client-Id": DEFAULT_CLIENT_ID, "Api-Key": "nope"}
        )
        assert wrong.status == 403


async def test_ozon_prices_per_item_errors_and_hourly_cap() -> None:
    clock = ManualClock()
    state = ozon_seeded(clock=clock)
    async with serve(ozon_app(state), OZON_HEADERS) as client:
        url = "/v1/product/import/prices"
        reply = await client.post(
            url,
            {
                "prices": [
                    {"offer_id": "OF-0", "price": "1448", "old_price": "1600", "currency_code": "UZS"},
                    {"offer_id": "NOPE", "price": "10"},
                    {"product_id": 101, "price": "abc"},
                    {"offer_id": "OF-2", "price": "500", "currency_code": "RUB"},
                ]
            },
        )
        assert reply.status == 200
        result = reply.json["result"]
        assert [r["updated"] for r in result] == [True, False, False, False]
        assert result[0] == {"product_id": 100, "offer_id": "OF-0", "updated": True, "errors": []}
        assert result[1]["errors"][0]["code"] == "NOT_FOUND"
        assert result[2]["offer_id"] == "OF-1" and result[2]["errors"]
        assert result[3]["errors"][0]["code"] == "currency_differs_from_contract"
        assert state.products[100].price is not None and str(state.products[100].price) == "1448"
        number = await client.post(url, {"prices": [{"offer_id": "OF-0", "price": 1448}]})
        assert number.status == 400 and number.json["code"] == 3
        assert (await client.post(url, {"prices": [{"offer_id": "OF-0", "price": "1"}] * 1001})).status == 400

        updated = []
        for i in range(10):
            step = await client.post(url, {"prices": [{"offer_id": "OF-3", "price": str(2000 + i)}]})
            updated.append(step.json["result"][0]["updated"])
        assert updated == [True] * 10
        capped = (await client.post(url, {"prices": [{"offer_id": "OF-3", "price": "3000"}]})).json["result"][
            0
        ]
        assert capped["updated"] is False
        assert capped["errors"][0]["code"] == "PRICE_UPDATE_LIMIT_EXCEEDED"
        clock.advance(3601)
        later = (await client.post(url, {"prices": [{"offer_id": "OF-3", "price": "3000"}]})).json["result"][
            0
        ]
        assert later["updated"] is True


async def test_ozon_stocks_batch_and_30s_pair_rule() -> None:
    state = ozon_seeded()
    state.configure({"stock_pair_window": 0.3})
    async with serve(ozon_app(state), OZON_HEADERS) as client:
        url = "/v2/products/stocks"
        pair = {"offer_id": "OF-0", "product_id": 100, "stock": 3, "warehouse_id": DEFAULT_WAREHOUSE_ID}
        first = await client.post(
            url, {"stocks": [pair, {"offer_id": "NOPE", "stock": 1, "warehouse_id": DEFAULT_WAREHOUSE_ID}]}
        )
        assert first.status == 200
        assert [r["updated"] for r in first.json["result"]] == [True, False]
        assert first.json["result"][0]["warehouse_id"] == DEFAULT_WAREHOUSE_ID
        assert state.stocks[(DEFAULT_WAREHOUSE_ID, 100)] == 3
        again = await client.post(url, {"stocks": [{**pair, "stock": 4}]})
        item = again.json["result"][0]
        assert item["updated"] is False
        assert item["errors"][0]["code"] == "TOO_MANY_REQUESTS"
        assert state.stocks[(DEFAULT_WAREHOUSE_ID, 100)] == 3
        await asyncio.sleep(0.35)
        later = await client.post(url, {"stocks": [{**pair, "stock": 4}]})
        assert later.json["result"][0]["updated"] is True
        assert state.stocks[(DEFAULT_WAREHOUSE_ID, 100)] == 4
        batch = [{"offer_id": "OF-1", "stock": 1, "warehouse_id": DEFAULT_WAREHOUSE_ID}] * 101
        assert (await client.post(url, {"stocks": batch})).status == 400


async def test_ozon_stocks_group_rate_limit() -> None:
    state = ozon_seeded(clock=ManualClock(), enforce_limits=True)
    state.configure_limits(groups={"stocks": {"requests": 80, "period": 60, "burst": 2}})
    async with serve(ozon_app(state), OZON_HEADERS) as client:
        body = {"stocks": [{"offer_id": "OF-1", "stock": 1, "warehouse_id": DEFAULT_WAREHOUSE_ID}]}
        replies = [await client.post("/v2/products/stocks", body) for _ in range(3)]
        assert [r.status for r in replies] == [200, 200, 429]
        assert replies[2].json["code"] == 8
        assert replies[2].headers["Retry-After"] == "1"
        # other methods only use the global 50 rps bucket
        assert (await client.post("/v2/warehouse/list", {})).status == 200


async def test_ozon_global_limit_message() -> None:
    state = ozon_seeded(clock=ManualClock(), enforce_limits=True)
    state.configure_limits(scale=0.04)  # 50 rps burst 50 -> 2 rps burst 2
    async with serve(ozon_app(state), OZON_HEADERS) as client:
        replies = [await client.post("/v2/warehouse/list", {}) for _ in range(3)]
    assert [r.status for r in replies] == [200, 200, 429]
    assert replies[2].json == {
        "code": 8,
        "message": "You have reached request rate limit per second",
        "details": [],
    }


async def test_ozon_postings_cursor_paging_and_get() -> None:
    state = ozon_seeded()
    state.add_orders(
        {
            "postings": [
                {
                    "products": [{"offer_id": "OF-1", "quantity": 1, "price": "1530"}],
                    "in_process_at": f"2026-10-01T{i // 60:02d}:{i % 60:02d}:00Z",
                    "shipment_date": "2026-10-03T10:00:00Z",
                }
                for i in range(250)
            ]
        }
    )
    async with serve(ozon_app(state), OZON_HEADERS) as client:
        url = "/v4/posting/fbs/list"
        flt = {"since": "2026-09-30T00:00:00Z", "to": "2026-10-02T00:00:00Z"}
        assert (await client.post(url, {"limit": 101, "filter": flt})).status == 400
        assert (await client.post(url, {"limit": 10, "filter": {}})).status == 400
        cursor = ""
        sizes = []
        numbers: list[str] = []
        while True:
            reply = await client.post(url, {"cursor": cursor, "limit": 100, "filter": flt})
            assert reply.status == 200
            sizes.append(len(reply.json["postings"]))
            numbers.extend(p["posting_number"] for p in reply.json["postings"])
            if not reply.json["has_next"]:
                assert reply.json["cursor"] == ""
                break
            cursor = reply.json["cursor"]
        assert sizes == [100, 100, 50]
        assert len(set(numbers)) == 250
        posting = (await client.post(url, {"limit": 1, "filter": flt})).json["postings"][0]
        assert posting["customer"] is None
        assert posting["products"][0]["price"] == {"amount": "1530", "currency": "UZS"}
        assert {"posting_number", "order_id", "order_number", "status", "in_process_at"} <= set(posting)
        line = posting["products"][0]
        assert {"offer_id", "sku", "name", "quantity"} <= set(line)

        state.set_order_status(numbers[0], {"status": "delivering"})
        unfulfilled_url = "/v4/posting/fbs/unfulfilled/list"
        assert (await client.post(unfulfilled_url, {"limit": 100, "filter": {}})).status == 400
        both = {
            "cutoff_from": "2026-10-01T00:00:00Z",
            "cutoff_to": "2026-10-05T00:00:00Z",
            "delivering_date_from": "2026-10-01T00:00:00Z",
            "delivering_date_to": "2026-10-05T00:00:00Z",
        }
        assert (await client.post(unfulfilled_url, {"limit": 100, "filter": both})).status == 400
        unfulfilled = await client.post(
            unfulfilled_url,
            {
                "limit": 100,
                "filter": {"cutoff_from": "2026-10-01T00:00:00Z", "cutoff_to": "2026-10-05T00:00:00Z"},
            },
        )
        assert unfulfilled.json["count"] == 249
        assert unfulfilled.json["has_next"] is True

        one = await client.post("/v3/posting/fbs/get", {"posting_number": numbers[1]})
        assert one.json["result"]["posting_number"] == numbers[1]
        assert one.json["result"]["products"][0]["price"] == "1530.000000"  # v3 shape
        assert "available_actions" in one.json["result"]
        assert (await client.post("/v3/posting/fbs/get", {"posting_number": "0-0-0"})).status == 404
    assert state.stocks[(DEFAULT_WAREHOUSE_ID, 101)] == 0  # reserved by the postings


async def test_ozon_product_list_last_id() -> None:
    async with serve(ozon_app(ozon_seeded()), OZON_HEADERS) as client:
        first = await client.post("/v3/product/list", {"filter": {}, "last_id": "", "limit": 3})
        result = first.json["result"]
        assert result["total"] == 5
        assert [i["offer_id"] for i in result["items"]] == ["OF-0", "OF-1", "OF-2"]
        assert result["items"][0]["product_id"] == 100
        rest = await client.post("/v3/product/list", {"filter": {}, "last_id": result["last_id"], "limit": 3})
        assert [i["offer_id"] for i in rest.json["result"]["items"]] == ["OF-3", "OF-4"]
        only = await client.post("/v3/product/list", {"filter": {"offer_id": ["OF-4"]}, "limit": 1000})
        assert [i["product_id"] for i in only.json["result"]["items"]] == [104]
        assert (await client.post("/v3/product/list", {"limit": 1001})).status == 400


# --------------------------------------------------------------------------------------------
# Faults (the same machinery on every server)


async def test_fault_429_then_normal() -> None:
    state = uzum_seeded()
    async with serve(uzum_app(state), UZUM_HEADERS) as client:
        added = await client.control(
            "POST", "/faults", {"mode": "429", "count": 2, "retry_after": 7, "path": f"{UZUM}/v2/fbs"}
        )
        assert added.status == 200
        assert (await client.get(f"{UZUM}/v1/shops")).status == 200  # other paths are untouched
        first = await client.get(f"{UZUM}/v2/fbs/orders", params={"shopIds": 1})
        second = await client.get(f"{UZUM}/v2/fbs/orders", params={"shopIds": 1})
        third = await client.get(f"{UZUM}/v2/fbs/orders", params={"shopIds": 1})
        assert [first.status, second.status, third.status] == [429, 429, 200]
        assert first.headers["Retry-After"] == "7"
    log = state.calls.for_endpoint("GET /api/seller-openapi/v2/fbs/orders")
    assert [r.fault for r in log] == ["429", "429", None]


async def test_fault_5xx_does_not_apply_the_write() -> None:
    state = wb_seeded()
    async with serve(wildberries_app(state), WB_HEADERS) as client:
        state.inject_fault("500", 1)
        state.add_fault({"mode": "502", "count": 1})
        url = f"/api/v3/stocks/{WB_WAREHOUSE}"
        first = await client.put(url, {"stocks": [{"chrtId": 5000, "amount": 1}]})
        assert first.status == 500
        assert first.headers["Content-Type"].startswith("application/")
        second = await client.put(url, {"stocks": [{"chrtId": 5000, "amount": 1}]})
        assert second.status == 502
        assert "Bad Gateway" in second.text
        assert state.stocks[WB_WAREHOUSE][5000] == 5
        third = await client.put(url, {"stocks": [{"chrtId": 5000, "amount": 1}]})
        assert third.status == 204
        assert state.stocks[WB_WAREHOUSE][5000] == 1


async def test_fault_timeout_applies_the_write_late() -> None:
    state = ozon_seeded()
    async with serve(ozon_app(state), OZON_HEADERS) as client:
        state.inject_fault("timeout", 1, delay=0.3, path="/v2/products/stocks")
        body = {"stocks": [{"offer_id": "OF-2", "stock": 7, "warehouse_id": DEFAULT_WAREHOUSE_ID}]}
        with pytest.raises(asyncio.TimeoutError):
            await client.post("/v2/products/stocks", body, deadline=0.1)
        assert state.stocks[(DEFAULT_WAREHOUSE_ID, 102)] == 7  # the slow server did the write
        await asyncio.sleep(0.3)
        assert state.calls.for_endpoint("POST /v2/products/stocks")[-1].fault == "timeout"
        state.inject_fault("timeout", 1, delay=0.05)
        slow = await client.post("/v2/warehouse/list", {})
        assert slow.status == 200 and slow.json["warehouses"]


async def test_fault_garbage_bodies() -> None:
    state = ozon_seeded()
    async with serve(ozon_app(state), OZON_HEADERS) as client:
        for kind in ("truncated", "html", "shape", "empty"):
            state.inject_fault("garbage", 1, body=kind)
            reply = await client.post("/v3/product/list", {"limit": 10})
            assert reply.status == 200
            if kind == "shape":
                assert "result" not in reply.json
            else:
                with pytest.raises(ValueError):
                    json.loads(reply.text)
        assert (await client.post("/v3/product/list", {"limit": 10})).json["result"]["total"] == 5


async def test_fault_rules_validate() -> None:
    state = UzumState()
    with pytest.raises(SandboxError):
        state.add_fault({"mode": "explode"})
    with pytest.raises(SandboxError):
        state.add_fault({"mode": "500", "status": 418})
    rule = state.add_fault(FaultRule(mode="429", count=-1, method="get"))
    assert rule.matches("GET", "/x") and not rule.matches("POST", "/x")
    state.clear_faults()
    assert state.faults.snapshot() == []


# --------------------------------------------------------------------------------------------
# Control API over HTTP


async def test_control_api_over_http() -> None:
    async with serve(wildberries_app(), WB_HEADERS) as client:
        seeded = await client.control(
            "POST", "/catalog", [{"nmID": 1, "vendorCode": "A", "chrtID": 11, "skus": ["111"], "amount": 3}]
        )
        assert seeded.status == 200 and seeded.json["cards"] == 1
        bad = await client.control("POST", "/catalog", [{"vendorCode": "no nmID"}])
        assert bad.status == 400 and "nmID" in bad.json["error"]
        order = (await client.control("POST", "/orders", {"chrtId": 11})).json["orders"][0]
        moved = await client.control("POST", f"/orders/{order['id']}/status", {"wbStatus": "sold"})
        assert moved.json["wbStatus"] == "sold"
        await client.put(f"/api/v3/stocks/{WB_WAREHOUSE}", {"stocks": [{"chrtId": 11, "amount": 8}]})
        off = await client.control("POST", "/limits", {"enabled": False})
        assert off.json["enabled"] is False
        config = await client.control("POST", "/config", {"price_processing_delay": 0})
        assert config.json["price_processing_delay"] == 0
        assert (await client.control("POST", "/config", {"nope": 1})).status == 400
        state = (await client.control("GET", "/state?bodies=1")).json
        assert state["marketplace"] == "wildberries"
        assert state["stocks"][str(WB_WAREHOUSE)]["11"] == 8
        assert state["calls"]["counts"] == {"PUT /api/v3/stocks/{warehouseId}": 1}
        assert state["calls"]["log"][0]["items"] == 1
        assert state["calls"]["log"][0]["body"] == {"stocks": [{"chrtId": 11, "amount": 8}]}
        assert state["orders"][0]["wbStatus"] == "sold"
        assert (await client.control("POST", "/reset")).status == 200
        after = (await client.control("GET", "/state")).json
        assert after["cards"] == [] and after["calls"]["total"] == 0 and after["limits"]["enabled"] is True


async def test_sandbox_control_client_against_running_server() -> None:
    running = await start_sandbox(uzum_app(), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            control = SandboxControl(session, running.base_url)
            await control.seed_catalog([{"productId": 1, "skuId": 2, "barcode": "3", "amount": 4}])
            order = (await control.add_orders({"orderItems": [{"skuId": 2}]}))["orders"][0]
            await control.set_order_status(order["id"], {"status": "CANCELED"})
            await control.inject_fault("503", 1)
            await control.configure_limits(scale=2)
            async with session.get(f"{running.base_url}{UZUM}/v1/shops", headers=UZUM_HEADERS) as reply:
                assert reply.status == 503
            state = await control.state()
            assert state["orders"][0]["status"] == "CANCELED"
            assert state["orders"][0]["dateCancelled"] is not None
            assert state["stocks"] == {"3": 3}
            assert state["limits"]["groups"]["default"]["burst"] == 20
            with pytest.raises(SandboxError):
                await control.set_order_status(999, {"status": "CANCELED"})
    finally:
        await running.close()


async def test_stock_lookup_shows_what_a_push_set_on_every_marketplace() -> None:
    """GET /_sandbox/stock: one item's stock by the marketplace's own key, without the whole state."""
    uzum, wb, ozon = (UzumState(enforce_limits=False), WildberriesState(enforce_limits=False),
                      OzonState(enforce_limits=False))
    seed_demo(uzum, wb, ozon)
    pushes: list[tuple[web.Application, dict[str, str], str, Any, str, str]] = [
        (uzum_app(uzum), UZUM_HEADERS, f"{UZUM}/v2/fbs/sku/stocks",
         {"skuAmountList": [{"barcode": "4780000000002", "amount": 7}]}, "4780000000002", "4780000000001"),
        (wildberries_app(wb), WB_HEADERS, f"/api/v3/stocks/{WB_WAREHOUSE}",
         {"stocks": [{"chrtId": 90_002, "amount": 7}]}, "90002", "90001"),
        (ozon_app(ozon), OZON_HEADERS, "/v2/products/stocks",
         {"stocks": [{"offer_id": "DEMO-2", "stock": 7, "warehouse_id": DEFAULT_WAREHOUSE_ID}]}, "DEMO-2", "DEMO-1"),
    ]
    for app, headers, path, body, pushed, untouched in pushes:
        running = await start_sandbox(app, "127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as session:
                method = "PUT" if "/api/v3/stocks" in path else "POST"
                async with session.request(method, f"{running.base_url}{path}", json=body, headers=headers) as reply:
                    assert reply.status in (200, 204), await reply.text()
                control = SandboxControl(session, running.base_url)
                levels = await control.stock([pushed, untouched, "no-such-item"])
                assert levels == {pushed: 7, untouched: 10, "no-such-item": None}
                with pytest.raises(SandboxError, match="key="):
                    await control.stock([])
        finally:
            await running.close()


async def test_main_helpers() -> None:
    args = parse_args(["--port-uzum", "1", "--demo"])
    assert (args.port_uzum, args.port_wb, args.demo) == (1, 8702, True)
    uzum, wb, ozon = UzumState(), WildberriesState(), OzonState()
    seed_demo(uzum, wb, ozon)
    assert len(uzum.skus) == len(wb.cards) == len(ozon.products) == 3
