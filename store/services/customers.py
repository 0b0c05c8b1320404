"""Customers: one rule for turning a Telegram user into a `users` row, for the bot and the Mini App."""

from __future__ import annotations

from db.models import User
from db.pool import Executor
from db.repos import users
from store.i18n import LANGUAGES, normalize_language
from store.validation import printable


async def register(
    db: Executor, *, telegram_id: int, first_name: str, last_name: str | None, username: str | None,
    language_code: str | None,
) -> User:
    """Upsert the customer and stamp `last_login_at`.

    A new customer's language comes from Telegram's `language_code` (`ru` stays `ru`, anything else
    is `uz`); an existing customer keeps the language they have, which may be their own choice.
    """
    return await users.upsert_from_telegram(
        db,
        telegram_id=telegram_id,
        first_name=printable(first_name or "").strip()[:100] or "-",
        last_name=(last_name or None) and printable(last_name)[:100],
        username=(username or None) and printable(username)[:100],
        language=normalize_language(language_code),
    )


async def choose_language(db: Executor, user_id: int, language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}")
    await users.set_language(db, user_id, language)
