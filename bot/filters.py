"""Filters: admin commands exist only for the Telegram ids in ADMIN_IDS."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import TelegramObject


class IsAdmin(Filter):
    """True for admins (`is_admin` comes from bot.middleware.ContextMiddleware)."""

    async def __call__(self, event: TelegramObject, is_admin: bool = False) -> bool:
        return is_admin
