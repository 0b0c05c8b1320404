"""Customers' front door: /start (with deep links), the language choice, /language and /help."""

from __future__ import annotations

import html
import logging
import re

import asyncpg
from aiogram import Bot, Router
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, ChatMemberUpdated, InlineKeyboardMarkup, Message

from bot import render
from bot.callbacks import ChooseLanguage
from bot.profile import menu_button
from db.models import User
from db.repos import bot_chats, categories, products
from store.i18n import LANGUAGES, t
from store.services import customers
from store.settings import Settings

log = logging.getLogger(__name__)

# t.me/<bot>?start=p_12 or ?start=c_3: open the Mini App on that product or category. The same
# value goes to the Mini App as `startapp` (its own format for t.me/<bot>/<app>?startapp=p_12).
DEEP_LINK = re.compile(r"^([pc])_([0-9]{1,9})$")  # ASCII digits only (\d also takes "٣")


async def _deep_link(db: asyncpg.Pool, payload: str | None, lang: str) -> tuple[str, str, str] | None:
    """(startapp value, button text, line for the greeting) for a valid, active target; else None."""
    match = DEEP_LINK.match(payload or "")
    if match is None:
        return None
    kind, target_id = match.group(1), int(match.group(2))
    if kind == "p":
        product = await products.get(db, target_id)
        if product is None or not product.is_active:
            return None
        return (f"p_{target_id}", t("bot.open_product", lang),
                t("bot.deep_link.product", lang, name=render.esc(product.name(lang))))
    category = await categories.get(db, target_id)
    if category is None or category.is_active is False:
        return None
    return (f"c_{target_id}", t("bot.open_category", lang),
            t("bot.deep_link.category", lang, name=render.esc(category.name(lang))))


async def _set_menu_button(bot: Bot, chat_id: int, settings: Settings, lang: str) -> None:
    button = menu_button(settings, lang)
    if button is None:
        return
    try:
        await bot.set_chat_menu_button(chat_id=chat_id, menu_button=button)
    except TelegramAPIError as exc:  # cosmetic: the default menu button still opens the Mini App
        log.warning("bot: menu button for chat %s not set: %s", chat_id, exc.message)


async def start(message: Message, command: CommandObject, bot: Bot, db: asyncpg.Pool, settings: Settings) -> None:
    sender = message.from_user
    if sender is None:
        return
    user = await customers.register(
        db, telegram_id=sender.id, first_name=sender.first_name, last_name=sender.last_name,
        username=sender.username, language_code=sender.language_code,
    )
    await bot_chats.unmark_blocked(db, message.chat.id)  # writing to us again: they unblocked the bot
    lang = user.language or "uz"
    text = t("bot.welcome", lang, name=html.escape(user.first_name, quote=False))
    target = await _deep_link(db, command.args, lang)
    if target is not None:
        startapp, button_text, line = target
        text += "\n\n" + line
        markup = render.welcome_keyboard(settings, lang, open_text=button_text, startapp=startapp)
    else:
        if command.args:
            log.debug("bot: /start payload %r ignored (unknown or inactive target)", command.args[:64])
        markup = render.welcome_keyboard(settings, lang)
    text += "\n\n" + t("bot.choose_language", lang)
    await message.answer(text, reply_markup=markup)
    await _set_menu_button(bot, message.chat.id, settings, lang)


async def language(message: Message, lang: str) -> None:
    await message.answer(t("bot.choose_language", lang),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=[render.language_buttons()]))


async def choose_language(callback: CallbackQuery, callback_data: ChooseLanguage, bot: Bot, db: asyncpg.Pool,
                          settings: Settings, user: User | None) -> None:
    code = callback_data.code
    if code not in LANGUAGES:
        await callback.answer()
        return
    sender = callback.from_user
    if user is None:
        user = await customers.register(
            db, telegram_id=sender.id, first_name=sender.first_name, last_name=sender.last_name,
            username=sender.username, language_code=sender.language_code,
        )
    await customers.choose_language(db, user.id, code)
    await callback.answer(t("bot.language_saved", code))
    if callback.message is not None and isinstance(callback.message, Message):
        text = t("bot.welcome", code, name=html.escape(user.first_name, quote=False))
        text += "\n\n" + t("bot.language_saved", code)
        try:
            await callback.message.edit_text(text, reply_markup=render.welcome_keyboard(settings, code))
        except TelegramBadRequest:  # "message is not modified": the same language twice
            pass
        await _set_menu_button(bot, callback.message.chat.id, settings, code)


async def help_(message: Message, lang: str, is_admin: bool, settings: Settings) -> None:
    text = t("bot.help.customer", lang)
    if is_admin:
        text += "\n\n" + t("bot.help.admin", lang) + "\n" + t("bot.help.refund", lang)
    button = render.webapp_button(settings, t("bot.open_store", lang))
    await message.answer(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]) if button else None)


async def chat_member_changed(event: ChatMemberUpdated, db: asyncpg.Pool) -> None:
    """Telegram tells us when a customer blocks (kicked) or unblocks (member) the bot: note it at once,
    so notifications skip the chat without first failing on it."""
    if event.chat.type != ChatType.PRIVATE:
        return
    status = event.new_chat_member.status
    if status == ChatMemberStatus.KICKED:
        await bot_chats.mark_blocked(db, event.chat.id, "the user blocked the bot")
    elif status == ChatMemberStatus.MEMBER:
        await bot_chats.unmark_blocked(db, event.chat.id)


def create_router() -> Router:
    """A new router per dispatcher (an aiogram router can belong to one dispatcher only)."""
    router = Router(name=__name__)
    router.message.register(start, CommandStart())
    router.message.register(language, Command("language"))
    router.callback_query.register(choose_language, ChooseLanguage.filter())
    router.message.register(help_, Command("help"))
    router.my_chat_member.register(chat_member_changed)
    return router
