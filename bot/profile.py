"""What Telegram shows around the chat: the command menus and the menu button.

Customers see /start, /language and /help (in Uzbek, or Russian for Russian-language clients);
each admin's own chat additionally lists the admin commands. The menu button opens the Mini App
(the per-chat one, in the customer's language, is set by /start and the language choice).
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault, MenuButtonWebApp, WebAppInfo

from store.i18n import t
from store.settings import Settings

log = logging.getLogger(__name__)

CUSTOMER_COMMANDS = ("start", "language", "help")
ADMIN_COMMANDS = ("orders", "order", "product", "photo", "stock", "price", "lowstock", "stats", "sync", "syncstatus",
                  "export")


def _commands(names: tuple[str, ...], lang: str) -> list[BotCommand]:
    return [BotCommand(command=name, description=t(f"bot.command.{name}", lang)) for name in names]


def menu_button(settings: Settings, lang: str) -> MenuButtonWebApp | None:
    if not settings.webapp_url:
        return None
    return MenuButtonWebApp(text=t("bot.menu_button", lang), web_app=WebAppInfo(url=settings.webapp_url))


async def setup_profile(bot: Bot, settings: Settings) -> None:
    """Idempotent; a failure is logged and does not stop the bot (the commands still work)."""
    try:
        for lang, code in (("uz", None), ("ru", "ru")):
            await bot.set_my_commands(_commands(CUSTOMER_COMMANDS, lang), scope=BotCommandScopeDefault(),
                                      language_code=code)
        button = menu_button(settings, "uz")
        if button is not None:
            await bot.set_chat_menu_button(menu_button=button)
    except TelegramAPIError as exc:
        log.warning("bot: could not set the command menu or menu button: %s", exc.message)
    for admin_id in sorted(settings.admin_ids):
        try:
            for lang, code in (("uz", None), ("ru", "ru")):
                await bot.set_my_commands(_commands(CUSTOMER_COMMANDS + ADMIN_COMMANDS, lang),
                                          scope=BotCommandScopeChat(chat_id=admin_id), language_code=code)
        except TelegramAPIError as exc:
            # Usually "chat not found": the admin has not opened the bot yet; /start fixes it next run.
            log.warning("bot: admin %s has no command menu yet: %s", admin_id, exc.message)
