"""The composition root: settings in, one aiohttp application out, every resource a cleanup_ctx.

Order matters: later contexts use earlier ones and are torn down in reverse, so on SIGINT/SIGTERM
the server stops taking requests, the bot and the worker finish what is in flight, the pools close
and, last, the embedded servers stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from store import keys, runtime
from store.background import running
from store.settings import Settings
from store.telegram_auth import local_bot_token

log = logging.getLogger(__name__)


async def _servers_ctx(app: web.Application) -> AsyncIterator[None]:
    async with runtime.servers(app[keys.SETTINGS]) as endpoints:
        app[keys.ENDPOINTS] = endpoints
        yield


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    web_process = app.get(keys.WEB_PROCESS)
    if web_process is None:
        opened = runtime.database(app[keys.ENDPOINTS])
    else:  # one of N: the parent migrated; the pool is this process's share of max_connections
        opened = runtime.database(app[keys.ENDPOINTS], run_migrations=False, pool_size=web_process.pool_size)
    async with opened as pool:
        app[keys.DB] = pool
        yield


REQUEST_REDIS_TIMEOUT = 0.5  # seconds a Redis call on a request path may take (a frozen Redis must not hang customers)


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    from sync.worker import redis_client

    redis = redis_client(app[keys.ENDPOINTS].redis_url, socket_timeout=REQUEST_REDIS_TIMEOUT)
    app[keys.REDIS] = redis
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await redis.aclose(close_connection_pool=True)


async def _worker_ctx(app: web.Application) -> AsyncIterator[None]:
    from sync.worker import WorkerService

    if not app[keys.SETTINGS].run_worker:
        log.info("worker: not started in this process (RUN_WORKER=false)")
        yield
        return
    endpoints = app[keys.ENDPOINTS]
    service = WorkerService(app[keys.SETTINGS], endpoints.redis_url, endpoints.database_url, app[keys.DB])
    app[keys.WORKER] = service
    async with running(service.run(), "worker") as task:
        task.add_done_callback(_log_crash("worker"))
        log.info("worker: running in this process (queues: %s; outbox relay and marketplace pushes)",
                 ", ".join(service.queues))
        yield


def _log_crash(what: str) -> Callable[[asyncio.Task[None]], None]:
    def callback(task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            # The shop keeps selling without its worker (events wait in the outbox); say it loudly.
            log.critical("%s stopped: %r; events wait in the outbox until a worker runs", what, exc)

    return callback


async def _bot_ctx(app: web.Application) -> AsyncIterator[None]:
    from bot.runner import run_bot

    async with run_bot(app):
        yield


def create_app(settings: Settings, *, with_bot: bool = True,
               web_process: keys.WebProcess | None = None) -> web.Application:
    """The store's application. `web_process`: this is one of the N processes of `run --processes N`
    (no embedded servers, migrations or sandboxes here: the parent has them)."""
    from webapp import setup_webapp

    app = web.Application(client_max_size=2 * 1024 * 1024)
    if settings.local_mode:
        from webapp.payment_sandbox import configure, setup_sandbox_routes

        settings = configure(settings)  # Payme and Click sandboxes where no real credentials are set
        setup_sandbox_routes(app)
    app[keys.SETTINGS] = settings
    if web_process is not None:
        app[keys.WEB_PROCESS] = web_process
    app[keys.TELEGRAM] = keys.TelegramStatus()
    app[keys.INIT_DATA_TOKEN] = (
        settings.bot_token.get_secret_value() if settings.bot_token else local_bot_token(settings.data_dir)
    )
    app.cleanup_ctx.append(_servers_ctx)
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(_redis_ctx)
    if settings.local_mode and web_process is None:
        from store.local_marketplaces import sandboxes_ctx

        app.cleanup_ctx.append(sandboxes_ctx)  # marketplace sandboxes for the demo marketplaces
    app.cleanup_ctx.append(_worker_ctx)
    if with_bot:
        app.cleanup_ctx.append(_bot_ctx)
        if settings.webhook_url and settings.bot_token:
            from bot.webhook import setup_webhook_route

            setup_webhook_route(app)  # routes must exist before the app starts
    setup_webapp(app)
    return app
