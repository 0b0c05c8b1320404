"""/start: register the customer, greet them in their language, open the Mini App."""

from __future__ import annotations

import html

import asyncpg
from aiogram import Router
from aiogram.filters import CommandStart
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, WebAppInfo

from store.i18n import t
from store.services import customers
from store.settings import Settings

router = Router(name=__name__)


@router.message(CommandStart())
async def start(message: Message, db: asyncpg.Pool, settings: Settings) -> None:
    sender = message.from_user
    if sender is None:
        return
    user = await customers.register(
        db, telegram_id=sender.id, first_name=sender.first_name, last_name=sender.last_name,
        username=sender.username, language_code=sender.language_code,
    )
    lang = user.language or "uz"
    buttons = []
    if settings.webapp_url:
        buttons.append([InlineKeyboardButton(text=t("bot.open_store", lang),
                                             web_app=WebAppInfo(url=settings.webapp_url))])
    await message.answer(
        t("bot.welcome", lang, name=html.escape(user.first_name)),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None,
    )
