"""A minimal Telegram Bot API for the bench's store, run as its own process:

    python -m bench.fake_telegram --port PORT

The store is pointed at it with TELEGRAM_API_URL (aiogram calls `{base}/bot{token}/{method}`), so
its bot connects, long-polls and sends its notifications the way it does in production, answered
at once with `ok: true`, instead of burning worker time on retries against a dead port. Every
method answers: getMe the bot, getUpdates a long poll that never has an update, the send and edit
methods a message, anything else `true`. `GET /_stats` gives the number of calls per method.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections import Counter
from typing import Any

from aiohttp import web

BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Amazing Store (bench)", "username": "amazing_bench_bot"}
LONG_POLL_MAX = 25.0  # seconds a getUpdates is held (the client asks for its own timeout, usually 10)
_MESSAGE_METHODS = {"sendMessage", "sendDocument", "sendPhoto", "editMessageText", "editMessageCaption",
                    "editMessageReplyMarkup"}


class FakeBotApi:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._message_ids = itertools.count(1)

    async def method(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        self.calls[name] += 1
        params = await _params(request)
        if name == "getUpdates":
            try:
                timeout = min(float(params.get("timeout") or 0), LONG_POLL_MAX)
            except ValueError:
                timeout = 0.0
            await asyncio.sleep(timeout)
            return _ok([])
        if name == "getMe":
            return _ok({**BOT_USER, "can_join_groups": False, "can_read_all_group_messages": False,
                        "supports_inline_queries": False})
        if name in _MESSAGE_METHODS:
            chat_id = _int(params.get("chat_id"))
            message_id = _int(params.get("message_id")) or next(self._message_ids)
            return _ok({"message_id": message_id, "date": int(time.time()), "from": BOT_USER,
                        "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
                        "text": str(params.get("text") or params.get("caption") or "")})
        if name == "getWebhookInfo":
            return _ok({"url": "", "has_custom_certificate": False, "pending_update_count": 0})
        return _ok(True)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self.calls))


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _int(value: object) -> int:
    text = str(value or "").strip()
    return int(text) if text.lstrip("-").isdigit() else 0


async def _params(request: web.Request) -> dict[str, Any]:
    """aiogram sends form fields (multipart when there is a file); JSON is taken too."""
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    params: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        for key, value in (await request.post()).items():
            if isinstance(value, str):
                params[key] = value
    return params


def create_app() -> web.Application:
    api = FakeBotApi()
    app = web.Application(client_max_size=50 * 1024 * 1024)
    app.router.add_get("/_stats", api.stats)
    app.router.add_route("*", "/bot{token}/{method}", api.method)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_telegram")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(create_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
