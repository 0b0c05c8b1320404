"""Wildberries seller API (three hosts: content, discounts-prices, marketplace).

* Auth: `Authorization: <token>` (no prefix).
* Prices: `POST /api/v2/upload/task`, at most 1000 `nmID` per upload, whole numbers: `price` is our
  full price and `discount` the whole percent that brings WB's buyer price closest to our sale price
  (ties: the smaller discount); when the buyer price then differs from our sale price the item's
  result says so in `note`. Uploads are asynchronous: all uploads go first, then each is polled
  (`/api/v2/history/tasks`, `/api/v2/buffer/tasks` while processing) until status 3/4/5/6 or
  `task_wait` seconds, and on 5/6 the per-item errors are read from `/api/v2/history/goods/task`.
  WB's 400 "All item Nos. are specified incorrectly, or the specified prices and discounts are
  already set" means every item of the upload is either unchanged or unknown to WB (the card was
  deleted or is in the trash) and does not say which: the goods' current prices are read back
  (`GET /api/v2/list/goods/filter`, by `filterNmID` for a few, else the whole list by 1000) and
  only an nmID listed with exactly our price and discount is ok; a missing one fails naming it. A
  208 means the same upload is already queued: its id is polled like ours.
* Stocks: `PUT /api/v3/stocks/{warehouseId}` with exactly `{"chrtId", "amount"}` per item (checked
  before sending: WB answers 204 to unknown keys and changes nothing), at most 1000 per call, amount
  0..100000. A 409 lists the refused items; WB applies nothing of that call, so the rest is sent
  again without them.
* Orders: `GET /api/v3/orders/new` (status new) plus `GET /api/v3/orders` since the given time
  (30-day windows, at most 3 months back, cursor `next`) whose statuses come from
  `POST /api/v3/orders/status` (1000 ids per call). One assembly order is one unit; `price` is x100
  in the buyer's currency (`currencyCode`); a sale in another currency is imported at
  `convertedPrice` when `convertedCurrencyCode` is the shop's (the original stays in the payload).
  Status: `wbStatus` wins once terminal (sold, any cancel), otherwise the later of the two.
  :meth:`WildberriesAdapter.fetch_order_statuses` refreshes orders we already know.
* Catalogue: `POST /content/v2/get/cards/list`, cursor paging; one item per size (`chrtID`).
* Read-back (reconcile): prices from `GET /api/v2/list/goods/filter`, stocks from
  `POST /api/v3/stocks/{warehouseId}` with `{"chrtIds": [...]}` (1000 per call).

Account: `base_url` empty or a wildberries.ru host means the real hosts; any other URL (a sandbox)
serves all three. settings: `warehouse_id` (stocks), optional `currency_code` (ISO 4217 numeric or
letters, default 860 = UZS), optional `hosts` `{content, prices, marketplace}`. Rate-limit groups:
`prices` (10/6 s burst 5), `stocks` (300/min burst 20), `marketplace` (300/min burst 20), `content`
(100/min burst 5); a 4XX costs 10 in stocks and marketplace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
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
    whole,
)
from sync.http import CallTally, ClientOptions, HttpError, MarketplaceClient, RateHeaders
from sync.ratelimit import Clock, Limit, RateLimiter, limits_for

log = logging.getLogger(__name__)

WB_HOSTS: Mapping[str, str] = {
    "content": "https://content-api.wildberries.ru",
    "prices": "https://discounts-prices-api.wildberries.ru",
    "marketplace": "https://marketplace-api.wildberries.ru",
}
PRICE_BATCH = 1000
GOODS_PAGE = 1000
GOODS_ONE_BY_ONE = 5  # up to this many nmIDs are read with filterNmID, more by paging the whole list
ALREADY_SET_NOTE = "already set on Wildberries"
STOCK_BATCH = 1000
STOCK_MAX = 100_000
STATUS_BATCH = 1000
CARDS_LIMIT = 100
ORDERS_LIMIT = 1000
ORDERS_WINDOW = timedelta(days=30) - timedelta(minutes=1)
ORDERS_HISTORY = timedelta(days=90)
MAX_PAGES = 1000
CONFLICT_ROUNDS = 4
TASK_OK, TASK_CANCELLED, TASK_PARTIAL, TASK_FAILED = 3, 4, 5, 6
TASK_DONE = frozenset({TASK_OK, TASK_CANCELLED, TASK_PARTIAL, TASK_FAILED})
ITEM_OK, ITEM_ERROR = 2, 3
CURRENCIES = {"UZS": 860, "RUB": 643, "KZT": 398, "BYN": 933, "KGS": 417, "AMD": 51}

RATE_HEADERS = RateHeaders(
    remaining=("X-Ratelimit-Remaining",),
    burst=("X-Ratelimit-Limit",),
    retry=("X-Ratelimit-Retry", "Retry-After"),
)

SUPPLIER_STATUS: Mapping[str, str] = {
    "new": "pending",
    "confirm": "confirmed",
    "complete": "shipped",
    "cancel": "cancelled",
    "cancel_carrier": "cancelled",
}
WB_STATUS: Mapping[str, str | None] = {
    "waiting": None,  # waiting for the seller: says nothing beyond supplierStatus
    "sorted": "shipped",
    "ready_for_pickup": "shipped",
    "postponed_delivery": "shipped",
    "accepted_by_carrier": "shipped",
    "sent_to_carrier": "shipped",
    "sold": "delivered",
    "canceled": "cancelled",
    "canceled_by_client": "cancelled",
    "declined_by_client": "cancelled",
    "defect": "cancelled",
    "canceled_by_carrier": "cancelled",
}
_RANK = {"pending": 0, "confirmed": 1, "shipped": 2, "delivered": 3, "cancelled": 4}


def order_status(supplier: str | None, wb: str | None) -> str:
    """Ours from the pair: `wbStatus` wins once terminal, else the later of the two."""
    ours_wb = WB_STATUS.get(wb) if wb is not None else None
    if wb is not None and wb not in WB_STATUS:
        raise ValueError(f"unknown wbStatus {wb!r}")
    if supplier is not None and supplier not in SUPPLIER_STATUS:
        raise ValueError(f"unknown supplierStatus {supplier!r}")
    if ours_wb in ("delivered", "cancelled"):
        return ours_wb
    candidates = [s for s in (SUPPLIER_STATUS.get(supplier or ""), ours_wb) if s]
    if not candidates:
        raise ValueError(f"no status in supplierStatus {supplier!r} / wbStatus {wb!r}")
    return max(candidates, key=lambda s: _RANK[s])


def wb_discount(price: int, sale: Decimal | None) -> tuple[int, Decimal]:
    """The whole discount percent (0..99) whose buyer price `price * (100 - d) / 100` is closest to
    `sale` (ties: the smaller discount), and that buyer price."""
    full = Decimal(price)
    if sale is None or sale >= full:
        return 0, full
    exact = (1 - sale / full) * 100
    low = max(0, min(99, int(exact)))
    candidates = {low, max(0, min(99, low + 1))}

    def buyer(discount: int) -> Decimal:
        return full * (100 - discount) / 100

    best = min(candidates, key=lambda d: (abs(buyer(d) - sale), d))
    return best, buyer(best)


def check_stock_payload(payload: Any) -> None:
    """Refuse to send anything but `{"stocks": [{"chrtId": int, "amount": int}, ...]}` (1..1000
    items, amount 0..100000): WB answers 204 to items with other keys and changes nothing."""
    stocks = payload.get("stocks") if isinstance(payload, dict) else None
    if not isinstance(payload, dict) or set(payload) != {"stocks"} or not isinstance(stocks, list):
        raise MarketplaceError("rejected", "wildberries stocks: the body must be exactly {\"stocks\": [...]}")
    if not 1 <= len(stocks) <= STOCK_BATCH:
        raise MarketplaceError("rejected", f"wildberries stocks: {len(stocks)} items, must be 1..{STOCK_BATCH}")
    for index, item in enumerate(stocks):
        keys = sorted(item) if isinstance(item, dict) else []
        if keys != ["amount", "chrtId"]:
            raise MarketplaceError(
                "rejected", f"wildberries stocks: item {index} must have exactly chrtId and amount, not {keys}"
            )
        for name in keys:
            if isinstance(item[name], bool) or not isinstance(item[name], int):
                raise MarketplaceError("rejected", f"wildberries stocks: item {index} {name} must be an integer")
        if not 0 <= item["amount"] <= STOCK_MAX:
            raise MarketplaceError("rejected", f"wildberries stocks: item {index} amount must be 0..{STOCK_MAX}")


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
        slug="wildberries",
        account_key=str(account.id) if account.id is not None else "default",
        base_url=account.base_url or WB_HOSTS["marketplace"],
        auth_headers={"Authorization": account.secret},
        limiter=limiter,
        limits=limits or limits_for("wildberries", account.settings.get("rate_limits")),
        rate_headers=RATE_HEADERS,
        options=options,
        clock=clock,
    )


def _hosts(account: Account) -> dict[str, str]:
    custom = account.settings.get("hosts")
    if isinstance(custom, Mapping):
        return {name: str(custom.get(name) or WB_HOSTS[name]).rstrip("/") for name in WB_HOSTS}
    base = (account.base_url or "").rstrip("/")
    if not base or base.split("://")[-1].split("/")[0].endswith("wildberries.ru"):
        return dict(WB_HOSTS)
    return {name: base for name in WB_HOSTS}


@dataclass
class _PriceEntry:
    nm_id: int
    price: int
    discount: int
    members: list[tuple[int, str | None]] = field(default_factory=list)  # (item index, note)


@dataclass
class _Upload:
    upload_id: int
    entries: list[_PriceEntry]
    uploaded_at: float


@dataclass
class _StockRow:
    chrt_id: int
    amount: int
    indexes: list[int]


class WildberriesAdapter:
    """`WildberriesAdapter(account, client)`; the client from :func:`make_client` (or build_adapter).
    `task_wait`: how long to wait for an asynchronous price upload before calling it unconfirmed."""

    slug = "wildberries"

    def __init__(
        self,
        account: Account,
        client: MarketplaceClient,
        *,
        task_wait: float = 120.0,
        first_poll_delay: float = 0.5,
        poll_interval: float = 0.5,
        poll_interval_max: float = 5.0,
    ) -> None:
        self.account = account
        self.client = client
        self.hosts = _hosts(account)
        self.task_wait = task_wait
        self.first_poll_delay = first_poll_delay
        self.poll_interval = poll_interval
        self.poll_interval_max = poll_interval_max

    def _url(self, host: str, path: str) -> str:
        return self.hosts[host] + path

    def _currency(self) -> int:
        raw = self.account.settings.get("currency_code", 860)
        code = as_int(raw)
        if code is None and isinstance(raw, str):
            code = CURRENCIES.get(raw.strip().upper())
        if code is None:
            raise MarketplaceError("config", f"wildberries: settings.currency_code {raw!r} is not a currency")
        return code

    # ---- prices ------------------------------------------------------------------------------------------

    async def push_prices(self, items: Sequence[PriceUpdate]) -> PushResult:
        run = PushRun(len(items))
        entries: dict[int, _PriceEntry] = {}
        for index, item in enumerate(items):
            run.track(index, item.ref)
            nm_id = as_int(item.keys.get("nm_id"))
            if nm_id is None:
                run.fail(index, "not mapped: Wildberries needs nm_id")
                continue
            full = whole(item.price)
            if full is None or full < 1:
                run.fail(index, f"Wildberries takes a whole positive price, not {item.price}")
                continue
            if item.sale_price is not None and item.sale_price <= 0:
                run.fail(index, f"the sale price {item.sale_price} is not positive")
                continue
            discount, buyer = wb_discount(full, item.sale_price)
            note = None
            if item.sale_price is not None and item.sale_price > full:
                note = f"the sale price {item.sale_price} is above the full price: sent without a discount"
            elif item.sale_price is not None and buyer != item.sale_price:
                note = (
                    f"Wildberries discounts in whole percent: buyers pay {decimal_text(buyer)} "
                    f"({discount}% off {full}), not {decimal_text(item.sale_price)}"
                )
            entry = entries.get(nm_id)
            if entry is None:
                entries[nm_id] = _PriceEntry(nm_id, full, discount, [(index, note)])
            elif (entry.price, entry.discount) == (full, discount):
                entry.members.append((index, note))
            else:
                run.fail(index, f"nmID {nm_id} gets a different price from another item of this push")
        uploads: list[_Upload] = []

        def upload_job(batch: list[_PriceEntry]) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                upload = await self._upload(batch, run)
                if upload is not None:
                    uploads.append(upload)

            return job

        await run_bounded(
            [upload_job(b) for b in chunks(list(entries.values()), PRICE_BATCH)], self.client.options.concurrency, run
        )
        uploads.sort(key=lambda u: u.uploaded_at)

        def settle_job(upload: _Upload) -> Callable[[], Awaitable[None]]:
            return lambda: self._settle(upload, run)

        # after every upload went out: by then the early ones are usually processed already, so each
        # poll costs one token of the (tight) prices bucket instead of several
        await run_bounded([settle_job(u) for u in uploads], self.client.options.concurrency, run)
        return run.finish()

    @staticmethod
    def _mark(run: PushRun, entries: Sequence[_PriceEntry], error: str | None = None, note: str | None = None) -> None:
        for entry in entries:
            for index, own_note in entry.members:
                if error is None:
                    run.ok(index, own_note or note)
                else:
                    run.fail(index, error)

    async def _upload(self, batch: list[_PriceEntry], run: PushRun) -> _Upload | None:
        if run.aborted is not None:
            self._mark(run, batch, f"not sent: {run.aborted}")
            return None
        body = {"data": [{"nmID": e.nm_id, "price": e.price, "discount": e.discount} for e in batch]}
        try:
            reply = await self.client.request(
                "POST", self._url("prices", "/api/v2/upload/task"), groups=("prices",), json_body=body, tally=run.tally
            )
            answer = expect_dict(reply.data, "answer")
            if answer.get("error") is True:
                raise ValueError(f"error is true ({answer.get('errorText') or 'no errorText'})")
            data = expect_dict(answer.get("data"), "data")
            upload_id = as_int(data.get("id"))
            if upload_id is None:
                raise ValueError("no upload id")
        except HttpError as error:
            said = error.payload.get("errorText") if isinstance(error.payload, dict) else None
            if error.status == 400 and isinstance(said, str) and "already set" in said.lower():
                await self._already_set(batch, run)
                return None
            run.abort_if_fatal(error)
            self._mark(run, batch, str(error))
            return None
        except MarketplaceError as error:
            run.abort_if_fatal(error)
            self._mark(run, batch, str(error))
            return None
        except ValueError as exc:
            self._mark(run, batch, str(self.client.bad_response(unconfirmed("price upload", str(exc)), reply.data)))
            return None
        return _Upload(upload_id, batch, self.client.clock.now())

    async def _already_set(self, batch: list[_PriceEntry], run: PushRun) -> None:
        """WB refused the whole upload as "specified incorrectly, or already set": read the goods back
        and tell the two apart per nmID."""
        try:
            current = await self.read_goods([e.nm_id for e in batch], run.tally)
        except MarketplaceError as error:
            run.abort_if_fatal(error)
            self._mark(run, batch, f"Wildberries answered \"already set\" for the upload, and reading the "
                                   f"prices back to check failed: {error}")
            return
        for entry in batch:
            held = current.get(entry.nm_id)
            if held is None:
                self._mark(run, [entry], f"Wildberries has no card nmID {entry.nm_id} (deleted or in the "
                                         "trash): the price was not set; map the product to a live card")
            elif held == (entry.price, entry.discount):
                self._mark(run, [entry], note=ALREADY_SET_NOTE)
            else:
                self._mark(run, [entry], f"Wildberries answered \"already set\" but holds price {held[0]} "
                                         f"with {held[1]}% off, not {entry.price} with {entry.discount}% off")

    async def read_goods(self, nm_ids: Sequence[int], tally: CallTally) -> dict[int, tuple[int, int]]:
        """{nmID: (price, discount)} for those of `nm_ids` that Wildberries lists (a deleted card is
        not listed): one filterNmID call each for a few, else the whole list by GOODS_PAGE."""
        wanted = set(nm_ids)
        out: dict[int, tuple[int, int]] = {}
        if len(wanted) <= GOODS_ONE_BY_ONE:
            for nm_id in sorted(wanted):
                found, _ = await self._goods_page({"limit": 1, "offset": 0, "filterNmID": nm_id}, wanted, tally)
                out.update(found)
            return out
        for page in range(MAX_PAGES):
            found, rows = await self._goods_page({"limit": GOODS_PAGE, "offset": page * GOODS_PAGE}, wanted, tally)
            out.update(found)
            if rows < GOODS_PAGE or len(out) == len(wanted):
                break
        return out

    async def _goods_page(
        self, params: Mapping[str, Any], wanted: set[int], tally: CallTally
    ) -> tuple[dict[int, tuple[int, int]], int]:
        reply = await self.client.request(
            "GET", self._url("prices", "/api/v2/list/goods/filter"), groups=("prices",), params=params, tally=tally
        )
        found: dict[int, tuple[int, int]] = {}
        try:
            data = expect_dict(reply.data, "answer").get("data")
            goods = expect_list(expect_dict(data or {}, "data").get("listGoods") or [], "listGoods")
            for row in goods:
                row = expect_dict(row, "listGoods[]")
                nm_id = as_int(row.get("nmID"))
                if nm_id is None or nm_id not in wanted:
                    continue
                sizes = expect_list(row.get("sizes") or [], "sizes")
                first = expect_dict(sizes[0], "sizes[]") if sizes else {}
                price = as_int(first.get("price"))
                discount = as_int(row.get("discount"))
                if price is None or discount is None:
                    raise ValueError(f"nmID {nm_id} has no price or discount")
                found[nm_id] = (price, discount)
        except ValueError as exc:
            raise self.client.bad_response(f"goods prices: {exc}", reply.data) from None
        return found, len(goods)

    async def _task_info(self, path: str, upload_id: int, tally: CallTally) -> Mapping[str, Any] | None:
        reply = await self.client.request(
            "GET", self._url("prices", path), groups=("prices",), params={"uploadID": upload_id}, tally=tally
        )
        try:
            data = expect_dict(reply.data, "answer").get("data")
            if data is None:
                return None
            info = expect_dict(data, "data")
            if as_int(info.get("status")) is None:
                raise ValueError("no status")
            return info
        except ValueError as exc:
            raise self.client.bad_response(f"upload {upload_id} state: {exc}", reply.data) from None

    async def _settle(self, upload: _Upload, run: PushRun) -> None:
        clock = self.client.clock
        deadline = upload.uploaded_at + self.task_wait
        first = upload.uploaded_at + self.first_poll_delay
        if clock.now() < first:
            await clock.sleep(first - clock.now())
        delay = self.poll_interval
        checked_buffer = False
        try:
            while True:
                info = await self._task_info("/api/v2/history/tasks", upload.upload_id, run.tally)
                if info is not None and as_int(info.get("status")) in TASK_DONE:
                    break
                if not checked_buffer:  # once: is it known and still processing?
                    checked_buffer = True
                    buffered = await self._task_info("/api/v2/buffer/tasks", upload.upload_id, run.tally)
                    if buffered is not None and as_int(buffered.get("status")) in TASK_DONE:
                        info = buffered
                        break
                if clock.now() + delay > deadline:
                    self._mark(
                        run,
                        upload.entries,
                        f"Wildberries upload {upload.upload_id} is still processing after {self.task_wait:g} s; "
                        "not confirmed",
                    )
                    return
                await clock.sleep(delay)
                delay = min(delay * 2, self.poll_interval_max)
            status = as_int(info.get("status"))
            if status == TASK_OK:
                self._mark(run, upload.entries)
                return
            if status == TASK_CANCELLED:
                self._mark(run, upload.entries, f"Wildberries cancelled upload {upload.upload_id}")
                return
            goods = await self._goods(upload.upload_id, run.tally)
        except MarketplaceError as error:
            said = f"Wildberries accepted upload {upload.upload_id} but its result is unknown: {error}"
            self._mark(run, upload.entries, said)
            return
        for entry in upload.entries:
            row = goods.get(entry.nm_id)
            if row is not None and row[0] == ITEM_ERROR:
                self._mark(run, [entry], f"Wildberries: {row[1] or 'refused without a reason'}")
            elif row is not None and row[0] == ITEM_OK:
                self._mark(run, [entry])
            elif status == TASK_PARTIAL:  # only the goods list says which items landed
                self._mark(run, [entry], unconfirmed(f"Wildberries upload {upload.upload_id} (partly failed)",
                                                     "its goods list does not show this nmID as done"))
            else:
                self._mark(run, [entry], f"Wildberries upload {upload.upload_id} failed (status {status})")

    async def _goods(self, upload_id: int, tally: CallTally) -> dict[int, tuple[int, str]]:
        out: dict[int, tuple[int, str]] = {}
        for page in range(MAX_PAGES):
            reply = await self.client.request(
                "GET",
                self._url("prices", "/api/v2/history/goods/task"),
                groups=("prices",),
                params={"uploadID": upload_id, "limit": GOODS_PAGE, "offset": page * GOODS_PAGE},
                tally=tally,
            )
            try:
                data = expect_dict(reply.data, "answer").get("data")
                rows = expect_list(expect_dict(data, "data").get("historyGoods") or [], "historyGoods")
                for row in rows:
                    row = expect_dict(row, "historyGoods[]")
                    nm_id = as_int(row.get("nmID"))
                    status = as_int(row.get("status"))
                    if nm_id is not None and status is not None:
                        out[nm_id] = (status, str(row.get("errorText") or ""))
            except ValueError as exc:
                raise self.client.bad_response(f"upload {upload_id} goods: {exc}", reply.data) from None
            if len(rows) < GOODS_PAGE:
                break
        return out

    # ---- stocks ------------------------------------------------------------------------------------------

    async def push_stocks(self, items: Sequence[StockUpdate]) -> PushResult:
        run = PushRun(len(items))
        default_warehouse = as_int(self.account.settings.get("warehouse_id"))
        warehouses: dict[int, dict[int, _StockRow]] = {}
        for index, item in enumerate(items):
            run.track(index, item.ref)
            chrt_id = as_int(item.keys.get("chrt_id"))
            warehouse = as_int(item.keys.get("warehouse_id")) or default_warehouse
            if chrt_id is None:
                run.fail(index, "not mapped: Wildberries needs chrt_id")
                continue
            if warehouse is None:
                run.fail(index, "no warehouse: set warehouse_id in the Wildberries account settings")
                continue
            if not 0 <= item.quantity <= STOCK_MAX:
                run.fail(index, f"Wildberries takes 0..{STOCK_MAX} per item, not {item.quantity}")
                continue
            rows = warehouses.setdefault(warehouse, {})
            row = rows.get(chrt_id)
            if row is None:
                rows[chrt_id] = _StockRow(chrt_id, item.quantity, [index])
            elif row.amount == item.quantity:
                row.indexes.append(index)
            else:
                run.fail(index, f"chrtId {chrt_id} appears twice in this push with different amounts")

        def job_for(warehouse: int, batch: list[_StockRow]) -> Callable[[], Awaitable[None]]:
            return lambda: self._put_stocks(warehouse, batch, run)

        jobs = [
            job_for(warehouse, batch)
            for warehouse, rows in warehouses.items()
            for batch in chunks(list(rows.values()), STOCK_BATCH)
        ]
        await run_bounded(jobs, self.client.options.concurrency, run)
        return run.finish()

    async def _put_stocks(self, warehouse: int, batch: list[_StockRow], run: PushRun) -> None:
        rows = list(batch)
        last_error = ""
        for _ in range(CONFLICT_ROUNDS):
            if run.aborted is not None:
                run.fail_all([i for r in rows for i in r.indexes], f"not sent: {run.aborted}")
                return
            payload = {"stocks": [{"chrtId": r.chrt_id, "amount": r.amount} for r in rows]}
            try:
                check_stock_payload(payload)
                reply = await self.client.request(
                    "PUT",
                    self._url("marketplace", f"/api/v3/stocks/{warehouse}"),
                    groups=("stocks",),
                    json_body=payload,
                    allow_empty=True,
                    tally=run.tally,
                )
            except HttpError as error:
                refused = _conflicts(error.payload) if error.status == 409 else {}
                sent = {r.chrt_id for r in rows}
                if not refused.keys() & sent:
                    run.fail_all([i for r in rows for i in r.indexes], error)
                    return
                for row in rows:
                    if row.chrt_id in refused:
                        run.fail_all(row.indexes, f"Wildberries: {refused[row.chrt_id]}")
                rows = [r for r in rows if r.chrt_id not in refused]
                last_error = str(error)
                if not rows:
                    return
                continue  # WB applied none of that call: send the others again
            except MarketplaceError as error:
                run.fail_all([i for r in rows for i in r.indexes], error)
                return
            if reply.status != 204:  # WB confirms a stock update only with 204 No Content
                said = self.client.bad_response(
                    unconfirmed(f"stocks (HTTP {reply.status})", "Wildberries confirms a stock update only with 204"),
                    reply.data,
                )
                run.fail_all([i for r in rows for i in r.indexes], said)
                return
            for row in rows:
                for index in row.indexes:
                    run.ok(index)
            return
        run.fail_all([i for r in rows for i in r.indexes], f"still refused after {CONFLICT_ROUNDS} tries: {last_error}")

    # ---- orders ------------------------------------------------------------------------------------------

    async def fetch_orders(self, since: datetime) -> FetchedOrders:
        """Every order in status new, plus every order created since `since` (at most 3 months
        back) with its current status."""
        since = utc_naive(since)
        currency = self._currency()
        tally = CallTally()
        found: dict[str, RemoteOrder] = {}
        skipped: list[str] = []
        reply = await self.client.request(
            "GET", self._url("marketplace", "/api/v3/orders/new"), groups=("marketplace",), tally=tally
        )
        try:
            new_orders = expect_list(expect_dict(reply.data, "answer").get("orders"), "orders")
        except ValueError as exc:
            raise self.client.bad_response(f"new orders: {exc}", reply.data) from None
        for raw in new_orders:
            self._keep(raw, "new", "waiting", currency, found, skipped)
        others: dict[int, Any] = {}
        for raw in await self._orders_since(since, tally, skipped):
            order_id = as_int(raw.get("id")) if isinstance(raw, dict) else None
            if order_id is None:
                skipped.append(f"{raw!r:.60}: no order id")
            elif str(order_id) not in found:
                others[order_id] = raw
        statuses = await self._statuses(list(others), tally)
        for order_id, raw in others.items():
            pair = statuses.get(order_id)
            if pair is None:
                skipped.append(f"{order_id}: Wildberries gave no status for it")
                continue
            self._keep(raw, pair[0], pair[1], currency, found, skipped)
        return FetchedOrders(found.values(), skipped)

    def _keep(
        self, raw: Any, supplier: str, wb: str, currency: int, found: dict[str, RemoteOrder], skipped: list[str]
    ) -> None:
        try:
            order = self._order(raw, supplier, wb, currency)
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
            ident = raw.get("id") if isinstance(raw, dict) else None
            skipped.append(f"{ident}: {exc}")
            return
        found[order.marketplace_order_id] = order

    async def _orders_since(self, since: datetime, tally: CallTally, skipped: list[str]) -> list[Any]:
        now = datetime.now(UTC).replace(tzinfo=None)
        start = since
        if start < now - ORDERS_HISTORY:
            start = now - ORDERS_HISTORY
            skipped.append(f"orders before {start:%Y-%m-%d} not read: Wildberries keeps 3 months")
        out: list[Any] = []
        while start < now:
            end = min(start + ORDERS_WINDOW, now)
            cursor = 0
            for _ in range(MAX_PAGES):
                params = {
                    "limit": ORDERS_LIMIT,
                    "next": cursor,
                    "dateFrom": int(start.replace(tzinfo=UTC).timestamp()),
                    "dateTo": int(end.replace(tzinfo=UTC).timestamp()) + 1,
                }
                reply = await self.client.request(
                    "GET", self._url("marketplace", "/api/v3/orders"), groups=("marketplace",), params=params,
                    tally=tally,
                )
                try:
                    data = expect_dict(reply.data, "answer")
                    orders = expect_list(data.get("orders"), "orders")
                    next_cursor = as_int(data.get("next"))
                except ValueError as exc:
                    raise self.client.bad_response(f"orders: {exc}", reply.data) from None
                out.extend(orders)
                if len(orders) < ORDERS_LIMIT or next_cursor is None or next_cursor == cursor:
                    break
                cursor = next_cursor
            start = end
        return out

    async def _statuses(self, ids: Sequence[int], tally: CallTally) -> dict[int, tuple[str, str]]:
        out: dict[int, tuple[str, str]] = {}
        for batch in chunks(list(ids), STATUS_BATCH):
            reply = await self.client.request(
                "POST",
                self._url("marketplace", "/api/v3/orders/status"),
                groups=("marketplace",),
                json_body={"orders": batch},
                tally=tally,
            )
            try:
                for row in expect_list(expect_dict(reply.data, "answer").get("orders"), "orders"):
                    row = expect_dict(row, "orders[]")
                    order_id = as_int(row.get("id"))
                    if order_id is not None:
                        out[order_id] = (str(row.get("supplierStatus") or ""), str(row.get("wbStatus") or ""))
            except ValueError as exc:
                raise self.client.bad_response(f"order statuses: {exc}", reply.data) from None
        return out

    async def fetch_order_statuses(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """{id: (our status, "supplierStatus/wbStatus")} for the ids Wildberries knows (1000 per call)."""
        numeric = [n for n in (as_int(i) for i in ids) if n is not None]
        out: dict[str, tuple[str, str]] = {}
        for order_id, (supplier, wb) in (await self._statuses(numeric, CallTally())).items():
            try:
                out[str(order_id)] = (order_status(supplier or None, wb or None), f"{supplier}/{wb}")
            except ValueError as exc:
                log.warning("wildberries order %s: %s", order_id, exc)
        return out

    def _order(self, raw: Any, supplier: str, wb: str, currency: int) -> RemoteOrder:
        order = expect_dict(raw, "order")
        order_id = as_int(order.get("id"))
        if order_id is None:
            raise ValueError("no order id")
        status = order_status(supplier or None, wb or None)
        code = as_int(order.get("currencyCode"))
        original: dict[str, Any] = {}
        if code == currency:
            price = money(order.get("price"), "price") / 100
        elif as_int(order.get("convertedCurrencyCode")) == currency:
            # sold in the buyer's currency; WB also gives the price in the seller's: that is ours
            price = money(order.get("convertedPrice"), "convertedPrice") / 100
            original = {"sold_price": str(money(order.get("price"), "price") / 100), "sold_currency": code}
        else:
            raise ValueError(
                f"currency {order.get('currencyCode')!r} (converted {order.get('convertedCurrencyCode')!r}), "
                f"neither is the shop's {currency}: price not imported"
            )
        article = as_text(order.get("article"))
        barcodes = [str(s) for s in order.get("skus") or [] if s is not None]
        address = order.get("address")
        return RemoteOrder(
            marketplace_order_id=str(order_id),
            status=status,
            raw_status=f"{supplier}/{wb}",
            created_at=parse_time(order.get("createdAt"), "createdAt"),
            lines=[
                RemoteOrderLine(
                    line_id=str(order_id),
                    seller_sku=article,
                    keys={
                        "nm_id": as_int(order.get("nmId")),
                        "chrt_id": as_int(order.get("chrtId")),
                        "barcodes": barcodes,
                        "rid": as_text(order.get("rid")),
                        "order_uid": as_text(order.get("orderUid")),
                        **original,
                    },
                    name=article or "",
                    quantity=1,
                    price=price,
                )
            ],
            delivery_address=as_text(address.get("fullAddress")) if isinstance(address, dict) else None,
        )

    # ---- read-back (reconcile) ------------------------------------------------------------------------

    async def compare_prices(self, items: Sequence[PriceUpdate]) -> Comparison:
        """Our (price, whole-percent discount) against what the goods list holds, per nmID."""
        tally = CallTally()
        unread: dict[int, str] = {}
        expected: dict[int, tuple[int, int, list[int]]] = {}
        for item in items:
            nm_id = as_int(item.keys.get("nm_id"))
            full = whole(item.price)
            if nm_id is None or full is None or full < 1:
                unread[item.ref] = "not mapped to an nmID, or not a whole price"
                continue
            discount, _ = wb_discount(full, item.sale_price)
            expected.setdefault(nm_id, (full, discount, []))[2].append(item.ref)
        held = await self.read_goods(list(expected), tally) if expected else {}
        differences = []
        for nm_id, (full, discount, refs) in expected.items():
            ours = f"{full} (-{discount}%)"
            theirs = held.get(nm_id)
            for ref in refs:
                if theirs is None:
                    differences.append(Difference(ref, ours, f"no card nmID {nm_id} (deleted or in the trash)", True))
                elif theirs != (full, discount):
                    differences.append(Difference(ref, ours, f"{theirs[0]} (-{theirs[1]}%)"))
        return Comparison(differences, len(items) - len(unread), unread, tally.calls)

    async def compare_stocks(self, items: Sequence[StockUpdate]) -> Comparison:
        """Our stock against `POST /api/v3/stocks/{warehouseId}` (`chrtIds`, 1000 per call)."""
        tally = CallTally()
        unread: dict[int, str] = {}
        default_warehouse = as_int(self.account.settings.get("warehouse_id"))
        wanted: dict[int, dict[int, list[StockUpdate]]] = {}
        for item in items:
            chrt_id = as_int(item.keys.get("chrt_id"))
            warehouse = as_int(item.keys.get("warehouse_id")) or default_warehouse
            if chrt_id is None or warehouse is None:
                unread[item.ref] = "not mapped to a chrtID, or no warehouse_id"
                continue
            wanted.setdefault(warehouse, {}).setdefault(chrt_id, []).append(item)
        differences = []
        for warehouse, by_chrt in wanted.items():
            held: dict[int, int] = {}
            for batch in chunks(list(by_chrt), STOCK_BATCH):
                reply = await self.client.request(
                    "POST", self._url("marketplace", f"/api/v3/stocks/{warehouse}"), groups=("stocks",),
                    json_body={"chrtIds": batch}, tally=tally,
                )
                try:
                    for row in expect_list(expect_dict(reply.data, "answer").get("stocks"), "stocks"):
                        row = expect_dict(row, "stocks[]")
                        chrt_id, amount = as_int(row.get("chrtId")), as_int(row.get("amount"))
                        if chrt_id is not None and amount is not None:
                            held[chrt_id] = amount
                except ValueError as exc:
                    raise self.client.bad_response(f"stocks of warehouse {warehouse}: {exc}", reply.data) from None
            for chrt_id, group in by_chrt.items():
                for item in group:
                    if chrt_id not in held:
                        differences.append(Difference(item.ref, str(item.quantity),
                                                      f"no size chrtID {chrt_id} at warehouse {warehouse}", True))
                    elif held[chrt_id] != item.quantity:
                        differences.append(Difference(item.ref, str(item.quantity), str(held[chrt_id])))
        return Comparison(differences, len(items) - len(unread), unread, tally.calls)

    # ---- catalogue ---------------------------------------------------------------------------------------

    async def list_catalog(self) -> list[CatalogItem]:
        """One item per size (chrtID) of every card."""
        tally = CallTally()
        items: list[CatalogItem] = []
        cursor: dict[str, Any] = {"limit": CARDS_LIMIT}
        for _ in range(MAX_PAGES):
            body = {"settings": {"cursor": cursor, "filter": {"withPhoto": -1}, "sort": {"ascending": True}}}
            reply = await self.client.request(
                "POST", self._url("content", "/content/v2/get/cards/list"), groups=("content",), json_body=body,
                tally=tally,
            )
            try:
                data = expect_dict(reply.data, "answer")
                cards = expect_list(data.get("cards"), "cards")
                page = expect_dict(data.get("cursor") or {}, "cursor")
                for card in cards:
                    card = expect_dict(card, "cards[]")
                    nm_id = as_int(card.get("nmID"))
                    vendor_code = as_text(card.get("vendorCode"))
                    for size in expect_list(card.get("sizes") or [], "sizes"):
                        size = expect_dict(size, "sizes[]")
                        barcodes = [str(s) for s in size.get("skus") or [] if s is not None]
                        items.append(
                            CatalogItem(
                                seller_sku=vendor_code,
                                barcodes=barcodes,
                                keys={
                                    "nm_id": nm_id,
                                    "chrt_id": as_int(size.get("chrtID")),
                                    "vendor_code": vendor_code,
                                    "barcodes": barcodes,
                                    "tech_size": as_text(size.get("techSize")),
                                },
                                name=as_text(card.get("title")),
                            )
                        )
            except ValueError as exc:
                raise self.client.bad_response(f"cards: {exc}", reply.data) from None
            if len(cards) < CARDS_LIMIT or not page.get("updatedAt") or page.get("nmID") is None:
                break
            cursor = {"limit": CARDS_LIMIT, "updatedAt": page["updatedAt"], "nmID": page["nmID"]}
        return items


def _conflicts(payload: Any) -> dict[int, str]:
    """chrtId -> "code: message" from WB's 409 array `[{code, message, data: [{sku, chrtId, amount}]}]`."""
    out: dict[int, str] = {}
    for group in payload if isinstance(payload, list) else []:
        if not isinstance(group, dict):
            continue
        said = ": ".join(str(v) for v in (group.get("code"), group.get("message")) if v)
        for row in group.get("data") or []:
            chrt_id = as_int(row.get("chrtId")) if isinstance(row, dict) else None
            if chrt_id is not None:
                out[chrt_id] = said or "refused"
    return out
