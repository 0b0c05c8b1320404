"""Typed keys for everything the aiohttp application holds (no string keys, nothing global)."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
from aiohttp import web
from arq.connections import ArqRedis

from store.settings import Settings


@dataclass
class TelegramStatus:
    """What the bot is doing, for /healthz and the log: off, connecting, polling, webhook, failing."""

    state: str = "off"
    detail: str = ""
    bot_username: str | None = None
    retries: int = field(default=0)


@dataclass(frozen=True)
class Endpoints:
    """Where the database and Redis are, and whether we started them ourselves."""

    database_url: str
    redis_url: str
    embedded_database: bool
    embedded_redis: bool


@dataclass(frozen=True)
class WebProcess:
    """This process is web process `index` of the N that `amazing-store run --processes N` runs
    (store/supervisor.py). The parent started the servers, migrated, seeded, runs the local
    sandboxes and the worker; this process serves HTTP with a pool of `pool_size` connections.
    Only web process 0 takes Telegram's updates (long polling, or registering the webhook); in
    webhook mode every web process handles the updates posted to it."""

    index: int
    pool_size: int

    @property
    def owns_telegram_updates(self) -> bool:
        return self.index == 0


SETTINGS = web.AppKey("settings", Settings)
ENDPOINTS = web.AppKey("endpoints", Endpoints)
DB = web.AppKey("db", asyncpg.Pool)
REDIS = web.AppKey("redis", ArqRedis)
TELEGRAM = web.AppKey("telegram", TelegramStatus)
INIT_DATA_TOKEN = web.AppKey("init_data_token", str)
WORKER = web.AppKey("worker", object)  # sync.worker.WorkerService, when the worker runs in this process
WEB_PROCESS = web.AppKey("web_process", WebProcess)  # only in the N processes of `run --processes N`
