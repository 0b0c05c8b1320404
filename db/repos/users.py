"""users: customers, identified by their Telegram id."""

from __future__ import annotations

from db.models import User
from db.pool import Executor


async def upsert_from_telegram(
    db: Executor,
    *,
    telegram_id: int,
    first_name: str,
    last_name: str | None,
    username: str | None,
    language: str,
    touch_login: bool = True,
) -> User:
    """Create the customer or refresh their Telegram profile.

    `language` (derived from Telegram's language_code) is stored for a new customer and follows
    Telegram for an existing one, until the customer picks a language themselves
    (`set_language` marks `language_chosen`); from then on their choice is kept.
    """
    row = await db.fetchrow(
        """
        INSERT INTO users (telegram_id, first_name, last_name, username, language, last_login_at)
        VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() AT TIME ZONE 'UTC' END)
        ON CONFLICT (telegram_id) DO UPDATE SET
            first_name = EXCLUDED.first_name,
            last_name = EXCLUDED.last_name,
            username = EXCLUDED.username,
            language = CASE WHEN users.language_chosen THEN users.language ELSE EXCLUDED.language END,
            last_login_at = COALESCE(EXCLUDED.last_login_at, users.last_login_at)
        RETURNING *
        """,
        telegram_id, first_name, last_name, username, language, touch_login,
    )
    assert row is not None
    return User.from_record(row)


async def get(db: Executor, user_id: int) -> User | None:
    row = await db.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
    return User.from_record(row) if row else None


async def get_by_telegram_id(db: Executor, telegram_id: int) -> User | None:
    row = await db.fetchrow("SELECT * FROM users WHERE telegram_id = $1", telegram_id)
    return User.from_record(row) if row else None


async def set_language(db: Executor, user_id: int, language: str) -> None:
    """The customer's own choice: kept from now on, whatever Telegram's language_code says."""
    await db.execute("UPDATE users SET language = $2, language_chosen = TRUE WHERE id = $1", user_id, language)


async def set_phone(db: Executor, user_id: int, phone: str) -> None:
    await db.execute("UPDATE users SET phone = $2 WHERE id = $1", user_id, phone)


async def set_active(db: Executor, user_id: int, active: bool) -> None:
    await db.execute("UPDATE users SET is_active = $2 WHERE id = $1", user_id, active)


async def lock(db: Executor, user_id: int) -> bool:
    """Lock the customer's row (FOR NO KEY UPDATE) so that their cart writes and checkouts run one
    at a time; False when there is no such customer. Needs a transaction. (A cart write takes the
    same lock inside store_cart_put, migration 0010.)"""
    value = await db.fetchval("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE", user_id)
    return value is not None
