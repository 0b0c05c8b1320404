"""Webhook mode: Telegram POSTs updates to a route on the store's own aiohttp server.

`setup_webhook_route(app)` runs while the app is built (routes cannot be added once it has
started); the bot and dispatcher appear later, when `bot.runner.run_bot` starts, and until then
the route answers 503 so Telegram retries. Every request must carry the secret token registered
with `setWebhook` in `X-Telegram-Bot-Api-Secret-Token` (compared in constant time); the update is
handled in the background so Telegram gets its 200 at once.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.runner import BOT_RUNTIME, BotRuntime
from store import keys
from store.logs import quoted
from store.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name, not a secret)
DRAIN_TIMEOUT = 10.0


@dataclass(frozen=True)
class WebhookConfig:
    url: str  # the public address registered with Telegram
    path: str  # the route on this server
    secret: str


WEBHOOK = web.AppKey("webhook", WebhookConfig)


def webhook_secret(settings: Settings) -> str:
    """WEBHOOK_SECRET, or one generated once per DATA_DIR (Telegram allows 1-256 of A-Z a-z 0-9 _ -)."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    path: Path = settings.data_dir / "webhook-secret"
    if path.exists():
        secret = path.read_text().strip()
        if secret:
            return secret
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


def webhook_config(settings: Settings) -> WebhookConfig:
    """WEBHOOK_URL with a path is used as it is; a bare origin gets `/telegram/webhook` appended."""
    assert settings.webhook_url is not None
    url = settings.webhook_url
    path = urlsplit(url).path
    if path in ("", "/"):
        path = DEFAULT_PATH
        url = url.rstrip("/") + DEFAULT_PATH
    return WebhookConfig(url=url, path=path, secret=webhook_secret(settings))


def setup_webhook_route(app: web.Application) -> None:
    config = webhook_config(app[keys.SETTINGS])
    app[WEBHOOK] = config
    app.router.add_post(config.path, handle_update)


async def handle_update(request: web.Request) -> web.Response:
    config = request.app[WEBHOOK]
    # aiohttp keeps header bytes that are not UTF-8 as surrogate escapes: compare the bytes as they
    # came (a plain .encode() would raise on them and answer 500).
    given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, config.secret.encode()):
        log.warning("webhook: request without the right secret token from %s", quoted(request.remote))
        return web.json_response({"error": "unauthorized"}, status=401)
    runtime = request.app.get(BOT_RUNTIME)
    if runtime is None:
        return web.json_response({"error": "bot is starting"}, status=503)
    try:
        data = await request.json()
        update = Update.model_validate(data, context={"bot": runtime.bot})
    except (json.JSONDecodeError, ValidationError, UnicodeDecodeError):
        return web.json_response({"error": "not a Telegram update"}, status=400)
    task = asyncio.create_task(_feed(runtime, update), name=f"bot-update-{update.update_id}")
    runtime.tasks.add(task)
    task.add_done_callback(runtime.tasks.discard)
    return web.json_response({})


async def _feed(runtime: BotRuntime, update: Update) -> None:
    try:
        await runtime.dispatcher.feed_update(runtime.bot, update)
    except Exception:  # the dispatcher's own error handling logged it; never kill the task set
        log.exception("webhook: update %s failed", update.update_id)


async def drain(runtime: BotRuntime) -> None:
    """On shutdown: let updates being handled finish (bounded), then cancel the rest."""
    if not runtime.tasks:
        return
    _, pending = await asyncio.wait(set(runtime.tasks), timeout=DRAIN_TIMEOUT)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
