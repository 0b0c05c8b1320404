"""Ozon Seller API (`https://api-seller.ozon.ru`).

* Auth: `Client-Id` (settings `client_id`) + `Api-Key` (the account secret).
* Prices: `POST /v1/product/import/prices`, up to 1000 per call, every amount a decimal string.
  Ozon's `price` is what the buyer pays and `old_price` the crossed-out price (it must be above
  `price`; "0" removes it). So on sale: price = our sale price, old_price = our full price;
  otherwise price = our price, old_price = "0". `currency_code` from settings (default "UZS"; Ozon
  refuses one that differs from the cabinet's). Per-item `result[].errors`.
* Stocks: `POST /v2/products/stocks`, up to 100 (offer, warehouse) pairs per call, per-item results.
  `stock` is what can be sold (Ozon subtracts nothing): the caller passes available units. Ozon
  refuses a pair updated less than 30 s ago (TOO_MANY_REQUESTS per item): such an item is deferred
  (`ItemResult.retry_after` = 30 s), not failed; when that answers a repeat of a timed-out call, the
  item says the first attempt may have landed.
* Orders: `POST /v4/posting/fbs/list` with the postings whose status changed since T
  (`last_changed_status_date`; `since`/`to` span the last 360 days, Ozon's limit is one year),
  cursor paging by 100. posting_number is the order id; lines `products[]` (offer_id x quantity),
  price `{amount, currency}`.
* Catalogue: `POST /v3/product/list` (offer_id, product_id), `last_id` paging by 1000.
* Warehouse: settings `warehouse_id`; when it is not set, `POST /v2/warehouse/list` is asked once:
  an account with exactly one FBS warehouse (not disabled or blocked) uses it and every pushed item
  says so in its note; with several, the items fail listing them (id and name) to choose from.
* Read-back (reconcile): `POST /v5/product/info/prices` (price / old_price) and
  `POST /v4/product/info/stocks` (the `fbs` row: present - reserved, summed over FBS warehouses),
  both filtered by offer_id, 1000 per call, cursor paging.

Rate-limit groups: `global` (50 rps per Client-Id) for everything, plus `stocks` (80/min) for the
stock call; Ozon sends `Retry-After` on 429.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    decimal_text,
    expect_dict,
    expect_list,
    money,
    parse_time,
    run_bounded,
    unconfirmed,
    utc_naive,
)
from sync.http import CallTally, ClientOptions, MarketplaceClient, RateHeaders
from sync.ratelimit import Clock, Limit, RateLimiter, limits_for

OZON_API = "https://api-seller.ozon.ru"
PRICE_BATCH = 1000
STOCK_BATCH = 100
POSTINGS_LIMIT = 100
PRODUCTS_LIMIT = 1000
MAX_PAGES = 10_000
LOOKBACK = timedelta(days=360)
WAREHOUSES_LIMIT = 200
READ_LIMIT = 1000
UNUSABLE_WAREHOUSE = frozenset({"disabled", "blocked", "disabled_due_to_limit", "error"})
STOCK_PAIR_WINDOW = 30.0  # seconds: one stock update per product and warehouse (TOO_MANY_REQUESTS per item)
TOO_SOON = "TOO_MANY_REQUESTS"
RATE_HEADERS = RateHeaders(retry=("Retry-After",))

STATUS_MAP: Mapping[str, str] = {
    "awaiting_registration": "pending",
    "acceptance_in_progress": "pending",
    "awaiting_approve": "pending",
    "awaiting_verification": "pending",
    "awaiting_packaging": "pending",
    "awaiting_deliver": "confirmed",
    "delivering": "shipped",
    "driver_pickup": "shipped",
    "sent_by_seller": "shipped",
    "delivered": "delivered",
    "cancelled": "cancelled",
    "not_accepted": "cancelled",
    "cancelled_from_split_pending": "cancelled",
    # arbitration: keep whatever we had (RemoteOrder.on_hold); "shipped" only for an order new to us
    "arbitration": "shipped",
    "client_arbitration": "shipped",
}
ON_HOLD = frozenset({"arbitration", "client_arbitration"})


def make_client(
    account: Account,
    session: aiohttp.ClientSession,
    limiter: RateLimiter,
    *,
    limits: Mapping[str, Limit] | None = None,
    options: ClientOptions | None = None,
    clock: Clock | None = None,
) -> MarketplaceClient:
    client_id = as_text(account.settings.get("client_id"))
    if client_id is None:
        raise MarketplaceError("config", "ozon: the account settings have no client_id")
    return MarketplaceClient(
        session,
        slug="ozon",
        account_key=str(account.id) if account.id is not None else f"client-{client_id}",
        base_url=account.base_url or OZON_API,
        auth_headers={"Client-Id": client_id, "Api-Key": account.secret},
        limiter=limiter,
        limits=limits or limits_for("ozon", account.settings.get("rate_limits")),
        rate_headers=RATE_HEADERS,
        options=options,
        clock=clock,
        secrets=[account.secret],
    )


@dataclass
class _Line:
    key: tuple[str, int]  # (offer_id, warehouse_id or 0 for prices)
    payload: dict[str, Any]
    indexes: list[int]


def _item_errors(row: Mapping[str, Any]) -> str | None:
    """None when the row confirms the item (`updated: true`, no errors), else what is wrong."""
    errors = row.get("errors")
    if not errors:
        if row.get("updated") is True:
            return None
        if row.get("updated") is False:
            return "not updated (no reason given)"
        return unconfirmed("result", f"its row does not say updated: {str(dict(row))[:120]}")
    parts = []
    for error in errors if isinstance(errors, list) else [errors]:
        if isinstance(error, dict):
            parts.append(": ".join(str(v) for v in (error.get("code"), error.get("message")) if v))
        else:
            parts.append(str(error))
    return "; ".join(p for p in parts if p) or "refused (no reason given)"


def _too_soon(row: Mapping[str, Any]) -> bool:
    """Only Ozon's one-update-per-30-s stock rule among the row's errors."""
    errors = row.get("errors")
    return (
        isinstance(errors, list)
        and bool(errors)
        and all(isinstance(e, dict) and e.get("code") == TOO_SOON for e in errors)
    )


class OzonAdapter:
    """`OzonAdapter(account, client)`; the client from :func:`make_client` (or build_adapter)."""

    slug = "ozon"

    def __init__(self, account: Account, client: MarketplaceClient) -> None:
        self.account = account
        self.client = client
        self.currency = as_text(account.settings.get("currency_code")) or "UZS"
        self._warehouse: tuple[int, str] | None = None  # (id, note) found by asking Ozon

    async def default_warehouse(self, tally: CallTally) -> tuple[int, str | None]:
        """The warehouse of stock writes: settings `warehouse_id`, else the account's only FBS
        warehouse (with a note saying so). MarketplaceError("config") lists several to choose from."""
        configured = as_int(self.account.settings.get("warehouse_id"))
        if configured is not None:
            return configured, None
        if self._warehouse is not None:
            return self._warehouse
        found: list[tuple[int, str]] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            reply = await self.client.request(
                "POST", "/v2/warehouse/list", groups=("global",),
                json_body={"limit": WAREHOUSES_LIMIT, "cursor": cursor}, tally=tally,
            )
            try:
                data = expect_dict(reply.data, "answer")
                for row in expect_list(data.get("warehouses"), "warehouses"):
                    row = expect_dict(row, "warehouses[]")
                    wid = as_int(row.get("warehouse_id"))
                    if wid is not None and str(row.get("status") or "") not in UNUSABLE_WAREHOUSE:
                        found.append((wid, str(row.get("name") or "")))
                cursor = str(data.get("cursor") or "")
                more = bool(data.get("has_next"))
            except ValueError as exc:
                raise self.client.bad_response(f"warehouse list: {exc}", reply.data) from None
            if not more or not cursor:
                break
        hint = "`amazing-store marketplace set ozon warehouse_id=ID`"
        if not found:
            raise MarketplaceError("config", f"ozon: no warehouse_id set and the account lists no FBS warehouse; "
                                             f"create one in the Ozon cabinet, then set it with {hint}")
        if len(found) > 1:
            listed = ", ".join(f"{wid} ({name})" if name else str(wid) for wid, name in found)
            raise MarketplaceError("config", f"ozon: no warehouse_id set and the account has {len(found)} FBS "
                                             f"warehouses: {listed}; choose one with {hint}")
        wid, name = found[0]
        note = (f"no warehouse_id set: used the account's only FBS warehouse {wid}"
                f"{f' ({name})' if name else ''}; set it with {hint}")
        self._warehouse = (wid, note)
        return self._warehouse

    async def _send(
        self,
        path: str,
        groups: Sequence[str],
        body_key: str,
        lines: list[_Line],
        run: PushRun,
        *,
        warehouse_in_key: bool,
    ) -> None:
        indexes = [i for line in lines for i in line.indexes]
        if run.aborted is not None:
            run.fail_all(indexes, f"not sent: {run.aborted}")
            return
        try:
            reply = await self.client.request(
                "POST", path, groups=groups, json_body={body_key: [line.payload for line in lines]}, tally=run.tally
            )
            rows = expect_list(expect_dict(reply.data, "answer").get("result"), "result")
        except MarketplaceError as error:
            run.fail_all(indexes, error)
            return
        except ValueError as exc:
            run.fail_all(indexes, self.client.bad_response(unconfirmed(path, str(exc)), reply.data))
            return
        by_key: dict[tuple[str, int], Mapping[str, Any]] = {}
        for row in rows:
            if isinstance(row, dict):
                offer = as_text(row.get("offer_id")) or ""
                warehouse = (as_int(row.get("warehouse_id")) or 0) if warehouse_in_key else 0
                by_key[(offer, warehouse)] = row
        by_product = {
            as_int(row.get("product_id")): row for row in rows if isinstance(row, dict) and row.get("product_id")
        }
        for line in lines:
            row = by_key.get(line.key)
            if row is None and line.payload.get("product_id") is not None:
                candidate = by_product.get(line.payload["product_id"])
                if candidate is not None and (
                    not warehouse_in_key or as_int(candidate.get("warehouse_id")) == line.key[1]
                ):
                    row = candidate
            if row is None:
                run.fail_all(line.indexes, unconfirmed("ozon", "its result has no row for this item"))
                continue
            problem = _item_errors(row)
            if problem is None:
                for index in line.indexes:
                    run.ok(index)
                continue
            if reply.attempts > 1 and TOO_SOON in problem:
                problem += " (a first attempt that got no answer may have set it already)"
            if warehouse_in_key and _too_soon(row):
                # The pair was updated less than 30 s ago (maybe by a first attempt of this very call
                # that got no answer): a deferral, not a failure. It is sent again after the window.
                for index in line.indexes:
                    run.defer(index, f"Ozon: {problem}", STOCK_PAIR_WINDOW)
                continue
            run.fail_all(line.indexes, f"Ozon: {problem}")

    async def push_prices(self, items: Sequence[PriceUpdate]) -> PushResult:
        run = PushRun(len(items))
        lines: dict[str, _Line] = {}
        for index, item in enumerate(items):
            run.track(index, item.ref)
            offer_id = as_text(item.keys.get("offer_id"))
            if offer_id is None:
                run.fail(index, "not mapped: Ozon needs offer_id")
                continue
            if not item.price.is_finite() or item.price <= 0:
                run.fail(index, f"the price {item.price} is not positive")
                continue
            on_sale = item.sale_price is not None and 0 < item.sale_price < item.price
            if item.sale_price is not None and not 0 < item.sale_price:
                run.fail(index, f"the sale price {item.sale_price} is not positive")
                continue
            payload: dict[str, Any] = {
                "offer_id": offer_id,
                "price": decimal_text(item.sale_price if on_sale and item.sale_price else item.price),
                "old_price": decimal_text(item.price) if on_sale else "0",
                "currency_code": self.currency,
            }
            product_id = as_int(item.keys.get("product_id"))
            if product_id is not None:
                payload["product_id"] = product_id
            line = lines.get(offer_id)
            if line is None:
                lines[offer_id] = _Line((offer_id, 0), payload, [index])
            elif line.payload == payload:
                line.indexes.append(index)
            else:
                run.fail(index, f"offer {offer_id} gets a different price from another item of this push")

        def job_for(batch: list[_Line]) -> Callable[[], Awaitable[None]]:
            return lambda: self._send(
                "/v1/product/import/prices", ("global",), "prices", batch, run, warehouse_in_key=False
            )

        jobs = [job_for(batch) for batch in chunks(list(lines.values()), PRICE_BATCH)]
        await run_bounded(jobs, self.client.options.concurrency, run)
        return run.finish()

    async def push_stocks(self, items: Sequence[StockUpdate]) -> PushResult:
        run = PushRun(len(items))
        default_warehouse: int | None = None
        found_note: str | None = None
        if any(as_int(item.keys.get("warehouse_id")) is None for item in items):
            try:
                default_warehouse, found_note = await self.default_warehouse(run.tally)
            except MarketplaceError as error:
                for index, item in enumerate(items):
                    run.track(index, item.ref)
                run.fail_all(range(len(items)), error)
                return run.finish()
        lines: dict[tuple[str, int], _Line] = {}
        for index, item in enumerate(items):
            run.track(index, item.ref)
            offer_id = as_text(item.keys.get("offer_id"))
            warehouse = as_int(item.keys.get("warehouse_id")) or default_warehouse
            if offer_id is None:
                run.fail(index, "not mapped: Ozon needs offer_id")
                continue
            if warehouse is None:
                run.fail(index, "no warehouse: set warehouse_id in the Ozon account settings")
                continue
            if item.quantity < 0:
                run.fail(index, f"quantity {item.quantity} is negative")
                continue
            payload: dict[str, Any] = {"offer_id": offer_id, "stock": item.quantity, "warehouse_id": warehouse}
            product_id = as_int(item.keys.get("product_id"))
            if product_id is not None:
                payload["product_id"] = product_id
            key = (offer_id, warehouse)
            line = lines.get(key)
            if line is None:
                lines[key] = _Line(key, payload, [index])
            elif line.payload["stock"] == item.quantity:
                line.indexes.append(index)
            else:
                run.fail(index, f"offer {offer_id} at warehouse {warehouse} appears twice with different stock")

        def job_for(batch: list[_Line]) -> Callable[[], Awaitable[None]]:
            return lambda: self._send(
                "/v2/products/stocks", ("stocks", "global"), "stocks", batch, run, warehouse_in_key=True
            )

        jobs = [job_for(batch) for batch in chunks(list(lines.values()), STOCK_BATCH)]
        await run_bounded(jobs, self.client.options.concurrency, run)
        result = run.finish()
        if found_note is None:
            return result
        return PushResult([dataclasses.replace(r, note=r.note or found_note) if r.ok else r for r in result.items],
                          result.calls)

    # ---- read-back (reconcile) ------------------------------------------------------------------------

    async def _read(self, path: str, offers: Sequence[str], tally: CallTally) -> dict[str, Mapping[str, Any]]:
        """{offer_id: item} from a cursor-paged info method filtered by offer_id (1000 per call)."""
        out: dict[str, Mapping[str, Any]] = {}
        for batch in chunks(list(offers), READ_LIMIT):
            cursor = ""
            for _ in range(MAX_PAGES):
                body = {"cursor": cursor, "filter": {"offer_id": batch, "visibility": "ALL"}, "limit": READ_LIMIT}
                reply = await self.client.request("POST", path, groups=("global",), json_body=body, tally=tally)
                try:
                    data = expect_dict(reply.data, "answer")
                    rows = expect_list(data.get("items"), "items")
                    for row in rows:
                        row = expect_dict(row, "items[]")
                        offer = as_text(row.get("offer_id"))
                        if offer is not None:
                            out[offer] = row
                    cursor = str(data.get("cursor") or "")
                except ValueError as exc:
                    raise self.client.bad_response(f"{path}: {exc}", reply.data) from None
                if len(rows) < READ_LIMIT or not cursor:
                    break
        return out

    async def compare_prices(self, items: Sequence[PriceUpdate]) -> Comparison:
        """What buyers pay (and the crossed-out price) against ours, as push_prices would set them."""
        tally = CallTally()
        unread: dict[int, str] = {}
        wanted: dict[int, tuple[str, str, str]] = {}
        for item in items:
            offer_id = as_text(item.keys.get("offer_id"))
            if offer_id is None:
                unread[item.ref] = "not mapped: Ozon needs offer_id"
                continue
            on_sale = item.sale_price is not None and 0 < item.sale_price < item.price
            pays = item.sale_price if on_sale and item.sale_price is not None else item.price
            wanted[item.ref] = (offer_id, decimal_text(pays), decimal_text(item.price) if on_sale else "0")
        held = await self._read("/v5/product/info/prices", sorted({w[0] for w in wanted.values()}), tally)
        differences = []
        for ref, (offer_id, buyer, old) in wanted.items():
            ours = buyer if old == "0" else f"{buyer} (was {old})"
            row = held.get(offer_id)
            if row is None:
                differences.append(Difference(ref, ours, f"no product with offer_id {offer_id}", True))
                continue
            raw_price = row.get("price")
            price: Mapping[str, Any] = raw_price if isinstance(raw_price, dict) else {}
            try:
                their_buyer = decimal_text(money(price.get("price"), "price.price"))
                their_old = decimal_text(money(price.get("old_price") or "0", "price.old_price"))
            except ValueError as exc:
                unread[ref] = str(exc)
                continue
            if (their_buyer, their_old) != (buyer, old):
                theirs = their_buyer if their_old == "0" else f"{their_buyer} (was {their_old})"
                differences.append(Difference(ref, ours, theirs))
        return Comparison(differences, len(items) - len(unread), unread, tally.calls)

    async def compare_stocks(self, items: Sequence[StockUpdate]) -> Comparison:
        """Units a buyer can order (FBS present - reserved) against ours."""
        tally = CallTally()
        unread: dict[int, str] = {}
        wanted: dict[int, str] = {}
        for item in items:
            offer_id = as_text(item.keys.get("offer_id"))
            if offer_id is None:
                unread[item.ref] = "not mapped: Ozon needs offer_id"
            else:
                wanted[item.ref] = offer_id
        held = await self._read("/v4/product/info/stocks", sorted(set(wanted.values())), tally)
        differences = []
        for item in items:
            offer_id = wanted.get(item.ref)
            if offer_id is None:
                continue
            row = held.get(offer_id)
            if row is None:
                differences.append(Difference(item.ref, str(item.quantity), f"no product with offer_id {offer_id}",
                                              True))
                continue
            available = 0
            for entry in row.get("stocks") or []:
                if isinstance(entry, dict) and entry.get("type") == "fbs":
                    available += (as_int(entry.get("present")) or 0) - (as_int(entry.get("reserved")) or 0)
            if available != item.quantity:
                differences.append(Difference(item.ref, str(item.quantity), str(available)))
        return Comparison(differences, len(items) - len(unread), unread, tally.calls)

    async def fetch_orders(self, since: datetime) -> FetchedOrders:
        """FBS postings whose status changed at or after `since` (new ones included), created in
        the last 360 days."""
        # whole seconds on the wire: `to` rounds up so a posting of this very second is inside
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
        window_start = now - LOOKBACK
        changed_from = min(max(utc_naive(since), window_start), now)
        tally = CallTally()
        found: dict[str, RemoteOrder] = {}
        skipped: list[str] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            body = {
                "cursor": cursor,
                "limit": POSTINGS_LIMIT,
                "sort_dir": "ASC",
                "filter": {
                    "since": _rfc3339(window_start),
                    "to": _rfc3339(now),
                    "last_changed_status_date": {"from": _rfc3339(changed_from), "to": _rfc3339(now)},
                },
                "with": {"analytics_data": False, "financial_data": False, "barcodes": False},
            }
            reply = await self.client.request(
                "POST", "/v4/posting/fbs/list", groups=("global",), json_body=body, tally=tally
            )
            try:
                data = expect_dict(reply.data, "answer")
                postings = expect_list(data.get("postings"), "postings")
                has_next = bool(data.get("has_next"))
                cursor = str(data.get("cursor") or "")
            except ValueError as exc:
                raise self.client.bad_response(f"postings: {exc}", reply.data) from None
            for raw in postings:
                try:
                    order = self._order(raw)
                except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
                    ident = raw.get("posting_number") if isinstance(raw, dict) else None
                    skipped.append(f"{ident}: {exc}")
                    continue
                found[order.marketplace_order_id] = order
            if not has_next or not cursor:
                break
        return FetchedOrders(found.values(), skipped)

    def _order(self, raw: Any) -> RemoteOrder:
        posting = expect_dict(raw, "posting")
        number = as_text(posting.get("posting_number"))
        if number is None:
            raise ValueError("no posting_number")
        raw_status = str(posting.get("status"))
        status = STATUS_MAP.get(raw_status)
        if status is None:
            raise ValueError(f"unknown status {raw_status!r}")
        lines = []
        for position, product in enumerate(expect_list(posting.get("products"), "products")):
            product = expect_dict(product, "products[]")
            quantity = as_int(product.get("quantity"))
            if quantity is None or quantity < 1:
                raise ValueError(f"products[{position}].quantity {product.get('quantity')!r}")
            price = product.get("price")
            if isinstance(price, dict):
                amount = money(price.get("amount"), "price.amount")
                currency = as_text(price.get("currency"))
            else:  # the v3 shape: a string plus currency_code
                amount = money(price, "price")
                currency = as_text(product.get("currency_code"))
            if currency is not None and currency != self.currency:
                raise ValueError(f"price in {currency}, not {self.currency}: not imported")
            offer_id = as_text(product.get("offer_id"))
            lines.append(
                RemoteOrderLine(
                    line_id=f"{number}/{position}",
                    seller_sku=offer_id,
                    keys={"offer_id": offer_id, "sku": as_int(product.get("sku"))},
                    name=str(product.get("name") or offer_id or ""),
                    quantity=quantity,
                    price=amount,
                )
            )
        if not lines:
            raise ValueError("no products")
        customer = posting.get("customer") if isinstance(posting.get("customer"), dict) else None
        address = customer.get("address") if customer and isinstance(customer.get("address"), dict) else None
        return RemoteOrder(
            marketplace_order_id=number,
            status=status,
            raw_status=raw_status,
            created_at=parse_time(posting.get("in_process_at"), "in_process_at"),
            lines=lines,
            customer_name=as_text(customer.get("name")) if customer else None,
            customer_phone=as_text(customer.get("phone")) if customer else None,
            delivery_address=as_text(address.get("address_tail")) if address else None,
            on_hold=raw_status in ON_HOLD,
        )

    async def list_catalog(self) -> list[CatalogItem]:
        tally = CallTally()
        items: list[CatalogItem] = []
        last_id = ""
        for _ in range(MAX_PAGES):
            body = {"filter": {"visibility": "ALL"}, "last_id": last_id, "limit": PRODUCTS_LIMIT}
            reply = await self.client.request(
                "POST", "/v3/product/list", groups=("global",), json_body=body, tally=tally
            )
            try:
                result = expect_dict(expect_dict(reply.data, "answer").get("result"), "result")
                rows = expect_list(result.get("items"), "result.items")
                last_id = str(result.get("last_id") or "")
                for row in rows:
                    row = expect_dict(row, "items[]")
                    offer_id = as_text(row.get("offer_id"))
                    items.append(
                        CatalogItem(
                            seller_sku=offer_id,
                            barcodes=[],
                            keys={"offer_id": offer_id, "product_id": as_int(row.get("product_id"))},
                        )
                    )
            except ValueError as exc:
                raise self.client.bad_response(f"product list: {exc}", reply.data) from None
            if len(rows) < PRODUCTS_LIMIT or not last_id:
                break
        return items


def _rfc3339(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
