"""The arq worker: marketplace sync and other background jobs.

`amazing-store run` runs it inside the store process by default; `amazing-store worker` runs it
alone (production: one store process, one or more workers). Both build it here, from the same
settings and the same database code.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from typing import Any, TypedDict

import asyncpg
from arq import cron
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker

from store.settings import Settings

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "amazing-store:worker:heartbeat"


class WorkerContext(TypedDict, total=False):
    """What every job receives in `ctx` (arq adds `redis`, `job_id`, `job_try`, ...)."""

    redis: ArqRedis
    db: asyncpg.Pool
    settings: Settings
    job_try: int
    sync_resources: Any  # sync.jobs.SyncResources: the sync jobs' HTTP session and rate limiter
    bot: Any  # aiogram Bot for bot.delivery, when BOT_TOKEN is set


async def record_heartbeat(ctx: dict[str, Any]) -> None:
    """Cron, every minute: leave a timestamp /healthz can read to tell the worker is alive."""
    redis: ArqRedis = ctx["redis"]
    await redis.set(HEARTBEAT_KEY, str(int(time.time())), ex=600)


def worker_functions() -> list[Any]:
    from bot import delivery
    from store import payment_jobs
    from sync import jobs

    return [*jobs.FUNCTIONS, *delivery.FUNCTIONS, *payment_jobs.FUNCTIONS]


def cron_jobs() -> list[Any]:
    from bot import delivery
    from store import payment_jobs
    from sync import jobs

    return [cron(record_heartbeat, second=0, run_at_startup=True, unique=True), *jobs.CRON_JOBS, *delivery.CRON_JOBS,
            *payment_jobs.CRON_JOBS]


def build_worker(settings: Settings, redis_url: str, db: asyncpg.Pool, *, burst: bool = False) -> Worker:
    from bot import delivery
    from sync import jobs

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["db"] = db
        ctx["settings"] = settings
        # arq hands every job a copy of ctx: what jobs share must exist before the first job.
        ctx[jobs.RESOURCES_KEY] = jobs.SyncResources()
        if settings.bot_token is not None:
            from bot.runner import create_bot

            ctx["bot"] = create_bot(settings)  # opens no connection until the first send

    async def shutdown(ctx: dict[str, Any]) -> None:
        resources = ctx.get(jobs.RESOURCES_KEY)
        if isinstance(resources, jobs.SyncResources):
            await resources.close()
        await delivery.close_bot(ctx)

    return Worker(
        functions=worker_functions(),
        cron_jobs=cron_jobs(),
        redis_settings=RedisSettings.from_dsn(redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        after_job_end=jobs.after_job_end,
        handle_signals=False,
        burst=burst,
        max_jobs=20,
        job_timeout=120,
        keep_result=60,
        health_check_interval=60,
        poll_delay=0.2,
    )


WORKER_DRAIN_SECONDS = 10.0


async def stop_worker(worker: Worker, task: asyncio.Task[None] | None = None, *,
                      drain: float = WORKER_DRAIN_SECONDS) -> None:
    """Stop `worker` in order: stop taking jobs (cancel `task`, the one running `worker.main()`),
    give the jobs in flight up to `drain` seconds to finish, then close it. arq cancels whatever is
    still running (it re-runs those later; every job is safe to run twice) and closes its pool."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    running = [t for t in worker.tasks.values() if not t.done()]
    if running:
        await asyncio.wait(running, timeout=drain)
    with warnings.catch_warnings():
        # arq 0.28 closes its Redis pool with redis-py's deprecated close(); not ours to fix.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            await worker.close()
        except asyncio.CancelledError:
            # close() re-raises the cancellation of the jobs it cancelled; only ours must propagate.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
