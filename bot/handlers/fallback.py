"""Everything no other router took: unknown commands (admin commands included, for everyone who is
not an admin), other messages, and stale or foreign button presses."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot import render
from store.i18n import t
from store.settings import Settings


async def unknown_command(message: Message, lang: str) -> None:
    await message.answer(t("bot.unknown_command", lang))


async def anything_else(message: Message, lang: str, settings: Settings) -> None:
    button = render.webapp_button(settings, t("bot.open_store", lang))
    await message.answer(t("bot.fallback", lang),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]) if button else None)


async def unknown_button(callback: CallbackQuery, lang: str) -> None:
    await callback.answer(t("bot.unknown_button", lang), show_alert=True)


def create_router() -> Router:
    """A new router per dispatcher (an aiogram router can belong to one dispatcher only)."""
    router = Router(name=__name__)
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(anything_else)
    router.callback_query.register(unknown_button)
    return router
