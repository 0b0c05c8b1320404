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

from bot import delivery, notices
from store.app import create_app
from store.services import events
from store.settings import Settings
from sync.relay import OutboxRelay, Wakeup, run_relay
from sync.worker import redis_client, stop_worker
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
        "image_fetch_allow_private": True,  # the tests serve CSV images from 127.0.0.1
    })


@pytest.fixture
async def bot_app(clean_bot_tables: asyncpg.Pool, bot_settings: Settings, make_client: MakeClient,
                  telegram: FakeTelegram) -> Client:
    client = await make_client(create_app(bot_settings))
    await telegram.wait_for(lambda c: c.method == "getUpdates", what="the bot to start long polling")
    return client


@pytest.fixture
async def worker(clean_bot_tables: asyncpg.Pool, bot_settings: Settings, redis_url: str,
                 database_url: str) -> AsyncIterator[JobLog]:
    """The notifications queue's arq worker running bot.delivery's jobs, the outbox relay that feeds
    it, and a stand-in for the sync queue that records the jobs other parts were sent."""
    log = JobLog()

    def record(name: str) -> Any:
        async def job(ctx: dict[str, Any], *args: Any) -> None:
            log.calls.append((name, args))

        return func(job, name=name)

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["db"] = clean_bot_tables
        ctx["settings"] = bot_settings
        await delivery.open_bot(ctx)

    notifications = Worker(
        functions=[*delivery.FUNCTIONS, *notices.FUNCTIONS], redis_pool=redis_client(redis_url, socket_timeout=None,
                                                                 queue=events.QUEUE_NOTIFICATIONS),
        queue_name=events.QUEUE_NOTIFICATIONS, on_startup=startup, on_shutdown=delivery.close_bot,
        handle_signals=False, poll_delay=0.05, max_jobs=20, keep_result=60,
    )
    others = Worker(
        functions=[record(name) for name in OTHER_JOBS], redis_pool=redis_client(redis_url, socket_timeout=None),
        queue_name=events.QUEUE_SYNC, handle_signals=False, poll_delay=0.05, keep_result=60,
    )
    relay_redis = redis_client(redis_url, socket_timeout=5)
    wakeup = Wakeup(database_url)
    relay = OutboxRelay(clean_bot_tables, relay_redis, retention_seconds=3600)
    tasks = [asyncio.create_task(notifications.main()), asyncio.create_task(others.main()),
             asyncio.create_task(wakeup.run()), asyncio.create_task(run_relay(relay, wakeup.waiter()))]
    yield log
    try:
        for task in tasks[2:]:
            task.cancel()
        await asyncio.gather(*tasks[2:], return_exceptions=True)
        await relay_redis.aclose(close_connection_pool=True)
        await stop_worker(others, tasks[1])
        await stop_worker(notifications, tasks[0])
    finally:
        await delivery.close_bot(notifications.ctx)  # in case close() stopped before on_shutdown


@pytest.fixture
async def arq_redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    yield redis
    await redis.aclose()
