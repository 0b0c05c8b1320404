"""Admins: /orders [status] [source] (paged), /order NUMBER, and the status buttons.

Status changes go through `store.services.orders.change_status` (the Mini App's rules: stamps,
stock back on cancel, the customer's notification after commit). A cancellation asks "are you
sure?" first, since it cannot be undone.
"""

from __future__ import annotations

import asyncpg
from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from arq.connections import ArqRedis

from bot import render
from bot.callbacks import ConfirmCancel, OpenOrder, OrdersPage, SetStatus
from bot.filters import IsAdmin
from bot.messaging import edit
from db.models import Order
from db.repos import marketplaces, orders, payments
from store.errors import NotFound, ValidationFailed
from store.i18n import t
from store.services import orders as order_service
from store.services.orders import Actor, TransitionNotAllowed
from store.validation import InvalidInput, clean_text, printable

PAGE_SIZE = 10


PAYMENT_FILTERS = ("paid", "unpaid", "refunded")


def _pack_status(status: str | None, payment: str | None) -> str | None:
    """The pager's status field also carries the payment filter (`pending+unpaid`), so the pager
    buttons already in admins' chats keep their format."""
    return f"{status or ''}+{payment}" if payment else status


def _unpack_status(packed: str | None) -> tuple[str | None, str | None]:
    if packed and "+" in packed:
        status, _, payment = packed.partition("+")
        return status or None, payment if payment in PAYMENT_FILTERS else None
    return packed, None


async def parse_filters(db: asyncpg.Pool, args: str | None) -> tuple[str | None, str | None, str | None]:
    """`/orders [status] [source] [paid|unpaid|refunded]`, in any order. Raises ValidationFailed
    naming what is valid."""
    sources = ["app", *(m.slug for m in await marketplaces.list_all(db))]
    status: str | None = None
    source: str | None = None
    payment: str | None = None
    for word in (args or "").lower().split():
        if word in order_service.STATUSES and status is None:
            status = word
        elif word in sources and source is None:
            source = word
        elif word in PAYMENT_FILTERS and payment is None:
            payment = word
        else:
            raise ValidationFailed("bot.orders.bad_filter", value=printable(word[:40]),
                                   statuses=", ".join((*order_service.STATUSES, *PAYMENT_FILTERS)),
                                   sources=", ".join(sources))
    return status, source, payment


async def orders_page(db: asyncpg.Pool, status: str | None, source: str | None, page: int,
                      lang: str, payment: str | None = None) -> tuple[str, InlineKeyboardMarkup | None]:
    total = await orders.count_filtered(db, status=status, source=source, payment_status=payment)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    found = await orders.list_filtered(db, status=status, source=source, limit=PAGE_SIZE, offset=page * PAGE_SIZE,
                                       payment_status=payment)
    filters = " · ".join(
        x for x in (render.status_name(status, lang) if status else None,
                    render.source_name(source, lang) if source else None,
                    t(f"order.payment.{payment}", lang) if payment else None) if x)
    title = t("bot.orders.title", lang, filters=f" ({filters})" if filters else "", page=page + 1, pages=pages,
              total=total)
    if not found:
        return title + "\n\n" + t("bot.orders.empty", lang), None
    lines = [t("bot.orders.line", lang, number=render.esc(o.order_number), status=render.status_name(o.status, lang),
               source=render.source_name(o.source, lang), total=render.money(o.total, lang),
               date=render.local_time(o.created_at)) for o in found]
    rows = [[InlineKeyboardButton(text=f"№ {o.order_number} · {render.money(o.total, lang)}",
                                  callback_data=OpenOrder(order_id=o.id).pack())] for o in found]
    pager = []
    if page > 0:
        pager.append(InlineKeyboardButton(text=t("bot.page.prev", lang), callback_data=OrdersPage(
            status=_pack_status(status, payment), source=source, page=page - 1).pack()))
    if page < pages - 1:
        pager.append(InlineKeyboardButton(text=t("bot.page.next", lang), callback_data=OrdersPage(
            status=_pack_status(status, payment), source=source, page=page + 1).pack()))
    if pager:
        rows.append(pager)
    return render.truncate(title + "\n\n" + "\n".join(lines)), InlineKeyboardMarkup(inline_keyboard=rows)


async def _card(db: asyncpg.Pool, order: Order, lang: str, admin_id: int) -> tuple[str, InlineKeyboardMarkup | None]:
    items = await orders.items(db, order.id)
    payment, history = await payments.get(db, order.id), await payments.events(db, order.id)
    return (render.order_card(order, items, lang, payment=payment, history=history),
            render.order_keyboard(order, lang, admin_id))


async def list_orders(message: Message, command: CommandObject, db: asyncpg.Pool, lang: str) -> None:
    status, source, payment = await parse_filters(db, command.args)
    text, markup = await orders_page(db, status, source, 0, lang, payment)
    await message.answer(text, reply_markup=markup)


async def turn_page(callback: CallbackQuery, callback_data: OrdersPage, db: asyncpg.Pool, lang: str) -> None:
    status, payment = _unpack_status(callback_data.status)
    text, markup = await orders_page(db, status, callback_data.source, callback_data.page, lang, payment)
    await edit(callback, text, markup)
    await callback.answer()


async def show_order(message: Message, command: CommandObject, db: asyncpg.Pool, lang: str) -> None:
    number = (command.args or "").strip().lstrip("№#").strip()
    if not number:
        await message.answer(t("bot.order.usage", lang))
        return
    try:
        number = clean_text(number, max_length=50, multiline=False)
    except InvalidInput:
        raise NotFound("bot.order.not_found", number=printable(number[:50])) from None
    order = await orders.get_by_number(db, number)
    if order is None:
        raise NotFound("bot.order.not_found", number=number)
    text, markup = await _card(db, order, lang, message.chat.id)
    await message.answer(text, reply_markup=markup)


async def open_order(callback: CallbackQuery, callback_data: OpenOrder, db: asyncpg.Pool, lang: str) -> None:
    """From the list: the card as a new message. From "No, keep it": the card again, in place."""
    order = await orders.get(db, callback_data.order_id)
    if order is None:
        raise NotFound("error.order_not_found")
    text, markup = await _card(db, order, lang, callback.from_user.id)
    if callback_data.in_place:
        await edit(callback, text, markup)
    elif callback.message is not None:
        await callback.bot.send_message(callback.message.chat.id, text, reply_markup=markup)  # type: ignore[union-attr]
    await callback.answer()


async def set_status(callback: CallbackQuery, callback_data: SetStatus, db: asyncpg.Pool, redis: ArqRedis,
                     lang: str) -> None:
    if callback_data.status == "cancelled":
        order = await orders.get(db, callback_data.order_id)
        if order is None:
            raise NotFound("error.order_not_found")
        question = t("bot.cancel.question", lang, number=render.esc(order.order_number))
        text, _ = await _card(db, order, lang, callback.from_user.id)
        await edit(callback, text + "\n\n" + question, render.cancel_confirm_keyboard(order, lang))
        await callback.answer()
        return
    await _change(callback, db, redis, callback_data.order_id, callback_data.status, lang)


async def confirm_cancel(callback: CallbackQuery, callback_data: ConfirmCancel, db: asyncpg.Pool,
                         redis: ArqRedis, lang: str) -> None:
    await _change(callback, db, redis, callback_data.order_id, "cancelled", lang)


async def _change(callback: CallbackQuery, db: asyncpg.Pool, redis: ArqRedis, order_id: int, status: str,
                  lang: str) -> None:
    admin = callback.from_user.id
    try:
        change = await order_service.change_status(db, order_id, status, Actor.admin(admin))
    except TransitionNotAllowed:
        # Someone (another admin, the customer, a marketplace) moved it first: show where it is now.
        order = await orders.get(db, order_id)
        if order is not None:
            text, markup = await _card(db, order, lang, admin)
            await edit(callback, text, markup)
        await callback.answer(t("error.status_transition", lang), show_alert=True)
        return
    text, markup = await _card(db, change.order, lang, admin)
    await edit(callback, text, markup)
    await callback.answer(t("bot.status_changed", lang, number=change.order.order_number,
                            status=render.status_name(change.new, lang)))


def create_router() -> Router:
    """A new router per dispatcher (an aiogram router can belong to one dispatcher only)."""
    router = Router(name=__name__)
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())
    router.message.register(list_orders, Command("orders"))
    router.callback_query.register(turn_page, OrdersPage.filter())
    router.message.register(show_order, Command("order"))
    router.callback_query.register(open_order, OpenOrder.filter())
    router.callback_query.register(set_status, SetStatus.filter())
    router.callback_query.register(confirm_cancel, ConfirmCancel.filter())
    return router
