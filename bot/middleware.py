"""Who is writing, in which language, and one place that turns domain errors into a reply.

Handlers receive `lang` ("uz" or "ru"), `user` (the `users` row, or None before /start) and
`is_admin`. A `StoreError` raised by a service reaches the person as its catalog text in their
language: a reply to a message, an alert on a button press. Anything else that goes wrong in a
handler (a bug, the database gone) is logged and still answered ("try again shortly"): a command
never meets silence.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update
from aiogram.types import User as TelegramUser

from bot.render import truncate
from db.repos import users
from store.errors import StoreError, service_unavailable
from store.i18n import normalize_language, t
from store.settings import Settings
from store.validation import printable

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ContextMiddleware(BaseMiddleware):
    """An outer middleware on `update`: runs once per update, before any filter."""

    def __init__(self, db: asyncpg.Pool, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender: TelegramUser | None = data.get("event_from_user")
        lang = normalize_language(sender.language_code if sender else None)
        try:
            user = await users.get_by_telegram_id(self.db, sender.id) if sender is not None else None
            if user is not None and user.language in ("uz", "ru"):
                lang = user.language
            data["user"] = user
            data["lang"] = lang
            data["is_admin"] = sender is not None and sender.id in self.settings.admin_ids
            return await handler(event, data)
        except StoreError as exc:
            params = {name: html.escape(printable(str(value))) for name, value in exc.params.items()}
            await _tell(event, t(exc.message_key, lang, **params))
            return None
        except Exception as exc:
            if service_unavailable(exc):
                log.warning("bot: update %s not handled, a server is unreachable: %r",
                            getattr(event, "update_id", "?"), exc)
                key = "bot.error.unavailable"
            else:
                log.exception("bot: update %s failed", getattr(event, "update_id", "?"))
                key = "bot.error.internal"
            try:
                await _tell(event, t(key, lang))
            except Exception:  # Telegram itself unreachable: the log above is all we can do
                log.warning("bot: could not tell the sender that update %s failed", getattr(event, "update_id", "?"))
            return None


async def _tell(event: TelegramObject, text: str) -> None:
    if isinstance(event, Update):
        if event.message is not None:
            await reply(event.message, text)
        elif event.callback_query is not None:
            await answer_alert(event.callback_query, text)


async def reply(message: Message, text: str) -> None:
    await message.answer(truncate(text))


async def answer_alert(callback: CallbackQuery, text: str) -> None:
    # Alerts are limited to 200 characters.
    await callback.answer(text[:200], show_alert=True)
