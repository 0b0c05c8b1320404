"""The transactional outbox (db/migrations/0005_outbox.sql, sync/relay.py): an event exists exactly when
its change does, reaches Redis once in effect whatever dies in between, and waits out a Redis outage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis

from db.repos import outbox
from store.embedded import EmbeddedRedis
from store.services import events, stock
from sync.relay import OutboxRelay, PushDrainer, Wakeup, run_relay
from sync.worker import redis_client
from tests.bot_helpers import product


@pytest.fixture
async def own_redis(own_dir: Path) -> AsyncIterator[EmbeddedRedis]:
    """A Redis of this test's own, to stop and start."""
    server = EmbeddedRedis(own_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    client = redis_client(redis_url, socket_timeout=5)
    yield client
    await client.aclose(close_connection_pool=True)


async def _queued(redis: ArqRedis, queue: str = events.QUEUE_NOTIFICATIONS) -> list[str]:
    return sorted(member.decode() for member in await redis.zrange(queue, 0, -1))


async def test_an_event_exists_exactly_when_its_change_commits(pool: asyncpg.Pool) -> None:
    item = await product(pool, "OUT-1", stock=5)
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await stock.take(conn, item.id, 1)
            await events.stock_changed(conn, [item.id])
            await events.order_created(conn, 41)
            raise RuntimeError("the checkout failed after writing")
    assert await outbox.pending_event_count(pool) == 0 and await outbox.pending_push_count(pool) == 0

    async with pool.acquire() as conn, conn.transaction():
        await stock.take(conn, item.id, 1)
        await events.stock_changed(conn, [item.id])
        await events.order_created(conn, 42)
    assert await outbox.pending_event_count(pool) == 1 and await outbox.pending_push_count(pool) == 1


async def test_a_burst_of_changes_is_one_pending_push_whose_version_moves_on(pool: asyncpg.Pool) -> None:
    item = await product(pool, "OUT-2", stock=50)
    for _ in range(5):
        async with pool.acquire() as conn, conn.transaction():
            await stock.take(conn, item.id, 1)
            await events.stock_changed(conn, [item.id])
    rows = await pool.fetch("SELECT version, attempts FROM pending_pushes WHERE product_id = $1", item.id)
    assert [(r["version"], r["attempts"]) for r in rows] == [(5, 0)]


async def test_the_relay_wakes_on_commit_and_delivers_each_event_once(
    pool: asyncpg.Pool, redis: ArqRedis, database_url: str,
) -> None:
    relay = OutboxRelay(pool, redis, retention_seconds=3600)
    wakeup = Wakeup(database_url)
    tasks = [asyncio.create_task(wakeup.run()), asyncio.create_task(run_relay(relay, wakeup.waiter()))]
    try:
        for order_id in (1, 2, 3):
            await events.order_created(pool, order_id)
        for _ in range(200):
            if await outbox.pending_event_count(pool) == 0:
                break
            await asyncio.sleep(0.05)
        assert await _queued(redis) == ["order-created:1", "order-created:2", "order-created:3"]
        # The same event written again (a re-run of whatever wrote it) is the same job: nothing new.
        await events.order_created(pool, 2)
        for _ in range(200):
            if await outbox.pending_event_count(pool) == 0:
                break
            await asyncio.sleep(0.05)
        assert await _queued(redis) == ["order-created:1", "order-created:2", "order-created:3"]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_events_written_while_redis_is_down_are_delivered_when_it_returns(
    pool: asyncpg.Pool, own_redis: EmbeddedRedis,
) -> None:
    client = redis_client(own_redis.url, socket_timeout=1)
    relay = OutboxRelay(pool, client, retention_seconds=3600)
    try:
        own_redis.stop()  # Redis goes away between the commit and the enqueue
        for order_id in range(1, 51):
            async with pool.acquire() as conn, conn.transaction():
                await events.order_created(conn, order_id)
        assert await relay.deliver_all() == 0
        waiting = await pool.fetch("SELECT attempts, last_error, delivered_at FROM outbox_events")
        assert len(waiting) == 50 and all(r["delivered_at"] is None for r in waiting)
        assert any(r["attempts"] == 1 and "Connection" in (r["last_error"] or "") for r in waiting)

        own_redis.start()
        await asyncio.sleep(max(0.0, await relay.seconds_to_next()))
        assert await relay.deliver_all() == 50
        assert await _queued(client) == sorted(f"order-created:{i}" for i in range(1, 51))
        assert await outbox.pending_event_count(pool) == 0
    finally:
        await client.aclose(close_connection_pool=True)


class _KilledMidBatch(BaseException):
    """What a SIGKILL is to the relay's transaction: it never commits (BaseException, like a cancel)."""


async def test_a_relay_killed_mid_batch_delivers_every_event_exactly_once_in_effect(
    pool: asyncpg.Pool, redis: ArqRedis,
) -> None:
    for order_id in range(1, 121):
        await events.order_created(pool, order_id)

    class DiesAfter:
        def __init__(self, real: ArqRedis, enqueues: int) -> None:
            self.real, self.left = real, enqueues

        async def enqueue_job(self, *args: Any, **kwargs: Any) -> Any:
            if self.left == 0:
                raise _KilledMidBatch()
            self.left -= 1
            return await self.real.enqueue_job(*args, **kwargs)

    dying = OutboxRelay(pool, DiesAfter(redis, 70), retention_seconds=3600)  # type: ignore[arg-type]
    with pytest.raises(_KilledMidBatch):
        await dying.deliver_all()
    # 70 jobs reached Redis, but the batch's marks rolled back with the transaction.
    assert len(await _queued(redis)) == 70
    assert await outbox.pending_event_count(pool) == 120

    assert await OutboxRelay(pool, redis, retention_seconds=3600).deliver_all() == 120
    queued = await _queued(redis)
    assert queued == sorted(f"order-created:{i}" for i in range(1, 121))  # each once, none lost
    assert await outbox.pending_event_count(pool) == 0


async def test_two_relays_at_once_share_the_rows(pool: asyncpg.Pool, redis: ArqRedis) -> None:
    for order_id in range(1, 401):
        await events.order_created(pool, order_id)
    relays = [OutboxRelay(pool, redis, retention_seconds=3600) for _ in range(2)]
    counts = await asyncio.gather(*(relay.deliver_all() for relay in relays))
    assert sum(counts) == 400
    assert len(await _queued(redis)) == 400


async def test_delivered_events_are_pruned_after_the_retention_and_pending_ones_never(
    pool: asyncpg.Pool, redis: ArqRedis,
) -> None:
    await events.order_created(pool, 1)
    await events.order_created(pool, 2)
    relay = OutboxRelay(pool, redis, retention_seconds=3600)
    await relay.deliver_all()
    await events.order_created(pool, 3)  # still pending
    await pool.execute("UPDATE outbox_events SET delivered_at = delivered_at - interval '2 hours', "
                       "created_at = created_at - interval '2 hours' WHERE job_id = 'order-created:1'")
    await pool.execute("UPDATE outbox_events SET created_at = created_at - interval '2 hours' "
                       "WHERE job_id = 'order-created:3'")
    assert await relay.prune(force=True) == 1
    left = {r["job_id"] for r in await pool.fetch("SELECT job_id FROM outbox_events")}
    assert left == {"order-created:2", "order-created:3"}


async def test_a_push_claimed_by_a_dead_worker_is_taken_by_another_when_its_lease_ends(
    pool: asyncpg.Pool,
) -> None:
    item = await product(pool, "OUT-3", stock=5)
    await events.stock_changed(pool, [item.id])
    await pool.execute("UPDATE pending_pushes SET due_at = due_at - interval '5 seconds'")
    dead = await outbox.claim_pushes(pool, 10, lease_seconds=90)  # the worker dies holding it
    assert [p.product_id for p in dead] == [item.id]
    assert await outbox.claim_pushes(pool, 10, lease_seconds=90) == []  # held: nobody else pushes it

    await pool.execute("UPDATE pending_pushes SET claimed_until = now() AT TIME ZONE 'UTC' - interval '1 second'")
    taken = await outbox.claim_pushes(pool, 10, lease_seconds=90)
    assert [p.product_id for p in taken] == [item.id]


async def test_a_change_during_a_push_keeps_the_row_for_another_push(pool: asyncpg.Pool) -> None:
    item = await product(pool, "OUT-4", stock=5)
    await events.stock_changed(pool, [item.id])
    await pool.execute("UPDATE pending_pushes SET due_at = due_at - interval '5 seconds'")
    claimed = await outbox.claim_pushes(pool, 10, lease_seconds=90)
    await events.stock_changed(pool, [item.id])  # a sale while the push is on its way
    await outbox.settle_landed(pool, claimed)
    row = await pool.fetchrow("SELECT version, claimed_until FROM pending_pushes WHERE product_id = $1", item.id)
    assert row is not None and row["version"] == 2 and row["claimed_until"] is None  # pushed again next


async def test_a_drainer_whose_push_cannot_run_retries_soon_without_growing_the_backoff(
    pool: asyncpg.Pool,
) -> None:
    item = await product(pool, "OUT-5", stock=5)
    await events.stock_changed(pool, [item.id])
    await pool.execute("UPDATE pending_pushes SET due_at = due_at - interval '5 seconds'")

    def no_deps() -> Any:
        raise ConnectionError("Redis is away")

    assert await PushDrainer(pool, no_deps).drain_once() == 1
    row = await pool.fetchrow("SELECT attempts, last_error, due_at - now() AT TIME ZONE 'UTC' AS wait "
                              "FROM pending_pushes")
    assert row is not None and row["attempts"] == 0 and "Redis is away" in row["last_error"]
    assert row["wait"].total_seconds() <= 2.5
