"""Wildberries seller API sandbox.

One application serves the three real hosts, whose path prefixes do not collide:

* ``content-api.wildberries.ru``: ``POST /content/v2/get/cards/list``;
* ``discounts-prices-api.wildberries.ru``: ``POST /api/v2/upload/task``, ``GET /api/v2/history/tasks``,
  ``GET /api/v2/buffer/tasks``, ``GET /api/v2/history/goods/task``, ``GET /api/v2/list/goods/filter``;
* ``marketplace-api.wildberries.ru``: ``GET /api/v3/warehouses``, ``PUT /api/v3/stocks/{warehouseId}``,
  ``POST /api/v3/stocks/{warehouseId}`` (read by ``chrtIds``), ``GET /api/v3/orders/new``,
  ``POST /api/v3/orders/status``, ``GET /api/v3/orders``.

A card moved to the trash (:meth:`WildberriesState.trash_card`) is gone for the prices API: an
upload of only such cards (or of unchanged prices) gets WB's ambiguous 400 "All item Nos. are
specified incorrectly, or the specified prices and discounts are already set", and the goods list
no longer shows it. Orders sold in another currency carry ``price``/``currencyCode`` in the buyer's
currency and ``convertedPrice``/``convertedCurrencyCode`` in the seller's (see ``add_orders``).

Auth: ``Authorization: <token>`` (a ``Bearer`` prefix is tolerated, as reported for the real API).
A token may be limited to categories (``content``, ``prices``, ``marketplace``).

Rate limits (Personal/Service token defaults from the 2026-08-19 snapshot): prices 10 req / 6 s burst 5,
stocks 300 req / min burst 20, marketplace (FBS orders) 300 req / min burst 20, content 100 req / min
burst 5. A 4XX answer in the stocks and marketplace groups costs 10 requests. Responses carry
``X-Ratelimit-Remaining``, ``X-Ratelimit-Limit`` (burst) and ``X-Ratelimit-Reset``; a 429 carries
``X-Ratelimit-Retry``, ``X-Ratelimit-Limit``, ``X-Ratelimit-Reset`` and an ``application/problem+json``
body.

Price uploads are asynchronous like the real ones: a task sits in the buffer (status 1) for
``price_processing_delay`` seconds, then is applied and reported in the history (status 3, 5 or 6)
with per-item results (status 2 ok / 3 error).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from aiohttp import web

from sync.sandbox.common import (
    ApiError,
    LimitDecision,
    LimitSpec,
    SandboxError,
    SandboxState,
    build_app,
    call_record,
    control_int,
    control_list,
    json_list,
    json_object,
    new_request_id,
    parse_rfc3339,
    query_int,
    read_json,
    rfc3339,
    strict_int,
)

DEFAULT_AUTHORIZATION = "sandbox-wb-token"  # the Authorization header value (a public sandbox default)
DEFAULT_WAREHOUSE_ID = 1_000_001
CATEGORIES: tuple[str, ...] = ("content", "prices", "marketplace")
PRICE_BATCH_MAX = 1000
STOCK_BATCH_MAX = 1000
STOCK_AMOUNT_MAX = 100_000
STATUS_BATCH_MAX = 1000
CARDS_LIMIT_MAX = 100
ORDERS_LIMIT_MAX = 1000
ORDERS_PERIOD_MAX = 30 * 24 * 3600
# WB's one answer for an upload in which no item can change: every nmID is unknown (the card was
# deleted or is in the trash) or already has exactly that price and discount. It does not say which.
ALREADY_SET = "All item Nos. are specified incorrectly, or the specified prices and discounts are already set"
GOODS_LIMIT_MAX = 1000
SUPPLIER_STATUSES: tuple[str, ...] = ("new", "confirm", "complete", "cancel", "cancel_carrier")
WB_STATUSES: tuple[str, ...] = (
    "waiting",
    "sorted",
    "sold",
    "canceled",
    "canceled_by_client",
    "declined_by_client",
    "defect",
    "ready_for_pickup",
    "postponed_delivery",
    "accepted_by_carrier",
    "sent_to_carrier",
    "canceled_by_carrier",
)
TASK_BUFFERED = 1
TASK_OK = 3
TASK_PARTIAL = 5
TASK_FAILED = 6
ITEM_OK = 2
ITEM_ERROR = 3


@dataclass
class WbSize:
    chrt_id: int
    tech_size: str
    wb_size: str
    skus: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"chrtID": self.chrt_id, "techSize": self.tech_size, "wbSize": self.wb_size, "skus": self.skus}


@dataclass
class WbCard:
    nm_id: int
    imt_id: int
    vendor_code: str
    title: str
    brand: str
    subject_name: str
    sizes: list[WbSize]
    created_at: datetime
    updated_at: datetime
    price: int
    discount: int

    def sale_price_x100(self) -> int:
        """Price after the seller's discount, in kopecks/tiyin (x100), exactly."""
        return self.price * (100 - self.discount)

    def to_json(self) -> dict[str, Any]:
        return {
            "nmID": self.nm_id,
            "imtID": self.imt_id,
            "nmUUID": str(uuid.UUID(int=self.nm_id)),
            "subjectID": 105,
            "subjectName": self.subject_name,
            "vendorCode": self.vendor_code,
            "brand": self.brand,
            "title": self.title,
            "description": "",
            "needKiz": False,
            "photos": [],
            "video": "",
            "dimensions": {"length": 10, "width": 10, "height": 10, "weightBrutto": 0.5, "isValid": True},
            "characteristics": [],
            "sizes": [size.to_json() for size in self.sizes],
            "tags": [],
            "createdAt": rfc3339(self.created_at, micro=True),
            "updatedAt": rfc3339(self.updated_at, micro=True),
        }


@dataclass
class WbWarehouse:
    id: int
    name: str
    office_id: int
    cargo_type: int = 1
    delivery_type: int = 1
    is_deleting: bool = False
    is_processing: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "officeId": self.office_id,
            "id": self.id,
            "cargoType": self.cargo_type,
            "deliveryType": self.delivery_type,
            "isDeleting": self.is_deleting,
            "isProcessing": self.is_processing,
        }


@dataclass
class WbPriceTask:
    upload_id: int
    items: list[dict[str, Any]]
    upload_date: datetime
    due: float
    status: int = TASK_BUFFERED
    activation_date: datetime | None = None
    results: list[dict[str, Any]] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        return {
            "uploadID": self.upload_id,
            "status": self.status,
            "uploadDate": rfc3339(self.upload_date),
            "activationDate": rfc3339(self.activation_date or self.upload_date),
            "overAllGoodsNumber": len(self.items),
            "successGoodsNumber": sum(1 for r in self.results if r["status"] == ITEM_OK),
        }


def _problem(status: int, title: str, detail: str, *, origin: str, when: datetime) -> dict[str, Any]:
    return {
        "title": title,
        "detail": detail,
        "code": new_request_id()[:8] + "-0000-0000-0000-000000000000",
        "requestId": new_request_id(),
        "origin": origin,
        "status": status,
        "statusText": {401: "Unauthorized", 429: "Too Many Requests"}.get(status, "Error"),
        "timestamp": rfc3339(when),
    }


def _content_error(message: str) -> dict[str, Any]:
    return {"data": None, "error": True, "errorText": message, "additionalErrors": None}


def _prices_error(message: str) -> dict[str, Any]:
    return {"data": None, "error": True, "errorText": message}


def _marketplace_error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


class WildberriesState(SandboxState):
    """Cards (nmID -> sizes/chrtID -> barcodes), prices per nmID, stocks per (warehouse, chrtID),
    asynchronous price-upload tasks and FBS assembly orders."""

    marketplace = "wildberries"
    limit_defaults: ClassVar[Mapping[str, LimitSpec]] = {
        "prices": LimitSpec(requests=10, period=6, burst=5),
        "stocks": LimitSpec(requests=300, period=60, burst=20),
        "marketplace": LimitSpec(requests=300, period=60, burst=20),
        "content": LimitSpec(requests=100, period=60, burst=5),
    }
    ERROR_COST_GROUPS = frozenset({"stocks", "marketplace"})
    ERROR_COST = 10

    def _init_data(self) -> None:
        self.cards: dict[int, WbCard] = {}
        self.chrt_index: dict[int, int] = {}  # chrtID -> nmID
        self.warehouses: dict[int, WbWarehouse] = {
            DEFAULT_WAREHOUSE_ID: WbWarehouse(DEFAULT_WAREHOUSE_ID, "Sandbox FBS", 301),
        }
        self.stocks: dict[int, dict[int, int]] = {}
        self.tasks: dict[int, WbPriceTask] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.order_status: dict[int, tuple[str, str]] = {}
        self.tokens: dict[str, frozenset[str] | None] = {DEFAULT_AUTHORIZATION: None}
        self.price_processing_delay = 0.5
        self.price_quarantine = True
        self.currency_code = 860  # UZS, ISO 4217 numeric
        self.currency_iso = "UZS"
        self._next_upload_id = 146_567
        self._next_order_id = 13_833_711
        self._seed_tick = 0

    # ---- middleware hooks ----------------------------------------------------------------------

    def before_request(self) -> None:
        self.process_due_tasks()

    @staticmethod
    def category(path: str) -> str:
        if path.startswith("/content/"):
            return "content"
        if path.startswith("/api/v2/"):
            return "prices"
        return "marketplace"

    def authenticate(self, request: web.Request) -> str:
        raw = request.headers.get("Authorization", "").strip()
        token = raw[7:].strip() if raw.lower().startswith("bearer ") else raw
        if not token:
            raise ApiError(
                401,
                "empty Authorization header",
                body=_problem(
                    401, "unauthorized", "empty Authorization header", origin="s2s-api-auth", when=self.now()
                ),
            )
        if token not in self.tokens:
            raise ApiError(
                401,
                "token is malformed",
                body=_problem(
                    401,
                    "unauthorized",
                    "token problem; token is malformed: could not parse token",
                    origin="s2s-api-auth",
                    when=self.now(),
                ),
            )
        scopes = self.tokens[token]
        category = self.category(request.path)
        if scopes is not None and category not in scopes:
            raise ApiError(
                401,
                "token scope not allowed",
                body=_problem(
                    401,
                    "unauthorized",
                    f"token scope not allowed for this API route ({category})",
                    origin="s2s-api-auth",
                    when=self.now(),
                ),
            )
        return token

    def limit_groups(self, request: web.Request) -> Sequence[str]:
        path = request.path
        if path.startswith("/content/"):
            return ("content",)
        if path.startswith("/api/v2/"):
            return ("prices",)
        if path.startswith(("/api/v3/stocks", "/api/v3/warehouses")):
            return ("stocks",)
        return ("marketplace",)

    def extra_cost(self, group: str, status: int) -> int:
        if group in self.ERROR_COST_GROUPS and 400 <= status < 500:
            return self.ERROR_COST - 1
        return 0

    def hollow_response(self) -> web.Response:
        return web.json_response({"data": None, "error": False, "errorText": "", "additionalErrors": None})

    def error_response(self, error: ApiError) -> web.Response:
        if error.body is not None:
            content_type = "application/problem+json" if error.status in (401, 429) else "application/json"
            return web.json_response(
                error.body, status=error.status, headers=error.headers, content_type=content_type
            )
        body = _problem(error.status, "error", error.message, origin="api-gateway", when=self.now())
        return web.json_response(
            body, status=error.status, headers=error.headers, content_type="application/problem+json"
        )

    def rate_headers(self, decision: LimitDecision) -> dict[str, str]:
        return {
            "X-Ratelimit-Remaining": str(decision.remaining),
            "X-Ratelimit-Limit": str(decision.spec.burst),
            "X-Ratelimit-Reset": str(max(0, math.ceil(decision.reset_after))),
        }

    def rate_limited_response(self, decision: LimitDecision) -> web.Response:
        body = _problem(
            429,
            "too many requests",
            f"Limited by {decision.group} limiter",
            origin="api-gateway",
            when=self.now(),
        )
        headers = {
            "X-Ratelimit-Retry": decision.retry_after_header,
            "X-Ratelimit-Limit": str(decision.spec.burst),
            "X-Ratelimit-Reset": str(max(1, math.ceil(decision.reset_after))),
        }
        return web.json_response(body, status=429, headers=headers, content_type="application/problem+json")

    # ---- prices: asynchronous tasks ----------------------------------------------------------------

    def process_due_tasks(self) -> None:
        now = self.clock()
        for task in sorted(self.tasks.values(), key=lambda t: t.upload_id):
            if task.status == TASK_BUFFERED and task.due <= now:
                self._process(task)

    def new_price_task(self, items: list[dict[str, Any]]) -> WbPriceTask:
        """Queue validated upload items; processed after ``price_processing_delay`` seconds."""
        task = WbPriceTask(
            self._next_upload_id, items, self.now(), self.clock() + self.price_processing_delay
        )
        self._next_upload_id += 1
        self.tasks[task.upload_id] = task
        if self.price_processing_delay <= 0:
            self._process(task)
        return task

    def _process(self, task: WbPriceTask) -> None:
        results = []
        for item in task.items:
            nm_id = item["nmID"]
            card = self.cards.get(nm_id)
            price = item.get("price")
            discount = item.get("discount")
            row = {
                "nmID": nm_id,
                "vendorCode": card.vendor_code if card else "",
                "sizeID": 0,
                "techSizeName": "",
                "price": price if price is not None else (card.price if card else 0),
                "currencyIsoCode4217": self.currency_iso,
                "discount": discount if discount is not None else (card.discount if card else 0),
                "clubDiscount": 0,
                "status": ITEM_OK,
                "errorText": "",
            }
            if card is None:
                row.update(status=ITEM_ERROR, errorText="The product is not found")
            else:
                new_price = card.price if price is None else int(price)
                new_discount = card.discount if discount is None else int(discount)
                new_sale = new_price * (100 - new_discount)
                if self.price_quarantine and new_sale * 3 <= card.sale_price_x100():
                    row.update(
                        status=ITEM_ERROR,
                        errorText="The new price is 3 or more times lower than the "
                        "current one. The item is placed in price quarantine",
                    )
                else:
                    card.price, card.discount = new_price, new_discount
            results.append(row)
        task.results = results
        ok = sum(1 for r in results if r["status"] == ITEM_OK)
        task.status = TASK_OK if ok == len(results) else TASK_FAILED if ok == 0 else TASK_PARTIAL
        task.activation_date = self.now()

    # ---- Python-side control API -----------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        return {
            "price_processing_delay": self.price_processing_delay,
            "price_quarantine": self.price_quarantine,
            "currency_code": self.currency_code,
            "currency_iso": self.currency_iso,
        }

    def _set_option(self, key: str, value: Any) -> None:
        if key == "price_processing_delay":
            try:
                self.price_processing_delay = max(0.0, float(value))
            except (TypeError, ValueError) as exc:
                raise SandboxError("price_processing_delay must be a number of seconds") from exc
        elif key == "price_quarantine":
            self.price_quarantine = bool(value)
        elif key == "currency_code":
            self.currency_code = control_int(value, key)
        elif key == "currency_iso":
            self.currency_iso = str(value)
        else:  # pragma: no cover - configure() checks the keys
            super()._set_option(key, value)

    def set_credentials(self, data: Any) -> dict[str, Any]:
        """``{"tokens": ["t1", {"token": "t2", "categories": ["prices"]}]}``."""
        if isinstance(data, dict) and "token" in data and "tokens" not in data:
            data = {"tokens": [data]}
        raw = data.get("tokens") if isinstance(data, dict) else data
        if not isinstance(raw, list) or not raw:
            raise SandboxError("expected {'tokens': [...]} with at least one token")
        tokens: dict[str, frozenset[str] | None] = {}
        for entry in raw:
            if isinstance(entry, str):
                tokens[entry] = None
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
                raise SandboxError("each token is a string or {token, categories?}")
            categories = entry.get("categories")
            if categories is not None and not set(categories) <= set(CATEGORIES):
                raise SandboxError(f"categories must be among {CATEGORIES}")
            tokens[entry["token"]] = None if categories is None else frozenset(categories)
        self.tokens = tokens
        return {"tokens": sorted(tokens)}

    def seed_catalog(self, data: Any) -> dict[str, Any]:
        """Cards, warehouses and stocks in WB terms.

        ``{"cards": [...], "warehouses": [{"id", "name"?, "officeId"?, "isProcessing"?...}],
        "stocks": [{"warehouseId"?, "chrtId", "amount"}], "replace": false}`` or a bare card list.
        A card: ``{"nmID", "vendorCode", "title"?, "brand"?, "price"?, "discount"?, "sizes": [{"chrtID",
        "techSize"?, "wbSize"?, "skus": [barcodes], "amount"?}]}``; a one-size card may give
        ``"chrtID"`` and ``"skus"`` at the top instead of ``sizes``. ``amount`` goes to the first warehouse.
        """
        if isinstance(data, dict):
            if data.get("replace"):
                self.cards.clear()
                self.chrt_index.clear()
                self.stocks.clear()
            for raw in data.get("warehouses") or []:
                if not isinstance(raw, dict):
                    raise SandboxError("warehouses[] must be objects")
                wid = control_int(raw.get("id"), "warehouses[].id")
                self.warehouses[wid] = WbWarehouse(
                    wid,
                    str(raw.get("name") or f"Warehouse {wid}"),
                    control_int(raw.get("officeId", 301), "officeId"),
                    control_int(raw.get("cargoType", 1), "cargoType"),
                    control_int(raw.get("deliveryType", 1), "deliveryType"),
                    bool(raw.get("isDeleting", False)),
                    bool(raw.get("isProcessing", False)),
                )
        cards = control_list(data, "cards")
        for raw in cards:
            self._seed_card(raw)
        if isinstance(data, dict):
            for raw in data.get("stocks") or []:
                if not isinstance(raw, dict):
                    raise SandboxError("stocks[] must be objects")
                chrt = control_int(raw.get("chrtId", raw.get("chrtID")), "stocks[].chrtId")
                if chrt not in self.chrt_index:
                    raise SandboxError(f"stocks[]: unknown chrtId {chrt}")
                wid = control_int(raw.get("warehouseId", self._first_warehouse()), "stocks[].warehouseId")
                if wid not in self.warehouses:
                    raise SandboxError(f"stocks[]: unknown warehouse {wid}")
                self.stocks.setdefault(wid, {})[chrt] = control_int(raw.get("amount", 0), "amount")
        return {"cards": len(self.cards), "warehouses": sorted(self.warehouses), "seeded": len(cards)}

    def _first_warehouse(self) -> int:
        if not self.warehouses:
            raise SandboxError("no warehouse")
        return next(iter(self.warehouses))

    def _seed_card(self, raw: Mapping[str, Any]) -> WbCard:
        nm_id = control_int(raw.get("nmID", raw.get("nmId")), "nmID")
        sizes_raw = raw.get("sizes")
        if sizes_raw is None:
            if raw.get("chrtID", raw.get("chrtId")) is None:
                raise SandboxError(f"card {nm_id}: give sizes[] or chrtID")
            sizes_raw = [
                {
                    "chrtID": raw.get("chrtID", raw.get("chrtId")),
                    "techSize": "0",
                    "wbSize": "",
                    "skus": raw.get("skus", []),
                    "amount": raw.get("amount"),
                }
            ]
        if not isinstance(sizes_raw, list) or not sizes_raw:
            raise SandboxError(f"card {nm_id}: sizes[] must be a non-empty list")
        old = self.cards.get(nm_id)
        if old is not None:
            for size in old.sizes:
                self.chrt_index.pop(size.chrt_id, None)
        sizes = []
        amounts: list[tuple[int, int]] = []
        for size in sizes_raw:
            if not isinstance(size, dict):
                raise SandboxError("sizes[] must be objects")
            chrt = control_int(size.get("chrtID", size.get("chrtId")), "sizes[].chrtID")
            if chrt in self.chrt_index and self.chrt_index[chrt] != nm_id:
                raise SandboxError(f"chrtID {chrt} already belongs to card {self.chrt_index[chrt]}")
            skus = size.get("skus") or []
            sizes.append(
                WbSize(
                    chrt, str(size.get("techSize", "0")), str(size.get("wbSize", "")), [str(s) for s in skus]
                )
            )
            self.chrt_index[chrt] = nm_id
            if size.get("amount") is not None:
                amounts.append((chrt, control_int(size["amount"], "amount")))
        self._seed_tick += 1
        moment = self.now() + timedelta(microseconds=self._seed_tick)
        card = WbCard(
            nm_id=nm_id,
            imt_id=control_int(raw.get("imtID", nm_id + 500_000_000), "imtID"),
            vendor_code=str(raw.get("vendorCode") or f"VC-{nm_id}"),
            title=str(raw.get("title") or f"Card {nm_id}"),
            brand=str(raw.get("brand") or "Sandbox"),
            subject_name=str(raw.get("subjectName") or "Goods"),
            sizes=sizes,
            created_at=old.created_at if old else moment,
            updated_at=moment,
            price=control_int(raw.get("price", old.price if old else 1000), "price"),
            discount=control_int(raw.get("discount", old.discount if old else 0), "discount"),
        )
        self.cards[nm_id] = card
        for chrt, amount in amounts:
            self.stocks.setdefault(self._first_warehouse(), {})[chrt] = amount
        return card

    def add_orders(self, data: Any) -> list[dict[str, Any]]:
        """Assembly orders (one unit each) in WB terms.

        ``{"id"?, "chrtId" | "nmId" | "article", "price"? (x100), "createdAt"? (RFC3339), "warehouseId"?,
        "orderUid"?, "rid"?, "supplierStatus"?: "new", "wbStatus"?: "waiting", "reserve"?: true}``.
        A sale in another currency: ``"currencyCode": 643, "price": <roubles x100>, "convertedPrice":
        <so'm x100>`` (``convertedCurrencyCode`` defaults to the seller's, 860).
        With ``reserve`` the size's stock at the warehouse drops by one.
        """
        specs = [data] if isinstance(data, dict) and "orders" not in data else control_list(data, "orders")
        return [self._add_order(spec) for spec in specs]

    def _add_order(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        if spec.get("chrtId") is not None:
            chrt = control_int(spec["chrtId"], "chrtId")
            if chrt not in self.chrt_index:
                raise SandboxError(f"unknown chrtId {chrt}")
            card = self.cards[self.chrt_index[chrt]]
        elif spec.get("nmId") is not None:
            card_or_none = self.cards.get(control_int(spec["nmId"], "nmId"))
            if card_or_none is None:
                raise SandboxError(f"unknown nmId {spec['nmId']}")
            card = card_or_none
            chrt = card.sizes[0].chrt_id
        elif spec.get("article") is not None:
            found = [c for c in self.cards.values() if c.vendor_code == str(spec["article"])]
            if not found:
                raise SandboxError(f"unknown article {spec['article']}")
            card = found[0]
            chrt = card.sizes[0].chrt_id
        else:
            raise SandboxError("an order needs chrtId, nmId or article")
        size = next(s for s in card.sizes if s.chrt_id == chrt)
        if spec.get("id") is not None:
            order_id = control_int(spec["id"], "id")
            if order_id in self.orders:
                raise SandboxError(f"order {order_id} already exists")
        else:
            while self._next_order_id in self.orders:
                self._next_order_id += 1
            order_id = self._next_order_id
            self._next_order_id += 1
        warehouse_id = control_int(spec.get("warehouseId", self._first_warehouse()), "warehouseId")
        if warehouse_id not in self.warehouses:
            raise SandboxError(f"unknown warehouse {warehouse_id}")
        created = parse_rfc3339(spec["createdAt"], "createdAt") if spec.get("createdAt") else self.now()
        price = control_int(spec.get("price", card.sale_price_x100()), "price")
        currency = control_int(spec.get("currencyCode", self.currency_code), "currencyCode")
        converted_currency = control_int(spec.get("convertedCurrencyCode", self.currency_code), "convertedCurrencyCode")
        converted = control_int(spec.get("convertedPrice", price), "convertedPrice")
        supplier = str(spec.get("supplierStatus", "new"))
        wb_status = str(spec.get("wbStatus", "waiting"))
        if supplier not in SUPPLIER_STATUSES or wb_status not in WB_STATUSES:
            raise SandboxError("unknown supplierStatus or wbStatus")
        warehouse = self.warehouses[warehouse_id]
        order: dict[str, Any] = {
            "id": order_id,
            "rid": str(spec.get("rid") or f"{uuid.uuid4().hex}.0.0"),
            "orderUid": str(spec.get("orderUid") or f"{order_id}_{uuid.uuid4().hex[:16]}"),
            "createdAt": rfc3339(created),
            "nmId": card.nm_id,
            "chrtId": chrt,
            "article": card.vendor_code,
            "colorCode": "",
            "skus": list(size.skus),
            "price": price,
            "finalPrice": price,
            "convertedPrice": converted,
            "convertedFinalPrice": converted,
            "salePrice": price,
            "currencyCode": currency,
            "convertedCurrencyCode": converted_currency,
            "warehouseId": warehouse_id,
            "officeId": warehouse.office_id,
            "offices": ["Tashkent"],
            "deliveryType": "fbs",
            "cargoType": warehouse.cargo_type,
            "isZeroOrder": False,
            "comment": "",
            "address": None,
            "requiredMeta": [],
            "optionalMeta": [],
            "options": {"isB2B": False},
            "supplyId": None,
        }
        self.orders[order_id] = order
        self.order_status[order_id] = (supplier, wb_status)
        if spec.get("reserve", True):
            stock = self.stocks.setdefault(warehouse_id, {})
            stock[chrt] = max(0, stock.get(chrt, 0) - 1)
        return order

    def set_order_status(self, order_id: str, data: Any) -> dict[str, Any]:
        """``{"supplierStatus"?: "confirm", "wbStatus"?: "sorted", "supplyId"?: "WB-GI-1"}``."""
        oid = control_int(order_id, "order id")
        if oid not in self.orders:
            raise SandboxError(f"no order {order_id}")
        if not isinstance(data, dict):
            raise SandboxError("expected {supplierStatus?, wbStatus?}")
        supplier, wb_status = self.order_status[oid]
        supplier = str(data.get("supplierStatus", supplier))
        wb_status = str(data.get("wbStatus", wb_status))
        if supplier not in SUPPLIER_STATUSES or wb_status not in WB_STATUSES:
            raise SandboxError(f"supplierStatus in {SUPPLIER_STATUSES}, wbStatus in {WB_STATUSES}")
        self.order_status[oid] = (supplier, wb_status)
        if "supplyId" in data:
            self.orders[oid]["supplyId"] = data["supplyId"]
        return {**self.orders[oid], "supplierStatus": supplier, "wbStatus": wb_status}

    def trash_card(self, nm_id: int) -> None:
        """The seller deleted the card (it went to the trash): the prices API no longer knows it."""
        if self.cards.pop(nm_id, None) is None:
            raise SandboxError(f"no card {nm_id}")

    def stock_levels(self, keys: Sequence[str]) -> dict[str, int | None]:
        """The stock per chrtId at the first warehouse (where a seeded ``amount`` goes)."""
        stock = self.stocks.get(self._first_warehouse(), {})
        return {key: stock.get(int(key)) if key.isdigit() else None for key in keys}

    def snapshot_data(self) -> dict[str, Any]:
        return {
            "tokens": sorted(self.tokens),
            "cards": [
                {
                    "nmID": c.nm_id,
                    "vendorCode": c.vendor_code,
                    "price": c.price,
                    "discount": c.discount,
                    "sizes": [s.to_json() for s in c.sizes],
                }
                for c in sorted(self.cards.values(), key=lambda c: c.nm_id)
            ],
            "prices": {str(c.nm_id): {"price": c.price, "discount": c.discount} for c in self.cards.values()},
            "stocks": {
                str(w): {str(chrt): amount for chrt, amount in sorted(s.items())}
                for w, s in sorted(self.stocks.items())
            },
            "warehouses": [w.to_json() for w in self.warehouses.values()],
            "tasks": [
                {**t.info(), "goods": t.results}
                for t in sorted(self.tasks.values(), key=lambda t: t.upload_id)
            ],
            "orders": [
                {
                    **self.orders[i],
                    "supplierStatus": self.order_status[i][0],
                    "wbStatus": self.order_status[i][1],
                }
                for i in sorted(self.orders)
            ],
        }


# --------------------------------------------------------------------------------------------
# Handlers

WB_STATE: web.AppKey[WildberriesState] = web.AppKey("wildberries_state", WildberriesState)

WbHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _styled(style: str) -> Callable[[WbHandler], WbHandler]:
    """Give plain ApiErrors the error body of the API family (content / prices / marketplace)."""

    def decorate(handler: WbHandler) -> WbHandler:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except ApiError as error:
                if error.body is None:
                    if style == "content":
                        error.body = _content_error(error.message)
                    elif style == "prices":
                        error.body = _prices_error(error.message)
                    else:
                        error.body = _marketplace_error(str(error.code or "IncorrectRequest"), error.message)
                raise

        wrapper.__name__ = handler.__name__
        wrapper.__doc__ = handler.__doc__
        return wrapper

    return decorate


@_styled("content")
async def cards_list(request: web.Request) -> web.Response:
    state = request.app[WB_STATE]
    body = json_object(await read_json(request) or {}, "body")
    settings = json_object(body.get("settings", {}), "settings")
    cursor = json_object(settings.get("cursor", {}), "settings.cursor")
    if "limit" not in cursor:
        raise ApiError(400, "settings.cursor.limit is required")
    limit = strict_int(cursor["limit"], "settings.cursor.limit", minimum=1, maximum=CARDS_LIMIT_MAX)
    flt = json_object(settings.get("filter", {}), "settings.filter")
    ascending = bool(json_object(settings.get("sort", {}), "settings.sort").get("ascending", False))
    text = str(flt.get("textSearch") or "").strip().lower()
    cards = list(state.cards.values())
    if text:
        cards = [
            c
            for c in cards
            if text in c.vendor_code.lower()
            or text == str(c.nm_id)
            or any(text in sku for s in c.sizes for sku in s.skus)
        ]
    cards.sort(key=lambda c: (c.updated_at, c.nm_id), reverse=not ascending)
    after_time = cursor.get("updatedAt")
    after_nm = cursor.get("nmID")
    if after_time and after_nm:
        mark = (
            parse_rfc3339(after_time, "settings.cursor.updatedAt"),
            strict_int(after_nm, "settings.cursor.nmID"),
        )
        if ascending:
            cards = [c for c in cards if (c.updated_at, c.nm_id) > mark]
        else:
            cards = [c for c in cards if (c.updated_at, c.nm_id) < mark]
    page = cards[:limit]
    call_record(request).items = len(page)
    if page:
        last = page[-1]
        out_cursor: dict[str, Any] = {
            "updatedAt": rfc3339(last.updated_at, micro=True),
            "nmID": last.nm_id,
            "total": len(page),
        }
    else:
        out_cursor = {"updatedAt": after_time, "nmID": after_nm, "total": 0}
    return web.json_response({"cards": [c.to_json() for c in page], "cursor": out_cursor})


@_styled("prices")
async def upload_prices(request: web.Request) -> web.Response:
    state = request.app[WB_STATE]
    body = json_object(await read_json(request), "body")
    items = json_list(body.get("data"), "data")
    record = call_record(request)
    record.items = len(items)
    if not items:
        raise ApiError(400, "data must not be empty")
    if len(items) > PRICE_BATCH_MAX:
        raise ApiError(400, f"Too many goods in the request: {len(items)}, the maximum is {PRICE_BATCH_MAX}")
    clean: list[dict[str, Any]] = []
    seen: set[int] = set()
    for index, raw in enumerate(items):
        item = json_object(raw, f"data[{index}]")
        nm = item.get("nmID")
        if isinstance(nm, bool) or not isinstance(nm, int):
            raise ApiError(400, f"data[{index}].nmID must be an integer")
        if nm in seen:
            raise ApiError(400, f"Duplicate nmID {nm} in the request")
        seen.add(nm)
        entry: dict[str, Any] = {"nmID": nm}
        price = item.get("price")
        if price is not None:
            if isinstance(price, bool) or not isinstance(price, int) or price <= 0:
                raise ApiError(400, "Invalid price value")
            entry["price"] = price
        discount = item.get("discount")
        if discount is not None:
            if isinstance(discount, bool) or not isinstance(discount, int) or not 0 <= discount <= 99:
                raise ApiError(400, "Invalid discount value")
            entry["discount"] = discount
        if price is None and discount is None:
            raise ApiError(400, f"data[{index}]: price or discount is required")
        clean.append(entry)
    pending = [t for t in state.tasks.values() if t.status == TASK_BUFFERED and t.items == clean]
    if pending:
        return web.json_response(
            {"data": {"id": pending[0].upload_id, "alreadyExists": True}, "error": False, "errorText": ""},
            status=208,
        )
    unchanged = all(
        e["nmID"] not in state.cards
        or (
            e.get("price", state.cards[e["nmID"]].price) == state.cards[e["nmID"]].price
            and e.get("discount", state.cards[e["nmID"]].discount) == state.cards[e["nmID"]].discount
        )
        for e in clean
    )
    if unchanged:
        raise ApiError(400, ALREADY_SET)
    task = state.new_price_task(clean)
    return web.json_response(
        {"data": {"id": task.upload_id, "alreadyExists": False}, "error": False, "errorText": ""}
    )


def _task(request: web.Request) -> WbPriceTask | None:
    upload_id = query_int(request, "uploadID", minimum=1)
    return request.app[WB_STATE].tasks.get(upload_id)


@_styled("prices")
async def history_tasks(request: web.Request) -> web.Response:
    task = _task(request)
    data = task.info() if task is not None and task.status != TASK_BUFFERED else None
    return web.json_response({"data": data, "error": False, "errorText": ""})


@_styled("prices")
async def buffer_tasks(request: web.Request) -> web.Response:
    task = _task(request)
    data = task.info() if task is not None and task.status == TASK_BUFFERED else None
    return web.json_response({"data": data, "error": False, "errorText": ""})


@_styled("prices")
async def history_goods(request: web.Request) -> web.Response:
    task = _task(request)
    limit = query_int(request, "limit", minimum=1, maximum=1000)
    offset = query_int(request, "offset", default=0, minimum=0)
    if task is None or task.status == TASK_BUFFERED:
        return web.json_response({"data": None, "error": False, "errorText": ""})
    goods = task.results[offset : offset + limit]
    call_record(request).items = len(goods)
    return web.json_response(
        {"data": {"uploadID": task.upload_id, "historyGoods": goods}, "error": False, "errorText": ""}
    )


@_styled("prices")
async def goods_filter(request: web.Request) -> web.Response:
    """``GET /api/v2/list/goods/filter?limit&offset[&filterNmID]``: current prices of the cards."""
    state = request.app[WB_STATE]
    limit = query_int(request, "limit", minimum=1, maximum=GOODS_LIMIT_MAX)
    offset = query_int(request, "offset", default=0, minimum=0)
    wanted = query_int(request, "filterNmID", default=-1)
    cards = [c for _, c in sorted(state.cards.items()) if wanted < 0 or c.nm_id == wanted]
    page = cards[offset : offset + limit]
    call_record(request).items = len(page)
    goods = [
        {
            "nmID": c.nm_id,
            "vendorCode": c.vendor_code,
            "sizes": [
                {
                    "sizeID": s.chrt_id,
                    "price": c.price,
                    "discountedPrice": c.sale_price_x100() / 100,
                    "clubDiscountedPrice": c.sale_price_x100() / 100,
                    "techSizeName": s.tech_size,
                }
                for s in c.sizes
            ],
            "currencyIsoCode4217": state.currency_iso,
            "discount": c.discount,
            "clubDiscount": 0,
            "editableSizePrice": False,
        }
        for c in page
    ]
    return web.json_response({"data": {"listGoods": goods}, "error": False, "errorText": ""})


@_styled("marketplace")
async def read_stocks(request: web.Request) -> web.Response:
    """``POST /api/v3/stocks/{warehouseId}`` ``{"chrtIds": [...]}`` (1..1000): the amounts."""
    state = request.app[WB_STATE]
    try:
        warehouse_id = int(request.match_info["warehouseId"])
    except ValueError as exc:
        raise ApiError(400, "warehouseId must be an integer", code="IncorrectParameter") from exc
    warehouse = state.warehouses.get(warehouse_id)
    if warehouse is None or warehouse.is_deleting:
        raise ApiError(404, "Warehouse not found", code="NotFound")
    body = json_object(await read_json(request), "body")
    ids = body.get("chrtIds")
    if not isinstance(ids, list) or not 1 <= len(ids) <= STOCK_BATCH_MAX:
        raise ApiError(400, f"chrtIds must be an array of 1..{STOCK_BATCH_MAX} ids", code="IncorrectRequestBody")
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise ApiError(400, "chrtIds[] must be integers", code="IncorrectRequestBody")
    call_record(request).items = len(ids)
    stock = state.stocks.get(warehouse_id, {})
    rows = [{"chrtId": i, "amount": stock.get(i, 0)} for i in ids if i in state.chrt_index]
    return web.json_response({"stocks": rows})


@_styled("marketplace")
async def warehouses(request: web.Request) -> web.Response:
    state = request.app[WB_STATE]
    return web.json_response([w.to_json() for w in state.warehouses.values() if not w.is_deleting])


def _conflict(code: str, message: str, rows: list[dict[str, Any]]) -> ApiError:
    return ApiError(409, message, body=[{"code": code, "message": message, "data": rows}])


@_styled("marketplace")
async def put_stocks(request: web.Request) -> web.Response:
    state = request.app[WB_STATE]
    try:
        warehouse_id = int(request.match_info["warehouseId"])
    except ValueError as exc:
        raise ApiError(400, "warehouseId must be an integer", code="IncorrectParameter") from exc
    warehouse = state.warehouses.get(warehouse_id)
    if warehouse is None or warehouse.is_deleting:
        raise ApiError(404, "Warehouse not found", code="NotFound")
    body = json_object(await read_json(request), "body")
    items = body.get("stocks")
    if not isinstance(items, list):
        raise ApiError(400, "stocks must be an array", code="IncorrectRequestBody")
    record = call_record(request)
    record.items = len(items)
    if not 1 <= len(items) <= STOCK_BATCH_MAX:
        raise ApiError(400, f"stocks must contain 1..{STOCK_BATCH_MAX} items", code="IncorrectRequestBody")
    accepted: list[tuple[int, int]] = []
    ignored = 0
    for index, raw in enumerate(items):
        item = json_object(raw, f"stocks[{index}]")
        if "sku" in item:
            raise ApiError(400, "Please use the 'chrtId' key instead of 'sku'", code="SKUUploadDisabled")
        if "chrtId" not in item or "amount" not in item:
            ignored += 1  # like WB: unknown keys are not validated, the item silently does nothing
            continue
        chrt = item["chrtId"]
        amount = item["amount"]
        if (
            isinstance(chrt, bool)
            or not isinstance(chrt, int)
            or isinstance(amount, bool)
            or not isinstance(amount, int)
        ):
            raise ApiError(
                400, f"stocks[{index}]: chrtId and amount must be integers", code="IncorrectRequestBody"
            )
        if amount < 0:
            raise ApiError(400, f"stocks[{index}].amount must not be negative", code="IncorrectRequestBody")
        accepted.append((chrt, amount))
    record.ignored = ignored
    if ignored:
        keys = sorted({k for raw in items if isinstance(raw, dict) for k in raw} - {"chrtId", "amount"})
        record.note = f"{ignored} item(s) ignored: no chrtId/amount key (unknown keys: {keys})"

    def rows(pairs: list[tuple[int, int]]) -> list[dict[str, Any]]:
        out = []
        for chrt, amount in pairs:
            nm = state.chrt_index.get(chrt)
            barcodes = next((s.skus for s in state.cards[nm].sizes if s.chrt_id == chrt), []) if nm else []
            out.append({"sku": barcodes[0] if barcodes else "", "chrtId": chrt, "amount": amount})
        return out

    if warehouse.is_processing:
        raise _conflict("StoreIsProcessing", "Warehouse is being processed, try again later", rows(accepted))
    unknown = [(c, a) for c, a in accepted if c not in state.chrt_index]
    if unknown:
        raise _conflict("NotFound", "Product not found", rows(unknown))
    too_big = [(c, a) for c, a in accepted if a > STOCK_AMOUNT_MAX]
    if too_big:
        raise _conflict("UploadDataLimit", f"amount must not exceed {STOCK_AMOUNT_MAX}", rows(too_big))
    stock = state.stocks.setdefault(warehouse_id, {})
    changed = 0
    for chrt, amount in accepted:
        if stock.get(chrt) != amount:
            changed += 1
        stock[chrt] = amount
    record.changed = changed
    return web.Response(status=204)


@_styled("marketplace")
async def orders_new(request: web.Request) -> web.Response:
    state = request.app[WB_STATE]
    orders = [state.orders[i] for i in sorted(state.orders) if state.order_status[i] == ("new", "waiting")]
    call_record(request).items = len(orders)
    return web.json_response({"orders": orders})


@_styled("marketplace")
async def orders_status(request: web.Request) -> web.Response:
    state = request.app[WB_STATE]
    body = json_object(await read_json(request), "body")
    ids = body.get("orders")
    if not isinstance(ids, list) or not 1 <= len(ids) <= STATUS_BATCH_MAX:
        raise ApiError(
            400, f"orders must be an array of 1..{STATUS_BATCH_MAX} ids", code="IncorrectRequestBody"
        )
    call_record(request).items = len(ids)
    out = []
    for raw in ids:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ApiError(400, "orders[] must be integers", code="IncorrectRequestBody")
        if raw in state.orders:
            supplier, wb_status = state.order_status[raw]
            out.append(
                {
                    "id": raw,
                    "supplierStatus": supplier,
                    "wbStatus": wb_status,
                    "isCancellable": supplier in ("new", "confirm"),
                }
            )
    return web.json_response({"orders": out})


@_styled("marketplace")
async def orders_list(request: web.Request) -> web.Response:
    state = request.app[WB_STATE]
    limit = query_int(request, "limit", minimum=1, maximum=ORDERS_LIMIT_MAX)
    after = query_int(request, "next", minimum=0)
    date_from = query_int(request, "dateFrom", default=-1)
    date_to = query_int(request, "dateTo", default=-1)
    if date_from >= 0 and date_to >= 0:
        if date_to < date_from:
            raise ApiError(400, "dateTo must not be before dateFrom", code="IncorrectParameter")
        if date_to - date_from > ORDERS_PERIOD_MAX:
            raise ApiError(400, "The period must not exceed 30 days", code="IncorrectParameter")
    selected = []
    for order_id in sorted(state.orders):
        if order_id <= after:
            continue
        created = parse_rfc3339(state.orders[order_id]["createdAt"], "createdAt").timestamp()
        if (date_from >= 0 and created < date_from) or (date_to >= 0 and created > date_to):
            continue
        selected.append(state.orders[order_id])
        if len(selected) == limit:
            break
    call_record(request).items = len(selected)
    next_value = selected[-1]["id"] if selected else after
    return web.json_response({"next": next_value, "orders": selected})


def create_app(state: WildberriesState | None = None) -> web.Application:
    """The Wildberries sandbox (all three hosts); ``app[WB_STATE]`` is the state."""
    state = state if state is not None else WildberriesState()
    app = build_app(state)
    app[WB_STATE] = state
    app.router.add_post("/content/v2/get/cards/list", cards_list)
    app.router.add_post("/api/v2/upload/task", upload_prices)
    app.router.add_get("/api/v2/history/tasks", history_tasks)
    app.router.add_get("/api/v2/buffer/tasks", buffer_tasks)
    app.router.add_get("/api/v2/history/goods/task", history_goods)
    app.router.add_get("/api/v2/list/goods/filter", goods_filter)
    app.router.add_get("/api/v3/warehouses", warehouses)
    app.router.add_put("/api/v3/stocks/{warehouseId}", put_stocks)
    app.router.add_post("/api/v3/stocks/{warehouseId}", read_stocks)
    app.router.add_get("/api/v3/orders/new", orders_new)
    app.router.add_post("/api/v3/orders/status", orders_status)
    app.router.add_get("/api/v3/orders", orders_list)
    return app
