"""Admins: /refund ORDER — the owner refunded a Click or Telegram payment in that system's cabinet
and marks it refunded here (store.services.payments.refund: the order is cancelled with its stock
returned unless it was delivered). Payme refunds arrive from Payme itself (CancelTransaction)."""

from __future__ import annotations

import asyncpg
from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot import render
from bot.filters import IsAdmin
from store.errors import NotFound
from store.i18n import t
from store.services import payments
from store.validation import InvalidInput, clean_text, printable


async def refund(message: Message, command: CommandObject, db: asyncpg.Pool, lang: str) -> None:
    number = (command.args or "").strip().lstrip("№#").strip()
    if not number:
        await message.answer(t("bot.refund.usage", lang))
        return
    try:
        number = clean_text(number, max_length=50, multiline=False)
    except InvalidInput:
        raise NotFound("bot.order.not_found", number=printable(number[:50])) from None
    order = await payments.refund(db, number, message.chat.id)
    await message.answer(t("bot.refund.done", lang, number=render.esc(order.order_number),
                           status=render.status_name(order.status, lang)))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(IsAdmin())
    router.message.register(refund, Command("refund"))
    return router
