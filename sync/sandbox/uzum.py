"""Uzum Market Seller OpenAPI sandbox.

Paths live under ``/api/seller-openapi`` exactly like ``https://api-seller.uzum.uz/api/seller-openapi``.
Auth is ``Authorization: <token>`` with no ``Bearer`` prefix (a ``Bearer`` token is refused with 401).
Answers use Uzum's ``{payload, errors[{code, message}], timestamp}`` wrapper where the real API does;
``GET /v1/shops`` (a bare array) and ``GET /v1/product/shop/{shopId}`` (``{productList,
totalProductsAmount}``) are not wrapped.

Rate limits are unpublished; the sandbox uses one Spring-Cloud-Gateway-style token bucket per token
(default 5 requests/s, burst 10) and sends ``x-ratelimit-remaining``, ``x-ratelimit-replenish-rate``,
``x-ratelimit-burst-capacity`` and ``x-ratelimit-requested-tokens``; with a daily quota configured
also ``x-ratelimit-limit-per-day`` and ``x-ratelimit-remaining-per-day``. A 429 has an empty body
(the gateway's default) and ``Retry-After``.

Error codes: ``storage-service-05`` (stock validation) and ``seller-order-12`` (dateTo before
dateFrom) and ``fbs-2-seller-access-denied`` come from the research notes; the price-validation codes
(``seller-price-0N``), ``seller-order-02/05`` and ``unauthorized`` are the sandbox's own inventions,
since Uzum documents no per-item price error format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    query_int,
    read_json,
    rfc3339,
)

BASE = "/api/seller-openapi"
DEFAULT_AUTHORIZATION = "sandbox-uzum-token"  # the Authorization header value (a public sandbox default)
DEFAULT_SHOP_ID = 1
PRICE_MIN = 1
PRICE_MAX = 999_999_000
ORDERS_PAGE_MAX = 50
STOCKS_PAGE_MAX = 100

ORDER_STATUSES: tuple[str, ...] = (
    "CREATED",
    "PACKING",
    "PENDING_DELIVERY",
    "DELIVERING",
    "DELIVERED",
    "ACCEPTED_AT_DP",
    "DELIVERED_TO_CUSTOMER_DELIVERY_POINT",
    "COMPLETED",
    "CANCELED",
    "PENDING_CANCELLATION",
    "RETURNED",
)
SCHEMES: tuple[str, ...] = ("FBS", "DBS", "FBO")
CANCEL_REASONS: tuple[str, ...] = ("OUT_OF_STOCK", "OUT_OF_PACKAGE", "OUT_OF_TIME", "OTHER")
PRODUCT_FILTERS: tuple[str, ...] = (
    "ALL",
    "ACTIVE",
    "ARCHIVE",
    "BLOCKED",
    "ON_MODERATION",
    "DEFECTED",
    "NO_SKU",
    "CREATED",
    "PENDING",
)
_STATUS_DATE_FIELD = {
    "PACKING": "acceptedDate",
    "DELIVERING": "deliveringDate",
    "DELIVERED": "deliveryDate",
    "COMPLETED": "completedDate",
    "CANCELED": "dateCancelled",
    "RETURNED": "returnDate",
}
_ORDER_DATE_FIELDS = (
    "acceptUntil",
    "deliverUntil",
    "acceptedDate",
    "deliveringDate",
    "deliveryDate",
    "completedDate",
    "dateCancelled",
    "returnDate",
)
PERMISSION_READ = "SKU_READ"
PERMISSION_UPDATE = "SKU_UPDATE"


@dataclass
class UzumSku:
    sku_id: int
    product_id: int
    shop_id: int
    barcode: str
    title: str
    seller_item_code: str | None
    article: str | None
    full_price: int
    sell_price: int
    purchase_price: int | None
    amount: int
    fbs_linked: bool = True
    dbs_linked: bool = False

    def table_json(self) -> dict[str, Any]:
        """``SkuForTable`` as in the catalogue: ``barcode`` is int64 there (leading zeros are lost)."""
        barcode: int | str = int(self.barcode) if self.barcode.isdigit() else self.barcode
        return {
            "skuId": self.sku_id,
            "skuTitle": self.title,
            "skuFullTitle": self.title,
            "barcode": barcode,
            "sellerItemCode": self.seller_item_code,
            "article": self.article,
            "price": self.sell_price,
            "purchasePrice": self.purchase_price,
            "quantityActive": self.amount,
            "quantityFbs": self.amount,
            "quantityAdditional": 0,
            "status": {"value": "ACTIVE"},
        }


@dataclass
class UzumProduct:
    product_id: int
    shop_id: int
    title: str
    sku_ids: list[int]


@dataclass(frozen=True)
class UzumToken:
    token: str
    shop_ids: frozenset[int] | None = None  # None: every shop
    permissions: frozenset[str] | None = None  # None: every permission


def _whole_sum(value: object, what: str) -> int:
    """Whole so'm: an int, an integral float or a digit string (what Jackson coerces into int64)."""
    if isinstance(value, bool):
        raise ApiError(400, f"{what} must be a whole number", code="seller-price-01")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ApiError(400, f"{what} must be a whole number of so'm, got {value!r}", code="seller-price-01")


class UzumState(SandboxState):
    """Uzum shops, products with their SKUs (price and FBS amount per SKU) and FBS/DBS orders."""

    marketplace = "uzum"
    limit_defaults: ClassVar[Mapping[str, LimitSpec]] = {"default": LimitSpec(requests=5, period=1, burst=10)}

    def _init_data(self) -> None:
        self.shops: dict[int, str] = {DEFAULT_SHOP_ID: "Sandbox shop"}
        self.products: dict[int, UzumProduct] = {}
        self.skus: dict[int, UzumSku] = {}
        self._by_barcode: dict[str, UzumSku] = {}  # kept by _seed_sku: a lookup per pushed line stays O(1)
        self.orders: dict[int, dict[str, Any]] = {}
        self.tokens: dict[str, UzumToken] = {DEFAULT_AUTHORIZATION: UzumToken(DEFAULT_AUTHORIZATION)}
        self.max_stock_batch: int | None = None
        self.price_multi_product = False
        self._next_order_id = 10_000_001
        self._next_item_id = 50_000_001

    # ---- lookups ---------------------------------------------------------------------------

    def sku_by_barcode(self, barcode: str) -> UzumSku | None:
        return self._by_barcode.get(barcode)

    def _token(self, identity: str) -> UzumToken:
        return self.tokens[identity]

    def shops_of(self, identity: str) -> list[int]:
        allowed = self._token(identity).shop_ids
        return sorted(self.shops if allowed is None else [s for s in self.shops if s in allowed])

    def require_permission(self, identity: str, permission: str) -> None:
        permissions = self._token(identity).permissions
        if permissions is not None and permission not in permissions:
            raise ApiError(
                403, f"Access denied. Required permission: {permission}", code="fbs-2-seller-access-denied"
            )

    def require_shop(self, identity: str, shop_id: int) -> None:
        if shop_id not in self.shops_of(identity):
            raise ApiError(403, f"Access denied to shop {shop_id}", code="fbs-2-seller-access-denied")

    # ---- middleware hooks ----------------------------------------------------------------------

    def authenticate(self, request: web.Request) -> str:
        token = request.headers.get("Authorization", "")
        if not token:
            raise ApiError(401, "Authorization header is required", code="unauthorized")
        if token.lower().startswith("bearer "):
            raise ApiError(401, "Invalid token", code="unauthorized")
        if token not in self.tokens:
            raise ApiError(401, "Invalid token", code="unauthorized")
        return token

    def limit_groups(self, request: web.Request) -> Sequence[str]:
        return ("default",)

    def wrap(self, payload: Any, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {"payload": payload, "errors": errors or [], "timestamp": rfc3339(self.now(), micro=True)}

    def hollow_response(self) -> web.Response:
        return web.json_response(self.wrap(None))

    def error_response(self, error: ApiError) -> web.Response:
        body = (
            error.body
            if error.body is not None
            else self.wrap(None, [{"code": str(error.code or "error"), "message": error.message}])
        )
        return web.json_response(body, status=error.status, headers=error.headers)

    def rate_headers(self, decision: LimitDecision) -> dict[str, str]:
        rate = decision.spec.rate
        headers = {
            "x-ratelimit-remaining": str(decision.remaining),
            "x-ratelimit-replenish-rate": str(int(rate)) if rate == int(rate) else f"{rate:g}",
            "x-ratelimit-burst-capacity": str(decision.spec.burst),
            "x-ratelimit-requested-tokens": "1",
        }
        if decision.daily_limit is not None and decision.daily_remaining is not None:
            headers["x-ratelimit-limit-per-day"] = str(decision.daily_limit)
            headers["x-ratelimit-remaining-per-day"] = str(decision.daily_remaining)
        return headers

    def rate_limited_response(self, decision: LimitDecision) -> web.Response:
        headers = self.rate_headers(decision)
        headers["x-ratelimit-remaining"] = "0"
        headers["Retry-After"] = decision.retry_after_header
        return web.Response(status=429, headers=headers)

    # ---- Python-side control API -----------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        return {"max_stock_batch": self.max_stock_batch, "price_multi_product": self.price_multi_product}

    def _set_option(self, key: str, value: Any) -> None:
        if key == "max_stock_batch":
            self.max_stock_batch = None if value is None else control_int(value, key)
        elif key == "price_multi_product":
            self.price_multi_product = bool(value)
        else:  # pragma: no cover - configure() checks the keys
            super()._set_option(key, value)

    def set_credentials(self, data: Any) -> dict[str, Any]:
        """``{"tokens": ["t1", {"token": "t2", "shopIds": [1], "permissions": ["SKU_READ"]}]}``."""
        if isinstance(data, dict) and "token" in data and "tokens" not in data:
            data = {"tokens": [data]}
        raw = data.get("tokens") if isinstance(data, dict) else data
        if not isinstance(raw, list) or not raw:
            raise SandboxError("expected {'tokens': [...]} with at least one token")
        tokens: dict[str, UzumToken] = {}
        for entry in raw:
            if isinstance(entry, str):
                tokens[entry] = UzumToken(entry)
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
                raise SandboxError("each token is a string or {token, shopIds?, permissions?}")
            shops = entry.get("shopIds")
            perms = entry.get("permissions")
            tokens[entry["token"]] = UzumToken(
                entry["token"],
                None if shops is None else frozenset(control_int(s, "shopIds[]") for s in shops),
                None if perms is None else frozenset(str(p) for p in perms),
            )
        self.tokens = tokens
        return {"tokens": sorted(tokens)}

    def seed_catalog(self, data: Any) -> dict[str, Any]:
        """Shops and SKUs in Uzum terms.

        ``{"shops": [{"id", "name"}], "items": [...], "replace": false}`` or a bare item list.
        An item is one SKU ``{"productId", "skuId", "barcode", "shopId"?, "productTitle"?,
        "skuTitle"?, "sellerItemCode"?, "article"?, "fullPrice"?, "sellPrice"?, "purchasePrice"?,
        "amount"?}`` or one product ``{"productId", "title"?, "shopId"?, "skuList": [SKU...]}``.
        """
        if isinstance(data, dict):
            if data.get("replace"):
                self.products.clear()
                self.skus.clear()
                self._by_barcode.clear()
            for shop in data.get("shops") or []:
                if not isinstance(shop, dict):
                    raise SandboxError("shops[] must be objects {id, name}")
                self.shops[control_int(shop.get("id"), "shops[].id")] = str(shop.get("name") or "Shop")
        items = control_list(data, "items")
        added = 0
        for item in items:
            if "skuList" in item:
                product = {k: v for k, v in item.items() if k != "skuList"}
                product.setdefault("productTitle", item.get("title"))
                for sku in item["skuList"]:
                    self._seed_sku({**product, **sku})
                    added += 1
            else:
                self._seed_sku(item)
                added += 1
        return {"skus": added, "products": len(self.products), "shops": sorted(self.shops)}

    def _seed_sku(self, item: Mapping[str, Any]) -> UzumSku:
        product_id = control_int(item.get("productId"), "productId")
        sku_id = control_int(item.get("skuId"), "skuId")
        shop_id = control_int(item.get("shopId", DEFAULT_SHOP_ID), "shopId")
        if shop_id not in self.shops:
            self.shops[shop_id] = f"Shop {shop_id}"
        barcode = item.get("barcode")
        if barcode is None or isinstance(barcode, bool) or not isinstance(barcode, str | int):
            raise SandboxError(f"SKU {sku_id}: barcode (string) is required")
        barcode = str(barcode)
        other = self.sku_by_barcode(barcode)
        if other is not None and other.sku_id != sku_id:
            raise SandboxError(f"barcode {barcode} already belongs to SKU {other.sku_id}")
        full = item.get("fullPrice", item.get("sellPrice", 100_000))
        sell = item.get("sellPrice", full)
        product = self.products.get(product_id)
        if product is None:
            product = UzumProduct(
                product_id, shop_id, str(item.get("productTitle") or f"Product {product_id}"), []
            )
            self.products[product_id] = product
        if sku_id in self.skus and self.skus[sku_id].product_id != product_id:
            old = self.products[self.skus[sku_id].product_id]
            old.sku_ids.remove(sku_id)
        if sku_id not in product.sku_ids:
            product.sku_ids.append(sku_id)
        sku = UzumSku(
            sku_id=sku_id,
            product_id=product_id,
            shop_id=product.shop_id,
            barcode=barcode,
            title=str(item.get("skuTitle") or f"{product.title} / {sku_id}"),
            seller_item_code=None if item.get("sellerItemCode") is None else str(item["sellerItemCode"]),
            article=None if item.get("article") is None else str(item["article"]),
            full_price=control_int(full, "fullPrice"),
            sell_price=control_int(sell, "sellPrice"),
            purchase_price=None
            if item.get("purchasePrice") is None
            else control_int(item["purchasePrice"], "purchasePrice"),
            amount=control_int(item.get("amount", 0), "amount"),
        )
        if sku_id in self.skus:
            self._by_barcode.pop(self.skus[sku_id].barcode, None)
        self.skus[sku_id] = sku
        self._by_barcode[barcode] = sku
        return sku

    def _find_seed_sku(self, line: Mapping[str, Any]) -> UzumSku:
        if line.get("skuId") is not None:
            sku = self.skus.get(control_int(line["skuId"], "orderItems[].skuId"))
        elif line.get("barcode") is not None:
            sku = self.sku_by_barcode(str(line["barcode"]))
        elif line.get("sellerItemCode") is not None:
            sku = next(
                (s for s in self.skus.values() if s.seller_item_code == str(line["sellerItemCode"])), None
            )
        else:
            raise SandboxError("an order line needs skuId, barcode or sellerItemCode")
        if sku is None:
            raise SandboxError(f"order line refers to an unknown SKU: {dict(line)!r}")
        return sku

    def add_orders(self, data: Any) -> list[dict[str, Any]]:
        """Orders in ``SellerOrderDto`` terms.

        ``{"id"?, "status"?: "CREATED", "scheme"?: "FBS", "shopId"?, "dateCreated"? (ms),
        "deliveryInfo"?: {...}, "orderItems": [{"skuId" | "barcode" | "sellerItemCode", "amount"?: 1,
        "sellerPrice"?}], "reserve"?: true}``. With ``reserve`` (the default) the SKU's FBS amount
        drops by the ordered amount, as a real order would.
        """
        orders = [data] if isinstance(data, dict) and "orders" not in data else control_list(data, "orders")
        created = []
        for spec in orders:
            created.append(self._add_order(spec))
        return created

    def _add_order(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        lines = spec.get("orderItems")
        if not isinstance(lines, list) or not lines:
            raise SandboxError("an order needs orderItems[]")
        if spec.get("id") is not None:
            order_id = control_int(spec["id"], "id")
            if order_id in self.orders:
                raise SandboxError(f"order {order_id} already exists")
        else:
            while self._next_order_id in self.orders:
                self._next_order_id += 1
            order_id = self._next_order_id
            self._next_order_id += 1
        status = str(spec.get("status", "CREATED"))
        if status not in ORDER_STATUSES:
            raise SandboxError(f"status must be one of {ORDER_STATUSES}")
        scheme = str(spec.get("scheme", "FBS"))
        if scheme not in SCHEMES:
            raise SandboxError(f"scheme must be one of {SCHEMES}")
        created_ms = control_int(spec.get("dateCreated", self.now_ms()), "dateCreated")
        items = []
        skus = []
        for line in lines:
            if not isinstance(line, dict):
                raise SandboxError("orderItems[] must be objects")
            sku = self._find_seed_sku(line)
            skus.append(sku)
            amount = control_int(line.get("amount", 1), "amount")
            price = control_int(line.get("sellerPrice", sku.sell_price), "sellerPrice")
            product = self.products[sku.product_id]
            item: dict[str, Any] = {
                "id": self._next_item_id,
                "status": status,
                "orderId": order_id,
                "productId": sku.product_id,
                "skuId": sku.sku_id,
                "skuTitle": sku.title,
                "productTitle": product.title,
                "sellerPrice": price,
                "purchasePrice": sku.purchase_price,
                "amount": amount,
                "skuCharValue": sku.title,
            }
            if sku.seller_item_code is not None:
                item["sellerSkuCode"] = sku.seller_item_code
            self._next_item_id += 1
            items.append(item)
        shop_id = control_int(spec.get("shopId", skus[0].shop_id), "shopId")
        delivery = spec.get("deliveryInfo")
        if delivery is None:
            delivery = {
                "deliveryAddress": None,
                "customerFullname": None,
                "customerPhone": None,
                "deliveryComment": None,
            }
            if scheme == "DBS":
                delivery = {
                    "deliveryAddress": "Tashkent, Amir Temur 1",
                    "customerFullname": "Sandbox Buyer",
                    "customerPhone": "998901234567",
                    "deliveryComment": None,
                }
        order: dict[str, Any] = {
            "id": order_id,
            "status": status,
            "scheme": scheme,
            "shopId": shop_id,
            "price": sum(i["sellerPrice"] * i["amount"] for i in items),
            "dateCreated": created_ms,
            **{name: None for name in _ORDER_DATE_FIELDS},
            "cancelReason": None,
            "invoiceNumber": None,
            "identifierRequired": False,
            "deliveryInfo": delivery,
            "orderItems": items,
        }
        order["acceptUntil"] = created_ms + 24 * 3600 * 1000
        order["deliverUntil"] = created_ms + 72 * 3600 * 1000
        for name in _ORDER_DATE_FIELDS:
            if name in spec:
                order[name] = spec[name]
        if spec.get("reserve", True):
            for sku, item in zip(skus, items, strict=True):
                sku.amount = max(0, sku.amount - int(item["amount"]))
        self.orders[order_id] = order
        return order

    def set_order_status(self, order_id: str, data: Any) -> dict[str, Any]:
        """``{"status": "PACKING", "cancelReason"?: "..."}``; fills the matching date field."""
        order = self.orders.get(control_int(order_id, "order id"))
        if order is None:
            raise SandboxError(f"no order {order_id}")
        status = data.get("status") if isinstance(data, dict) else data
        if status not in ORDER_STATUSES:
            raise SandboxError(f"status must be one of {ORDER_STATUSES}")
        self.move_order(order, str(status))
        if isinstance(data, dict) and data.get("cancelReason") is not None:
            order["cancelReason"] = data["cancelReason"]
        return order

    def move_order(self, order: dict[str, Any], status: str) -> None:
        order["status"] = status
        for item in order["orderItems"]:
            item["status"] = status
        date_field = _STATUS_DATE_FIELD.get(status)
        if date_field is not None:
            order[date_field] = self.now_ms()

    def stock_levels(self, keys: Sequence[str]) -> dict[str, int | None]:
        """The FBS amount per barcode."""
        levels: dict[str, int | None] = {}
        for key in keys:
            sku = self.sku_by_barcode(key)
            levels[key] = None if sku is None else sku.amount
        return levels

    def snapshot_data(self) -> dict[str, Any]:
        return {
            "shops": [{"id": i, "name": n} for i, n in sorted(self.shops.items())],
            "tokens": sorted(self.tokens),
            "skus": [
                {
                    "skuId": s.sku_id,
                    "productId": s.product_id,
                    "shopId": s.shop_id,
                    "barcode": s.barcode,
                    "sellerItemCode": s.seller_item_code,
                    "fullPrice": s.full_price,
                    "sellPrice": s.sell_price,
                    "amount": s.amount,
                }
                for s in sorted(self.skus.values(), key=lambda s: s.sku_id)
            ],
            "prices": {
                str(s.sku_id): {"fullPrice": s.full_price, "sellPrice": s.sell_price}
                for s in self.skus.values()
            },
            "stocks": {s.barcode: s.amount for s in self.skus.values()},
            "orders": [self.orders[i] for i in sorted(self.orders)],
        }


# --------------------------------------------------------------------------------------------
# Handlers

UZUM_STATE: web.AppKey[UzumState] = web.AppKey("uzum_state", UzumState)


def _state(request: web.Request) -> tuple[UzumState, str]:
    state = request.app[UZUM_STATE]
    identity = call_record(request).identity
    assert identity is not None  # the middleware authenticated the request
    return state, identity


def _path_int(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError as exc:
        raise ApiError(400, f"{name} must be an integer", code="bad-request") from exc


async def get_shops(request: web.Request) -> web.Response:
    state, identity = _state(request)
    return web.json_response([{"id": i, "name": state.shops[i]} for i in state.shops_of(identity)])


async def get_products(request: web.Request) -> web.Response:
    state, identity = _state(request)
    state.require_permission(identity, PERMISSION_READ)
    shop_id = _path_int(request, "shopId")
    state.require_shop(identity, shop_id)
    page = query_int(request, "page", minimum=0)
    size = query_int(request, "size", minimum=1)
    product_filter = request.query.get("filter", "ALL")
    if product_filter not in PRODUCT_FILTERS:
        raise ApiError(400, f"filter must be one of {PRODUCT_FILTERS}", code="bad-request")
    search = request.query.get("searchQuery", "").strip().lower()
    products = [
        p for p in sorted(state.products.values(), key=lambda p: p.product_id) if p.shop_id == shop_id
    ]
    if search:
        products = [
            p
            for p in products
            if search in p.title.lower()
            or search in str(p.product_id)
            or any(
                search in (state.skus[s].seller_item_code or "").lower() or search in state.skus[s].barcode
                for s in p.sku_ids
            )
        ]
    if request.query.get("order", "").upper() == "DESC":
        products.reverse()
    chunk = products[page * size : (page + 1) * size]
    call_record(request).items = len(chunk)
    return web.json_response(
        {
            "productList": [
                {
                    "productId": p.product_id,
                    "title": p.title,
                    "category": "Sandbox",
                    "status": {"value": "IN_STOCK"},
                    "skuList": [state.skus[s].table_json() for s in p.sku_ids],
                }
                for p in chunk
            ],
            "totalProductsAmount": len(products),
        }
    )


async def send_price_data(request: web.Request) -> web.Response:
    state, identity = _state(request)
    state.require_permission(identity, PERMISSION_UPDATE)
    shop_id = _path_int(request, "shopId")
    state.require_shop(identity, shop_id)
    body = json_object(await read_json(request), "body")
    lines = json_list(body.get("skuList"), "skuList")
    record = call_record(request)
    record.items = len(lines)
    if not lines:
        raise ApiError(400, "skuList must not be empty", code="seller-price-01")
    product_id: int | None = None
    if body.get("productId") is not None:
        product_id = _whole_sum(body["productId"], "productId")
        product = state.products.get(product_id)
        if product is None or product.shop_id != shop_id:
            raise ApiError(400, f"Product {product_id} not found in shop {shop_id}", code="seller-price-03")
    elif not state.price_multi_product:
        raise ApiError(400, "productId is required", code="seller-price-01")
    updates: list[tuple[UzumSku, int, int]] = []
    seen: set[int] = set()
    for index, line in enumerate(lines):
        line = json_object(line, f"skuList[{index}]")
        if line.get("skuId") is None:
            raise ApiError(400, f"skuList[{index}].skuId is required", code="seller-price-01")
        sku_id = _whole_sum(line["skuId"], f"skuList[{index}].skuId")
        sku = state.skus.get(sku_id)
        if sku is None or sku.shop_id != shop_id or (product_id is not None and sku.product_id != product_id):
            raise ApiError(400, f"SKU {sku_id} not found in product {product_id}", code="seller-price-03")
        if sku_id in seen:
            raise ApiError(400, f"SKU {sku_id} is sent twice", code="seller-price-01")
        seen.add(sku_id)
        full = sku.full_price if line.get("fullPrice") is None else _whole_sum(line["fullPrice"], "fullPrice")
        sell = sku.sell_price if line.get("sellPrice") is None else _whole_sum(line["sellPrice"], "sellPrice")
        for name, value in (("fullPrice", full), ("sellPrice", sell)):
            if not PRICE_MIN <= value <= PRICE_MAX:
                raise ApiError(
                    400,
                    f"SKU {sku_id}: {name} must be between {PRICE_MIN} and {PRICE_MAX}",
                    code="seller-price-01",
                )
        if sell > full:
            raise ApiError(
                400, f"SKU {sku_id}: sellPrice must not be greater than fullPrice", code="seller-price-02"
            )
        updates.append((sku, full, sell))
    changed = 0
    for sku, full, sell in updates:
        if (sku.full_price, sku.sell_price) != (full, sell):
            changed += 1
        sku.full_price, sku.sell_price = full, sell
    record.changed = changed
    return web.json_response(state.wrap(None))


async def get_stocks(request: web.Request) -> web.Response:
    state, identity = _state(request)
    state.require_permission(identity, PERMISSION_READ)
    page = query_int(request, "page", default=0, minimum=0)
    size = query_int(request, "size", default=50, minimum=1, maximum=STOCKS_PAGE_MAX)
    sku_from = query_int(request, "skuIdFrom", default=0)
    shops = set(state.shops_of(identity))
    skus = [
        s
        for s in sorted(state.skus.values(), key=lambda s: s.sku_id)
        if s.shop_id in shops and s.sku_id >= sku_from
    ]
    chunk = skus[page * size : (page + 1) * size]
    call_record(request).items = len(chunk)
    return web.json_response(
        state.wrap(
            {
                "skuAmountList": [
                    {
                        "skuId": s.sku_id,
                        "skuTitle": s.title,
                        "productTitle": state.products[s.product_id].title,
                        "barcode": s.barcode,
                        "amount": s.amount,
                        "sellerSkuCode": s.seller_item_code,
                        "fbsAllowed": True,
                        "dbsAllowed": True,
                        "fbsLinked": s.fbs_linked,
                        "dbsLinked": s.dbs_linked,
                    }
                    for s in chunk
                ]
            }
        )
    )


async def update_stocks(request: web.Request) -> web.Response:
    state, identity = _state(request)
    state.require_permission(identity, PERMISSION_UPDATE)
    body = json_object(await read_json(request), "body")
    lines = body.get("skuAmountList")
    if not isinstance(lines, list) or not lines:
        raise ApiError(400, "skuAmountList must be a non-empty array", code="storage-service-05")
    record = call_record(request)
    record.items = len(lines)
    if state.max_stock_batch is not None and len(lines) > state.max_stock_batch:
        raise ApiError(
            400,
            f"skuAmountList must contain at most {state.max_stock_batch} items",
            code="storage-service-05",
        )
    shops = set(state.shops_of(identity))
    updates: list[tuple[UzumSku, int, dict[str, Any]]] = []
    seen: set[str] = set()
    for index, raw in enumerate(lines):
        line = json_object(raw, f"skuAmountList[{index}]")
        barcode = line.get("barcode")
        if barcode is None or isinstance(barcode, bool) or not isinstance(barcode, str | int):
            raise ApiError(400, f"skuAmountList[{index}].barcode is required", code="storage-service-05")
        barcode = str(barcode)  # Jackson turns a JSON number into its digits: leading zeros are gone
        if barcode in seen:
            raise ApiError(400, f"Barcode {barcode} is duplicated", code="storage-service-05")
        seen.add(barcode)
        amount = line.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise ApiError(
                400,
                f"skuAmountList[{index}].amount must be a non-negative integer",
                code="storage-service-05",
            )
        sku = state.sku_by_barcode(barcode)
        if sku is None or sku.shop_id not in shops:
            raise ApiError(400, f"SKU with barcode {barcode} not found", code="storage-service-05")
        updates.append((sku, amount, line))
    changed = 0
    result = []
    for sku, amount, line in updates:
        if sku.amount != amount:
            changed += 1
        sku.amount = amount
        if isinstance(line.get("fbsLinked"), bool):
            sku.fbs_linked = line["fbsLinked"]
        if isinstance(line.get("dbsLinked"), bool):
            sku.dbs_linked = line["dbsLinked"]
        result.append({"skuId": sku.sku_id, "barcode": sku.barcode, "amount": sku.amount})
    record.changed = changed
    return web.json_response(state.wrap({"skuAmountList": result}))


def _order_filter(request: web.Request, state: UzumState, identity: str) -> list[dict[str, Any]]:
    raw_shops = [part for value in request.query.getall("shopIds", []) for part in value.split(",") if part]
    if not raw_shops:
        raise ApiError(400, "Required request parameter 'shopIds' is not present", code="bad-request")
    try:
        shop_ids = {int(value) for value in raw_shops}
    except ValueError as exc:
        raise ApiError(400, "shopIds must be integers", code="bad-request") from exc
    for shop_id in shop_ids:
        state.require_shop(identity, shop_id)
    statuses = request.query.getall("status", [])
    if len(statuses) > 1 or any("," in s for s in statuses):
        raise ApiError(400, "status takes a single value", code="bad-request")
    status = statuses[0] if statuses else "CREATED"
    if status not in ORDER_STATUSES:
        raise ApiError(400, f"status must be one of {ORDER_STATUSES}", code="bad-request")
    scheme = request.query.get("scheme")
    if scheme is not None and scheme not in ("FBS", "DBS"):
        raise ApiError(400, "scheme must be FBS or DBS", code="bad-request")
    date_from = query_int(request, "dateFrom", default=-1)
    date_to = query_int(request, "dateTo", default=-1)
    if date_from >= 0 and date_to >= 0 and date_to < date_from:
        raise ApiError(400, "dateTo must not be before dateFrom", code="seller-order-12")
    orders = [
        o
        for o in state.orders.values()
        if o["shopId"] in shop_ids
        and o["status"] == status
        and (scheme is None or o["scheme"] == scheme)
        and (date_from < 0 or o["dateCreated"] >= date_from)
        and (date_to < 0 or o["dateCreated"] <= date_to)
    ]
    orders.sort(key=lambda o: (o["dateCreated"], o["id"]), reverse=True)
    return orders


async def list_orders(request: web.Request) -> web.Response:
    state, identity = _state(request)
    page = query_int(request, "page", default=0, minimum=0)
    size = query_int(request, "size", default=20, minimum=1, maximum=ORDERS_PAGE_MAX)
    orders = _order_filter(request, state, identity)
    chunk = orders[page * size : (page + 1) * size]
    call_record(request).items = len(chunk)
    return web.json_response(state.wrap({"orders": chunk, "totalAmount": len(orders)}))


async def count_orders(request: web.Request) -> web.Response:
    state, identity = _state(request)
    return web.json_response(state.wrap(len(_order_filter(request, state, identity))))


def _order_of(request: web.Request, state: UzumState, identity: str) -> dict[str, Any]:
    order = state.orders.get(_path_int(request, "orderId"))
    if order is None or order["shopId"] not in state.shops_of(identity):
        raise ApiError(404, f"Order {request.match_info['orderId']} not found", code="seller-order-02")
    return order


async def get_order(request: web.Request) -> web.Response:
    state, identity = _state(request)
    return web.json_response(state.wrap(_order_of(request, state, identity)))


async def confirm_order(request: web.Request) -> web.Response:
    state, identity = _state(request)
    order = _order_of(request, state, identity)
    if order["status"] != "CREATED":
        raise ApiError(400, f"Order in status {order['status']} cannot be confirmed", code="seller-order-05")
    state.move_order(order, "PACKING")
    return web.json_response(state.wrap(order))


async def cancel_order(request: web.Request) -> web.Response:
    state, identity = _state(request)
    order = _order_of(request, state, identity)
    body = json_object(await read_json(request) or {}, "body")
    reason = body.get("reason")
    if reason not in CANCEL_REASONS:
        raise ApiError(400, f"reason must be one of {CANCEL_REASONS}", code="bad-request")
    if order["status"] not in ("CREATED", "PACKING"):
        raise ApiError(400, f"Order in status {order['status']} cannot be cancelled", code="seller-order-05")
    state.move_order(order, "CANCELED")
    order["cancelReason"] = reason
    return web.json_response(state.wrap(order))


def create_app(state: UzumState | None = None) -> web.Application:
    """The Uzum sandbox; ``app[UZUM_STATE]`` is the state (a fresh one when none is given)."""
    state = state if state is not None else UzumState()
    app = build_app(state)
    app[UZUM_STATE] = state
    app.router.add_get(f"{BASE}/v1/shops", get_shops)
    app.router.add_get(f"{BASE}/v1/product/shop/{{shopId}}", get_products)
    app.router.add_post(f"{BASE}/v1/product/{{shopId}}/sendPriceData", send_price_data)
    app.router.add_get(f"{BASE}/v3/fbs/sku/stocks", get_stocks)
    app.router.add_post(f"{BASE}/v2/fbs/sku/stocks", update_stocks)
    app.router.add_get(f"{BASE}/v2/fbs/orders", list_orders)
    app.router.add_get(f"{BASE}/v2/fbs/orders/count", count_orders)
    app.router.add_get(f"{BASE}/v1/fbs/order/{{orderId}}", get_order)
    app.router.add_post(f"{BASE}/v1/fbs/order/{{orderId}}/confirm", confirm_order)
    app.router.add_post(f"{BASE}/v1/fbs/order/{{orderId}}/cancel", cancel_order)
    return app
