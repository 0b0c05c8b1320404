"""The worker: marketplace sync, notifications, the outbox relay and the marketplace push drainer.

`amazing-store run` runs one inside the store process by default; `amazing-store worker [--queue
sync|notifications|all]` runs it alone (production: store processes plus one or more workers). Both
build it here (`WorkerService`), from the same settings and the same database code.

Queues. Notifications (`events.QUEUE_NOTIFICATIONS`) and sync (`events.QUEUE_SYNC`) are separate arq
queues with separate arq workers, so a message waiting for Telegram's one-a-second-per-chat slot
never delays a marketplace run, and each worker's "in progress" hold on a job whose worker died
(its longest job timeout + 10 s) stays short for notifications (about a minute) even though a
marketplace run may take ten.

Faults. Redis going away (a restart, a network blip) stops an arq worker's polling; the service
restarts it with backoff, and as soon as Redis answers again, and the relay keeps the events in PostgreSQL
meanwhile. The store keeps selling throughout: nothing on the checkout path needs Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import warnings
from collections.abc import Iterable
from typing import Any, TypedDict

import asyncpg
from arq import cron
from arq.connections import ArqRedis
from arq.worker import Worker
from redis.asyncio import ConnectionPool

from store.services import events
from store.settings import Settings

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "amazing-store:worker:heartbeat"
QUEUES = {"sync": events.QUEUE_SYNC, "notifications": events.QUEUE_NOTIFICATIONS}
# Workers' Redis clients get no read timeout (arq's own default): redis-py 5 wraps every read in a
# timeout context when one is set, and on Python 3.11 a cancellation meeting it could be swallowed,
# leaving an arq loop running after it was told to stop. Workers' calls that must be bounded (the
# relay's enqueues) are bounded where they are made; request paths (store.app) keep a short timeout.
REDIS_SOCKET_TIMEOUT: float | None = None
RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
RESTART_MIN_SECONDS = 0.5  # never restart a worker sooner than this after it stopped
REDIS_PROBE_SECONDS = 0.5  # while a worker waits to restart after Redis went away: how often Redis is asked


class WorkerContext(TypedDict, total=False):
    """What every job receives in `ctx` (arq adds `redis`, `job_id`, `job_try`, ...)."""

    redis: ArqRedis
    db: asyncpg.Pool
    settings: Settings
    job_try: int
    sync_resources: Any  # sync.jobs.SyncResources: the sync jobs' HTTP session and rate limiter
    bot: Any  # aiogram Bot for bot.delivery, when BOT_TOKEN is set


def redis_client(url: str, *, socket_timeout: float | None, queue: str = events.QUEUE_SYNC) -> ArqRedis:
    """An arq Redis client; with `socket_timeout` every reply is bounded (a frozen Redis raises
    TimeoutError instead of hanging the caller). Connecting is always bounded."""
    pool = ConnectionPool.from_url(url, socket_timeout=socket_timeout,
                                   socket_connect_timeout=min(socket_timeout or 2.0, 2.0))
    return ArqRedis(connection_pool=pool, default_queue_name=queue)


async def record_heartbeat(ctx: dict[str, Any]) -> None:
    """Cron, every minute: leave a timestamp /healthz can read to tell the worker is alive."""
    redis: ArqRedis = ctx["redis"]
    await redis.set(HEARTBEAT_KEY, str(int(time.time())), ex=600)


def worker_functions(queue: str = "all") -> list[Any]:
    from bot import delivery, notices
    from store import payment_jobs
    from sync import jobs

    return {"sync": [*jobs.FUNCTIONS, *payment_jobs.FUNCTIONS],
            "notifications": [*delivery.FUNCTIONS, *notices.FUNCTIONS, *payment_jobs.NOTIFICATION_FUNCTIONS],
            "all": [*jobs.FUNCTIONS, *delivery.FUNCTIONS, *notices.FUNCTIONS, *payment_jobs.FUNCTIONS,
                    *payment_jobs.NOTIFICATION_FUNCTIONS]}[queue]


def cron_jobs(queue: str = "all") -> list[Any]:
    from bot import delivery
    from store import payment_jobs
    from sync import jobs

    sync_crons = [cron(record_heartbeat, second=0, run_at_startup=True, unique=True), *jobs.CRON_JOBS,
                  *payment_jobs.CRON_JOBS]
    return {"sync": sync_crons, "notifications": [*delivery.CRON_JOBS],
            "all": [*sync_crons, *delivery.CRON_JOBS]}[queue]


def build_worker(settings: Settings, redis_url: str, db: asyncpg.Pool, *, burst: bool = False,
                 queue: str = "sync") -> Worker:
    """The arq worker of one queue (`sync` or `notifications`)."""
    from bot import delivery
    from sync import jobs

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["db"] = db
        ctx["settings"] = settings
        # arq hands every job a copy of ctx: what jobs share must exist before the first job.
        ctx[jobs.RESOURCES_KEY] = jobs.SyncResources()
        await delivery.open_bot(ctx)

    async def shutdown(ctx: dict[str, Any]) -> None:
        resources = ctx.get(jobs.RESOURCES_KEY)
        if isinstance(resources, jobs.SyncResources):
            await resources.close()
        await delivery.close_bot(ctx)

    name = QUEUES[queue]
    return Worker(
        functions=worker_functions(queue),
        cron_jobs=cron_jobs(queue),
        redis_pool=redis_client(redis_url, socket_timeout=REDIS_SOCKET_TIMEOUT, queue=name),
        queue_name=name,
        on_startup=startup,
        on_shutdown=shutdown,
        handle_signals=False,
        burst=burst,
        max_jobs=20,
        job_timeout=60,
        keep_result=60,
        health_check_interval=60,
        poll_delay=0.2,
    )


WORKER_DRAIN_SECONDS = 10.0
MAIN_STOP_SECONDS = 5.0


async def stop_worker(worker: Worker, task: asyncio.Task[None] | None = None, *,
                      drain: float = WORKER_DRAIN_SECONDS) -> None:
    """Stop `worker` in order: stop taking jobs (cancel `task`, the one running `worker.main()`),
    give the jobs in flight up to `drain` seconds to finish, then close it. arq cancels whatever is
    still running (it re-runs those later; every job is safe to run twice) and closes its pool.
    A Redis that is gone makes the close partial, never an error."""
    if task is not None:
        await _cancel_for_sure(task)
        if not task.done():
            log.warning("worker %s: its loop did not stop on cancel; closing its pool under it", worker.queue_name)
    running = [t for t in worker.tasks.values() if not t.done()]
    if running:
        await asyncio.wait(running, timeout=drain)
    with warnings.catch_warnings():
        # arq 0.28 closes its Redis pool with redis-py's deprecated close(); not ours to fix.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            async with asyncio.timeout(drain + 5):
                await worker.close()
        except asyncio.CancelledError:
            # close() re-raises the cancellation of the jobs it cancelled; only ours must propagate.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        except Exception as exc:  # Redis gone or frozen: the jobs will be re-run by arq; close the rest
            log.warning("worker %s closed without Redis (%s)", worker.queue_name, type(exc).__name__)
            if worker.on_shutdown is not None:  # close() stopped before it: our HTTP sessions still need closing
                with contextlib.suppress(Exception):
                    await worker.on_shutdown(worker.ctx)
            pool = worker._pool
            if pool is not None:
                with contextlib.suppress(Exception):
                    await pool.aclose(close_connection_pool=True)
                worker._pool = None
    if task is not None and not task.done():
        await asyncio.wait([task], timeout=MAIN_STOP_SECONDS)
        if not task.done():
            log.error("worker %s: its loop is still running after its pool was closed", worker.queue_name)


async def _cancel_for_sure(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait for it to end. A cancellation can be swallowed: one that lands while
    arq's start-up waits in a redis-py call (a SIGTERM within a second of the start, seen on a
    loaded machine) is lost and the worker goes on polling forever; so cancel again, once a second,
    up to MAIN_STOP_SECONDS (after that, closing the worker's pool ends it: see stop_worker)."""
    for _ in range(int(MAIN_STOP_SECONDS)):
        if task.done():
            break
        task.cancel()
        await asyncio.wait([task], timeout=1.0)
    if task.done():
        await asyncio.gather(task, return_exceptions=True)


def is_redis_outage(exc: BaseException) -> bool:
    """Did a worker stop because Redis could not be reached (refused, reset, timed out, still
    loading its data), rather than a bug? redis-py wraps socket errors in its own ConnectionError
    and TimeoutError; an OSError or asyncio timeout can surface raw from a half-open socket."""
    from redis.exceptions import BusyLoadingError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, BusyLoadingError, OSError, TimeoutError))


class WorkerService:
    """Everything one worker runs: an arq worker per queue (restarted with backoff when Redis goes
    away), the outbox relay and the marketplace push drainer (sync/relay.py; both need only
    PostgreSQL to keep their rows, and Redis to hand them on)."""

    def __init__(self, settings: Settings, redis_url: str, database_url: str, db: asyncpg.Pool, *,
                 queues: Iterable[str] = ("sync", "notifications")) -> None:
        from sync import jobs
        from sync.relay import OutboxRelay, PushDrainer, Wakeup

        self.settings, self.redis_url, self.db = settings, redis_url, db
        self.queues = tuple(queues)
        self.redis = redis_client(redis_url, socket_timeout=REDIS_SOCKET_TIMEOUT)
        self.ctx: dict[str, Any] = {"redis": self.redis, "db": db, "settings": settings,
                                    jobs.RESOURCES_KEY: jobs.SyncResources()}
        self.wakeup = Wakeup(database_url)
        self.relay = OutboxRelay(db, self.redis, retention_seconds=settings.outbox_retention_hours * 3600)
        self.drainer = PushDrainer(db, lambda: jobs.sync_deps(self.ctx))
        self.workers: dict[str, Worker] = {}
        self.restarts = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def runs_sync(self) -> bool:
        return "sync" in self.queues

    async def run(self) -> None:
        """Until cancelled. The relay and the drainer run with the sync queue's worker."""
        from sync.relay import run_drainer, run_relay

        self._tasks = [asyncio.create_task(self._supervise(q), name=f"arq-worker-{q}") for q in self.queues]
        if self.runs_sync:
            self._tasks += [
                asyncio.create_task(self.wakeup.run(), name="outbox-listen"),
                asyncio.create_task(run_relay(self.relay, self.wakeup.waiter()), name="outbox-relay"),
                asyncio.create_task(run_drainer(self.drainer, self.wakeup.waiter()), name="marketplace-push"),
            ]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.close()

    async def _supervise(self, queue: str) -> None:
        failures = 0
        while True:
            worker = build_worker(self.settings, self.redis_url, self.db, queue=queue)
            self.workers[queue] = worker
            task = asyncio.create_task(worker.main(), name=f"arq-{queue}")
            started = time.monotonic()
            try:
                await asyncio.shield(task)
                return
            except asyncio.CancelledError:
                await stop_worker(worker, task)
                raise
            except Exception as exc:  # Redis went away (or a bug in arq's loop): restart, never stop the shop
                if time.monotonic() - started > 60:
                    failures = 0
                delay = RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)]
                failures += 1
                self.restarts += 1
                log.warning("worker %s stopped (%s: %s); restarting in %.0f s, or as soon as Redis answers",
                            queue, type(exc).__name__, exc, delay)
                outage = is_redis_outage(exc)
                await stop_worker(worker, task, drain=1.0)
            await self._wait_to_restart(delay, outage=outage)

    async def _wait_to_restart(self, delay: float, *, outage: bool) -> None:
        """Wait `delay` seconds; but after a Redis outage (`outage`: the worker stopped on a
        connection error), restart as soon as Redis answers again (a PING every
        REDIS_PROBE_SECONDS, the first after RESTART_MIN_SECONDS so a flapping Redis cannot spin
        the loop): after a Redis restart the queues must not stay idle for the rest of a backoff
        that grew while it was away (measured: notifications 8 s late after a 10 s outage, up to
        30 s after a longer one). Redis may already be back by the time the old worker is closed,
        so the cause is read from the error, never from whether Redis answers at this moment (CI
        saw exactly that: a 30 s sleep after a 2 s outage). A worker that fails any other way (a
        bug, not an outage) waits the whole backoff."""
        deadline = time.monotonic() + delay
        if not outage:
            await asyncio.sleep(delay)
            return
        await asyncio.sleep(min(RESTART_MIN_SECONDS, delay))
        while (left := deadline - time.monotonic()) > 0:
            if await self._redis_answers():
                return
            await asyncio.sleep(min(REDIS_PROBE_SECONDS, left))

    async def _redis_answers(self) -> bool:
        try:
            async with asyncio.timeout(REDIS_PROBE_SECONDS):
                await self.redis.ping()
            return True
        except Exception:  # refused, loading its data, frozen: not back yet
            return False

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: each arq worker's stop is itself bounded (stop_worker); nothing here waits forever.
            _, stuck = await asyncio.wait(self._tasks, timeout=2 * WORKER_DRAIN_SECONDS + 15)
            for task in stuck:
                log.error("worker: %s did not stop in time", task.get_name())
        self._tasks = []
        from sync import jobs

        resources = self.ctx.get(jobs.RESOURCES_KEY)
        if isinstance(resources, jobs.SyncResources):
            await resources.close()
        with contextlib.suppress(Exception):
            await self.redis.aclose(close_connection_pool=True)

    async def run_until_idle(self, timeout: float = 60.0) -> None:
        """Tests and the bench: deliver every outbox row, push every pending product (waiting for
        their debounce) and run every queued job (deferred ones too), until nothing is left."""
        from db.repos import outbox

        async with asyncio.timeout(timeout):
            while True:
                await self.relay.deliver_all()
                if self.runs_sync:
                    await self.drainer.drain_all()
                for queue in self.queues:
                    worker = build_worker(self.settings, self.redis_url, self.db, queue=queue, burst=True)
                    try:
                        await worker.main()
                    finally:
                        await stop_worker(worker)
                events_left = await outbox.pending_event_count(self.db)
                pushes_left = await outbox.pending_push_count(self.db) if self.runs_sync else 0
                if not events_left and not pushes_left:
                    return
                wait = min(await self.relay.seconds_to_next(), await self.drainer.seconds_to_next())
                await asyncio.sleep(min(max(wait, 0.05), 2.0))


async def redis_reachable(url: str, *, tries: int = 5, delay: float = 1.0) -> str | None:
    """None when Redis answers PING within `tries`; else what went wrong (for a one-line error)."""
    client = redis_client(url, socket_timeout=2.0)
    try:
        for attempt in range(tries):
            try:
                await client.ping()
                return None
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if attempt + 1 < tries:
                    await asyncio.sleep(delay)
        return error
    finally:
        with contextlib.suppress(Exception):
            await client.aclose(close_connection_pool=True)
