"""Row types returned by the repositories: frozen dataclasses, money as Decimal.

Timestamps are the schema's `timestamp` (without time zone) and hold UTC.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Self

import asyncpg


class _Row:
    @classmethod
    def from_record(cls, record: asyncpg.Record) -> Self:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in record.items() if k in names})

    @classmethod
    def from_records(cls, records: list[asyncpg.Record]) -> list[Self]:
        return [cls.from_record(r) for r in records]


@dataclass(frozen=True, slots=True)
class User(_Row):
    id: int
    telegram_id: int
    first_name: str
    last_name: str | None
    username: str | None
    phone: str | None
    language: str | None
    is_active: bool | None
    created_at: datetime | None
    updated_at: datetime | None
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class Category(_Row):
    id: int
    name_uz: str
    name_ru: str | None
    parent_id: int | None
    icon: str | None
    image_url: str | None
    sort_order: int | None
    is_active: bool | None

    def name(self, lang: str) -> str:
        return (self.name_ru if lang == "ru" else None) or self.name_uz


@dataclass(frozen=True, slots=True)
class Product(_Row):
    id: int
    sku: str
    barcode: str | None
    name_uz: str
    name_ru: str | None
    description_uz: str | None
    description_ru: str | None
    category_id: int | None
    price: Decimal
    sale_price: Decimal | None
    image_url: str | None
    stock_quantity: int
    is_active: bool
    view_count: int
    order_count: int
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def name(self, lang: str) -> str:
        return (self.name_ru if lang == "ru" else None) or self.name_uz

    def description(self, lang: str) -> str | None:
        return (self.description_ru if lang == "ru" else None) or self.description_uz

    @property
    def current_price(self) -> Decimal:
        """What a customer pays now: the sale price when set, else the price."""
        return self.sale_price if self.sale_price is not None else self.price


@dataclass(frozen=True, slots=True)
class Marketplace(_Row):
    id: int
    name: str
    slug: str
    api_base_url: str | None
    api_key_encrypted: str | None
    is_active: bool
    auto_sync_enabled: bool
    sync_interval_minutes: int
    last_sync_at: datetime | None
    # (0003) not secret per-account values: uzum shop_id, wildberries/ozon warehouse_id, ozon client_id
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MarketplaceProduct(_Row):
    id: int
    product_id: int
    marketplace_id: int
    marketplace_sku: str
    marketplace_product_id: str | None
    marketplace_url: str | None
    marketplace_price: Decimal | None
    last_price_sync_at: datetime | None
    marketplace_stock: int | None
    last_stock_sync_at: datetime | None
    is_active: bool
    # (0003) the marketplace's ids of the item (sync.adapters.base.MarketplaceKeys) and the full price
    # it last accepted (marketplace_price is what the buyer pays there)
    marketplace_keys: dict[str, Any] = dataclasses.field(default_factory=dict)
    marketplace_full_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CartItem(_Row):
    id: int
    user_id: int
    product_id: int
    quantity: int
    price_snapshot: Decimal


@dataclass(frozen=True, slots=True)
class Order(_Row):
    id: int
    order_number: str
    source: str
    marketplace_order_id: str | None
    user_id: int | None
    customer_name: str
    customer_phone: str
    subtotal: Decimal
    delivery_fee: Decimal
    total: Decimal
    status: str
    payment_status: str
    delivery_address: str | None
    delivery_notes: str | None
    created_at: datetime
    confirmed_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None


@dataclass(frozen=True, slots=True)
class OrderItem(_Row):
    id: int
    order_id: int
    product_id: int | None
    product_name: str
    product_sku: str
    price: Decimal
    quantity: int
    subtotal: Decimal


@dataclass(frozen=True, slots=True)
class Banner(_Row):
    id: int
    title_uz: str | None
    title_ru: str | None
    image_url: str
    link_type: str | None
    link_id: int | None
    link_url: str | None
    sort_order: int | None
    is_active: bool | None
    image_url_ru: str | None = None  # migration 0009: the Russian artwork

    def title(self, lang: str) -> str | None:
        return (self.title_ru if lang == "ru" else None) or self.title_uz

    def image(self, lang: str) -> str:
        """The artwork in the customer's language, the schema's one where there is none."""
        return (self.image_url_ru if lang == "ru" else None) or self.image_url


@dataclass(frozen=True, slots=True)
class SyncLog(_Row):
    id: int
    marketplace_id: int
    sync_type: str
    status: str
    items_processed: int
    items_failed: int
    error_message: str | None
    started_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class SourceSales(_Row):
    """Orders and revenue of one source (app, uzum, ...) over a period; revenue leaves out cancelled orders."""

    source: str
    orders: int
    cancelled: int
    revenue: Decimal


@dataclass(frozen=True, slots=True)
class ProductSales(_Row):
    """Units and revenue of one SKU over a period (cancelled orders left out)."""

    sku: str
    name: str
    quantity: int
    revenue: Decimal


@dataclass(frozen=True, slots=True)
class SyncCandidate(_Row):
    """A mapping with what our catalog says now: one item of a price or stock push."""

    id: int  # marketplace_products.id
    product_id: int
    marketplace_id: int
    marketplace_sku: str
    marketplace_keys: dict[str, Any]
    marketplace_price: Decimal | None
    marketplace_full_price: Decimal | None
    marketplace_stock: int | None
    sku: str  # ours
    price: Decimal
    sale_price: Decimal | None
    stock_quantity: int

    @property
    def current_price(self) -> Decimal:
        return self.sale_price if self.sale_price is not None else self.price


@dataclass(frozen=True, slots=True)
class MarketplaceOrder(_Row):
    """An imported order's marketplace side (table marketplace_orders)."""

    order_id: int
    marketplace_id: int
    raw_status: str
    is_return: bool
    stock_taken: dict[str, int]
    stock_short: dict[str, int]
    stock_returned_at: datetime | None
    imported_at: datetime


@dataclass(frozen=True, slots=True)
class SyncState(_Row):
    marketplace_id: int
    sync_type: str
    last_run_at: datetime | None
    cursor_at: datetime | None
    failures: int = 0  # scheduled runs failed in a row (0008)
    retry_at: datetime | None = None  # the next scheduled run is due at this time, sooner than the interval


@dataclass(frozen=True, slots=True)
class SyncLogItem(_Row):
    id: int
    sync_log_id: int
    marketplace_product_id: int | None
    item_ref: str
    message: str


def as_dict(row: Any) -> dict[str, Any]:
    return dataclasses.asdict(row)


# --- payments (issue #10) ---


@dataclass(frozen=True, slots=True)
class OrderPayment(_Row):
    """How a Mini App order is paid (order_payments): the method, what is owed in tiyin, and when an
    unpaid online order expires. Timestamps are UTC."""

    order_id: int
    method: str  # cash, payme, click, telegram
    amount_tiyin: int
    expires_at: datetime | None
    paid_at: datetime | None
    refunded_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PaymentTransaction(_Row):
    """One payment attempt at a payment system (payment_transactions); times in ms since the epoch,
    `state` in Payme's terms: 1 created, 2 performed, -1 cancelled, -2 cancelled after perform."""

    id: int
    order_id: int
    provider: str
    provider_transaction_id: str
    amount_tiyin: int
    state: int
    reason: int | None
    provider_time: int | None
    create_time: int
    perform_time: int
    cancel_time: int
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PaymentEvent(_Row):
    """An audit row of a money change (payment_events)."""

    id: int
    order_id: int
    transaction_id: int | None
    event: str
    provider: str | None
    amount_tiyin: int | None
    old_payment_status: str | None
    new_payment_status: str | None
    actor: str
    note: str | None
    created_at: datetime
