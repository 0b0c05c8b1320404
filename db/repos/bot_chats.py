"""bot_blocked_chats: chats that blocked the bot, skipped by the notification jobs until /start."""

from __future__ import annotations

from db.pool import Executor


async def mark_blocked(db: Executor, chat_id: int, reason: str | None) -> None:
    """Idempotent; the first time it was noted is kept."""
    await db.execute(
        """INSERT INTO bot_blocked_chats (chat_id, blocked_at, reason)
           VALUES ($1, now() AT TIME ZONE 'UTC', $2)
           ON CONFLICT (chat_id) DO UPDATE SET reason = EXCLUDED.reason""",
        chat_id, reason,
    )


async def unmark_blocked(db: Executor, chat_id: int) -> None:
    await db.execute("DELETE FROM bot_blocked_chats WHERE chat_id = $1", chat_id)


async def is_blocked(db: Executor, chat_id: int) -> bool:
    value: bool = await db.fetchval("SELECT EXISTS (SELECT 1 FROM bot_blocked_chats WHERE chat_id = $1)", chat_id)
    return value
