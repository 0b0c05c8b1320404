"""Is Telegram reachable? Every Bot API call made through our sessions records its outcome here, so
/healthz tells the truth: "polling" while getUpdates keeps failing is reported as failing.

Per process (`TELEGRAM_CALLS`, fed by `RecordOutcome`, a request middleware on every Bot we create)
and across processes for message sends (`record_send`, a small Redis hash the store's /healthz reads,
since a separate worker process does the sending).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramNetworkError, TelegramServerError, TelegramUnauthorizedError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from redis.asyncio import Redis
from redis.exceptions import RedisError

SENDS_KEY = "amazing-store:telegram:sends"


@dataclass
class CallState:
    last_ok: float = 0.0
    last_error: float = 0.0
    detail: str = ""

    @property
    def failing(self) -> bool:
        return self.last_error > self.last_ok

    def ok(self) -> None:
        self.last_ok = time.time()

    def failed(self, detail: str) -> None:
        self.last_error, self.detail = time.time(), detail


TELEGRAM_CALLS = CallState()


class RecordOutcome(BaseRequestMiddleware):
    """Counts a call as a success or as Telegram being unreachable/broken (network, 5xx, 401)."""

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        try:
            response = await make_request(bot, method)
        except TelegramNetworkError as exc:
            TELEGRAM_CALLS.failed(f"Telegram unreachable: {exc.message}")
            raise
        except TelegramServerError as exc:
            TELEGRAM_CALLS.failed(f"Telegram server error: {exc.message}")
            raise
        except TelegramUnauthorizedError:
            TELEGRAM_CALLS.failed("Telegram rejected BOT_TOKEN (401 Unauthorized)")
            raise
        except Exception:  # any other answer (400, 403, 429) means Telegram is there
            TELEGRAM_CALLS.ok()
            raise
        TELEGRAM_CALLS.ok()
        return response


async def record_send(redis: Redis, *, ok: bool, detail: str = "") -> None:
    """A worker's send reached Telegram (ok) or could not (detail), for every process's /healthz."""
    mapping: dict[str | bytes, Any] = {"ok": time.time()} if ok else {"error": time.time(), "detail": detail[:300]}
    with contextlib.suppress(RedisError, OSError, TimeoutError):
        await redis.hset(SENDS_KEY, mapping=mapping)  # type: ignore[misc]
        await redis.expire(SENDS_KEY, 7 * 24 * 3600)


async def sends_state(redis: Redis) -> dict[str, Any]:
    """{"state": "ok"|"failing"|"unknown", "since"?: seconds, "detail"?: str} of the workers' sends."""
    raw = await redis.hgetall(SENDS_KEY)  # type: ignore[misc]
    values = {k.decode(): v.decode() for k, v in raw.items()}
    ok, error = float(values.get("ok", 0)), float(values.get("error", 0))
    if not ok and not error:
        return {"state": "unknown"}
    if error > ok:
        return {"state": "failing", "since_seconds": round(time.time() - error), "detail": values.get("detail", "")}
    return {"state": "ok"}
