"""The HTTP layer and the rate limiter under every adapter: retries and their bounds, 429 handling,
secrets kept out of errors and logs, exact pacing, the Redis limiter shared between processes."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from sync.adapters import build_adapter
from sync.adapters.base import Account, MarketplaceError
from sync.adapters.common import parse_time
from sync.adapters.wildberries import WildberriesAdapter
from sync.http import ClientOptions, HttpError, MarketplaceClient, RateHeaders, parse_retry_after
from sync.ratelimit import BucketKey, Limit, LocalRateLimiter, RateLimitWait, RedisRateLimiter, limits_for
from sync.sandbox import ManualClock
from tests.adapters_support import VirtualClock

SECRET = "tok-SECRET-4b1d9e"


def fake_marketplace() -> tuple[web.Application, dict[str, int]]:
    """Misbehaving endpoints; `hits` counts the requests per path."""
    hits: dict[str, int] = {}

    @web.middleware
    async def count(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
        hits[request.path] = hits.get(request.path, 0) + 1
        return await handler(request)

    async def echo_401(request: web.Request) -> web.Response:
        return web.json_response({"message": f"token {request.headers['Authorization']} is unknown"}, status=401)

    async def echo_500(request: web.Request) -> web.Response:
        return web.Response(status=500, text=f"<pre>{dict(request.headers)}</pre>")

    async def always_429(request: web.Request) -> web.Response:
        return web.json_response({"message": "slow down"}, status=429, headers={"Retry-After": "2"})

    async def long_429(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "3600"})

    async def bad_400(request: web.Request) -> web.Response:
        return web.json_response({"errors": [{"code": "v-1", "message": "barcode is wrong"}]}, status=400)

    async def html_200(request: web.Request) -> web.Response:
        return web.Response(text=f"<html>maintenance {request.headers['Authorization']}</html>")

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True}, headers={"X-Ratelimit-Remaining": "0"})

    app = web.Application(middlewares=[count])
    for path, handler in (
        ("/echo-401", echo_401),
        ("/echo-500", echo_500),
        ("/always-429", always_429),
        ("/long-429", long_429),
        ("/bad-400", bad_400),
        ("/html", html_200),
        ("/ok", ok),
    ):
        app.router.add_route("*", path, handler)
    return app, hits


@pytest.fixture
async def fake() -> AsyncIterator[tuple[str, dict[str, int], aiohttp.ClientSession]]:
    app, hits = fake_marketplace()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:
        yield f"http://127.0.0.1:{port}", hits, session
    await runner.cleanup()


def client_for(base_url: str, session: aiohttp.ClientSession, manual: ManualClock) -> MarketplaceClient:
    clock = VirtualClock(manual)
    return MarketplaceClient(
        session,
        slug="test",
        account_key="1",
        base_url=base_url,
        auth_headers={"Authorization": SECRET},
        limiter=LocalRateLimiter(clock),
        limits={"g": Limit(1000, 1000, error_cost=10)},
        rate_headers=RateHeaders(remaining=("X-Ratelimit-Remaining",), retry=("Retry-After",)),
        options=ClientOptions(
            timeout=5, backoff_base=0.5, backoff_cap=4, max_tries=4, max_rate_limited=3, max_retry_wait=120
        ),
        clock=clock,
    )


async def test_secrets_never_reach_errors_or_logs(
    fake: tuple[str, dict[str, int], aiohttp.ClientSession], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    base, _, session = fake
    client = client_for(base, session, ManualClock())
    errors: list[MarketplaceError] = []
    for path in ("/echo-401", "/echo-500", "/html"):
        with pytest.raises(MarketplaceError) as caught:
            await client.request("GET", path, groups=("g",))
        errors.append(caught.value)
    assert [e.kind for e in errors] == ["auth", "server", "bad_response"]
    assert "token *** is unknown" in str(errors[0])
    for error in errors:
        assert SECRET not in str(error) and SECRET not in repr(getattr(error, "payload", None))
        assert error.__cause__ is None and error.__context__ is None
    assert SECRET not in caplog.text
    assert SECRET not in repr(Account("uzum", base, SECRET))


async def test_retries_are_bounded_and_4xx_is_never_repeated(
    fake: tuple[str, dict[str, int], aiohttp.ClientSession],
) -> None:
    base, hits, session = fake
    manual = ManualClock()
    client = client_for(base, session, manual)
    start = manual()
    with pytest.raises(MarketplaceError) as server:
        await client.request("GET", "/echo-500", groups=("g",))
    backoff = manual() - start
    with pytest.raises(HttpError) as rejected:
        await client.request("POST", "/bad-400", groups=("g",), json_body={"x": 1})
    start = manual()
    with pytest.raises(HttpError) as limited:
        await client.request("GET", "/always-429", groups=("g",))
    waited = manual() - start
    assert (server.value.kind, hits["/echo-500"]) == ("server", 4)
    assert 0.5 * (0.5 + 1 + 2) <= backoff <= 0.5 + 1 + 2  # jittered, exponential, three waits
    assert (rejected.value.kind, rejected.value.status, hits["/bad-400"]) == ("rejected", 400, 1)
    assert rejected.value.payload == {"errors": [{"code": "v-1", "message": "barcode is wrong"}]}
    assert "v-1: barcode is wrong" in str(rejected.value)
    assert (limited.value.kind, hits["/always-429"]) == ("rate_limited", 4)  # 3 waits honoured, then no more
    assert waited >= 3 * 2
    assert client.calls == 4 + 1 + 4


async def test_a_429_asking_too_long_blocks_the_bucket_for_every_request(
    fake: tuple[str, dict[str, int], aiohttp.ClientSession],
) -> None:
    base, hits, session = fake
    client = client_for(base, session, ManualClock())
    with pytest.raises(HttpError) as first:
        await client.request("GET", "/long-429", groups=("g",))
    with pytest.raises(MarketplaceError) as second:
        await client.request("GET", "/ok", groups=("g",))
    assert first.value.kind == "rate_limited" and "3600 s" in str(first.value)
    assert second.value.kind == "rate_limited" and "not sent" in str(second.value)
    assert hits == {"/long-429": 1}


Fake = tuple[str, dict[str, int], aiohttp.ClientSession]


async def test_connection_errors_are_retried_then_reported(fake: Fake) -> None:
    _, _, session = fake
    probe = web.AppRunner(web.Application())
    await probe.setup()
    site = web.TCPSite(probe, "127.0.0.1", 0)
    await site.start()
    port = probe.addresses[0][1]
    await probe.cleanup()  # nothing listens there any more
    client = client_for(f"http://127.0.0.1:{port}", session, ManualClock())
    with pytest.raises(MarketplaceError) as caught:
        await client.request("GET", "/ok", groups=("g",))
    assert caught.value.kind == "server" and "connection failed" in str(caught.value)
    assert client.calls == 4


async def test_a_4xx_costs_the_documented_extra_tokens(fake: tuple[str, dict[str, int], aiohttp.ClientSession]) -> None:
    base, _, session = fake
    manual = ManualClock()
    clock = VirtualClock(manual)
    limiter = LocalRateLimiter(clock)
    client = MarketplaceClient(
        session, slug="wildberries", account_key="1", base_url=base, auth_headers={"Authorization": SECRET},
        limiter=limiter, limits={"stocks": Limit(1, 20, error_cost=10)}, clock=clock,
    )
    with pytest.raises(HttpError):
        await client.request("PUT", "/bad-400", groups=("stocks",))
    waits = [await limiter.acquire(client.bucket("stocks"), client.limits["stocks"]) for _ in range(11)]
    # 20 - 1 - 9 = 10 tokens were left: nine at once, the tenth after the one-time margin, then 1/s
    assert waits[:9] == [0.0] * 9 and waits[9] == pytest.approx(0.25) and waits[10] == pytest.approx(1.0)


async def test_backoff_is_exponential_bounded_and_jittered() -> None:
    async with aiohttp.ClientSession() as session:
        client = MarketplaceClient(
            session, slug="t", account_key="1", base_url="http://x", auth_headers={}, limiter=LocalRateLimiter(),
            limits={}, options=ClientOptions(backoff_base=0.5, backoff_cap=4),
        )
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)):
        values = {client.backoff(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= v <= ceiling for v in values)
        assert len(values) > 1


def test_retry_after_and_marketplace_times_parse() -> None:
    now = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_time(1_790_000_000_000, "t") == parse_time(1_790_000_000, "t") == parse_time("1790000000000", "t")
    assert parse_time("2026-10-01T12:00:00Z", "t") == datetime(2026, 10, 1, 12, 0)
    assert parse_time("2026-10-01T17:00:00+05:00", "t") == datetime(2026, 10, 1, 12, 0)
    with pytest.raises(ValueError, match="not a date-time"):
        parse_time("yesterday", "t")


async def test_local_limiter_uses_the_burst_then_paces_exactly() -> None:
    manual = ManualClock()
    limiter = LocalRateLimiter(VirtualClock(manual))
    key, limit = BucketKey("wildberries", "1", "prices"), Limit.per(10, 6, 5)
    start = manual()
    waits = [await limiter.acquire(key, limit) for _ in range(15)]
    assert waits[:4] == [0.0] * 4 and waits[4] == pytest.approx(0.25)  # the margin, once
    assert waits[5:] == pytest.approx([0.6] * 10)
    assert manual() - start == pytest.approx(10 * 0.6 + 0.25)
    other = BucketKey("wildberries", "1", "stocks")  # another group: its own bucket
    assert await limiter.acquire(other, Limit.per(300, 60, 20)) == 0.0


async def test_limiter_follows_what_the_marketplace_says() -> None:
    manual = ManualClock()
    limiter = LocalRateLimiter(VirtualClock(manual))
    key, limit = BucketKey("uzum", "1", "default"), Limit.per(5, 1, 10)
    await limiter.acquire(key, limit)
    await limiter.observe(key, limit, remaining=9)  # agrees: nothing changes
    assert await limiter.acquire(key, limit) == 0.0
    await limiter.observe(key, limit, remaining=0)  # someone else used the bucket
    assert await limiter.acquire(key, limit) == pytest.approx(0.2 + 0.25)
    await limiter.observe(key, limit, remaining=0, rate=1, burst=2)  # the real shape
    assert await limiter.acquire(key, limit) == pytest.approx(1.0 + 0.25, abs=1e-6)
    await limiter.block(key, limit, 30)
    with pytest.raises(RateLimitWait):
        await limiter.acquire(key, limit, max_wait=10)
    assert 30 <= await limiter.acquire(key, limit) <= 31.5


async def test_redis_limiter_is_one_budget_for_every_process(redis_url: str) -> None:
    manual = ManualClock()
    clock = VirtualClock(manual)
    prefix = f"test-ratelimit-{uuid.uuid4().hex}"
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)  # two "workers"
    try:
        a = RedisRateLimiter(first, clock=clock, prefix=prefix)
        b = RedisRateLimiter(second, clock=clock, prefix=prefix)
        key, limit = BucketKey("ozon", "7", "stocks"), Limit.per(80, 60, 4)
        start = manual()
        waits = [await (a if i % 2 else b).acquire(key, limit) for i in range(10)]
        assert waits[:3] == [0.0] * 3 and waits[3] == pytest.approx(0.25)
        assert waits[4:] == pytest.approx([0.75] * 6)
        assert manual() - start == pytest.approx(6 * 0.75 + 0.25)
        stored = await first.hgetall(key.redis_key(prefix))
        assert set(stored) == {b"tat"} and await first.ttl(key.redis_key(prefix)) > 80_000
        await b.observe(key, limit, burst=2, rate=2.0, remaining=0)
        assert await a.acquire(key, limit) == pytest.approx(0.5 + 0.25)  # a learned what b was told
        await a.block(key, limit, 500)
        with pytest.raises(RateLimitWait):
            await b.acquire(key, limit, max_wait=120)
        await a.charge(key, limit, 3)
        await a.forget(key)
        assert await b.acquire(key, limit) == 0.0
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_limiter_on_redis_time_never_goes_faster_than_the_rate(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        limiters = [RedisRateLimiter(redis, prefix=f"test-ratelimit-{uuid.uuid4().hex}")] * 2
        key, limit = BucketKey("uzum", "1", "default"), Limit.per(20, 1, 2)
        start = time.monotonic()
        await asyncio.gather(*(limiters[i % 2].acquire(key, limit) for i in range(10)))
        assert time.monotonic() - start >= (10 - 2) / 20
    finally:
        await redis.aclose()


async def test_limits_come_from_the_docs_then_settings_then_the_caller(
    fake: tuple[str, dict[str, int], aiohttp.ClientSession],
) -> None:
    base, _, session = fake
    assert limits_for("wildberries")["prices"] == Limit.per(10, 6, 5)
    assert limits_for("wildberries")["stocks"].error_cost == 10
    assert limits_for("ozon", {"stocks": {"burst": 5}})["stocks"] == Limit.per(80, 60, 5)
    with pytest.raises(ValueError, match="no rate-limit group"):
        limits_for("uzum", {"prices": {"burst": 1}})
    base_token = {"prices": {"requests": 4, "period": 3600, "burst": 1}}  # WB's Base token
    account = Account("wildberries", base, SECRET, {"rate_limits": base_token})
    adapter = build_adapter(account, session, LocalRateLimiter())
    assert isinstance(adapter, WildberriesAdapter) and adapter.client.limits["prices"] == Limit.per(4, 3600, 1)
    for bad in (Account("amazon", base, SECRET), Account("uzum", base, SECRET, {"rate_limits": {"default": "x"}})):
        with pytest.raises(MarketplaceError) as caught:
            build_adapter(bad, session, LocalRateLimiter())
        assert caught.value.kind == "config"
