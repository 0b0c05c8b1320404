"""Issue #13 items 7 and 8: the schedule after a failed run, manual runs, and honest run logs.

* A failed scheduled run is retried soon (1, 2, 5, 10 minutes, never more than the interval), not a
  whole `sync_interval_minutes` later; a run that did not fail puts the schedule back on the interval.
* A manual run (bot /sync, `amazing-store sync run`) never moves the schedule.
* A manual run waits (bounded) for a run going on elsewhere, e.g. a propagation holding the lock
  during a 429 storm, instead of answering "already running"; `sync run` says that it waits.
* A run whose process died (its sync_logs row open, nobody holding its lock) is closed as
  "interrupted (the process stopped)" by the next run of its type and by the cron tick; a running one
  (lock held) is left alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from db.models import Marketplace
from db.repos import marketplaces, sync_logs, sync_state
from store.services import marketplace_sync
from store.settings import Settings
from sync import jobs
from tests.sync_support import Bench, make_products, open_bench
from tests.test_sync_cli import cli


@pytest.fixture
async def bench(pool: asyncpg.Pool, settings: Settings, redis_url: str) -> AsyncIterator[Bench]:
    async with open_bench(pool, settings, redis_url) as opened:
        yield opened


async def uzum_ready(bench: Bench, *, interval: int = 60) -> Marketplace:
    items = await make_products(bench.pool, 2, stock=5)
    await bench.add_marketplaces(("uzum",))
    await bench.map_products("uzum", items)
    await bench.pool.execute("UPDATE marketplaces SET sync_interval_minutes = $1", interval)
    marketplace = await marketplaces.get_by_slug(bench.pool, "uzum")
    assert marketplace is not None
    for sync_type in ("orders", "price"):  # only the stock schedule is under test
        await sync_state.mark_run_started(bench.pool, marketplace.id, sync_type)
    return marketplace


async def due_stock_after(bench: Bench, seconds: float) -> bool:
    now = marketplace_sync.utcnow() + timedelta(seconds=seconds)
    return ("uzum", "stock") in await marketplace_sync.due_syncs(bench.pool, now)


async def scheduled_stock_run(bench: Bench) -> str:
    report = await marketplace_sync.run_sync(bench.deps, "uzum", "stock", scheduled=True)
    return report.logs[0].status


async def test_a_failed_scheduled_run_is_retried_with_a_bounded_backoff_not_an_interval_later(
    bench: Bench,
) -> None:
    marketplace = await uzum_ready(bench, interval=60)
    bench.uzum.inject_fault("500", -1, path="/api/seller-openapi/v2/fbs/sku/stocks")  # Uzum is down

    assert await scheduled_stock_run(bench) == "error"
    assert not await due_stock_after(bench, 0)
    assert await due_stock_after(bench, 60)  # 1 minute, not 60
    steps = []
    for _ in range(4):  # the next failures back off: 2, 5, 10, 10 minutes
        assert await scheduled_stock_run(bench) == "error"
        state = await sync_state.get(bench.pool, marketplace.id, "stock")
        assert state is not None and state.retry_at is not None and state.last_run_at is not None
        steps.append(round((state.retry_at - state.last_run_at).total_seconds() / 60))
    assert steps == [2, 5, 10, 10]
    assert state.failures == 5

    # Uzum is back: the retry succeeds, the count starts over and the interval decides again.
    bench.uzum.clear_faults()
    assert await scheduled_stock_run(bench) == "success"
    state = await sync_state.get(bench.pool, marketplace.id, "stock")
    assert state is not None and (state.failures, state.retry_at) == (0, None)
    assert not await due_stock_after(bench, 59 * 60) and await due_stock_after(bench, 60 * 60)


async def test_the_backoff_never_exceeds_the_interval(bench: Bench) -> None:
    marketplace = await uzum_ready(bench, interval=3)
    bench.uzum.set_credentials({"tokens": ["another-token"]})  # our key is refused: every run fails
    for _ in range(4):
        assert await scheduled_stock_run(bench) == "error"
    state = await sync_state.get(bench.pool, marketplace.id, "stock")
    assert state is not None and state.retry_at is not None and state.last_run_at is not None
    assert (state.retry_at - state.last_run_at) <= timedelta(minutes=3, seconds=5)


async def test_a_manual_run_never_moves_the_schedule(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    marketplace = await uzum_ready(bench)
    assert await scheduled_stock_run(bench) == "success"
    before = await sync_state.get(bench.pool, marketplace.id, "stock")
    await bench.pool.execute("UPDATE marketplace_sync_state SET last_run_at = last_run_at - interval '59 minutes'")
    moved = await sync_state.get(bench.pool, marketplace.id, "stock")
    assert before is not None and moved is not None

    await bench.pool.execute("UPDATE products SET stock_quantity = 4")
    assert await cli(bench.settings, "sync", "run", "uzum", "--type", "stock") == 0  # a manual run that works
    bench.uzum.inject_fault("500", -1, path="/api/seller-openapi/v2/fbs/sku/stocks")
    await bench.pool.execute("UPDATE products SET stock_quantity = 3")
    assert await cli(bench.settings, "sync", "run", "uzum", "--type", "stock") == 1  # and one that fails
    # What the bot's /sync enqueues: sync_marketplace(slug, type, full) without `scheduled`.
    report = await marketplace_sync.run_sync(bench.deps, "uzum", "stock", lock_wait=1.0)
    assert [e.status for e in report.logs] == ["error"]

    after = await sync_state.get(bench.pool, marketplace.id, "stock")
    assert after == moved  # last run, failures, retry time: untouched
    assert await due_stock_after(bench, 60)  # still due when the schedule said, a minute from now
    assert "sync_logs" in capsys.readouterr().out


async def test_a_manual_run_waits_for_a_busy_lock_instead_of_refusing(
    bench: Bench, capsys: pytest.CaptureFixture[str],
) -> None:
    await uzum_ready(bench)
    released = asyncio.Event()

    async def propagation_holding_the_lock() -> None:  # e.g. a push stuck in a 429 storm
        async with marketplace_sync.sync_lock(bench.redis, "uzum", "stock") as held:
            assert held
            await released.wait()

    holder = asyncio.create_task(propagation_holding_the_lock())
    await asyncio.sleep(0.1)
    run = asyncio.create_task(cli(bench.settings, "sync", "run", "uzum", "--type", "stock"))
    for _ in range(100):
        if "waiting up to 120 s" in capsys.readouterr().out:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("`sync run` did not say it waits")
    assert not run.done()
    released.set()
    await holder
    assert await asyncio.wait_for(run, 30) == 0
    out = capsys.readouterr().out
    assert "uzum stock: success, 2 processed" in out and "skipped" not in out
    assert bench.uzum.skus[7_000_000].amount == 5


async def test_a_killed_run_is_closed_honestly_and_a_running_one_is_left_alone(bench: Bench) -> None:
    marketplace = await uzum_ready(bench)
    killed = await sync_logs.start(bench.pool, marketplace.id, "stock")  # its worker was SIGKILLed
    killed_price = await sync_logs.start(bench.pool, marketplace.id, "price")
    ctx = {"db": bench.pool, "redis": bench.redis}

    # The cron tick closes a dead run (nobody holds its lock) but not a running one.
    async with marketplace_sync.sync_lock(bench.redis, "uzum", "price") as held:
        assert held
        await jobs.enqueue_due_syncs(ctx)
        still = await sync_logs.find(bench.pool, killed_price)
        assert still is not None and still.completed_at is None  # its lock is held: it is running
    closed = await sync_logs.find(bench.pool, killed)
    assert closed is not None and closed.completed_at is not None
    assert (closed.status, closed.error_message) == ("error", "interrupted (the process stopped)")

    # The next run of a type closes what its dead predecessor left, then runs normally.
    report = await marketplace_sync.run_sync(bench.deps, "uzum", "price")
    assert [e.status for e in report.logs] == ["success"]
    closed_price = await sync_logs.find(bench.pool, killed_price)
    assert closed_price is not None and closed_price.completed_at is not None
    assert closed_price.error_message == "interrupted (the process stopped)"
    assert await sync_logs.open_runs(bench.pool) == []


async def test_a_scheduled_run_with_deferred_items_runs_again_once_their_wait_is_over(bench: Bench) -> None:
    items = await make_products(bench.pool, 2, stock=5)
    await bench.add_marketplaces(("ozon",))
    await bench.map_products("ozon", items)
    bench.ozon.configure({"stock_pair_window": 30})
    marketplace = await marketplaces.get_by_slug(bench.pool, "ozon")
    assert marketplace is not None
    for sync_type in ("orders", "price"):
        await sync_state.mark_run_started(bench.pool, marketplace.id, sync_type)
    first = await marketplace_sync.run_sync(bench.deps, "ozon", "stock", scheduled=True)
    await bench.pool.execute("UPDATE products SET stock_quantity = 4")  # sold again within the 30 s
    second = await marketplace_sync.run_sync(bench.deps, "ozon", "stock", scheduled=True)

    assert [e.status for e in first.logs + second.logs] == ["success", "success"]
    assert "2 deferred by Ozon's 30-s rule" in (second.logs[0].error_message or "")
    state = await sync_state.get(bench.pool, marketplace.id, "stock")
    assert state is not None and state.failures == 0 and state.retry_at is not None
    assert state.last_run_at is not None
    assert timedelta(seconds=30) <= state.retry_at - state.last_run_at < timedelta(minutes=30)  # not the hour
    assert ("ozon", "stock") in await marketplace_sync.due_syncs(bench.pool, state.retry_at)
    bench.ozon.stock_updated_at.clear()
    third = await marketplace_sync.run_sync(bench.deps, "ozon", "stock", scheduled=True)
    assert [(e.status, e.items_processed) for e in third.logs] == [("success", 2)]
    assert [bench.stock_on("ozon", p) for p in items] == [4, 4]
