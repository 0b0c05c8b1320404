"""From the outbox to the workers: what committed changes set off reaches Redis and the marketplaces.

* `OutboxRelay` moves `outbox_events` rows (written in the same transaction as the change, see
  store.services.events) into arq: each row is enqueued under its own job id on its queue and
  marked delivered in one database transaction. Rows are taken with FOR UPDATE SKIP LOCKED, so
  several relays (one per worker process) never take the same row. A crash between the enqueue and
  the commit delivers the row again, and the job id makes that the same job. When Redis is down the
  rows wait (with a short backoff) and go out as soon as it answers again.
* `PushDrainer` pushes `pending_pushes` (products whose stock or price changed) to every
  marketplace, under a lease: a worker killed mid-push leaves rows that any other worker takes
  after LEASE_SECONDS. A push that did not land is retried with backoff until it does.
* `Wakeup`: one LISTEN connection; the relay and the drainer wake within milliseconds of a commit
  that wrote a row (NOTIFY from a trigger), and poll every POLL_SECONDS anyway, so a lost
  notification or a dropped LISTEN connection delays nothing by more than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from db.repos import outbox
from store.logs import redact
from store.services import marketplace_sync
from store.services.marketplace_sync import SyncDeps

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0  # the longest a pending row waits when a notification was missed
BATCH = 200  # outbox rows per transaction
ENQUEUE_TIMEOUT = 2.0  # seconds one enqueue may take (a frozen Redis must not hold the batch)
REDIS_BACKOFF = (0.2, 0.5, 1.0, 2.0)  # seconds before the next delivery try while Redis is down
PRUNE_EVERY = 3600.0
LEASE_SECONDS = 90.0  # a claimed push is free for another worker after this (its holder died)
PUSH_TIME_LIMIT = 60.0  # one drain's pushes stop after this; what is left is released
PUSH_CLAIM = 200  # products per drain
INFRA_RETRY = 2.0  # seconds: a push that could not even run (Redis or the database away) is tried again
ALERT_AFTER_ATTEMPTS = 4  # a push that keeps failing alerts the admins from this attempt on (~1 min)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


async def _until_short(step: Callable[[], Awaitable[int]], full: int) -> int:
    """Run `step` (one batch, returns its size) until a batch is not full; returns the total."""
    total = 0
    while True:
        count = await step()
        total += count
        if count < full:
            return total


class Waiter:
    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), max(0.0, seconds))
        self.event.clear()


class Wakeup:
    """Wakes every Waiter on NOTIFY on the outbox channel (and on every reconnect)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.waiters: list[Waiter] = []
        self.connected = False

    def waiter(self) -> Waiter:
        made = Waiter()
        self.waiters.append(made)
        return made

    def _on_notify(self, *_: object) -> None:
        for waiter in self.waiters:
            waiter.event.set()

    async def run(self) -> None:
        delay = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
                await conn.add_listener(outbox.OUTBOX_CHANNEL, self._on_notify)
                self.connected, delay = True, 0.5
                self._on_notify()  # rows written while we were not listening
                while True:  # a dead connection is found by a query, not by waiting for NOTIFY
                    await asyncio.sleep(5)
                    await conn.fetchval("SELECT 1", timeout=5)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                if self.connected:
                    log.warning("outbox: LISTEN connection lost (%s); polling every %.0f s until it is back",
                                type(exc).__name__, POLL_SECONDS)
                self.connected = False
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, redis: ArqRedis, *, retention_seconds: float) -> None:
        self.pool, self.redis, self.retention_seconds = pool, redis, retention_seconds
        self.failures = 0  # deliveries in a row that met a Redis error
        self.delivered = 0
        self._pruned_at = 0.0

    async def deliver_once(self) -> int:
        """Deliver one batch of due rows; returns how many were delivered (0: nothing due or Redis down)."""
        async with self.pool.acquire() as conn, conn.transaction():
            due = await outbox.take_due_events(conn, BATCH)
            delivered: list[int] = []
            error: BaseException | None = None
            for event in due:
                try:
                    async with asyncio.timeout(ENQUEUE_TIMEOUT):
                        await self.redis.enqueue_job(
                            event.job_name, *event.args, _job_id=event.job_id, _queue_name=event.queue,
                            _defer_by=float(event.defer_seconds) or None,
                        )
                except (RedisError, OSError, TimeoutError) as exc:
                    error = exc
                    break
                # None means a job with this id exists already: the event was delivered before.
                delivered.append(event.id)
            await outbox.mark_delivered(conn, delivered)
            if error is not None:
                self.failures += 1
                left = [event.id for event in due if event.id not in set(delivered)]
                delay = REDIS_BACKOFF[min(self.failures - 1, len(REDIS_BACKOFF) - 1)]
                await outbox.mark_failed(conn, left, f"{type(error).__name__}: {redact(str(error))}", delay)
                if self.failures in (1, 10) or self.failures % 100 == 0:
                    log.warning("outbox: Redis unavailable (%s); %d event(s) wait and are retried",
                                type(error).__name__, len(left))
            elif delivered:
                if self.failures:
                    log.info("outbox: Redis is back; delivering again")
                self.failures = 0
        self.delivered += len(delivered)
        return len(delivered) if error is None else 0

    async def deliver_all(self) -> int:
        return await _until_short(self.deliver_once, BATCH)

    async def prune(self, *, force: bool = False) -> int:
        if not force and time.monotonic() - self._pruned_at < PRUNE_EVERY:
            return 0
        self._pruned_at = time.monotonic()
        removed = await outbox.prune_delivered(self.pool, self.retention_seconds)
        if removed:
            log.info("outbox: pruned %d delivered event(s) older than %.0f h", removed, self.retention_seconds / 3600)
        return removed

    async def seconds_to_next(self) -> float:
        due = await outbox.next_event_due(self.pool)
        return POLL_SECONDS if due is None else (due - _utcnow()).total_seconds()


class PushDrainer:
    def __init__(self, pool: asyncpg.Pool, deps: Callable[[], SyncDeps]) -> None:
        self.pool, self.deps = pool, deps

    async def drain_once(self) -> int:
        """Push one claim of due products; returns how many were claimed."""
        claimed = await outbox.claim_pushes(self.pool, PUSH_CLAIM, LEASE_SECONDS)
        if not claimed:
            return 0
        by_type: dict[str, list[outbox.PendingPush]] = {}
        for push in claimed:
            by_type.setdefault(push.sync_type, []).append(push)
        await asyncio.gather(*(self._push(sync_type, pushes) for sync_type, pushes in sorted(by_type.items())))
        return len(claimed)

    async def _push(self, sync_type: str, pushes: list[outbox.PendingPush]) -> None:
        attempts = max(p.attempts for p in pushes)
        try:
            async with asyncio.timeout(PUSH_TIME_LIMIT):
                result = await marketplace_sync.propagate(
                    self.deps(), sync_type, [p.product_id for p in pushes], attempts=attempts,
                    alert=attempts + 1 >= ALERT_AFTER_ATTEMPTS)
        except Exception as exc:  # Redis (the locks) or the database down, a bug, the time limit
            reason = f"{type(exc).__name__}: {redact(str(exc))}"
            log.warning("push of %d product(s)' %s did not run: %s; retried", len(pushes), sync_type, reason)
            await outbox.settle_retry(self.pool, pushes, [INFRA_RETRY] * len(pushes), reason, count_attempt=False)
            return
        landed = [p for p in pushes if p.product_id not in result.retry]
        # Landed everywhere but where a marketplace deferred it: no failure, and a later change of the
        # product brings the row forward (the others take it at once; outbox.request_pushes).
        waiting = [p for p in pushes if p.product_id in result.retry and p.product_id in result.only_deferred]
        again = [p for p in pushes if p.product_id in result.retry and p.product_id not in result.only_deferred]
        await outbox.settle_landed(self.pool, landed)
        await outbox.settle_retry(self.pool, waiting, [result.retry[p.product_id] for p in waiting],
                                  "; ".join(result.errors), count_attempt=False, deferral=True)
        await outbox.settle_retry(self.pool, again, [result.retry[p.product_id] for p in again],
                                  "; ".join(result.errors))
        if again:
            log.info("%s of %d product(s) not everywhere yet (%s); retried in %.0f s or more", sync_type,
                     len(again), "; ".join(result.errors)[:300], min(result.retry.values()))

    async def drain_all(self) -> int:
        return await _until_short(self.drain_once, PUSH_CLAIM)

    async def seconds_to_next(self) -> float:
        due = await outbox.next_push_due(self.pool)
        return POLL_SECONDS if due is None else (due - _utcnow()).total_seconds()


async def _loop(name: str, wakeup: Waiter, step: Callable[[], Awaitable[float]]) -> None:
    """Run `step` whenever woken (or when it said its next work falls due); keep going through errors."""
    failures = 0
    while True:
        try:
            wait = await step()
            failures = 0
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            failures += 1
            wait = min(0.5 * 2 ** failures, 10.0)
            if failures in (1, 10) or failures % 100 == 0:
                log.warning("%s: the database is unavailable (%s); retrying", name, type(exc).__name__)
        await wakeup.wait(min(max(wait, 0.01), POLL_SECONDS))


async def run_relay(relay: OutboxRelay, wakeup: Waiter) -> None:
    async def step() -> float:
        await relay.deliver_all()
        await relay.prune()
        if relay.failures:
            return REDIS_BACKOFF[min(relay.failures - 1, len(REDIS_BACKOFF) - 1)]
        return await relay.seconds_to_next()

    await _loop("outbox relay", wakeup, step)


async def run_drainer(drainer: PushDrainer, wakeup: Waiter) -> None:
    async def step() -> float:
        await drainer.drain_all()
        return await drainer.seconds_to_next()

    await _loop("marketplace push", wakeup, step)
