"""Rate limits of the marketplace APIs: one token bucket per (marketplace, account, limit group).

The bucket is kept as GCRA (the "generic cell rate algorithm", the token bucket written as one
timestamp): `tat`, the theoretical arrival time, is when the bucket would be full again. With
`interval` = 1/rate and `burst` tokens, a request costing `cost` tokens may go at

    max(now, max(tat, now) + cost * interval - burst * interval + margin)

and moves `tat` on by `cost * interval`. `acquire` reserves that moment atomically and sleeps exactly
until it, so N requests take exactly `(N - burst) / rate` seconds plus `margin` once: the burst is
used at once and the rest is paced at the documented rate, never more conservatively.

`margin` (default 0.25 s, never more than half the burst window) absorbs network jitter: the
marketplace counts a request when it arrives, we count it when we send it, and the first request of
a run usually arrives late (TLS handshake), which would otherwise make the request right after the
burst arrive a few milliseconds too early and earn a 429. It is paid once per drained bucket, not
per request.

Two implementations of one interface (:class:`RateLimiter`):

* :class:`RedisRateLimiter`: one Redis hash per bucket (`amazing-store:ratelimit:<slug>:<account>:<group>`
  holding `tat` and the limits learned from headers), changed only by one Lua script, so every worker
  process shares one budget. Time comes from Redis (`TIME`) unless a test clock is given.
* :class:`LocalRateLimiter`: the same arithmetic in process (unit tests, single-process tools).

The limiter follows the marketplace: :meth:`RateLimiter.observe` takes what a response said (remaining
tokens, replenish rate, burst size) and :meth:`RateLimiter.block` what a 429 said (`Retry-After`,
`X-Ratelimit-Retry`); :meth:`RateLimiter.charge` adds a cost after the fact (WB counts a 4XX answer
as 10 requests in some groups).
"""

from __future__ import annotations

import asyncio
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.asyncio import Redis

DEFAULT_MARGIN = 0.25
IDLE_TTL = 86_400  # seconds a bucket (and what it learned from headers) outlives its last use
KEY_PREFIX = "amazing-store:ratelimit"


class Clock(Protocol):
    """Where the limiter and the HTTP client read time and sleep (a virtual clock in tests)."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real monotonic clock."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


@dataclass(frozen=True, slots=True)
class Limit:
    """`rate` tokens per second, `burst` tokens at most; `error_cost`: what a 4XX answer (other than
    429) costs in all (WB: 10 in the stocks and marketplace groups)."""

    rate: float
    burst: int
    error_cost: int = 1

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)) or self.burst < 1 or self.error_cost < 1:
            raise ValueError(f"bad limit: rate {self.rate}, burst {self.burst}, error_cost {self.error_cost}")

    @classmethod
    def per(cls, requests: float, seconds: float, burst: int, *, error_cost: int = 1) -> Limit:
        """`Limit.per(10, 6, 5)`: 10 requests per 6 s, burst 5."""
        return cls(requests / seconds, burst, error_cost)

    @property
    def interval(self) -> float:
        return 1.0 / self.rate


@dataclass(frozen=True, slots=True)
class BucketKey:
    slug: str
    account: str
    group: str

    def redis_key(self, prefix: str = KEY_PREFIX) -> str:
        return f"{prefix}:{self.slug}:{self.account}:{self.group}"


# Documented limits per marketplace and group (see /work/shared/marketplaces.md). Uzum publishes no
# numbers: start at 5 rps burst 10 (what its gateway's headers then correct). Ozon's stock limit is
# "80 requests per minute": a per-minute budget lets all 80 go at once, hence burst 80.
DEFAULT_LIMITS: Mapping[str, Mapping[str, Limit]] = {
    "uzum": {"default": Limit.per(5, 1, 10)},
    "wildberries": {
        "prices": Limit.per(10, 6, 5),
        "stocks": Limit.per(300, 60, 20, error_cost=10),
        "marketplace": Limit.per(300, 60, 20, error_cost=10),
        "content": Limit.per(100, 60, 5),
    },
    "ozon": {"global": Limit.per(50, 1, 50), "stocks": Limit.per(80, 60, 80)},
}


def parse_limit(value: Any, base: Limit | None = None) -> Limit:
    """A limit from settings: `{"requests", "period", "burst", "error_cost"?}` (missing keys from
    `base`) or a Limit. Raises ValueError naming what is wrong."""
    if isinstance(value, Limit):
        return value
    if not isinstance(value, Mapping):
        raise ValueError("a rate limit is an object {requests, period, burst}")
    try:
        if "requests" in value or "period" in value:
            requests = float(value.get("requests", base.rate if base else 0))
            period = float(value.get("period", 1))
            rate = requests / period
        else:
            rate = float(value["rate"]) if "rate" in value else (base.rate if base else 0.0)
        burst = int(value.get("burst", base.burst if base else 1))
        error_cost = int(value.get("error_cost", base.error_cost if base else 1))
        return Limit(rate, burst, error_cost)
    except (TypeError, ValueError, ZeroDivisionError, KeyError) as exc:
        raise ValueError(f"bad rate limit {dict(value)!r}: {exc}") from None


def limits_for(slug: str, *overrides: Mapping[str, Any] | None) -> dict[str, Limit]:
    """The documented limits of `slug` with `overrides` applied in order (each `{group: limit}`;
    an unknown group is a ValueError)."""
    limits = dict(DEFAULT_LIMITS.get(slug, {}))
    for override in overrides:
        for group, value in (override or {}).items():
            if group not in limits:
                raise ValueError(f"{slug} has no rate-limit group {group!r}; known: {sorted(limits)}")
            limits[group] = parse_limit(value, limits[group])
    return limits


class RateLimitWait(Exception):
    """The bucket would make the caller wait longer than it allowed (e.g. blocked by a long 429)."""

    def __init__(self, key: BucketKey, wait: float) -> None:
        super().__init__(f"{key.slug} {key.group}: the rate limit asks to wait {wait:.0f} s")
        self.key = key
        self.wait = wait


def effective_margin(margin: float, interval: float, burst: float) -> float:
    """At most half the burst window (so it is paid once, not per request); 5 % of the interval when
    there is no burst to hide it in."""
    tau = (burst - 1) * interval
    return min(margin, tau / 2) if tau > 0 else min(margin, interval * 0.05)


@dataclass
class _State:
    tat: float
    rate: float | None = None  # learned from headers
    burst: float | None = None


@dataclass
class _Arithmetic:
    """The GCRA steps, shared by the local limiter and (as Lua) the Redis one."""

    margin: float = DEFAULT_MARGIN
    states: dict[BucketKey, _State] = field(default_factory=dict)

    def _get(self, key: BucketKey, now: float) -> _State:
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = _State(now)
        return state

    @staticmethod
    def _shape(state: _State, limit: Limit) -> tuple[float, float]:
        rate = state.rate if state.rate is not None else limit.rate
        burst = state.burst if state.burst is not None else float(limit.burst)
        return 1.0 / rate, burst

    def reserve(self, key: BucketKey, limit: Limit, now: float, cost: float, max_wait: float | None) -> float:
        state = self._get(key, now)
        interval, burst = self._shape(state, limit)
        margin = effective_margin(self.margin, interval, burst)
        new_tat = max(state.tat, now) + cost * interval
        wait = max(0.0, new_tat - burst * interval + margin - now)
        if max_wait is not None and wait > max_wait:
            raise RateLimitWait(key, wait)
        state.tat = new_tat
        return wait

    def block(self, key: BucketKey, limit: Limit, now: float, seconds: float) -> None:
        state = self._get(key, now)
        interval, burst = self._shape(state, limit)
        state.tat = max(state.tat, now + seconds + (burst - 1) * interval)

    def charge(self, key: BucketKey, limit: Limit, now: float, cost: float) -> None:
        state = self._get(key, now)
        interval, _ = self._shape(state, limit)
        state.tat = max(state.tat, now) + cost * interval

    def observe(
        self,
        key: BucketKey,
        limit: Limit,
        now: float,
        *,
        remaining: float | None,
        rate: float | None,
        burst: float | None,
        sent_ago: float,
    ) -> None:
        state = self._get(key, now)
        sent_at = now - max(0.0, sent_ago)
        old_interval, old_burst = self._shape(state, limit)
        ours = old_burst - max(0.0, state.tat - sent_at) / old_interval  # tokens we thought it had
        if rate is not None and rate > 0:
            state.rate = rate
        if burst is not None and burst >= 1:
            state.burst = burst
        interval, burst_now = self._shape(state, limit)
        if not (math.isclose(interval, old_interval, rel_tol=1e-9) and burst_now == old_burst):
            # a new shape: carry our token count over (never more than it reported)
            tokens = ours if remaining is None else min(ours, remaining)
            state.tat = sent_at + (burst_now - tokens) * interval
        elif remaining is not None and ours > remaining + 1 + effective_margin(
            self.margin, interval, burst_now
        ) / interval:
            # In sync we can never be a whole token (plus the jitter margin we add once: a first
            # request that arrives late, a count rounded down) above what it reported: someone else
            # spent them.
            state.tat = sent_at + (burst_now - remaining) * interval


class RateLimiter(ABC):
    """One budget per :class:`BucketKey`. Every method is safe to call from many tasks (and, for
    the Redis implementation, many processes) at once."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SYSTEM_CLOCK

    async def acquire(
        self, key: BucketKey, limit: Limit, *, cost: float = 1.0, max_wait: float | None = None
    ) -> float:
        """Take `cost` tokens, sleeping exactly until they are available; returns the seconds slept.
        Raises RateLimitWait (taking nothing) when that would be longer than `max_wait`."""
        wait = await self._reserve(key, limit, cost, max_wait)
        if wait > 0:
            await self.clock.sleep(wait)
        return wait

    @abstractmethod
    async def _reserve(self, key: BucketKey, limit: Limit, cost: float, max_wait: float | None) -> float: ...

    @abstractmethod
    async def block(self, key: BucketKey, limit: Limit, seconds: float) -> None:
        """The marketplace said 429, retry in `seconds`: nobody gets a token before then."""

    @abstractmethod
    async def charge(self, key: BucketKey, limit: Limit, cost: float) -> None:
        """Take `cost` more tokens now, even into debt (the marketplace charged extra)."""

    @abstractmethod
    async def observe(
        self,
        key: BucketKey,
        limit: Limit,
        *,
        remaining: float | None = None,
        rate: float | None = None,
        burst: float | None = None,
        sent_ago: float = 0.0,
    ) -> None:
        """What a response said about the bucket: `remaining` tokens after the request that was sent
        `sent_ago` seconds ago (only ever lowers ours), the `rate` (tokens/s) and `burst` it really
        uses (kept for every later request)."""


class LocalRateLimiter(RateLimiter):
    """In-process buckets (one process only)."""

    def __init__(self, clock: Clock | None = None, *, margin: float = DEFAULT_MARGIN) -> None:
        super().__init__(clock)
        self._math = _Arithmetic(margin)

    async def _reserve(self, key: BucketKey, limit: Limit, cost: float, max_wait: float | None) -> float:
        return self._math.reserve(key, limit, self.clock.now(), cost, max_wait)

    async def block(self, key: BucketKey, limit: Limit, seconds: float) -> None:
        self._math.block(key, limit, self.clock.now(), seconds)

    async def charge(self, key: BucketKey, limit: Limit, cost: float) -> None:
        self._math.charge(key, limit, self.clock.now(), cost)

    async def observe(
        self,
        key: BucketKey,
        limit: Limit,
        *,
        remaining: float | None = None,
        rate: float | None = None,
        burst: float | None = None,
        sent_ago: float = 0.0,
    ) -> None:
        self._math.observe(
            key, limit, self.clock.now(), remaining=remaining, rate=rate, burst=burst, sent_ago=sent_ago
        )


# One script for every operation, so each is one atomic round trip. Times are seconds as decimal
# strings with microseconds (Lua's default number formatting would keep only 14 digits).
_LUA = """
local op = ARGV[1]
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local stored = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'burst')
local tat = tonumber(stored[1]) or now
local rate = tonumber(stored[2]) or tonumber(ARGV[3])
local burst = tonumber(stored[3]) or tonumber(ARGV[4])
local margin = tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
local a = tonumber(ARGV[7])
local interval = 1 / rate
local result = 0
if op == 'reserve' then
  local tau = (burst - 1) * interval
  if tau > 0 then margin = math.min(margin, tau / 2) else margin = math.min(margin, interval * 0.05) end
  local new_tat = math.max(tat, now) + a * interval
  local wait = math.max(0, new_tat - burst * interval + margin - now)
  local max_wait = tonumber(ARGV[8])
  if max_wait >= 0 and wait > max_wait then
    return {'refused', string.format('%.6f', wait)}
  end
  tat = new_tat
  result = wait
elseif op == 'block' then
  tat = math.max(tat, now + a + (burst - 1) * interval)
elseif op == 'charge' then
  tat = math.max(tat, now) + a * interval
elseif op == 'observe' then
  local new_rate = tonumber(ARGV[8])
  local new_burst = tonumber(ARGV[9])
  local remaining = tonumber(ARGV[10])
  local sent_at = now - math.max(0, a)
  local ours = burst - math.max(0, tat - sent_at) / interval
  local reshaped = false
  if new_rate and new_rate > 0 then
    if math.abs(new_rate - rate) > 1e-9 * rate then reshaped = true end
    rate = new_rate
    interval = 1 / rate
    redis.call('HSET', KEYS[1], 'rate', string.format('%.9g', rate))
  end
  if new_burst and new_burst >= 1 then
    if new_burst ~= burst then reshaped = true end
    burst = new_burst
    redis.call('HSET', KEYS[1], 'burst', string.format('%.9g', burst))
  end
  if reshaped then
    local tokens = ours
    if remaining and remaining < tokens then tokens = remaining end
    tat = sent_at + (burst - tokens) * interval
  else
    local tau = (burst - 1) * interval
    local m = margin
    if tau > 0 then m = math.min(m, tau / 2) else m = math.min(m, interval * 0.05) end
    if remaining and ours > remaining + 1 + m / interval then
      tat = sent_at + (burst - remaining) * interval
    end
  end
end
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', tat))
redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(tat - now, 0) + ttl) * 1000))
return {'ok', string.format('%.6f', result)}
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _arg(value: float | None) -> str:
    return "" if value is None else repr(float(value))


class RedisRateLimiter(RateLimiter):
    """Buckets in Redis, shared by every worker process: `RedisRateLimiter(redis)` with the worker's
    redis client (arq's `ctx["redis"]` is one). Time is Redis's own `TIME`; pass `clock` only for
    tests with virtual time (then its `now()` is sent instead and its `sleep` is used)."""

    def __init__(
        self,
        redis: Redis,
        *,
        clock: Clock | None = None,
        margin: float = DEFAULT_MARGIN,
        prefix: str = KEY_PREFIX,
        idle_ttl: float = IDLE_TTL,
    ) -> None:
        super().__init__(clock)
        self.redis = redis
        self.margin = margin
        self.prefix = prefix
        self.idle_ttl = idle_ttl
        self._use_clock = clock is not None
        self._script = redis.register_script(_LUA)

    async def _run(self, op: str, key: BucketKey, limit: Limit, a: float, *extra: str) -> tuple[str, float]:
        now = _arg(self.clock.now()) if self._use_clock else ""
        args = [op, now, _arg(limit.rate), str(limit.burst), _arg(self.margin), _arg(self.idle_ttl), _arg(a)]
        reply = await self._script(keys=[key.redis_key(self.prefix)], args=[*args, *extra])
        return _text(reply[0]), float(_text(reply[1]))

    async def _reserve(self, key: BucketKey, limit: Limit, cost: float, max_wait: float | None) -> float:
        verdict, wait = await self._run("reserve", key, limit, cost, _arg(-1.0 if max_wait is None else max_wait))
        if verdict == "refused":
            raise RateLimitWait(key, wait)
        return wait

    async def block(self, key: BucketKey, limit: Limit, seconds: float) -> None:
        await self._run("block", key, limit, seconds)

    async def charge(self, key: BucketKey, limit: Limit, cost: float) -> None:
        await self._run("charge", key, limit, cost)

    async def observe(
        self,
        key: BucketKey,
        limit: Limit,
        *,
        remaining: float | None = None,
        rate: float | None = None,
        burst: float | None = None,
        sent_ago: float = 0.0,
    ) -> None:
        if remaining is None and rate is None and burst is None:
            return
        await self._run("observe", key, limit, sent_ago, _arg(rate), _arg(burst), _arg(remaining))

    async def forget(self, key: BucketKey) -> None:
        """Drop a bucket (and what it learned): the next request starts with a full burst."""
        await self.redis.delete(key.redis_key(self.prefix))
