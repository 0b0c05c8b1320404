"""Fixtures for the bot's tests (loaded with `pytest_plugins = ["tests.bot_support"]`).

* `telegram`: the fake Bot API server (tests/fake_telegram.py), started per test.
* `bot_settings`: the test settings plus a bot token, TELEGRAM_API_URL pointing at the fake,
  one admin and a Mini App address.
* `bot_app`: the whole store app on a real server with the bot long polling the fake.
* `worker`: an arq worker running bot.delivery's jobs against the same Redis and database; the
  jobs other parts implement (marketplace pushes, sync) are recorded instead of run, so a test
  can check what the bot's side enqueued.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from arq import create_pool, func
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker
from pydantic import SecretStr

from bot import delivery
from store.app import create_app
from store.settings import Settings
from sync.worker import stop_worker
from tests.bot_helpers import ADMIN_ID, OTHER_JOBS, WEBAPP_URL, JobLog
from tests.conftest import Client, MakeClient
from tests.fake_telegram import TOKEN, FakeTelegram


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.close()
    refused = [(c.method, c.refusal, c.text[:200]) for c in fake.refused()]
    assert not refused, f"the bot sent what Telegram refuses: {refused}"


@pytest.fixture
async def clean_bot_tables(pool: asyncpg.Pool) -> asyncpg.Pool:
    # conftest's `pool` empties every table, the bot's (migration 0004) included.
    return pool


@pytest.fixture
def bot_settings(settings: Settings, telegram: FakeTelegram) -> Settings:
    return settings.model_copy(update={
        "bot_token": SecretStr(TOKEN),
        "telegram_api_url": telegram.url,
        "admin_ids": frozenset({ADMIN_ID}),
        "webapp_url": WEBAPP_URL,
    })


@pytest.fixture
async def bot_app(clean_bot_tables: asyncpg.Pool, bot_settings: Settings, make_client: MakeClient,
                  telegram: FakeTelegram) -> Client:
    client = await make_client(create_app(bot_settings))
    await telegram.wait_for(lambda c: c.method == "getUpdates", what="the bot to start long polling")
    return client


@pytest.fixture
async def worker(clean_bot_tables: asyncpg.Pool, bot_settings: Settings, redis_url: str) -> AsyncIterator[JobLog]:
    log = JobLog()

    def record(name: str) -> Any:
        async def job(ctx: dict[str, Any], *args: Any) -> None:
            log.calls.append((name, args))

        return func(job, name=name)

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["db"] = clean_bot_tables
        ctx["settings"] = bot_settings
        await delivery.open_bot(ctx)

    worker = Worker(
        functions=[*delivery.FUNCTIONS, *(record(name) for name in OTHER_JOBS)],
        redis_settings=RedisSettings.from_dsn(redis_url), on_startup=startup, on_shutdown=delivery.close_bot,
        handle_signals=False, poll_delay=0.05, max_jobs=20, keep_result=60,
    )
    task = asyncio.create_task(worker.main())
    yield log
    try:
        await stop_worker(worker, task)
    finally:
        await delivery.close_bot(worker.ctx)  # in case close() stopped before on_shutdown


@pytest.fixture
async def arq_redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    yield redis
    await redis.aclose()
