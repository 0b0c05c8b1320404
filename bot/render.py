"""Texts and keyboards the bot sends, built once for handlers and notification jobs alike.

Messages use Telegram's HTML parse mode: everything that comes from data (names, addresses,
SKUs) is escaped here.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from bot.callbacks import ChooseLanguage, ConfirmCancel, OpenOrder, SetStatus
from db.models import Category, Marketplace, MarketplaceProduct, Order, OrderItem, OrderPayment, PaymentEvent, Product
from store.i18n import CATALOG, format_money, t
from store.services.orders import Actor, allowed_next
from store.settings import Settings

# Uzbekistan keeps UTC+5 all year (no daylight saving); the database holds UTC.
TASHKENT = timezone(timedelta(hours=5))
MAX_ITEM_LINES = 25
MESSAGE_LIMIT = 4096


def esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def local_time(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(TASHKENT).strftime("%d.%m.%Y %H:%M")


def status_name(status: str, lang: str) -> str:
    key = f"order.status.{status}"
    return t(key, lang) if key in CATALOG else esc(status)


def source_name(source: str | None, lang: str) -> str:
    key = f"bot.source.{source or 'app'}"
    return t(key, lang) if key in CATALOG else esc(source)


def money(amount: Decimal | None, lang: str) -> str:
    return format_money(amount, lang) if amount is not None else "—"


def truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def webapp_url(settings: Settings, startapp: str | None = None) -> str | None:
    """The Mini App address; `startapp` (a deep-link target: `p_12` a product, `c_3` a category) is
    added as the `startapp` query parameter. Telegram sets `start_param` only for t.me/<bot>/<app>
    links, not for web_app buttons, so the Mini App reads this parameter as well."""
    if not settings.webapp_url:
        return None
    if not startapp:
        return settings.webapp_url
    parts = urlsplit(settings.webapp_url)
    query = [*parse_qsl(parts.query), ("startapp", startapp)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def webapp_button(settings: Settings, text: str, startapp: str | None = None) -> InlineKeyboardButton | None:
    url = webapp_url(settings, startapp)
    return InlineKeyboardButton(text=text, web_app=WebAppInfo(url=url)) if url else None


def welcome_keyboard(settings: Settings, lang: str, *, open_text: str | None = None,
                     startapp: str | None = None) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    button = webapp_button(settings, open_text or t("bot.open_store", lang), startapp)
    if button is not None:
        rows.append([button])
    rows.append(language_buttons())
    return InlineKeyboardMarkup(inline_keyboard=rows)


def language_buttons() -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(text=t("bot.language.uz", "uz"), callback_data=ChooseLanguage(code="uz").pack()),
        InlineKeyboardButton(text=t("bot.language.ru", "ru"), callback_data=ChooseLanguage(code="ru").pack()),
    ]


# --- orders ------------------------------------------------------------------------------------


def item_lines(items: list[OrderItem], lang: str, *, with_sku: bool = False) -> str:
    lines = []
    for item in items[:MAX_ITEM_LINES]:
        sku = f" ({esc(item.product_sku)})" if with_sku else ""
        lines.append(t("bot.order.item", lang, name=esc(item.product_name), sku=sku, quantity=item.quantity,
                       subtotal=money(item.subtotal, lang)))
    if len(items) > MAX_ITEM_LINES:
        lines.append(t("bot.order.more_items", lang, count=len(items) - MAX_ITEM_LINES))
    return "\n".join(lines)


def payment_state(order: Order, payment: OrderPayment | None, lang: str) -> str:
    """How the order is paid, in words: the method and where its payment stands."""
    if payment is None:
        return t(f"order.payment.{order.payment_status}", lang)
    if payment.method == "cash" and order.payment_status == "unpaid":
        state = t("payment.state.cash", lang)
    elif order.payment_status == "unpaid":
        state = t("payment.state.awaiting", lang)
    else:
        state = t(f"payment.state.{order.payment_status}", lang)
    return f"{t(f'payment.method.{payment.method}', lang)} · {state}"


def payment_history(history: list[PaymentEvent], lang: str) -> str:
    lines = [t("bot.payment.history", lang)]
    for event in history:
        amount = f" {format_money(Decimal(event.amount_tiyin) / 100, lang)}" if event.amount_tiyin is not None else ""
        note = f" ({esc(event.note)})" if event.note else ""
        lines.append(f"• {local_time(event.created_at)} {esc(event.event)}{amount} — {esc(event.actor)}{note}")
    return "\n".join(lines)


def order_card(order: Order, items: list[OrderItem], lang: str, *, headline: str | None = None,
               payment: OrderPayment | None = None, history: list[PaymentEvent] | None = None) -> str:
    """The admin's view of an order: everything needed to call the customer and pack the parcel,
    how it is paid and (for /order) the payment's history."""
    parts = [headline] if headline else []
    parts.append(t("bot.order.title", lang, number=esc(order.order_number)))
    parts.append(t("bot.order.meta", lang, source=source_name(order.source, lang),
                   status=status_name(order.status, lang), date=local_time(order.created_at)))
    if order.marketplace_order_id:
        parts.append(t("bot.order.marketplace_id", lang, id=esc(order.marketplace_order_id)))
    parts.append(t("bot.order.customer", lang, name=esc(order.customer_name), phone=esc(order.customer_phone)))
    if order.delivery_address:
        parts.append(t("bot.order.address", lang, address=esc(order.delivery_address)))
    if order.delivery_notes:
        parts.append(t("bot.order.notes", lang, notes=esc(order.delivery_notes)))
    parts.append("")
    parts.append(item_lines(items, lang, with_sku=True))
    parts.append("")
    if order.delivery_fee:
        parts.append(t("bot.order.delivery", lang, amount=money(order.delivery_fee, lang)))
    parts.append(t("bot.order.total", lang, amount=money(order.total, lang)))
    if payment is not None:
        parts.append(t("bot.payment.line", lang, state=payment_state(order, payment, lang)))
    for status, moment in (("confirmed", order.confirmed_at), ("delivered", order.delivered_at),
                           ("cancelled", order.cancelled_at)):
        if moment is not None:
            parts.append(t("bot.order.stamp", lang, status=status_name(status, lang), date=local_time(moment)))
    if history:
        parts.append("")
        parts.append(payment_history(history, lang))
    return truncate("\n".join(parts))


def order_keyboard(order: Order, lang: str, admin_id: int) -> InlineKeyboardMarkup | None:
    """One button per status the admin may move the order to now (the storefront's rules)."""
    buttons = [
        InlineKeyboardButton(text=t(f"bot.action.{status}", lang),
                             callback_data=SetStatus(order_id=order.id, status=status).pack())
        for status in allowed_next(order, Actor.admin(admin_id))
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons]) if buttons else None


def cancel_confirm_keyboard(order: Order, lang: str) -> InlineKeyboardMarkup:
    yes = ConfirmCancel(order_id=order.id).pack()
    back = OpenOrder(order_id=order.id, in_place=True).pack()
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=t("bot.cancel.yes", lang), callback_data=yes),
        InlineKeyboardButton(text=t("bot.cancel.no", lang), callback_data=back),
    ]])


def order_placed_for_customer(order: Order, items: list[OrderItem], lang: str,
                              payment: OrderPayment | None = None) -> str:
    text = t("bot.notify.order_placed", lang, number=esc(order.order_number), items=item_lines(items, lang),
             total=money(order.total, lang))
    if payment is not None:  # how it is paid: cash on delivery, or awaiting payment (issue #10)
        text += "\n" + t("bot.payment.line", lang, state=payment_state(order, payment, lang))
    return truncate(text)


def status_for_customer(order: Order, new: str, lang: str) -> str | None:
    key = f"bot.notify.status.{new}"
    if key not in CATALOG:
        return None
    return t(key, lang, number=esc(order.order_number))


# --- products ----------------------------------------------------------------------------------


def category_path(category_id: int | None, categories: dict[int, Category]) -> str | None:
    names: list[str] = []
    seen: set[int] = set()
    while category_id is not None and category_id in categories and category_id not in seen:
        seen.add(category_id)
        names.append(categories[category_id].name_uz)
        category_id = categories[category_id].parent_id
    return " / ".join(reversed(names)) if names else None


def product_card(product: Product, path: str | None, mappings: Iterable[tuple[Marketplace, MarketplaceProduct]],
                 lang: str) -> str:
    parts = [f"<b>{esc(product.name(lang))}</b>", t("bot.product.sku", lang, sku=esc(product.sku))]
    if product.barcode:
        parts.append(t("bot.product.barcode", lang, barcode=esc(product.barcode)))
    if path:
        parts.append(t("bot.product.category", lang, path=esc(path)))
    parts.append(t("bot.product.price", lang, price=money(product.price, lang)))
    if product.sale_price is not None:
        parts.append(t("bot.product.sale_price", lang, price=money(product.sale_price, lang)))
    parts.append(t("bot.product.stock", lang, stock=product.stock_quantity))
    parts.append(t("bot.product.active" if product.is_active else "bot.product.inactive", lang))
    lines = [
        t("bot.product.marketplace", lang, name=esc(marketplace.name), sku=esc(mapping.marketplace_sku),
          price=money(mapping.marketplace_price, lang),
          stock="—" if mapping.marketplace_stock is None else mapping.marketplace_stock)
        for marketplace, mapping in mappings
    ]
    if lines:
        parts.append("")
        parts.append(t("bot.product.marketplaces", lang))
        parts.extend(lines)
    return truncate("\n".join(parts))
