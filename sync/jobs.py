"""Marketplace sync jobs run by the arq worker (registered in sync.worker). The rules live in
`store.services.marketplace_sync`; these functions only take what they need from `ctx`.

Jobs (names are the contract with whoever enqueues them) and why two never do the same work twice:

* `enqueue_due_syncs(ctx)`: cron, every minute (unique per tick, so several workers make one tick).
  Closes runs whose process died (`marketplace_sync.close_dead_runs`), then enqueues
  `sync_marketplace(slug, type, False, scheduled=True)` for every run that is due (active marketplace,
  auto sync on, an API key, `sync_interval_minutes` since the last scheduled run of that type, or
  sooner after a failed one: 1, 2, 5, 10 minutes) with the job id `sync:{slug}:{type}`. arq refuses
  a job id while that job is queued or running (or its result is kept: `sync_marketplace` keeps
  none), so a slow run is never queued twice.
* `sync_marketplace(ctx, slug, sync_type=None, full=False, scheduled=False)`: one type or every type
  now (the bot's /sync enqueues it as `sync-now:{slug}:{type}`; manual runs wait for a busy lock and
  do not move the schedule). The job ids differ by who asked, so each run also
  holds a Redis lock per (marketplace, type) that makes a second run skip (see
  `marketplace_sync.sync_lock`); that lock also keeps `amazing-store sync run` from overlapping a
  worker. A run ends by itself after RUN_TIME_LIMIT (the next run continues), and a worker killed
  mid-run has arq run the job again (max_tries), which continues where the database says it stopped.
* Marketplace pushes of changed products are not jobs: `store.services.events.stock_changed` /
  `price_changed` write a `pending_pushes` row in the change's transaction and the worker's
  `sync.relay.PushDrainer` pushes it. `propagate_stock` / `propagate_price` remain only so that jobs
  queued by an older version are not lost: they turn into pending rows.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import asyncpg
from arq import cron
from arq.connections import ArqRedis
from arq.worker import func

from store.services import events, marketplace_sync
from store.services.marketplace_admin import AdminError, keybox_for
from store.services.marketplace_sync import SyncDeps
from store.settings import Settings
from sync.ratelimit import RedisRateLimiter

log = logging.getLogger(__name__)

JOB_SYNC_MARKETPLACE = "sync_marketplace"
RUN_TIME_LIMIT = 8 * 60.0  # seconds a push runs before it stops between chunks (the job timeout is 10 min)
SYNC_JOB_TIMEOUT = 10 * 60
RESOURCES_KEY = "sync_resources"  # ctx key of the worker's SyncResources (set at worker start-up)


class SyncResources:
    """What the sync jobs of one worker share: one outgoing HTTP session and the Redis rate limiter,
    created on first use. arq gives each job a copy of the worker's ctx, so they live in this one
    object that every copy points at; `close` runs at worker shutdown."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._limiter: RedisRateLimiter | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        return self._session

    def limiter(self, redis: ArqRedis) -> RedisRateLimiter:
        if self._limiter is None:
            self._limiter = RedisRateLimiter(redis)
        return self._limiter

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def resources(ctx: dict[str, Any]) -> SyncResources:
    found = ctx.get(RESOURCES_KEY)
    if not isinstance(found, SyncResources):
        raise RuntimeError("the worker was started without sync resources (see sync.worker.build_worker)")
    return found


def sync_deps(ctx: dict[str, Any]) -> SyncDeps:
    from sync.adapters import build_adapter

    redis: ArqRedis = ctx["redis"]
    settings: Settings = ctx["settings"]
    shared = resources(ctx)
    session, limiter = shared.session(), shared.limiter(redis)
    return SyncDeps(ctx["db"], redis, keybox_for(settings), lambda account: build_adapter(account, session, limiter))


async def sync_marketplace(
    ctx: dict[str, Any], slug: str, sync_type: str | None = None, full: bool = False, scheduled: bool = False,
) -> str:
    """Run one sync type (None: every type) of the marketplace now; see the module docstring. The
    cron tick's runs are `scheduled` (they move the schedule; a busy type is skipped and is due again
    at the next tick); a manual run (the bot's /sync) leaves the schedule alone and waits up to
    MANUAL_LOCK_WAIT for a run going on elsewhere (a propagation) instead of skipping."""
    try:
        report = await marketplace_sync.run_sync(
            sync_deps(ctx), slug, sync_type, full=bool(full), time_limit=RUN_TIME_LIMIT, scheduled=bool(scheduled),
            lock_wait=0.0 if scheduled else marketplace_sync.MANUAL_LOCK_WAIT)
    except AdminError as exc:  # an unknown marketplace or type: nothing to retry
        log.warning("sync_marketplace(%r, %r): %s", slug, sync_type, exc)
        return str(exc)
    done = ", ".join(f"{entry.sync_type} {entry.status}" for entry in report.logs)
    skipped = ", ".join(report.skipped)
    return done + (f"; already running: {skipped}" if skipped else "")


async def enqueue_due_syncs(ctx: dict[str, Any]) -> int:
    """Cron, every minute: close the runs whose process died (sync_logs rows left open with nobody
    holding their lock), then queue the runs that are due; returns how many were queued now."""
    redis: ArqRedis = ctx["redis"]
    await marketplace_sync.close_dead_runs(ctx["db"], redis)
    queued = 0
    for slug, sync_type in await marketplace_sync.due_syncs(ctx["db"]):
        job = await redis.enqueue_job(JOB_SYNC_MARKETPLACE, slug, sync_type, False, True,
                                      _job_id=f"sync:{slug}:{sync_type}")
        queued += job is not None
    return queued


async def _pending(ctx: dict[str, Any], product_id: int, sync_type: str) -> str:
    db: asyncpg.Pool = ctx["db"]
    async with db.acquire() as conn, conn.transaction():
        if sync_type == "stock":
            await events.stock_changed(conn, [product_id])
        else:
            await events.price_changed(conn, [product_id])
    return f"{sync_type} of product {product_id}: handed to the push drainer"


async def propagate_stock(ctx: dict[str, Any], product_id: int) -> str:
    """A job queued by an older version: the product's stock push becomes a pending row."""
    return await _pending(ctx, product_id, "stock")


async def propagate_price(ctx: dict[str, Any], product_id: int) -> str:
    """A job queued by an older version: the product's price push becomes a pending row."""
    return await _pending(ctx, product_id, "price")


FUNCTIONS: list[Any] = [
    func(sync_marketplace, name=JOB_SYNC_MARKETPLACE, keep_result=0, timeout=SYNC_JOB_TIMEOUT, max_tries=3),
    func(propagate_stock, name="propagate_stock", keep_result=0, timeout=30, max_tries=3),
    func(propagate_price, name="propagate_price", keep_result=0, timeout=30, max_tries=3),
]
CRON_JOBS: list[Any] = [
    cron(enqueue_due_syncs, name="enqueue_due_syncs", second=0, run_at_startup=True, unique=True, keep_result=0),
]
