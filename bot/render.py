"""Texts and keyboards the bot sends, built once for handlers and notification jobs alike.

Messages use Telegram's HTML parse mode: everything that comes from data (names, addresses,
SKUs) is escaped here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
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
MESSAGE_LIMIT = 4096  # characters of a message after entity parsing (Telegram counts UTF-16 units)
CAPTION_LIMIT = 1024
MAX_PARTS = 10  # a report longer than this many messages is cut (with "…") at the last one


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


# --- long messages: split or cut on the rendered text, never inside a tag or an entity -----------

# A tag of our own markup, a character entity, or one character of text.
_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(?:\s[^<>]*)?>|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});"
                    r"|[\ud800-\udbff][\udc00-\udfff]|.", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Piece:
    raw: str
    size: int  # characters Telegram counts (UTF-16 code units) once tags and entities are parsed
    opens: tuple[str, ...]  # the open tags (as written) before this piece
    closes_after: tuple[str, ...]  # the open tags after it


def _units(char: str) -> int:
    return 2 if len(char) == 1 and ord(char) > 0xFFFF else len(char)


def visible_length(text: str) -> int:
    """The length Telegram checks against its limits: the text once tags are parsed and entities
    decoded, counted in UTF-16 code units."""
    size = 0
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if match.group(2):
            continue
        size += 1 if token.startswith("&") and len(token) > 1 else _units(token)
    return size


def _tag_name(open_tag: str) -> str:
    return re.match(r"<([a-zA-Z][a-zA-Z0-9-]*)", open_tag).group(1).lower()  # type: ignore[union-attr]


def _closing(stack: tuple[str, ...]) -> str:
    return "".join(f"</{_tag_name(tag)}>" for tag in reversed(stack))


def _pieces(text: str, limit: int) -> list[_Piece]:
    """The text as lines (each with its newline), a line longer than `limit` cut at token
    boundaries, each with the tags open around it."""
    pieces: list[_Piece] = []
    stack: tuple[str, ...] = ()
    raw: list[str] = []
    size = 0
    start = stack

    def flush() -> None:
        nonlocal raw, size, start
        if raw:
            pieces.append(_Piece("".join(raw), size, start, stack))
        raw, size, start = [], 0, stack

    for match in _TOKEN.finditer(text):
        part = match.group(0)
        if match.group(2):
            raw.append(part)
            if match.group(1):
                name = match.group(2).lower()
                for i in range(len(stack) - 1, -1, -1):
                    if _tag_name(stack[i]) == name:
                        stack = stack[:i] + stack[i + 1:]
                        break
            else:
                stack = (*stack, part)
            continue
        units = 1 if part.startswith("&") and len(part) > 1 else _units(part)
        if size + units > limit:
            flush()
        raw.append(part)
        size += units
        if part == "\n":  # a line ends here
            flush()
    flush()
    return pieces


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`text` (Telegram HTML) as messages of at most `limit` characters each, as Telegram counts
    them: split at line ends where possible, never inside a tag or an entity; tags open at a split
    are closed at the end of one part and opened again at the start of the next."""
    if visible_length(text) <= limit:
        return [text]
    parts: list[str] = []
    current: list[_Piece] = []
    size = 0

    def emit() -> None:
        if current:
            body = "".join(p.raw for p in current)
            part = "".join(current[0].opens) + body.rstrip("\n") + _closing(current[-1].closes_after)
            if re.sub(r"<[^<>]*>", "", part).strip():  # Telegram refuses a message with no text
                parts.append(part)

    for piece in _pieces(text, limit):
        if current and size + piece.size > limit:
            emit()
            current, size = [], 0
        current.append(piece)
        size += piece.size
    emit()
    return parts or [text]


def truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` cut to `limit` characters as Telegram counts them, never inside a tag or an entity
    (open tags are closed), with "…" when something was cut."""
    parts = split_html(text, limit - 1)
    return parts[0] if len(parts) == 1 else parts[0] + "…"


def report_parts(text: str, limit: int = MESSAGE_LIMIT, max_parts: int = MAX_PARTS) -> list[str]:
    """A long report as several messages (at most `max_parts`, the last cut with "…")."""
    parts = split_html(text, limit)
    if len(parts) > max_parts:
        last = parts[max_parts - 1]
        last = last + "\n…" if visible_length(last) + 2 <= limit else truncate(last, limit)
        parts = [*parts[: max_parts - 1], last]
    return parts


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


def clip(value: object, limit: int) -> str:
    """A free-text value (a name, an address) cut to `limit` characters before it is escaped."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def item_lines(items: list[OrderItem], lang: str, *, with_sku: bool = False, budget: int | None = None) -> str:
    """One line per item (at most MAX_ITEM_LINES, and only as many as fit in `budget` characters
    as Telegram counts them), then "… and N more"."""
    lines: list[str] = []
    used = 0
    for item in items[:MAX_ITEM_LINES]:
        sku = f" ({esc(clip(item.product_sku, 40))})" if with_sku else ""
        line = t("bot.order.item", lang, name=esc(clip(item.product_name, 120)), sku=sku, quantity=item.quantity,
                 subtotal=money(item.subtotal, lang))
        used += visible_length(line) + 1
        if budget is not None and used > budget:
            break
        lines.append(line)
    if len(items) > len(lines):
        lines.append(t("bot.order.more_items", lang, count=len(items) - len(lines)))
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
        note = f" ({esc(clip(event.note, 200))})" if event.note else ""
        lines.append(f"• {local_time(event.created_at)} {esc(event.event)}{amount} — {esc(event.actor)}{note}")
    return "\n".join(lines)


def order_card(order: Order, items: list[OrderItem], lang: str, *, headline: str | None = None,
               payment: OrderPayment | None = None, history: list[PaymentEvent] | None = None) -> str:
    """The admin's view of an order: everything needed to call the customer and pack the parcel,
    how it is paid and (for /order) the payment's history.

    It always fits one message and always shows the total: free text is clipped and the item
    list gets the room the rest leaves ("… and N more")."""
    head = [headline] if headline else []
    head.append(t("bot.order.title", lang, number=esc(order.order_number)))
    head.append(t("bot.order.meta", lang, source=source_name(order.source, lang),
                  status=status_name(order.status, lang), date=local_time(order.created_at)))
    if order.marketplace_order_id:
        head.append(t("bot.order.marketplace_id", lang, id=esc(clip(order.marketplace_order_id, 100))))
    head.append(t("bot.order.customer", lang, name=esc(clip(order.customer_name, 255)),
                  phone=esc(clip(order.customer_phone, 50))))
    if order.delivery_address:
        head.append(t("bot.order.address", lang, address=esc(clip(order.delivery_address, 1000))))
    if order.delivery_notes:
        head.append(t("bot.order.notes", lang, notes=esc(clip(order.delivery_notes, 1000))))
    tail: list[str] = []
    if order.delivery_fee:
        tail.append(t("bot.order.delivery", lang, amount=money(order.delivery_fee, lang)))
    tail.append(t("bot.order.total", lang, amount=money(order.total, lang)))
    if payment is not None:
        tail.append(t("bot.payment.line", lang, state=payment_state(order, payment, lang)))
    for status, moment in (("confirmed", order.confirmed_at), ("delivered", order.delivered_at),
                           ("cancelled", order.cancelled_at)):
        if moment is not None:
            tail.append(t("bot.order.stamp", lang, status=status_name(status, lang), date=local_time(moment)))
    if history:
        tail.append("")
        tail.append(payment_history(history, lang))
    budget = MESSAGE_LIMIT - visible_length("\n".join(head)) - visible_length("\n".join(tail)) - 80
    parts = [*head, "", item_lines(items, lang, with_sku=True, budget=budget), "", *tail]
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
    text = t("bot.notify.order_placed", lang, number=esc(order.order_number),
             items=item_lines(items, lang, budget=MESSAGE_LIMIT - 600), total=money(order.total, lang))
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
