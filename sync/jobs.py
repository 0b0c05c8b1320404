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
* `propagate_stock(ctx, product_id)` / `propagate_price(ctx, product_id)`: enqueued by
  `store.services.events.stock_changed` / `price_changed` right after a commit, debounced: the job id
  `propagate-stock:{product_id}` is refused while one is queued (deferred 1 s), so a burst of sales
  makes one push. The job pushes the product's current value to every marketplace that does not have
  it yet. It keeps no result (keep_result=0), so the id is free again the moment it ends; a change
  committed while it ran was refused as "already queued", so `after_job_end` (after arq released
  the id) compares the value with what the job pushed and enqueues another push when it moved. A
  marketplace whose lock was busy or whose push failed makes the job retry (arq Retry, bounded).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import aiohttp
from arq import Retry, cron
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
PROPAGATE_TRIES = 6
RESOURCES_KEY = "sync_resources"  # ctx key of the worker's SyncResources (set at worker start-up)
_PUSHED = "sync_pushed"  # per-job ctx key: (type, product id, value pushed) for after_job_end


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


async def _propagate(ctx: dict[str, Any], product_id: int, sync_type: str) -> str:
    deps = sync_deps(ctx)
    final = ctx.get("job_try", 1) >= PROPAGATE_TRIES
    if sync_type == "stock":
        outcome = await marketplace_sync.propagate_stock(deps, product_id, final=final)
    else:
        outcome = await marketplace_sync.propagate_price(deps, product_id, final=final)
    if outcome.retry and not final:
        # Busy: another run of that marketplace holds the lock. Failed: the push failed. Deferred:
        # e.g. Ozon takes one stock update per product and warehouse per 30 s (not a failure: re-sent
        # once that time is over). Either way the retry sends only what is missing.
        defer = 31 if outcome.failed else 3 * ctx.get("job_try", 1)
        if outcome.retry_after is not None:
            defer = max(defer, math.ceil(outcome.retry_after) + 1)
        raise Retry(defer=defer)
    ctx[_PUSHED] = (sync_type, product_id, outcome.value)
    sent = ", ".join(f"{e.marketplace_id}:{e.status}" for e in outcome.logs) or "nothing to send"
    return f"{sync_type} of product {product_id}: {sent}"


async def propagate_stock(ctx: dict[str, Any], product_id: int) -> str:
    """Push this product's master stock to every marketplace that does not have it (debounced by
    store.services.events.stock_changed)."""
    return await _propagate(ctx, product_id, "stock")


async def propagate_price(ctx: dict[str, Any], product_id: int) -> str:
    """Push this product's price to every marketplace that does not have it."""
    return await _propagate(ctx, product_id, "price")


async def after_job_end(ctx: dict[str, Any]) -> None:
    """Worker hook, after arq recorded the job and freed its id: when a propagation pushed a value
    that has changed since, push again (that change's own enqueue found the id taken)."""
    pushed = ctx.get(_PUSHED)
    if pushed is None:
        return
    sync_type, product_id, value = pushed
    try:
        if await marketplace_sync.current_value(ctx["db"], product_id, sync_type) == value:
            return
        if sync_type == "stock":
            await events.stock_changed(ctx["redis"], [product_id])
        else:
            await events.price_changed(ctx["redis"], [product_id])
    except Exception:  # a hook must not break the worker; the next scheduled delta run catches up
        log.exception("could not re-check product %s after its %s push", product_id, sync_type)


FUNCTIONS: list[Any] = [
    func(sync_marketplace, name=JOB_SYNC_MARKETPLACE, keep_result=0, timeout=SYNC_JOB_TIMEOUT, max_tries=3),
    func(propagate_stock, name=events.JOB_PROPAGATE_STOCK, keep_result=0, timeout=300, max_tries=PROPAGATE_TRIES + 1),
    func(propagate_price, name=events.JOB_PROPAGATE_PRICE, keep_result=0, timeout=300, max_tries=PROPAGATE_TRIES + 1),
]
CRON_JOBS: list[Any] = [
    cron(enqueue_due_syncs, name="enqueue_due_syncs", second=0, run_at_startup=True, unique=True, keep_result=0),
]
