"""Keep within Telegram's limits for bots: about 30 messages a second overall and one a second
per chat. Shared through Redis, so every worker process (and the store process, when it runs
the worker too) counts against the same budget.

* per chat: a key `SET NX PX 1000` per chat; while it exists the next message to that chat waits
  (its job is re-scheduled for when the key expires: nobody sleeps holding a worker slot).
  A 429 for a chat extends that key to Telegram's `retry_after`, so other messages queued for the
  same chat wait too instead of hitting the limit again.
* overall: a counter per wall-clock second (`INCR`, expires after 2 s); past the limit, wait for
  the next second. A fixed window may let up to twice the rate through at a second's boundary;
  Telegram's limit is itself approximate ("about 30"), so the budget is 25.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

GLOBAL_PER_SECOND = 25
CHAT_INTERVAL_MS = 1000
_PREFIX = "bot:ratelimit"


class TelegramRateLimiter:
    def __init__(self, redis: Redis, *, global_per_second: int = GLOBAL_PER_SECOND,
                 chat_interval_ms: int = CHAT_INTERVAL_MS) -> None:
        self.redis = redis
        self.global_per_second = global_per_second
        self.chat_interval_ms = chat_interval_ms

    async def try_acquire(self, chat_id: int) -> float:
        """Take the chat's slot (and count one message against the overall budget) if it is free now:
        0.0 then, the message may go. Otherwise the seconds until it may: the caller re-schedules
        its job for then instead of holding a worker slot while it waits."""
        chat_key = f"{_PREFIX}:chat:{chat_id}"
        now = time.time()
        window = int(now)
        key = f"{_PREFIX}:global:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 2)
            count, _ = await pipe.execute()
        if count > self.global_per_second:
            return window + 1 - now + 0.01
        if await self.redis.set(chat_key, b"1", nx=True, px=self.chat_interval_ms):
            return 0.0
        left_ms = int(await self.redis.pttl(chat_key))
        return max(left_ms, 20) / 1000

    async def chat_wait(self, chat_id: int) -> float:
        """Seconds until the chat's next slot (0.0: free now); takes nothing."""
        left_ms = int(await self.redis.pttl(f"{_PREFIX}:chat:{chat_id}"))
        return max(left_ms, 0) / 1000

    async def pause_chat(self, chat_id: int, seconds: float) -> None:
        """Telegram said 429 for this chat: hold every message to it for `seconds`."""
        await self.redis.set(f"{_PREFIX}:chat:{chat_id}", b"1", px=max(int(seconds * 1000), 1))
