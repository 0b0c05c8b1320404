"""The bot's life inside the store process: long polling with backoff, a webhook, or off in local mode.

When Telegram cannot be reached (no network, a revoked token's 401, a 5xx) the store keeps
serving; the bot retries with exponential backoff and /healthz says what is wrong.

Polling (the default): `deleteWebhook` (a webhook left from an earlier run would make getUpdates
fail with 409), then long polling. Webhook (`WEBHOOK_URL` set): the route is added by
`bot.webhook.setup_webhook_route` when the app is built, and here `setWebhook` registers it with
Telegram once the bot is connected.

With `run --processes N` only web process 0 polls or registers the webhook (getUpdates from two
processes is a 409 Conflict); in webhook mode every web process handles the updates posted to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError
from aiohttp import web

from store import keys
from store.background import running
from store.settings import Settings

log = logging.getLogger(__name__)

BACKOFF_START = 1.0
BACKOFF_MAX = 60.0


@dataclass
class BotRuntime:
    """The running bot and dispatcher, for the webhook handler (which exists before they do)."""

    bot: Bot
    dispatcher: Dispatcher
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


BOT_RUNTIME = web.AppKey("bot_runtime", BotRuntime)


def create_bot(settings: Settings) -> Bot:
    assert settings.bot_token is not None
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
        if settings.telegram_api_url
        else AiohttpSession()
    )
    from bot.health import RecordOutcome

    session.middleware(RecordOutcome())
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


async def _connect_forever(
    bot: Bot, status: keys.TelegramStatus, settings: Settings, serve: Callable[[], Awaitable[None]],
) -> None:
    """getMe, the bot's profile (commands, menu button), then `serve` (poll, or register the webhook);
    on any Telegram failure wait with exponential backoff and start over."""
    from bot.profile import setup_profile

    delay = BACKOFF_START
    while True:
        status.state = "connecting"
        try:
            me = await bot.get_me()
            status.bot_username = me.username
            status.detail, status.retries = "", 0
            delay = BACKOFF_START
            await setup_profile(bot, settings)
            await serve()
            return  # polling was stopped (the store is shutting down), or the webhook is registered
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


async def _poll_forever(bot: Bot, dp: Dispatcher, status: keys.TelegramStatus, settings: Settings) -> None:
    async def poll() -> None:
        await bot.delete_webhook(drop_pending_updates=False)
        status.state = "polling"
        log.info("bot: @%s connected, long polling", status.bot_username)
        await dp.start_polling(bot, handle_signals=False, close_bot_session=False)

    await _connect_forever(bot, status, settings, poll)


async def _register_webhook_forever(
    bot: Bot, dp: Dispatcher, status: keys.TelegramStatus, settings: Settings, url: str, secret: str,
) -> None:
    async def register() -> None:
        await bot.set_webhook(url, secret_token=secret, allowed_updates=dp.resolve_used_update_types(),
                              drop_pending_updates=False)
        status.state = "webhook"
        log.info("bot: @%s connected, webhook registered at %s", status.bot_username, url)

    await _connect_forever(bot, status, settings, register)


async def _learn_username(settings: Settings, status: keys.TelegramStatus) -> None:
    """getMe, with the connect loop's backoff, in a web process that otherwise never asks Telegram
    (`run --processes N`, N > 0): the Mini App's share links need the bot's username here too."""
    bot = create_bot(settings)
    delay = BACKOFF_START
    try:
        while True:
            try:
                status.bot_username = (await bot.get_me()).username
                return
            except TelegramAPIError as exc:
                wait = min(delay, BACKOFF_MAX) * (0.5 + random.random() / 2)
                log.warning("bot: getMe failed (%s); the share links wait, retrying in %.0f s", exc.message, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, BACKOFF_MAX)
    finally:
        await bot.session.close()


@contextlib.asynccontextmanager
async def run_bot(app: web.Application) -> AsyncIterator[None]:
    from bot.dispatcher import create_dispatcher
    from bot.webhook import WEBHOOK, drain

    settings = app[keys.SETTINGS]
    status = app[keys.TELEGRAM]
    if settings.bot_token is None:
        status.state, status.detail = "off", "local mode: BOT_TOKEN is not set"
        log.info("bot: off (local mode, BOT_TOKEN is not set)")
        yield
        return
    webhook = app.get(WEBHOOK)
    web_process = app.get(keys.WEB_PROCESS)
    owns_updates = web_process is None or web_process.owns_telegram_updates
    if webhook is None and not owns_updates:
        # One of N web processes (`run --processes N`): getUpdates from two processes is a 409
        # Conflict, so only web process 0 polls; nothing here needs the bot.
        status.state, status.detail = "elsewhere", "long polling runs in web process 0"
        log.info("bot: long polling runs in web process 0, not in this one")
        async with running(_learn_username(settings, status), "bot-username"):
            yield
        return
    bot = create_bot(settings)
    dp = create_dispatcher(app)
    runtime = BotRuntime(bot, dp)
    app[BOT_RUNTIME] = runtime
    task: asyncio.Task[None] | None = None
    if webhook is not None and owns_updates:
        task = asyncio.create_task(
            _register_webhook_forever(bot, dp, status, settings, webhook.url, webhook.secret),
            name="bot-webhook")
    elif webhook is not None:
        # Every web process handles the updates posted to it; web process 0 registers the webhook.
        status.state, status.detail = "webhook", "updates handled here; web process 0 registers the webhook"
        task = asyncio.create_task(_learn_username(settings, status), name="bot-username")
    else:
        task = asyncio.create_task(_poll_forever(bot, dp, status, settings), name="bot-polling")
    try:
        yield
    finally:
        # Ask polling to stop and let running handlers finish; RuntimeError: it never started.
        with contextlib.suppress(RuntimeError):
            await dp.stop_polling()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await drain(runtime)
        await bot.session.close()
        status.state = "off"
