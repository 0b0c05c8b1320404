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


SETTINGS = web.AppKey("settings", Settings)
ENDPOINTS = web.AppKey("endpoints", Endpoints)
DB = web.AppKey("db", asyncpg.Pool)
REDIS = web.AppKey("redis", ArqRedis)
TELEGRAM = web.AppKey("telegram", TelegramStatus)
INIT_DATA_TOKEN = web.AppKey("init_data_token", str)
WORKER = web.AppKey("worker", object)  # sync.worker.WorkerService, when the worker runs in this process
