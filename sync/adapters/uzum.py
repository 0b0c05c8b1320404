"""Uzum Market Seller OpenAPI (`https://api-seller.uzum.uz/api/seller-openapi`).

* Auth: `Authorization: <token>`, the raw token, no "Bearer" (the API refuses it).
* Prices: `POST /v1/product/{shopId}/sendPriceData`, one call per product with that product's SKUs
  (`skuId`, `fullPrice` = our price, `sellPrice` = our sale price or the price), whole so'm
  1..999 999 000 and sellPrice <= fullPrice, checked here so a bad item costs no call.
* Stocks: `POST /v2/fbs/sku/stocks` by the string barcode, 100 per call. Uzum documents no maximum
  and no per-item errors: any non-200 or a non-empty `errors[]` fails the whole call, so a failed
  batch is split in halves until the bad items are alone and the good ones landed. 100 is the
  page size Uzum itself allows on the matching read (`GET /v3/fbs/sku/stocks`, size 1..100): a
  size the gateway surely takes, while keeping the search for one bad barcode to ~14 calls.
* A write counts as done only when its 200 says so (docs/marketplace-facts.md): stocks need the
  `{payload: {...}, errors: [], timestamp}` wrapper (`SkuStockUpdateApiResponseDto`; when the payload
  lists `skuAmountList`, a barcode missing from it is not confirmed); sendPriceData, whose spec
  declares a bare "200 OK", takes no body or that wrapper. An empty body, `{}` or another shape is a
  `bad_response` for the batch: nothing recorded, sent again by the next delta run.
* Orders: `GET /v2/fbs/orders` once per status (it takes one), pages of 50 until a short page;
  an order counts as changed since T when its creation or any status date is at or after T (read
  client-side, ms or ISO). Incremental: the lists of statuses an order passes through (CREATED ...
  PENDING_CANCELLATION) hold only live orders and are read whole; the lists of final statuses
  (COMPLETED, CANCELED, RETURNED) grow for ever, so they are asked only for orders created since
  T or since the oldest order we hold that may still change (`watch_orders_from`), with `dateFrom`
  in milliseconds (the unit one real client uses on this method; the spec says only int64).
  PENDING_CANCELLATION is not a cancellation yet: the order keeps its status and its stock
  (`on_hold`) until Uzum says CANCELED.
* Read-back (reconcile): stocks from `GET /v3/fbs/sku/stocks` (amount by barcode), prices from the
  catalogue `GET /v1/product/shop/{shopId}` (`skuList[].price`, what buyers pay: the full price is
  not listed, so only the buyer price is compared), both paged by 100.
* Daily quota: the gateway sends `x-ratelimit-limit-per-day` / `x-ratelimit-remaining-per-day`.
  Pushes stop (error kind `quota`, the rest "not sent") once `daily_reserve` requests (setting,
  default 100) or fewer are left, keeping those for order import, which stops at 0.
* Catalogue: `GET /v1/product/shop/{shopId}` pages, with the string barcodes from
  `GET /v3/fbs/sku/stocks` (the catalogue types barcode as int64 and loses leading zeros).

Account: `base_url` is the API root including `/api/seller-openapi` (empty: the real one);
settings `shop_id` (and optionally `shop_ids` for orders of several shops, `daily_reserve`); one rate-limit group,
`default` (5 rps burst 10 until the gateway's `x-ratelimit-*` headers say otherwise).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from sync.adapters.base import (
    Account,
    CatalogItem,
    Comparison,
    Difference,
    FetchedOrders,
    MarketplaceError,
    PriceUpdate,
    PushResult,
    RemoteOrder,
    RemoteOrderLine,
    StockUpdate,
)
from sync.adapters.common import (
    PushRun,
    as_int,
    as_text,
    chunks,
    expect_dict,
    expect_list,
    money,
    parse_time,
    run_bounded,
    unconfirmed,
    utc_naive,
    whole,
)
from sync.http import CallTally, ClientOptions, HttpError, MarketplaceClient, RateHeaders
from sync.ratelimit import Clock, Limit, RateLimiter, limits_for

UZUM_API = "https://api-seller.uzum.uz/api/seller-openapi"
GROUP = ("default",)
STOCK_BATCH = 100
ORDER_PAGE = 50
CATALOG_PAGE = 100
STOCKS_PAGE = 100
MAX_PAGES = 1000
PRICE_MIN = 1
PRICE_MAX = 999_999_000
BISECT_BUDGET = 200  # extra calls one push may spend splitting failed batches

RATE_HEADERS = RateHeaders(
    remaining=("x-ratelimit-remaining",),
    rate=("x-ratelimit-replenish-rate",),
    burst=("x-ratelimit-burst-capacity",),
    retry=("Retry-After",),
    day_remaining=("x-ratelimit-remaining-per-day",),
    day_limit=("x-ratelimit-limit-per-day",),
)
DAILY_RESERVE = 100  # requests of the daily quota kept for order import (pushes stop above it)

STATUS_MAP: Mapping[str, str] = {
    "CREATED": "pending",
    "PACKING": "confirmed",
    "PENDING_DELIVERY": "shipped",
    "DELIVERING": "shipped",
    "DELIVERED": "shipped",  # into Uzum's network; COMPLETED is the buyer having it
    "ACCEPTED_AT_DP": "shipped",
    "DELIVERED_TO_CUSTOMER_DELIVERY_POINT": "shipped",
    "COMPLETED": "delivered",
    "CANCELED": "cancelled",
    # the buyer asked to cancel, Uzum has not decided: keep the order's status and its stock
    # (RemoteOrder.on_hold); "pending" only for an order new to us
    "PENDING_CANCELLATION": "pending",
    "RETURNED": "cancelled",
}
ORDER_STATUSES: tuple[str, ...] = tuple(STATUS_MAP)
FINAL_STATUSES = frozenset({"COMPLETED", "CANCELED", "RETURNED"})  # read from a date: the lists only grow
ON_HOLD = frozenset({"PENDING_CANCELLATION"})
STATUS_DATES = ("acceptedDate", "deliveringDate", "deliveryDate", "completedDate", "dateCancelled", "returnDate")
FATAL_CODES = frozenset({"storage-service-04", "fbs-2-seller-access-denied"})  # seller blocked / no permission


class UzumRejected(MarketplaceError):
    """A 200 whose `errors[]` is not empty: Uzum refused the whole call."""


def make_client(
    account: Account,
    session: aiohttp.ClientSession,
    limiter: RateLimiter,
    *,
    limits: Mapping[str, Limit] | None = None,
    options: ClientOptions | None = None,
    clock: Clock | None = None,
) -> MarketplaceClient:
    return MarketplaceClient(
        session,
        slug="uzum",
        account_key=str(account.id) if account.id is not None else "default",
        base_url=account.base_url or UZUM_API,
        auth_headers={"Authorization": account.secret},
        limiter=limiter,
        limits=limits or limits_for("uzum", account.settings.get("rate_limits")),
        rate_headers=RATE_HEADERS,
        options=options,
        clock=clock,
    )


@dataclass
class _Row:
    indexes: list[int]
    payload: dict[str, Any]


@dataclass
class _Budget:
    left: int

    def take(self, calls: int) -> bool:
        if self.left < calls:
            return False
        self.left -= calls
        return True


@dataclass
class _Bisect:
    run: PushRun
    send: Callable[[list[_Row]], Awaitable[Mapping[int, str]]]  # -> the indexes it could not confirm
    budget: _Budget


def _fatal(error: MarketplaceError) -> bool:
    if error.kind in ("auth", "config", "quota"):
        return True
    payload = getattr(error, "payload", None)
    errors = payload.get("errors") if isinstance(payload, dict) else None
    return isinstance(errors, list) and any(isinstance(e, dict) and e.get("code") in FATAL_CODES for e in errors)


def _splittable(error: MarketplaceError) -> bool:
    """A refusal that one bad item can cause (validation), not one every call would get."""
    if _fatal(error):
        return False
    if isinstance(error, UzumRejected):
        return True
    return isinstance(error, HttpError) and error.kind == "rejected" and error.status in (400, 404, 409, 422)


class UzumAdapter:
    """`UzumAdapter(account, client)`; the client from :func:`make_client` (or build_adapter)."""

    slug = "uzum"

    def __init__(
        self,
        account: Account,
        client: MarketplaceClient,
        *,
        stock_batch: int = STOCK_BATCH,
        order_statuses: Sequence[str] = ORDER_STATUSES,
        max_order_pages: int = 400,
        bisect_budget: int = BISECT_BUDGET,
    ) -> None:
        self.account = account
        self.client = client
        self.stock_batch = max(1, stock_batch)
        self.order_statuses = tuple(order_statuses)
        self.max_order_pages = max_order_pages
        self.bisect_budget = bisect_budget
        self.watch_from: datetime | None = None
        reserve = as_int(account.settings.get("daily_reserve"))
        self.daily_reserve = DAILY_RESERVE if reserve is None or reserve < 0 else reserve

    # ---- optional protocols (sync.adapters.base) ----------------------------------------------------

    def daily_quota(self) -> tuple[int, int | None] | None:
        if self.client.day_remaining is None:
            return None
        return self.client.day_remaining, self.client.day_limit

    def assume_daily_quota(self, remaining: int, limit: int | None) -> None:
        if self.client.day_remaining is None:
            self.client.day_remaining, self.client.day_limit = remaining, limit

    def watch_orders_from(self, moment: datetime | None) -> None:
        self.watch_from = utc_naive(moment) if moment is not None else None

    # ---- account settings ---------------------------------------------------------------------------

    def _shop_id(self) -> int:
        shop = as_int(self.account.settings.get("shop_id"))
        if shop is None:
            raise MarketplaceError("config", "uzum: the account settings have no shop_id")
        return shop

    def _shop_ids(self) -> list[int]:
        raw = self.account.settings.get("shop_ids")
        if isinstance(raw, list) and raw:
            ids = [as_int(v) for v in raw]
            if any(v is None for v in ids):
                raise MarketplaceError("config", "uzum: settings.shop_ids must be integers")
            return [v for v in ids if v is not None]
        return [self._shop_id()]

    # ---- writes ---------------------------------------------------------------------------------------

    def _check(self, reply_data: Any, what: str) -> None:
        """Uzum's `{payload, errors[], timestamp}` wrapper (or no body at all) with no errors."""
        if reply_data is None:
            return
        if not isinstance(reply_data, dict):
            raise self.client.bad_response(f"{what}: the answer is not an object", reply_data)
        errors = reply_data.get("errors")
        if errors:
            parts = []
            for error in errors if isinstance(errors, list) else [errors]:
                if isinstance(error, dict):
                    parts.append(": ".join(str(v) for v in (error.get("code"), error.get("message")) if v))
                else:
                    parts.append(str(error))
            raise UzumRejected("rejected", self.client.scrub(f"uzum {what}: " + "; ".join(parts)[:300]))

    def _confirmed(self, reply_data: Any, what: str, *, body_required: bool) -> Mapping[str, Any] | None:
        """A write's 200 that says it was done: Uzum's `{payload, errors: [], timestamp}` wrapper (with
        `payload` an object when `body_required`), or no body at all where the spec declares none
        (sendPriceData). Anything else (`{}`, another shape) is a `bad_response`: the write is not
        taken as done. Returns the payload object (None when there is none)."""
        self._check(reply_data, what)
        if reply_data is None:
            if body_required:
                raise self.client.bad_response(unconfirmed(what, "with an empty body"))
            return None
        if not isinstance(reply_data.get("errors"), list):
            raise self.client.bad_response(
                unconfirmed(what, "not in Uzum's {payload, errors, timestamp} shape"), reply_data
            )
        payload = reply_data.get("payload")
        if isinstance(payload, dict):
            return payload
        if body_required:
            raise self.client.bad_response(unconfirmed(what, "its payload is not an object"), reply_data)
        return None

    async def _bisect(self, rows: list[_Row], job: _Bisect) -> None:
        run = job.run
        indexes = [i for row in rows for i in row.indexes]
        if run.aborted is not None:
            run.fail_all(indexes, f"not sent: {run.aborted}")
            return
        try:
            refused = await job.send(rows)
        except MarketplaceError as error:
            if _fatal(error) and run.aborted is None:
                run.aborted = error
            if len(rows) > 1 and _splittable(error) and job.budget.take(2):
                middle = len(rows) // 2
                await self._bisect(rows[:middle], job)
                await self._bisect(rows[middle:], job)
            else:
                run.fail_all(indexes, str(error))
            return
        for index in indexes:
            if index in refused:
                run.fail(index, refused[index])
            else:
                run.ok(index)

    async def push_prices(self, items: Sequence[PriceUpdate]) -> PushResult:
        """One call per product. Items that cannot be sent as they are (not whole so'm, out of range,
        sale above price, unmapped) fail here without a call."""
        run = PushRun(len(items))
        for index, item in enumerate(items):
            run.track(index, item.ref)
        try:
            shop = self._shop_id()
        except MarketplaceError as error:
            run.fail_all(range(len(items)), error)
            return run.finish()
        products: dict[int, list[_Row]] = {}
        seen: dict[int, int] = {}
        for index, item in enumerate(items):
            product_id = as_int(item.keys.get("product_id"))
            sku_id = as_int(item.keys.get("sku_id"))
            if product_id is None or sku_id is None:
                run.fail(index, "not mapped: Uzum needs product_id and sku_id")
                continue
            full = whole(item.price)
            sell = full if item.sale_price is None else whole(item.sale_price)
            if full is None or sell is None:
                run.fail(index, f"Uzum takes whole so'm: price {item.price}, sale price {item.sale_price}")
                continue
            if not (PRICE_MIN <= full <= PRICE_MAX and PRICE_MIN <= sell <= PRICE_MAX):
                run.fail(index, f"Uzum prices must be {PRICE_MIN}..{PRICE_MAX} so'm (price {full}, sale {sell})")
                continue
            if sell > full:
                run.fail(index, f"the sale price {sell} is above the full price {full}")
                continue
            if sku_id in seen:
                run.fail(index, f"Uzum SKU {sku_id} appears twice in this push")
                continue
            seen[sku_id] = index
            payload = {"skuId": sku_id, "fullPrice": full, "sellPrice": sell}
            products.setdefault(product_id, []).append(_Row([index], payload))
        budget = _Budget(self.bisect_budget)

        def job_for(product_id: int, rows: list[_Row]) -> Callable[[], Awaitable[None]]:
            async def send(batch: list[_Row]) -> Mapping[int, str]:
                body = {"productId": product_id, "skuList": [row.payload for row in batch]}
                reply = await self.client.request(
                    "POST",
                    f"/v1/product/{shop}/sendPriceData",
                    groups=GROUP,
                    json_body=body,
                    allow_empty=True,
                    tally=run.tally,
                    day_floor=self.daily_reserve,
                )
                self._confirmed(reply.data, f"sendPriceData product {product_id}", body_required=False)
                return {}

            return lambda: self._bisect(rows, _Bisect(run, send, budget))

        jobs = [job_for(pid, rows) for pid, rows in products.items()]
        await run_bounded(jobs, self.client.options.concurrency, run)
        return run.finish()

    async def push_stocks(self, items: Sequence[StockUpdate]) -> PushResult:
        """Absolute FBS/DBS amounts by barcode, `stock_batch` per call, failed batches bisected."""
        run = PushRun(len(items))
        rows: dict[str, _Row] = {}
        for index, item in enumerate(items):
            run.track(index, item.ref)
            barcode = as_text(item.keys.get("barcode"))
            if barcode is None:
                run.fail(index, "not mapped: Uzum needs the barcode")
                continue
            if item.quantity < 0:
                run.fail(index, f"quantity {item.quantity} is negative")
                continue
            row = rows.get(barcode)
            if row is None:
                rows[barcode] = _Row([index], {"barcode": barcode, "amount": item.quantity})
            elif row.payload["amount"] == item.quantity:
                row.indexes.append(index)  # the same barcode twice with the same amount: one line
            else:
                run.fail(index, f"barcode {barcode} appears twice in this push with different amounts")
        budget = _Budget(self.bisect_budget)

        async def send(batch: list[_Row]) -> Mapping[int, str]:
            reply = await self.client.request(
                "POST",
                "/v2/fbs/sku/stocks",
                groups=GROUP,
                json_body={"skuAmountList": [row.payload for row in batch]},
                allow_empty=True,
                tally=run.tally,
                day_floor=self.daily_reserve,
            )
            payload = self._confirmed(reply.data, "stocks", body_required=True)
            echoed = payload.get("skuAmountList") if payload is not None else None
            listed = {
                (as_text(e.get("barcode")) or "").lstrip("0")  # an int64 barcode loses its leading zeros
                for e in (echoed if isinstance(echoed, list) else [])
                if isinstance(e, dict) and e.get("barcode") is not None
            }
            if not listed:  # the DTO's fields are undocumented: check only a list that names barcodes
                return {}
            # The answer lists the SKUs it updated: a barcode we sent that is not there was not updated.
            missing = unconfirmed("stocks", "its skuAmountList does not list this barcode")
            return {
                i: missing for row in batch if row.payload["barcode"].lstrip("0") not in listed for i in row.indexes
            }

        def job_for(batch: list[_Row]) -> Callable[[], Awaitable[None]]:
            return lambda: self._bisect(batch, _Bisect(run, send, budget))

        jobs = [job_for(batch) for batch in chunks(list(rows.values()), self.stock_batch)]
        await run_bounded(jobs, self.client.options.concurrency, run)
        return run.finish()

    # ---- reads -----------------------------------------------------------------------------------------

    def _payload(self, data: Any, what: str) -> Any:
        self._check(data, what)
        if not isinstance(data, dict):
            raise self.client.bad_response(f"{what}: the answer is not an object", data)
        return data.get("payload")

    async def fetch_orders(self, since: datetime) -> FetchedOrders:
        """Orders of every status in `order_statuses` whose creation or last status date is at or
        after `since`. Orders that cannot be read are in `skipped`."""
        since = utc_naive(since)
        shop_ids = self._shop_ids()
        tally = CallTally()
        found: dict[str, RemoteOrder] = {}
        skipped: list[str] = []
        created_from = since if self.watch_from is None else min(since, self.watch_from)
        date_from = int(created_from.replace(tzinfo=UTC).timestamp() * 1000)
        for status in self.order_statuses:
            page = 0
            while True:
                params: list[tuple[str, Any]] = [("shopIds", s) for s in shop_ids]
                params += [("status", status), ("page", page), ("size", ORDER_PAGE)]
                if status in FINAL_STATUSES:
                    params.append(("dateFrom", date_from))
                try:
                    reply = await self.client.request(
                        "GET", "/v2/fbs/orders", groups=GROUP, params=params, tally=tally
                    )
                except MarketplaceError as error:
                    if error.kind != "quota":
                        raise
                    left = ", ".join(self.order_statuses[self.order_statuses.index(status):])
                    skipped.append(f"statuses {left}: not read, {error}")
                    return FetchedOrders(found.values(), skipped)
                try:
                    payload = expect_dict(self._payload(reply.data, "orders"), "payload")
                    orders = expect_list(payload.get("orders"), "payload.orders")
                except ValueError as exc:
                    raise self.client.bad_response(f"orders ({status}): {exc}", reply.data) from None
                for raw in orders:
                    try:
                        order, changed_at = self._order(raw)
                    except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
                        ident = raw.get("id") if isinstance(raw, dict) else None
                        skipped.append(f"{ident}: {exc}")
                        continue
                    if changed_at >= since:
                        found[order.marketplace_order_id] = order
                if len(orders) < ORDER_PAGE:
                    break
                page += 1
                if page >= self.max_order_pages:
                    skipped.append(f"status {status}: more than {self.max_order_pages} pages; the rest not read")
                    break
        return FetchedOrders(found.values(), skipped)

    def _order(self, raw: Any) -> tuple[RemoteOrder, datetime]:
        order = expect_dict(raw, "order")
        order_id = as_int(order.get("id"))
        if order_id is None:
            raise ValueError("no order id")
        raw_status = str(order.get("status"))
        status = STATUS_MAP.get(raw_status)
        if status is None:
            raise ValueError(f"unknown status {raw_status!r}")
        created = parse_time(order.get("dateCreated"), "dateCreated")
        changed = created
        for name in STATUS_DATES:
            if order.get(name) is not None:
                changed = max(changed, parse_time(order[name], name))
        lines = []
        for item in expect_list(order.get("orderItems"), "orderItems"):
            item = expect_dict(item, "orderItems[]")
            quantity = as_int(item.get("amount"))
            if quantity is None or quantity < 1:
                raise ValueError(f"line {item.get('id')}: amount {item.get('amount')!r}")
            price_value = item.get("sellerPrice", item.get("price"))
            keys: dict[str, Any] = {"product_id": as_int(item.get("productId"))}
            if as_int(item.get("skuId")) is not None:
                keys["sku_id"] = as_int(item.get("skuId"))
            if item.get("skuTitle"):
                keys["sku_title"] = str(item["skuTitle"])
            lines.append(
                RemoteOrderLine(
                    line_id=str(item.get("id")),
                    seller_sku=as_text(item.get("sellerSkuCode")),
                    keys=keys,
                    name=str(item.get("skuTitle") or item.get("productTitle") or ""),
                    quantity=quantity,
                    price=money(price_value, "sellerPrice"),
                )
            )
        if not lines:
            raise ValueError("no orderItems")
        info = order.get("deliveryInfo")
        delivery: Mapping[str, Any] = info if isinstance(info, dict) else {}
        return (
            RemoteOrder(
                marketplace_order_id=str(order_id),
                status=status,
                raw_status=raw_status,
                created_at=created,
                lines=lines,
                customer_name=as_text(delivery.get("customerFullname")),
                customer_phone=as_text(delivery.get("customerPhone")),
                delivery_address=as_text(delivery.get("deliveryAddress")),
                is_return=raw_status == "RETURNED",
                on_hold=raw_status in ON_HOLD,
            ),
            changed,
        )

    # ---- read-back (reconcile) ------------------------------------------------------------------------

    async def _stock_pages(self, tally: CallTally) -> dict[str, int]:
        """{barcode: FBS amount} of every SKU (GET /v3/fbs/sku/stocks, pages of 100)."""
        out: dict[str, int] = {}
        for page in range(MAX_PAGES):
            reply = await self.client.request(
                "GET", "/v3/fbs/sku/stocks", groups=GROUP, params={"page": page, "size": STOCKS_PAGE}, tally=tally
            )
            try:
                payload = expect_dict(self._payload(reply.data, "sku stocks"), "payload")
                entries = expect_list(payload.get("skuAmountList"), "payload.skuAmountList")
                for entry in entries:
                    entry = expect_dict(entry, "skuAmountList[]")
                    barcode, amount = as_text(entry.get("barcode")), as_int(entry.get("amount"))
                    if barcode is not None and amount is not None:
                        out[barcode] = amount
            except ValueError as exc:
                raise self.client.bad_response(f"sku stocks: {exc}", reply.data) from None
            if len(entries) < STOCKS_PAGE:
                break
        return out

    async def compare_stocks(self, items: Sequence[StockUpdate]) -> Comparison:
        tally = CallTally()
        held = await self._stock_pages(tally)
        unread: dict[int, str] = {}
        differences = []
        for item in items:
            barcode = as_text(item.keys.get("barcode"))
            if barcode is None:
                unread[item.ref] = "not mapped: Uzum needs the barcode"
            elif barcode not in held:
                differences.append(Difference(item.ref, str(item.quantity), f"no SKU with barcode {barcode}", True))
            elif held[barcode] != item.quantity:
                differences.append(Difference(item.ref, str(item.quantity), str(held[barcode])))
        return Comparison(differences, len(items) - len(unread), unread, tally.calls)

    async def compare_prices(self, items: Sequence[PriceUpdate]) -> Comparison:
        tally = CallTally()
        shop = self._shop_id()
        held: dict[int, Any] = {}
        seen_products = 0
        for page in range(MAX_PAGES):
            reply = await self.client.request(
                "GET", f"/v1/product/shop/{shop}", groups=GROUP, params={"page": page, "size": CATALOG_PAGE},
                tally=tally,
            )
            try:
                data = expect_dict(reply.data, "catalogue")
                rows = expect_list(data.get("productList"), "productList")
                total = as_int(data.get("totalProductsAmount"))
                for product in rows:
                    for sku in expect_list(expect_dict(product, "productList[]").get("skuList") or [], "skuList"):
                        sku = expect_dict(sku, "skuList[]")
                        sku_id = as_int(sku.get("skuId"))
                        if sku_id is not None:
                            held[sku_id] = sku.get("price")
            except ValueError as exc:
                raise self.client.bad_response(f"catalogue: {exc}", reply.data) from None
            seen_products += len(rows)
            if len(rows) < CATALOG_PAGE or (total is not None and seen_products >= total):
                break
        unread: dict[int, str] = {}
        differences = []
        for item in items:
            sku_id = as_int(item.keys.get("sku_id"))
            sell = whole(item.sale_price if item.sale_price is not None else item.price)
            if sku_id is None or sell is None:
                unread[item.ref] = "not mapped to an Uzum skuId, or not whole so'm"
                continue
            if sku_id not in held:
                differences.append(Difference(item.ref, str(sell), f"no SKU {sku_id}", True))
                continue
            try:
                theirs = whole(money(held[sku_id], "price"))
            except ValueError as exc:
                unread[item.ref] = str(exc)
                continue
            if theirs != sell:
                differences.append(Difference(item.ref, str(sell), str(theirs)))
        return Comparison(differences, len(items) - len(unread), unread, tally.calls)

    async def list_catalog(self) -> list[CatalogItem]:
        """Every SKU of the shop with its string barcode (from the stock list)."""
        shop = self._shop_id()
        tally = CallTally()
        barcodes: dict[int, tuple[str, str | None]] = {}
        for page in range(MAX_PAGES):
            reply = await self.client.request(
                "GET", "/v3/fbs/sku/stocks", groups=GROUP, params={"page": page, "size": STOCKS_PAGE}, tally=tally
            )
            try:
                payload = expect_dict(self._payload(reply.data, "sku stocks"), "payload")
                entries = expect_list(payload.get("skuAmountList"), "payload.skuAmountList")
                for entry in entries:
                    entry = expect_dict(entry, "skuAmountList[]")
                    sku_id = as_int(entry.get("skuId"))
                    barcode = as_text(entry.get("barcode"))
                    if sku_id is not None and barcode is not None:
                        barcodes[sku_id] = (barcode, as_text(entry.get("sellerSkuCode")))
            except ValueError as exc:
                raise self.client.bad_response(f"sku stocks: {exc}", reply.data) from None
            if len(entries) < STOCKS_PAGE:
                break
        items: list[CatalogItem] = []
        seen_products = 0
        for page in range(MAX_PAGES):
            reply = await self.client.request(
                "GET",
                f"/v1/product/shop/{shop}",
                groups=GROUP,
                params={"page": page, "size": CATALOG_PAGE},
                tally=tally,
            )
            try:
                data = expect_dict(reply.data, "catalogue")
                products = expect_list(data.get("productList"), "productList")
                total = as_int(data.get("totalProductsAmount"))
                for product in products:
                    product = expect_dict(product, "productList[]")
                    product_id = as_int(product.get("productId"))
                    for sku in expect_list(product.get("skuList") or [], "skuList"):
                        sku = expect_dict(sku, "skuList[]")
                        sku_id = as_int(sku.get("skuId"))
                        if sku_id is None:
                            continue
                        barcode, stock_code = barcodes.get(sku_id, (as_text(sku.get("barcode")) or "", None))
                        seller_sku = as_text(sku.get("sellerItemCode")) or stock_code
                        items.append(
                            CatalogItem(
                                seller_sku=seller_sku,
                                barcodes=[barcode] if barcode else [],
                                keys={
                                    "shop_id": shop,
                                    "product_id": product_id,
                                    "sku_id": sku_id,
                                    "barcode": barcode or None,
                                    "seller_sku": seller_sku,
                                },
                                name=as_text(sku.get("skuFullTitle")) or as_text(product.get("title")),
                            )
                        )
            except ValueError as exc:
                raise self.client.bad_response(f"catalogue: {exc}", reply.data) from None
            seen_products += len(products)
            if len(products) < CATALOG_PAGE or (total is not None and seen_products >= total):
                break
        return items
