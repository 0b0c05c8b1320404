"""A minimal Telegram Bot API for the bench's store, run as its own process:

    python -m bench.fake_telegram --port PORT

The store is pointed at it with TELEGRAM_API_URL (aiogram calls `{base}/bot{token}/{method}`), so
its bot connects, long-polls and sends its notifications the way it does in production, answered
at once, instead of burning worker time on retries against a dead port. Every method answers:
getMe the bot, getUpdates a long poll that never has an update, the send and edit methods a
message, anything else `true`.

Telegram's limits for bots are enforced as Telegram enforces them (core.telegram.org/bots/faq,
"My bot is hitting limits"): at most one message a second to one chat and about 30 a second
overall; a message over either gets HTTP 429 `{"ok": false, "error_code": 429, "parameters":
{"retry_after": N}}` (whole seconds, as Telegram sends) and is not delivered. `--no-limits` turns
that off.

Control endpoints: `GET /_stats` the number of calls per method (and `rate_limited`, the 429s
given, split into `rate_limited_chat` and `rate_limited_overall` by the limit that refused);
`GET /_messages[?chat_id=ID]` the delivered messages per chat (`{chat_id: [{"at": unix time,
"method", "text"}]}`); `POST /_reset` forgets the messages and counts.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import time
from collections import Counter, defaultdict, deque
from typing import Any

from aiohttp import web

BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Amazing Store (bench)", "username": "amazing_bench_bot"}
LONG_POLL_MAX = 25.0  # seconds a getUpdates is held (the client asks for its own timeout, usually 10)
_MESSAGE_METHODS = {"sendMessage", "sendDocument", "sendPhoto", "editMessageText", "editMessageCaption",
                    "editMessageReplyMarkup"}
CHAT_INTERVAL = 1.0  # seconds between two messages to one chat
GLOBAL_PER_SECOND = 30  # messages a second over all chats


class FakeBotApi:
    def __init__(self, *, limits: bool = True) -> None:
        self.limits = limits
        self.calls: Counter[str] = Counter()
        self.messages: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        self._last_in_chat: dict[int, float] = {}  # monotonic time of the chat's last delivered message
        self._recent: deque[float] = deque()  # monotonic times of the messages delivered in the last second
        self._message_ids = itertools.count(1)

    def _retry_after(self, chat_id: int) -> int:
        """0 when a message to the chat may go now (and counts it), else Telegram's retry_after."""
        if not self.limits:
            return 0
        now = time.monotonic()
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        wait = 0.0
        last = self._last_in_chat.get(chat_id)
        if last is not None and now - last < CHAT_INTERVAL:
            wait = CHAT_INTERVAL - (now - last)
        if len(self._recent) >= GLOBAL_PER_SECOND:
            wait = max(wait, 1.0 - (now - self._recent[0]))
        if wait > 0:
            self.calls["rate_limited_overall" if len(self._recent) >= GLOBAL_PER_SECOND else "rate_limited_chat"] += 1
            return max(1, math.ceil(wait))
        self._last_in_chat[chat_id] = now
        self._recent.append(now)
        return 0

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
            retry_after = self._retry_after(chat_id)
            if retry_after:
                self.calls["rate_limited"] += 1
                return web.json_response(
                    {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {retry_after}",
                     "parameters": {"retry_after": retry_after}}, status=429)
            message_id = _int(params.get("message_id")) or next(self._message_ids)
            text = str(params.get("text") or params.get("caption") or "")
            self.messages[chat_id].append({"at": time.time(), "method": name, "text": text})
            return _ok({"message_id": message_id, "date": int(time.time()), "from": BOT_USER,
                        "chat": {"id": chat_id, "type": "private", "first_name": "Bench"}, "text": text})
        if name == "getWebhookInfo":
            return _ok({"url": "", "has_custom_certificate": False, "pending_update_count": 0})
        return _ok(True)

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self.calls))

    async def list_messages(self, request: web.Request) -> web.Response:
        wanted = request.query.get("chat_id")
        chats = {_int(wanted): self.messages.get(_int(wanted), [])} if wanted else self.messages
        return web.json_response({str(chat): list(messages) for chat, messages in chats.items()})

    async def reset(self, request: web.Request) -> web.Response:
        self.calls.clear()
        self.messages.clear()
        return _ok(True)


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


def create_app(*, limits: bool = True) -> web.Application:
    api = FakeBotApi(limits=limits)
    app = web.Application(client_max_size=50 * 1024 * 1024)
    app.router.add_get("/_stats", api.stats)
    app.router.add_get("/_messages", api.list_messages)
    app.router.add_post("/_reset", api.reset)
    app.router.add_route("*", "/bot{token}/{method}", api.method)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_telegram")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-limits", action="store_true", help="answer every message (no 429)")
    args = parser.parse_args()
    web.run_app(create_app(limits=not args.no_limits), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
