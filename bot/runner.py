"""The bot's life inside the store process: long polling with backoff, or off in local mode.

When Telegram cannot be reached (no network, a revoked token's 401, a 5xx) the store keeps
serving; the bot retries with exponential backoff and /healthz says what is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError
from aiohttp import web

from store import keys
from store.settings import Settings

log = logging.getLogger(__name__)

BACKOFF_START = 1.0
BACKOFF_MAX = 60.0


def create_bot(settings: Settings) -> Bot:
    assert settings.bot_token is not None
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
        if settings.telegram_api_url
        else AiohttpSession()
    )
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


async def _poll_forever(bot: Bot, dp: Dispatcher, status: keys.TelegramStatus) -> None:
    delay = BACKOFF_START
    while True:
        status.state = "connecting"
        try:
            me = await bot.get_me()
            status.bot_username = me.username
            status.state, status.detail, status.retries = "polling", "", 0
            delay = BACKOFF_START
            log.info("bot: @%s connected, long polling", me.username)
            await dp.start_polling(bot, handle_signals=False, close_bot_session=False)
            return  # stop_polling() was called: the store is shutting down
        except TelegramUnauthorizedError:
            status.state, status.detail = "failing", "Telegram rejected BOT_TOKEN (401 Unauthorized)"
        except TelegramNetworkError as exc:
            status.state, status.detail = "failing", f"Telegram unreachable: {exc.message}"
        except TelegramAPIError as exc:
            status.state, status.detail = "failing", f"Telegram error: {exc.message}"
        status.retries += 1
        wait = min(delay, BACKOFF_MAX) * (0.5 + random.random() / 2)
        log.warning("bot: %s; the store keeps serving, retrying in %.0f s", status.detail, wait)
        await asyncio.sleep(wait)
        delay = min(delay * 2, BACKOFF_MAX)


@contextlib.asynccontextmanager
async def run_bot(app: web.Application) -> AsyncIterator[None]:
    from bot.dispatcher import create_dispatcher

    settings = app[keys.SETTINGS]
    status = app[keys.TELEGRAM]
    if settings.bot_token is None:
        status.state, status.detail = "off", "local mode: BOT_TOKEN is not set"
        log.info("bot: off (local mode, BOT_TOKEN is not set)")
        yield
        return
    bot = create_bot(settings)
    dp = create_dispatcher(app)
    task = asyncio.create_task(_poll_forever(bot, dp, status), name="bot-polling")
    try:
        yield
    finally:
        # Ask polling to stop and let running handlers finish; RuntimeError: it never started.
        with contextlib.suppress(RuntimeError):
            await dp.stop_polling()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bot.session.close()
        status.state = "off"
