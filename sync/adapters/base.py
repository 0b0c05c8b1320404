"""The interface every marketplace adapter speaks, in our terms.

An adapter knows one marketplace's API exactly (hosts, paths, auth headers, field names, batch sizes,
rate limits) and nothing about our database: the sync service gives it what to push and gets back
per-item results and normalised orders. Money is Decimal in so'm; our order statuses are
pending, confirmed, shipped, delivered, cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

# Marketplace-side identifiers of one mapped product, by marketplace:
#   uzum:        {"shop_id", "product_id", "sku_id", "barcode", "seller_sku"}
#   wildberries: {"nm_id", "chrt_id", "vendor_code", "barcodes"}
#   ozon:        {"offer_id", "product_id", "sku"}
# (stock pushes also read an optional "warehouse_id" key over the account's default on WB and Ozon)
MarketplaceKeys = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Account:
    """One marketplace account: where to call, the decrypted secret, per-account settings
    (uzum: shop_id [, shop_ids]; wildberries: warehouse_id [, currency_code, hosts]; ozon: client_id,
    warehouse_id [, currency_code]; any: rate_limits {group: {requests, period, burst}})."""

    slug: str
    base_url: str
    secret: str = field(repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None  # marketplaces.id: names the account's rate-limit buckets (shared by all workers)


@dataclass(frozen=True, slots=True)
class PriceUpdate:
    ref: int  # our marketplace_products.id, echoed back in the ItemResult
    sku: str  # our SKU, for messages a person reads
    keys: MarketplaceKeys
    price: Decimal  # full price, so'm
    sale_price: Decimal | None  # what the buyer pays when on sale


@dataclass(frozen=True, slots=True)
class StockUpdate:
    ref: int
    sku: str
    keys: MarketplaceKeys
    quantity: int  # absolute value: a retry is idempotent


@dataclass(frozen=True, slots=True)
class ItemResult:
    ref: int
    ok: bool
    error: str | None = None  # what the marketplace said, for sync_logs.error_message
    note: str | None = None  # a remark on an ok item (e.g. WB: the buyer price differs from our sale price)
    # On a not-ok item: the marketplace only asked to send it again later (Ozon: one stock update per
    # product and warehouse per 30 s), in seconds. A deferral, not a failure: the sync service neither
    # records the item as pushed nor counts it as failed, and it stays in the delta.
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class PushResult:
    items: Sequence[ItemResult]
    calls: int  # HTTP requests made, including retries


@dataclass(frozen=True, slots=True)
class RemoteOrderLine:
    line_id: str
    seller_sku: str | None  # the seller's own code (our SKU when mapped by SKU)
    keys: MarketplaceKeys  # marketplace ids of the item (sku_id / nm_id+chrt_id / offer_id+sku ...)
    name: str
    quantity: int
    price: Decimal  # per unit, so'm


@dataclass(frozen=True, slots=True)
class RemoteOrder:
    marketplace_order_id: str
    status: str  # ours: pending, confirmed, shipped, delivered, cancelled
    raw_status: str  # the marketplace's own
    created_at: datetime  # UTC, naive
    lines: Sequence[RemoteOrderLine]
    customer_name: str | None = None
    customer_phone: str | None = None
    delivery_address: str | None = None
    is_return: bool = False
    # the marketplace is arbitrating (Ozon arbitration, client_arbitration): keep our previous status;
    # `status` is only what to use for an order we do not have yet
    on_hold: bool = False


class FetchedOrders(list[RemoteOrder]):
    """What `fetch_orders` returns: the orders (a plain list to callers that need no more) plus
    `skipped`, one "id: reason" per order the adapter could not read (unknown status, currency, bad
    fields), so a run that lost orders can say so."""

    def __init__(self, orders: Iterable[RemoteOrder] = (), skipped: Iterable[str] = ()) -> None:
        super().__init__(orders)
        self.skipped: list[str] = list(skipped)


@dataclass(frozen=True, slots=True)
class CatalogItem:
    seller_sku: str | None  # sellerItemCode / vendorCode / offer_id
    barcodes: Sequence[str]
    keys: MarketplaceKeys
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Difference:
    """One item whose value on the marketplace is not ours (reconcile): both as a person reads them.
    `missing`: the marketplace does not have the item at all (pushing ours cannot fix that)."""

    ref: int
    ours: str
    theirs: str
    missing: bool = False


@dataclass(frozen=True, slots=True)
class Comparison:
    """What a read-back found: the differing items, how many items were read, the ones that could not
    be read (ref -> why) and the HTTP requests it made."""

    differences: Sequence[Difference]
    checked: int
    unread: Mapping[int, str] = field(default_factory=dict)
    calls: int = 0


class MarketplaceError(Exception):
    """The whole call failed. `kind`: auth, rejected (a 4xx other than 429), rate_limited, server,
    timeout, bad_response, config (the account settings lack what the call needs). The message says
    what the marketplace said, never the secret."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class MarketplaceAdapter(Protocol):
    slug: str

    async def push_prices(self, items: Sequence[PriceUpdate]) -> PushResult: ...

    async def push_stocks(self, items: Sequence[StockUpdate]) -> PushResult: ...

    async def fetch_orders(self, since: datetime) -> Sequence[RemoteOrder]:
        """Orders created or changed since `since` (UTC), with their current status. The adapters
        return a FetchedOrders (a list with `skipped`)."""
        ...

    async def list_catalog(self) -> Sequence[CatalogItem]: ...


@runtime_checkable
class DriftReader(Protocol):
    """Optional: an adapter that can read back the marketplace's current stock and prices of mapped
    items and compare them with ours in its own terms (WB's whole-percent discount, Uzum's one read
    price, Ozon's available stock). Used by the reconcile run."""

    async def compare_stocks(self, items: Sequence[StockUpdate]) -> Comparison: ...

    async def compare_prices(self, items: Sequence[PriceUpdate]) -> Comparison: ...


@runtime_checkable
class DailyQuota(Protocol):
    """Optional: an adapter whose marketplace publishes a per-day request quota (Uzum). `daily_quota`
    is the last (remaining, limit) seen; `assume_daily_quota` primes a new adapter with what an
    earlier run saw, so a run never starts spending a quota that is already used up."""

    def daily_quota(self) -> tuple[int, int | None] | None: ...

    def assume_daily_quota(self, remaining: int, limit: int | None) -> None: ...


@runtime_checkable
class WatchedOrders(Protocol):
    """Optional: an adapter whose order lists of final statuses are read from a date (Uzum) is told
    the creation time of the oldest order we hold that may still change (None: none)."""

    def watch_orders_from(self, moment: datetime | None) -> None: ...


@runtime_checkable
class OrderStatusSource(Protocol):
    """Optional: an adapter whose `fetch_orders` cannot see every status change (Wildberries: its
    order lists carry no status) also answers for orders we already know. The sync service calls it
    with the marketplace ids of our open orders when `isinstance(adapter, OrderStatusSource)`."""

    async def fetch_order_statuses(self, ids: Sequence[str]) -> Mapping[str, tuple[str, str]]:
        """{marketplace_order_id: (our status, the marketplace's raw status)} for the ids it knows."""
        ...
