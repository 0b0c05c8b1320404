"""Keep within Telegram's limits for bots: about 30 messages a second overall and one a second
per chat. Shared through Redis, so every worker process (and the store process, when it runs
the worker too) counts against the same budget.

* per chat: a key `SET NX PX 1000` per chat; while it exists the next message to that chat waits.
  A 429 for a chat extends that key to Telegram's `retry_after`, so other messages queued for the
  same chat wait too instead of hitting the limit again.
* overall: a counter per wall-clock second (`INCR`, expires after 2 s); past the limit, wait for
  the next second. A fixed window may let up to twice the rate through at a second's boundary;
  Telegram's limit is itself approximate ("about 30"), so the budget is 25.
"""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

GLOBAL_PER_SECOND = 25
CHAT_INTERVAL_MS = 1000
MAX_WAIT = 5.0
_PREFIX = "bot:ratelimit"


class ChatBusy(Exception):
    def __init__(self, retry_in: float) -> None:
        super().__init__(f"chat is held for {retry_in:.1f} s")
        self.retry_in = retry_in


class TelegramRateLimiter:
    def __init__(self, redis: Redis, *, global_per_second: int = GLOBAL_PER_SECOND,
                 chat_interval_ms: int = CHAT_INTERVAL_MS) -> None:
        self.redis = redis
        self.global_per_second = global_per_second
        self.chat_interval_ms = chat_interval_ms

    async def wait(self, chat_id: int, *, max_wait: float = MAX_WAIT) -> None:
        """Return when a message to `chat_id` may be sent now (and count it). Raises ChatBusy when
        the chat is held for longer than `max_wait` seconds (after a 429): better to re-defer the
        job than to hold a worker slot that long."""
        chat_key = f"{_PREFIX}:chat:{chat_id}"
        while not await self.redis.set(chat_key, b"1", nx=True, px=self.chat_interval_ms):
            left_ms = await self.redis.pttl(chat_key)
            if left_ms > max_wait * 1000:
                raise ChatBusy(left_ms / 1000)
            await asyncio.sleep(max(left_ms, 20) / 1000)
        while True:
            now = time.time()
            window = int(now)
            key = f"{_PREFIX}:global:{window}"
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, 2)
                count, _ = await pipe.execute()
            if count <= self.global_per_second:
                return
            await asyncio.sleep(window + 1 - now + 0.001)

    async def pause_chat(self, chat_id: int, seconds: float) -> None:
        """Telegram said 429 for this chat: hold every message to it for `seconds`."""
        await self.redis.set(f"{_PREFIX}:chat:{chat_id}", b"1", px=max(int(seconds * 1000), 1))
