"""Ozon Seller API sandbox (``https://api-seller.ozon.ru``).

Auth: ``Client-Id`` + ``Api-Key`` headers. A missing header is 401 (code 16), an unknown client or a
wrong key 403 (code 7). Errors use Ozon's ``{"code": int, "message": str, "details": []}`` body.

Rate limits: 50 requests/s per Client-Id (burst 50) for everything, plus 80 requests/min (burst 80)
for ``/v2/products/stocks``. A 429 has ``Retry-After`` and
``{"code": 8, "message": "You have reached request rate limit per second"}``. Method-level rules are
per-item errors, as in the real API: a product's price may change at most 10 times an hour
(``price_changes_per_hour`` / ``price_change_window``), and a product-warehouse stock pair may be
updated once per 30 s (``stock_pair_window``).

The per-item error codes ``TOO_MANY_REQUESTS`` (stock pair rule) and ``currency_differs_from_contract``
appear in public client code; ``NOT_FOUND``, ``INVALID_PRICE``, ``INVALID_OLD_PRICE``,
``PRICE_UPDATE_LIMIT_EXCEEDED``, ``WAREHOUSE_NOT_FOUND`` and ``INVALID_STOCK`` are the sandbox's own names.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
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
    decimal_text,
    json_list,
    json_object,
    opaque_cursor,
    parse_decimal,
    parse_rfc3339,
    read_cursor,
    read_json,
    rfc3339,
    strict_int,
)

DEFAULT_CLIENT_ID = "100000"
DEFAULT_API_KEY = "sandbox-ozon-api-key"
DEFAULT_WAREHOUSE_ID = 22_000_000_001
PRICE_BATCH_MAX = 1000
STOCK_BATCH_MAX = 100
POSTINGS_LIMIT_MAX = 100
PRODUCT_LIST_MAX = 1000
WAREHOUSE_LIST_MAX = 200
POSTING_STATUSES: tuple[str, ...] = (
    "awaiting_registration",
    "acceptance_in_progress",
    "awaiting_approve",
    "awaiting_packaging",
    "awaiting_deliver",
    "arbitration",
    "client_arbitration",
    "delivering",
    "driver_pickup",
    "delivered",
    "cancelled",
    "not_accepted",
    "sent_by_seller",
    "awaiting_verification",
    "cancelled_from_split_pending",
)
UNFULFILLED_STATUSES: tuple[str, ...] = (
    "awaiting_registration",
    "acceptance_in_progress",
    "awaiting_approve",
    "awaiting_packaging",
    "awaiting_deliver",
)
_ACTIONS = {
    "awaiting_packaging": ["arbitration", "cancel", "ship", "update_cis"],
    "awaiting_deliver": ["arbitration", "cancel", "set_cutoff"],
    "delivering": ["arbitration"],
}


@dataclass
class OzonProduct:
    product_id: int
    offer_id: str
    sku: int
    name: str
    price: Decimal | None
    old_price: Decimal
    min_price: Decimal | None
    price_changes: deque[float] = field(default_factory=deque)


@dataclass
class OzonPosting:
    posting_number: str
    order_id: int
    order_number: str
    status: str
    substatus: str
    in_process_at: datetime
    shipment_date: datetime
    delivering_date: datetime | None
    status_changed_at: datetime
    warehouse_id: int
    products: list[dict[str, Any]]  # offer_id, sku, name, quantity, price (Decimal)
    parent_posting_number: str = ""
    is_express: bool = False
    customer: dict[str, Any] | None = None
    addressee: dict[str, Any] | None = None
    cancel_reason_id: int = 0
    cancel_reason: str = ""


class OzonState(SandboxState):
    """Products (offer_id/product_id/sku), prices, stocks per (warehouse, product), FBS postings."""

    marketplace = "ozon"
    limit_defaults: ClassVar[Mapping[str, LimitSpec]] = {
        "global": LimitSpec(requests=50, period=1, burst=50),
        "stocks": LimitSpec(requests=80, period=60, burst=80),
    }

    def _init_data(self) -> None:
        self.products: dict[int, OzonProduct] = {}
        self._by_offer: dict[str, int] = {}  # offer_id -> product_id, kept by _seed_product (O(1) lookups)
        self.warehouses: dict[int, dict[str, Any]] = {
            DEFAULT_WAREHOUSE_ID: {
                "warehouse_id": DEFAULT_WAREHOUSE_ID,
                "name": "Sandbox FBS",
                "is_rfbs": False,
            },
        }
        self.stocks: dict[tuple[int, int], int] = {}
        self.stock_updated_at: dict[tuple[int, int], float] = {}
        self.postings: dict[str, OzonPosting] = {}
        self.clients: dict[str, str] = {DEFAULT_CLIENT_ID: DEFAULT_API_KEY}
        self.currency = "UZS"
        self.stock_pair_window = 30.0
        self.price_changes_per_hour = 10
        self.price_change_window = 3600.0
        self._next_order_id = 132_112_277
        self._seq = 100

    # ---- lookups ---------------------------------------------------------------------------

    def product_by_offer(self, offer_id: str) -> OzonProduct | None:
        product_id = self._by_offer.get(offer_id)
        return None if product_id is None else self.products.get(product_id)

    def find_product(self, item: Mapping[str, Any]) -> OzonProduct | None:
        """``offer_id`` wins over ``product_id`` when both are given (as documented)."""
        offer_id = item.get("offer_id")
        if isinstance(offer_id, str) and offer_id:
            return self.product_by_offer(offer_id)
        product_id = item.get("product_id")
        if isinstance(product_id, str) and product_id.isdigit():
            product_id = int(product_id)
        if isinstance(product_id, int) and not isinstance(product_id, bool) and product_id:
            return self.products.get(product_id)
        return None

    # ---- middleware hooks ----------------------------------------------------------------------

    def authenticate(self, request: web.Request) -> str:
        client_id = request.headers.get("Client-Id", "").strip()
        api_key = request.headers.get("Api-Key", "").strip()
        if not client_id or not api_key:
            raise ApiError(401, "Client-Id and Api-Key headers are required", code=16)
        if self.clients.get(client_id) != api_key:
            raise ApiError(403, "Invalid Api-Key, please contact support", code=7)
        return client_id

    def limit_groups(self, request: web.Request) -> Sequence[str]:
        if request.path == "/v2/products/stocks":
            return ("global", "stocks")
        return ("global",)

    def hollow_response(self) -> web.Response:
        return web.json_response({"result": []})

    def error_response(self, error: ApiError) -> web.Response:
        if error.body is not None:
            return web.json_response(error.body, status=error.status, headers=error.headers)
        code = (
            error.code
            if isinstance(error.code, int)
            else {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8}.get(error.status, 13)
        )
        return web.json_response(
            {"code": code, "message": error.message, "details": []},
            status=error.status,
            headers=error.headers,
        )

    def rate_limited_response(self, decision: LimitDecision) -> web.Response:
        per = "minute" if decision.group == "stocks" else "second"
        return web.json_response(
            {"code": 8, "message": f"You have reached request rate limit per {per}", "details": []},
            status=429,
            headers={"Retry-After": decision.retry_after_header},
        )

    # ---- Python-side control API -----------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        return {
            "stock_pair_window": self.stock_pair_window,
            "price_changes_per_hour": self.price_changes_per_hour,
            "price_change_window": self.price_change_window,
            "currency": self.currency,
        }

    def _set_option(self, key: str, value: Any) -> None:
        try:
            if key == "stock_pair_window":
                self.stock_pair_window = max(0.0, float(value))
            elif key == "price_change_window":
                self.price_change_window = max(0.0, float(value))
            elif key == "price_changes_per_hour":
                self.price_changes_per_hour = control_int(value, key)
            elif key == "currency":
                self.currency = str(value)
            else:  # pragma: no cover - configure() checks the keys
                super()._set_option(key, value)
        except (TypeError, ValueError) as exc:
            raise SandboxError(f"bad value for {key}: {value!r}") from exc

    def set_credentials(self, data: Any) -> dict[str, Any]:
        """``{"client_id": "1", "api_key": "k"}`` or ``{"clients": [{"client_id", "api_key"}, ...]}``."""
        entries = data.get("clients", [data]) if isinstance(data, dict) else data
        if not isinstance(entries, list) or not entries:
            raise SandboxError("expected {client_id, api_key} or {clients: [...]}")
        clients: dict[str, str] = {}
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("client_id") is None or not entry.get("api_key"):
                raise SandboxError("each client is {client_id, api_key}")
            clients[str(entry["client_id"])] = str(entry["api_key"])
        self.clients = clients
        return {"clients": sorted(clients)}

    def seed_catalog(self, data: Any) -> dict[str, Any]:
        """Products, warehouses and stocks in Ozon terms.

        ``{"items": [{"offer_id", "product_id", "sku"?, "name"?, "price"?: "1448", "old_price"?: "0",
        "min_price"?, "stocks"?: {"<warehouse_id>": 5}}], "warehouses": [{"warehouse_id", "name"?,
        "is_rfbs"?}], "replace": false}`` or a bare item list. Without ``stocks`` mapping a plain
        ``"stock": N`` goes to the first warehouse.
        """
        if isinstance(data, dict):
            if data.get("replace"):
                self.products.clear()
                self._by_offer.clear()
                self.stocks.clear()
                self.stock_updated_at.clear()
            for raw in data.get("warehouses") or []:
                if not isinstance(raw, dict):
                    raise SandboxError("warehouses[] must be objects")
                wid = control_int(raw.get("warehouse_id"), "warehouse_id")
                self.warehouses[wid] = {
                    "warehouse_id": wid,
                    "name": str(raw.get("name") or f"Warehouse {wid}"),
                    "is_rfbs": bool(raw.get("is_rfbs", False)),
                }
        items = control_list(data, "items")
        for raw in items:
            self._seed_product(raw)
        return {"products": len(self.products), "warehouses": sorted(self.warehouses), "seeded": len(items)}

    def _money(self, value: object, what: str) -> Decimal:
        parsed = parse_decimal(value)
        if parsed is None or parsed < 0:
            raise SandboxError(f"{what} must be a decimal string")
        return parsed

    def _seed_product(self, raw: Mapping[str, Any]) -> OzonProduct:
        offer_id = raw.get("offer_id")
        if not isinstance(offer_id, str) or not offer_id or len(offer_id) > 50:
            raise SandboxError("offer_id (1..50 chars) is required")
        product_id = control_int(raw.get("product_id"), "product_id")
        other = self.product_by_offer(offer_id)
        if other is not None and other.product_id != product_id:
            raise SandboxError(f"offer_id {offer_id} already belongs to product {other.product_id}")
        old = self.products.get(product_id)
        product = OzonProduct(
            product_id=product_id,
            offer_id=offer_id,
            sku=control_int(raw.get("sku", old.sku if old else 1_000_000_000 + product_id), "sku"),
            name=str(raw.get("name") or f"Product {offer_id}"),
            price=self._money(raw["price"], "price")
            if raw.get("price") is not None
            else (old.price if old else None),
            old_price=self._money(raw.get("old_price", "0"), "old_price"),
            min_price=self._money(raw["min_price"], "min_price")
            if raw.get("min_price") is not None
            else None,
        )
        if old is not None:
            self._by_offer.pop(old.offer_id, None)
        self.products[product_id] = product
        self._by_offer[offer_id] = product_id
        stocks = raw.get("stocks")
        if isinstance(stocks, dict):
            for wid, amount in stocks.items():
                warehouse_id = control_int(wid, "stocks warehouse id")
                if warehouse_id not in self.warehouses:
                    raise SandboxError(f"unknown warehouse {warehouse_id}")
                self.stocks[(warehouse_id, product_id)] = control_int(amount, "stock")
        elif raw.get("stock") is not None:
            self.stocks[(min(self.warehouses), product_id)] = control_int(raw["stock"], "stock")
        return product

    def add_orders(self, data: Any) -> list[dict[str, Any]]:
        """FBS postings in Ozon terms.

        ``{"posting_number"?, "order_id"?, "order_number"?, "status"?: "awaiting_packaging", "substatus"?,
        "in_process_at"?, "shipment_date"?, "warehouse_id"?, "products": [{"offer_id" | "sku",
        "quantity"?: 1, "price"?: "1530"}], "reserve"?: true}``. With ``reserve`` the stock of each
        product at the warehouse drops by the quantity (Ozon's ``stock`` excludes reserved units).
        """
        specs = (
            [data] if isinstance(data, dict) and "postings" not in data else control_list(data, "postings")
        )
        return [self.render_posting(self._add_posting(spec), version=4) for spec in specs]

    def _add_posting(self, spec: Mapping[str, Any]) -> OzonPosting:
        lines = spec.get("products")
        if not isinstance(lines, list) or not lines:
            raise SandboxError("a posting needs products[]")
        order_id = control_int(spec.get("order_id", self._next_order_id), "order_id")
        self._next_order_id = max(self._next_order_id, order_id) + 1
        self._seq += 1
        order_number = str(spec.get("order_number") or f"{order_id:010d}-{self._seq:04d}")
        posting_number = str(spec.get("posting_number") or f"{order_number}-1")
        if posting_number in self.postings:
            raise SandboxError(f"posting {posting_number} already exists")
        status = str(spec.get("status", "awaiting_packaging"))
        if status not in POSTING_STATUSES:
            raise SandboxError(f"status must be one of {POSTING_STATUSES}")
        warehouse_id = control_int(spec.get("warehouse_id", min(self.warehouses)), "warehouse_id")
        if warehouse_id not in self.warehouses:
            raise SandboxError(f"unknown warehouse {warehouse_id}")
        products: list[dict[str, Any]] = []
        for line in lines:
            if not isinstance(line, dict):
                raise SandboxError("products[] must be objects")
            if line.get("offer_id") is not None:
                product = self.product_by_offer(str(line["offer_id"]))
            else:
                sku = control_int(line.get("sku"), "products[].sku")
                product = next((p for p in self.products.values() if p.sku == sku), None)
            if product is None:
                raise SandboxError(f"unknown product {dict(line)!r}")
            price = line.get("price")
            products.append(
                {
                    "offer_id": product.offer_id,
                    "sku": product.sku,
                    "name": product.name,
                    "quantity": control_int(line.get("quantity", 1), "quantity"),
                    "price": self._money(price, "price")
                    if price is not None
                    else (product.price or Decimal(0)),
                    "product_id": product.product_id,
                }
            )
        now = self.now()
        in_process = (
            parse_rfc3339(spec["in_process_at"], "in_process_at") if spec.get("in_process_at") else now
        )
        shipment = (
            parse_rfc3339(spec["shipment_date"], "shipment_date")
            if spec.get("shipment_date")
            else in_process + timedelta(days=1)
        )
        posting = OzonPosting(
            posting_number=posting_number,
            order_id=order_id,
            order_number=order_number,
            status=status,
            substatus=str(spec.get("substatus") or f"posting_{status}"),
            in_process_at=in_process,
            shipment_date=shipment,
            delivering_date=None,
            status_changed_at=in_process,
            warehouse_id=warehouse_id,
            products=products,
            parent_posting_number=str(spec.get("parent_posting_number") or ""),
            is_express=bool(spec.get("is_express", False)),
            customer=spec.get("customer"),
            addressee=spec.get("addressee"),
        )
        self.postings[posting_number] = posting
        if spec.get("reserve", True):
            for line in products:
                key = (warehouse_id, int(line["product_id"]))
                self.stocks[key] = max(0, self.stocks.get(key, 0) - int(line["quantity"]))
        return posting

    def set_order_status(self, order_id: str, data: Any) -> dict[str, Any]:
        """``order_id`` is the posting_number; body ``{"status": "awaiting_deliver", "substatus"?}``."""
        posting = self.postings.get(order_id)
        if posting is None:
            raise SandboxError(f"no posting {order_id}")
        status = data.get("status") if isinstance(data, dict) else data
        if status not in POSTING_STATUSES:
            raise SandboxError(f"status must be one of {POSTING_STATUSES}")
        posting.status = str(status)
        posting.substatus = str(
            data.get("substatus") if isinstance(data, dict) and data.get("substatus") else f"posting_{status}"
        )
        posting.status_changed_at = self.now()
        if status == "delivering" and posting.delivering_date is None:
            posting.delivering_date = self.now()
        if status == "cancelled" and isinstance(data, dict):
            posting.cancel_reason_id = int(data.get("cancel_reason_id", 352))
            posting.cancel_reason = str(data.get("cancel_reason", "Cancelled by the sandbox"))
        return self.render_posting(posting, version=4)

    def render_posting(self, posting: OzonPosting, *, version: int) -> dict[str, Any]:
        """v4 list shape (``price`` object) or v3 ``get`` shape (``price`` string + ``currency_code``)."""
        products = []
        for line in posting.products:
            item: dict[str, Any] = {
                "offer_id": line["offer_id"],
                "sku": line["sku"],
                "name": line["name"],
                "quantity": line["quantity"],
                "mandatory_mark": [],
                "dimensions": None,
            }
            if version >= 4:
                item["price"] = {"amount": decimal_text(line["price"]), "currency": self.currency}
            else:
                item["price"] = f"{line['price']:.6f}"
                item["currency_code"] = self.currency
            products.append(item)
        warehouse = self.warehouses.get(posting.warehouse_id, {"name": ""})
        data: dict[str, Any] = {
            "posting_number": posting.posting_number,
            "order_id": posting.order_id,
            "order_number": posting.order_number,
            "parent_posting_number": posting.parent_posting_number,
            "status": posting.status,
            "substatus": posting.substatus,
            "in_process_at": rfc3339(posting.in_process_at),
            "shipment_date": rfc3339(posting.shipment_date),
            "delivering_date": rfc3339(posting.delivering_date) if posting.delivering_date else None,
            "delivery_method": {
                "id": 1,
                "name": "Sandbox delivery",
                "warehouse_id": posting.warehouse_id,
                "warehouse": warehouse["name"],
                "tpl_provider_id": 24,
                "tpl_provider": "Ozon",
            },
            "tracking_number": "",
            "tpl_integration_type": "ozon",
            "cancellation": {
                "cancel_reason_id": posting.cancel_reason_id,
                "cancel_reason": posting.cancel_reason,
                "cancellation_type": "seller" if posting.cancel_reason_id else "",
                "cancelled_after_ship": False,
                "affect_cancellation_rating": False,
                "cancellation_initiator": "Продавец" if posting.cancel_reason_id else "",
            },
            "customer": posting.customer,
            "addressee": posting.addressee,
            "products": products,
            "barcodes": None,
            "analytics_data": None,
            "financial_data": None,
            "is_express": posting.is_express,
            "requirements": {
                "products_requiring_gtd": [],
                "products_requiring_country": [],
                "products_requiring_mandatory_mark": [],
            },
            "available_actions": list(_ACTIONS.get(posting.status, [])),
        }
        return data

    def stock_levels(self, keys: Sequence[str]) -> dict[str, int | None]:
        """The stock per offer_id at the first warehouse (where a seeded ``stock`` goes)."""
        warehouse_id = min(self.warehouses)
        levels: dict[str, int | None] = {}
        for key in keys:
            product = self.product_by_offer(key)
            levels[key] = None if product is None else self.stocks.get((warehouse_id, product.product_id))
        return levels

    def snapshot_data(self) -> dict[str, Any]:
        return {
            "clients": sorted(self.clients),
            "products": [
                {
                    "product_id": p.product_id,
                    "offer_id": p.offer_id,
                    "sku": p.sku,
                    "price": None if p.price is None else decimal_text(p.price),
                    "old_price": decimal_text(p.old_price),
                    "min_price": None if p.min_price is None else decimal_text(p.min_price),
                }
                for p in sorted(self.products.values(), key=lambda p: p.product_id)
            ],
            "prices": {
                p.offer_id: None if p.price is None else decimal_text(p.price) for p in self.products.values()
            },
            "stocks": {
                str(wid): {
                    self.products[pid].offer_id if pid in self.products else str(pid): amount
                    for (w, pid), amount in sorted(self.stocks.items())
                    if w == wid
                }
                for wid in sorted({w for w, _ in self.stocks})
            },
            "warehouses": list(self.warehouses.values()),
            "postings": [self.render_posting(p, version=4) for p in self.postings.values()],
        }


# --------------------------------------------------------------------------------------------
# Handlers

OZON_STATE: web.AppKey[OzonState] = web.AppKey("ozon_state", OzonState)


def _item_error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _item_ids(item: Mapping[str, Any], product: OzonProduct | None) -> tuple[int, str]:
    if product is not None:
        return product.product_id, product.offer_id
    raw_pid = item.get("product_id")
    pid = int(raw_pid) if isinstance(raw_pid, int | str) and str(raw_pid).isdigit() else 0
    return pid, str(item.get("offer_id") or "")


async def import_prices(request: web.Request) -> web.Response:
    state = request.app[OZON_STATE]
    body = json_object(await read_json(request), "body")
    items = json_list(body.get("prices"), "prices")
    record = call_record(request)
    record.items = len(items)
    if not 1 <= len(items) <= PRICE_BATCH_MAX:
        raise ApiError(400, f"prices must contain 1..{PRICE_BATCH_MAX} items")
    for index, raw in enumerate(items):
        item = json_object(raw, f"prices[{index}]")
        for key in ("price", "old_price", "min_price", "currency_code", "offer_id", "vat", "net_price"):
            if key in item and item[key] is not None and not isinstance(item[key], str):
                # the gateway's proto-JSON parser rejects a number where a string is declared
                raise ApiError(400, f"proto: (line 1): invalid value for string field {key}: {item[key]!r}")
    now = state.clock()
    result = []
    changed = 0
    for item in items:
        product = state.find_product(item)
        product_id, offer_id = _item_ids(item, product)
        errors: list[dict[str, str]] = []
        if product is None:
            errors.append(_item_error("NOT_FOUND", "Product not found"))
            result.append(
                {"product_id": product_id, "offer_id": offer_id, "updated": False, "errors": errors}
            )
            continue
        price = parse_decimal(item.get("price")) if item.get("price") is not None else product.price
        old_price = (
            parse_decimal(item["old_price"]) if item.get("old_price") is not None else product.old_price
        )
        min_price = (
            parse_decimal(item["min_price"]) if item.get("min_price") is not None else product.min_price
        )
        currency = item.get("currency_code")
        if price is None or price <= 0:
            errors.append(_item_error("INVALID_PRICE", "price must be a positive decimal string"))
        if old_price is None or old_price < 0:
            errors.append(_item_error("INVALID_OLD_PRICE", "old_price must be a decimal string"))
        elif price is not None and old_price != 0 and old_price <= price:
            errors.append(_item_error("INVALID_OLD_PRICE", "old_price must be greater than price"))
        if item.get("min_price") is not None and min_price is None:
            errors.append(_item_error("INVALID_PRICE", "min_price must be a decimal string"))
        if currency and currency != state.currency:
            errors.append(
                _item_error(
                    "currency_differs_from_contract",
                    f"currency_code must be {state.currency}, the cabinet currency",
                )
            )
        is_change = (price, old_price, min_price) != (product.price, product.old_price, product.min_price)
        window_start = now - state.price_change_window
        while product.price_changes and product.price_changes[0] <= window_start:
            product.price_changes.popleft()
        if not errors and is_change and len(product.price_changes) >= state.price_changes_per_hour:
            errors.append(
                _item_error(
                    "PRICE_UPDATE_LIMIT_EXCEEDED",
                    f"The price of a product can be changed at most "
                    f"{state.price_changes_per_hour} times per hour",
                )
            )
        if not errors:
            if is_change:
                product.price_changes.append(now)
                changed += 1
            product.price, product.old_price, product.min_price = price, old_price or Decimal(0), min_price
        result.append(
            {"product_id": product_id, "offer_id": offer_id, "updated": not errors, "errors": errors}
        )
    record.changed = changed
    return web.json_response({"result": result})


async def update_stocks(request: web.Request) -> web.Response:
    state = request.app[OZON_STATE]
    body = json_object(await read_json(request), "body")
    items = json_list(body.get("stocks"), "stocks")
    record = call_record(request)
    record.items = len(items)
    if not 1 <= len(items) <= STOCK_BATCH_MAX:
        raise ApiError(400, f"stocks must contain 1..{STOCK_BATCH_MAX} items")
    now = state.clock()
    result = []
    changed = 0
    for index, raw in enumerate(items):
        item = json_object(raw, f"stocks[{index}]")
        product = state.find_product(item)
        product_id, offer_id = _item_ids(item, product)
        raw_wid = item.get("warehouse_id")
        warehouse_id = int(raw_wid) if isinstance(raw_wid, int | str) and str(raw_wid).isdigit() else 0
        stock = item.get("stock")
        errors: list[dict[str, str]] = []
        if product is None:
            errors.append(_item_error("NOT_FOUND", "Product not found"))
        if warehouse_id not in state.warehouses:
            errors.append(_item_error("WAREHOUSE_NOT_FOUND", f"Warehouse {raw_wid} not found"))
        if isinstance(stock, bool) or not isinstance(stock, int) or stock < 0:
            errors.append(_item_error("INVALID_STOCK", "stock must be a non-negative integer"))
        if product is not None and not errors:
            key = (warehouse_id, product.product_id)
            last = state.stock_updated_at.get(key)
            if last is not None and now - last < state.stock_pair_window:
                errors.append(
                    _item_error(
                        "TOO_MANY_REQUESTS",
                        "Stock of a product on a warehouse can be updated once per "
                        f"{state.stock_pair_window:g} s",
                    )
                )
            else:
                assert isinstance(stock, int)
                if state.stocks.get(key) != stock:
                    changed += 1
                state.stocks[key] = stock
                state.stock_updated_at[key] = now
        result.append(
            {
                "warehouse_id": warehouse_id,
                "product_id": product_id,
                "offer_id": offer_id,
                "updated": not errors,
                "errors": errors,
            }
        )
    record.changed = changed
    return web.json_response({"result": result})


async def warehouse_list(request: web.Request) -> web.Response:
    state = request.app[OZON_STATE]
    body = json_object(await read_json(request) or {}, "body")
    limit = strict_int(body.get("limit", WAREHOUSE_LIST_MAX), "limit", minimum=1, maximum=WAREHOUSE_LIST_MAX)
    start = 0
    if body.get("cursor"):
        start = int(read_cursor(str(body["cursor"])).get("offset", 0))
    warehouses = sorted(state.warehouses.values(), key=lambda w: w["warehouse_id"])
    page = warehouses[start : start + limit]
    has_next = start + limit < len(warehouses)
    return web.json_response(
        {
            "warehouses": [
                {
                    **w,
                    "status": "created",
                    "is_able_to_set_price": False,
                    "has_entrusted_acceptance": False,
                    "first_mile_type": {"first_mile_type": "DropOff"},
                    "is_kgt": False,
                    "working_days": ["1", "2", "3", "4", "5"],
                }
                for w in page
            ],
            "has_next": has_next,
            "cursor": opaque_cursor({"offset": start + limit}) if has_next else "",
        }
    )


RESERVING_STATUSES = frozenset({"awaiting_packaging", "awaiting_deliver"})
INFO_LIMIT_MAX = 1000


def _info_page(request_body: Mapping[str, Any], state: OzonState) -> tuple[list[OzonProduct], str]:
    """The products of a v4/v5 info method: filter.offer_id / product_id, cursor paging by product_id."""
    limit = strict_int(request_body.get("limit", 100), "limit", minimum=1, maximum=INFO_LIMIT_MAX)
    flt = json_object(request_body.get("filter") or {}, "filter")
    offers = {str(o) for o in flt.get("offer_id") or []}
    pids = {int(p) for p in flt.get("product_id") or [] if str(p).isdigit()}
    if offers:
        found = (state.product_by_offer(o) for o in offers)
        products = sorted((p for p in found if p is not None), key=lambda p: p.product_id)
    else:
        products = sorted(state.products.values(), key=lambda p: p.product_id)
    if pids:
        products = [p for p in products if p.product_id in pids]
    if request_body.get("cursor"):
        after = int(read_cursor(str(request_body["cursor"])).get("product_id", 0))
        products = [p for p in products if p.product_id > after]
    page = products[:limit]
    more = len(products) > limit
    return page, opaque_cursor({"product_id": page[-1].product_id}) if page and more else ""


async def info_prices(request: web.Request) -> web.Response:
    """``POST /v5/product/info/prices``: each product's price, old_price and currency."""
    state = request.app[OZON_STATE]
    page, cursor = _info_page(json_object(await read_json(request) or {}, "body"), state)
    call_record(request).items = len(page)
    items = [
        {
            "offer_id": p.offer_id,
            "product_id": p.product_id,
            "price": {
                "price": decimal_text(p.price) if p.price is not None else "0",
                "old_price": decimal_text(p.old_price),
                "min_price": decimal_text(p.min_price) if p.min_price is not None else "0",
                "currency_code": state.currency,
                "auto_action_enabled": False,
            },
            "volume_weight": 0.1,
        }
        for p in page
    ]
    return web.json_response({"items": items, "cursor": cursor, "total": len(state.products)})


async def info_stocks(request: web.Request) -> web.Response:
    """``POST /v4/product/info/stocks``: per product an ``fbs`` row, present (available plus what
    unshipped postings reserve) and reserved, summed over the FBS warehouses."""
    state = request.app[OZON_STATE]
    page, cursor = _info_page(json_object(await read_json(request) or {}, "body"), state)
    call_record(request).items = len(page)
    reserved: dict[int, int] = {}
    for posting in state.postings.values():
        if posting.status in RESERVING_STATUSES:
            for line in posting.products:
                pid = int(line["product_id"])
                reserved[pid] = reserved.get(pid, 0) + int(line["quantity"])
    wanted = {p.product_id for p in page}
    available_by_product: dict[int, int] = {}
    for (_, pid), amount in state.stocks.items():
        if pid in wanted:
            available_by_product[pid] = available_by_product.get(pid, 0) + amount
    items = []
    for p in page:
        available = available_by_product.get(p.product_id, 0)
        held = reserved.get(p.product_id, 0)
        items.append(
            {
                "offer_id": p.offer_id,
                "product_id": p.product_id,
                "stocks": [
                    {"type": "fbs", "present": available + held, "reserved": held, "sku": p.sku,
                     "shipment_type": "SHIPMENT_TYPE_GENERAL", "warehouse_ids": sorted(state.warehouses)},
                ],
            }
        )
    return web.json_response({"items": items, "cursor": cursor, "total": len(state.products)})


async def product_list(request: web.Request) -> web.Response:
    # The fact sheet names no Ozon catalogue endpoint; /v3/product/list is the current list method
    # (filter + last_id paging) and gives the (offer_id, product_id) pairs the mapping needs.
    state = request.app[OZON_STATE]
    body = json_object(await read_json(request) or {}, "body")
    limit = strict_int(body.get("limit", 100), "limit", minimum=1, maximum=PRODUCT_LIST_MAX)
    flt = json_object(body.get("filter") or {}, "filter")
    offers = {str(o) for o in flt.get("offer_id") or []}
    pids = {int(p) for p in flt.get("product_id") or [] if str(p).isdigit()}
    products = sorted(state.products.values(), key=lambda p: p.product_id)
    if offers:
        products = [p for p in products if p.offer_id in offers]
    if pids:
        products = [p for p in products if p.product_id in pids]
    total = len(products)
    last_id = str(body.get("last_id") or "")
    if last_id:
        after = int(read_cursor(last_id).get("product_id", 0))
        products = [p for p in products if p.product_id > after]
    page = products[:limit]
    call_record(request).items = len(page)
    fbs = {pid for (_, pid), amount in state.stocks.items() if amount > 0}
    return web.json_response(
        {
            "result": {
                "items": [
                    {
                        "product_id": p.product_id,
                        "offer_id": p.offer_id,
                        "archived": False,
                        "has_fbo_stocks": False,
                        "has_fbs_stocks": p.product_id in fbs,
                        "is_discounted": False,
                        "quants": [],
                    }
                    for p in page
                ],
                "total": total,
                "last_id": opaque_cursor({"product_id": page[-1].product_id}) if page else "",
            }
        }
    )


def _period(flt: Mapping[str, Any], low: str, high: str) -> tuple[datetime, datetime] | None:
    if flt.get(low) is None and flt.get(high) is None:
        return None
    if flt.get(low) is None or flt.get(high) is None:
        raise ApiError(400, f"filter.{low} and filter.{high} must be given together")
    start = parse_rfc3339(flt[low], f"filter.{low}")
    end = parse_rfc3339(flt[high], f"filter.{high}")
    if end < start:
        raise ApiError(400, f"filter.{high} must not be before filter.{low}")
    if end - start > timedelta(days=366):
        raise ApiError(400, "The period must not exceed one year")
    return start, end


def _common_filter(
    state: OzonState, flt: Mapping[str, Any], default_statuses: Sequence[str] | None
) -> list[OzonPosting]:
    statuses = flt.get("statuses") or ([flt["status"]] if flt.get("status") else None) or default_statuses
    if statuses is not None:
        bad = [s for s in statuses if s not in POSTING_STATUSES]
        if bad:
            raise ApiError(400, f"unknown statuses {bad}")
    try:
        warehouse_ids = {int(w) for w in flt.get("warehouse_ids") or []}
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "filter.warehouse_ids must be integers") from exc
    changed = flt.get("last_changed_status_date")
    changed_range = (
        _period(json_object(changed, "filter.last_changed_status_date"), "from", "to") if changed else None
    )
    out = []
    for posting in state.postings.values():
        if statuses is not None and posting.status not in statuses:
            continue
        if warehouse_ids and posting.warehouse_id not in warehouse_ids:
            continue
        if changed_range and not changed_range[0] <= posting.status_changed_at <= changed_range[1]:
            continue
        out.append(posting)
    return out


def _page(
    request: web.Request, state: OzonState, body: Mapping[str, Any], postings: list[OzonPosting]
) -> tuple[list[dict[str, Any]], str, bool]:
    limit = (
        strict_int(body.get("limit"), "limit", minimum=1, maximum=POSTINGS_LIMIT_MAX)
        if body.get("limit") is not None
        else None
    )
    if limit is None:
        raise ApiError(400, "limit is required (1..100)")
    direction = str(body.get("sort_dir") or body.get("dir") or "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise ApiError(400, "sort_dir must be ASC or DESC")
    postings.sort(key=lambda p: (p.in_process_at, p.posting_number), reverse=direction == "DESC")
    cursor = str(body.get("cursor") or "")
    if cursor:
        mark_data = read_cursor(cursor)
        try:
            mark = (parse_rfc3339(mark_data["t"], "cursor"), str(mark_data["n"]))
        except KeyError as exc:
            raise ApiError(400, "invalid cursor") from exc
        if direction == "ASC":
            postings = [p for p in postings if (p.in_process_at, p.posting_number) > mark]
        else:
            postings = [p for p in postings if (p.in_process_at, p.posting_number) < mark]
    page = postings[:limit]
    has_next = len(postings) > limit
    call_record(request).items = len(page)
    next_cursor = (
        opaque_cursor({"t": rfc3339(page[-1].in_process_at, micro=True), "n": page[-1].posting_number})
        if has_next
        else ""
    )
    return [state.render_posting(p, version=4) for p in page], next_cursor, has_next


async def posting_list(request: web.Request) -> web.Response:
    state = request.app[OZON_STATE]
    body = json_object(await read_json(request) or {}, "body")
    flt = json_object(body.get("filter") or {}, "filter")
    if flt.get("since") is None or flt.get("to") is None:
        raise ApiError(400, "filter.since and filter.to are required")
    since_to = _period(flt, "since", "to")
    assert since_to is not None
    postings = [p for p in _common_filter(state, flt, None) if since_to[0] <= p.in_process_at <= since_to[1]]
    page, cursor, has_next = _page(request, state, body, postings)
    return web.json_response({"postings": page, "cursor": cursor, "has_next": has_next})


async def posting_unfulfilled_list(request: web.Request) -> web.Response:
    state = request.app[OZON_STATE]
    body = json_object(await read_json(request) or {}, "body")
    flt = json_object(body.get("filter") or {}, "filter")
    cutoff = _period(flt, "cutoff_from", "cutoff_to")
    delivering = _period(flt, "delivering_date_from", "delivering_date_to")
    if cutoff and delivering:
        raise ApiError(
            400, "use either cutoff_from/cutoff_to or delivering_date_from/delivering_date_to, not both"
        )
    if not cutoff and not delivering:
        raise ApiError(400, "cutoff_from/cutoff_to or delivering_date_from/delivering_date_to is required")
    postings = _common_filter(state, flt, UNFULFILLED_STATUSES)
    if cutoff:
        postings = [p for p in postings if cutoff[0] <= p.shipment_date <= cutoff[1]]
    if delivering:
        postings = [
            p
            for p in postings
            if p.delivering_date is not None and delivering[0] <= p.delivering_date <= delivering[1]
        ]
    count = len(postings)
    page, cursor, has_next = _page(request, state, body, postings)
    return web.json_response({"postings": page, "cursor": cursor, "has_next": has_next, "count": count})


async def posting_get(request: web.Request) -> web.Response:
    state = request.app[OZON_STATE]
    body = json_object(await read_json(request) or {}, "body")
    number = body.get("posting_number")
    if not isinstance(number, str) or not number:
        raise ApiError(400, "posting_number is required")
    posting = state.postings.get(number)
    if posting is None:
        raise ApiError(404, "Posting not found", code=5)
    return web.json_response({"result": state.render_posting(posting, version=3)})


def create_app(state: OzonState | None = None) -> web.Application:
    """The Ozon sandbox; ``app[OZON_STATE]`` is the state."""
    state = state if state is not None else OzonState()
    app = build_app(state)
    app[OZON_STATE] = state
    app.router.add_post("/v1/product/import/prices", import_prices)
    app.router.add_post("/v2/products/stocks", update_stocks)
    app.router.add_post("/v2/warehouse/list", warehouse_list)
    app.router.add_post("/v3/product/list", product_list)
    app.router.add_post("/v5/product/info/prices", info_prices)
    app.router.add_post("/v4/product/info/stocks", info_stocks)
    app.router.add_post("/v4/posting/fbs/list", posting_list)
    app.router.add_post("/v4/posting/fbs/unfulfilled/list", posting_unfulfilled_list)
    app.router.add_post("/v3/posting/fbs/get", posting_get)
    return app
