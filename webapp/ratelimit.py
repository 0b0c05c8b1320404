"""Per-customer write rate limit over Redis, so it holds across every process serving the API.

A fixed window per customer: INCR `ratelimit:write:<user id>:<window number>` and let the key
expire with its window. Two windows' worth of requests can meet at a boundary, which is fine for
the purpose (stop a runaway client or a script, never a person tapping buttons).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from aiohttp import web
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from store.errors import RateLimited

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriteRateLimit:
    """At most `limit` write requests (POST, PUT, PATCH, DELETE) per customer per `window` seconds."""

    limit: int = 30
    window: int = 10


WRITE_RATE_LIMIT = web.AppKey("write_rate_limit", WriteRateLimit)
WARN_EVERY = 60.0
_warned_at = -WARN_EVERY


async def check_write(redis: ArqRedis, user_id: int, rule: WriteRateLimit, *, now: float | None = None) -> None:
    """Count one write for the customer; raise RateLimited (429) past the limit.

    When Redis cannot be reached the request is let through (and logged): the limit protects the
    store, it must not stop customers from buying."""
    current = time.time() if now is None else now
    window = int(current // rule.window)
    key = f"ratelimit:write:{user_id}:{window}"
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, rule.window + 1)
            count, _ = await pipe.execute()
    except (RedisError, OSError) as exc:  # redis-py's TimeoutError (a frozen Redis) is a RedisError
        global _warned_at
        if time.monotonic() - _warned_at > WARN_EVERY:  # one line a minute, not one per request
            _warned_at = time.monotonic()
            log.warning("rate limit not checked: Redis is unavailable (%s); writes let through", type(exc).__name__)
        return
    if int(count) > rule.limit:
        retry_after = max(1, math.ceil((window + 1) * rule.window - current))
        raise RateLimited("error.rate_limited", seconds=retry_after, details={"retry_after": retry_after})
