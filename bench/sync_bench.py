"""Sync benchmarks (issue #6 parts 3-5): push, delta, order import and propagation, against the three
marketplace sandboxes running in their own process with the documented rate limits switched on.

* **Push**: `run_sync(..., full=True)` of prices and of stocks, per marketplace, run from the bench
  process with the same dependencies the worker builds (`sync.jobs.sync_deps`: one HTTP session,
  the Redis rate limiter shared with the store). Each figure stands beside the lower bound the
  limits allow: the fewest calls the marketplace's batch sizes permit, the first `burst` of them at
  once, the rest at the replenish rate: `max(0, calls - burst) / rate` per limit group, the
  slowest group binding. Every run starts with full buckets on both sides (ours in Redis, the
  sandbox's), as after a quiet minute. Wildberries prices and stocks are separate buckets and
  separate worker jobs, so they run together, as the worker runs them.
* **Delta**: 100 prices changed through `products_admin.set_price`, then a delta price run per
  marketplace; the figure is the number of API calls the sandbox saw.
* **Order import**: N new orders waiting on each sandbox, the time `run_sync(..., "orders")` takes
  until all N are in our `orders` table.
* **Propagation**: Mini App checkouts through the store's HTTP API (the store runs its worker), one
  product per sale, each a different customer; the time from the 201 to the sandbox showing the
  product's new stock, per marketplace (the sandboxes are polled with `GET /_sandbox/stock`).

Before the push the sandboxes hold every mapped item with a price 1,000 so'm above ours and 3 units
more stock than ours (the cabinet drifted), so a full push changes every item: Wildberries does real
uploads instead of answering "already set", and the pushes do the work a first sync would.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import asyncpg
import psutil
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from bench import harness
from bench.checkout_load import init_data
from db.repos import outbox
from store.crypto import KeyBox
from store.services import events, products_admin
from store.services.marketplace_sync import SyncDeps, run_sync
from sync import jobs
from sync.adapters import build_adapter
from sync.adapters import uzum as uzum_adapter
from sync.ratelimit import DEFAULT_LIMITS, KEY_PREFIX
from sync.sandbox import SandboxControl
from sync.sandbox import ozon as ozon_sandbox
from sync.sandbox import wildberries as wb_sandbox
from sync.sandbox.uzum import BASE as UZUM_BASE

SLUGS = ("uzum", "wildberries", "ozon")
PRICE_DRIFT = 1000  # so'm the sandboxes' prices start above ours
STOCK_DRIFT = 3  # units the sandboxes' stocks start above ours
SALE_STOCK = 50  # stock of the products the order import and the propagation sell
POLL_INTERVAL = 0.02  # seconds between two reads of the sandboxes' stock during the propagation
PROPAGATION_TIMEOUT = 60.0  # a stock that has not arrived this long after its sale counts as missing
QUEUE_DRAIN_TIMEOUT = 180.0
SEED_BATCH = 20_000  # items per control-API call when seeding the sandboxes
CHECKOUT_BODY = {"customer_name": "Bench Mijoz", "customer_phone": "+998901234567",
                 "delivery_address": "Toshkent, Amir Temur ko'chasi 1", "delivery_notes": ""}
# The endpoints of each push type in the sandboxes' call log (to count a type's calls in a mixed run).
PRICE_ENDPOINTS = {"uzum": "sendPriceData", "wildberries": " /api/v2/", "ozon": "/import/prices"}
STOCK_ENDPOINTS = {"uzum": "/fbs/sku/stocks", "wildberries": " /api/v3/stocks", "ozon": "/products/stocks"}

Report = Callable[[str, str, str], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sync benchmarks")
    group.add_argument("--uzum-price-products", type=int, default=500,
                       help="products in the Uzum price push (one call each at ~5/s; all 10,000 take ~33 min)")
    group.add_argument("--price-changes", type=int, default=100, help="prices changed before the delta run")
    group.add_argument("--import-orders", type=int, default=1000, help="new orders waiting on each sandbox")
    group.add_argument("--sales", type=int, default=200, help="Mini App sales in the propagation benchmark")
    group.add_argument("--sale-interval", type=float, default=0.5, help="seconds between two sales")


# --- the sandboxes' process ----------------------------------------------------------------------


@dataclass
class Sandboxes:
    """`python -m sync.sandbox` in its own process (its CPU is not the store's nor the bench's)."""

    process: harness.Process
    ports: dict[str, int]

    def base(self, slug: str) -> str:
        return f"http://127.0.0.1:{self.ports[slug]}"

    def api_url(self, slug: str) -> str:
        """What `api_base_url` holds: Uzum's includes the API's path prefix."""
        return self.base(slug) + UZUM_BASE if slug == "uzum" else self.base(slug)

    @property
    def api_urls(self) -> dict[str, str]:
        return {slug: self.api_url(slug) for slug in SLUGS}

    async def wait_ready(self) -> None:
        for slug in SLUGS:
            await harness.wait_http(f"{self.base(slug)}/_sandbox/limits", proc=self.process.proc)


def start_sandboxes(log: Path) -> Sandboxes:
    """The three sandboxes, documented rate limits on (the default), on free ports."""
    ports = {slug: harness.free_port() for slug in SLUGS}
    process = harness.start(["-m", "sync.sandbox", "--port-uzum", str(ports["uzum"]),
                             "--port-wb", str(ports["wildberries"]), "--port-ozon", str(ports["ozon"])],
                            log, ports["uzum"])
    return Sandboxes(process, ports)


def _catalog_item(slug: str, row: asyncpg.Record) -> dict[str, Any]:
    """One mapped product in the marketplace's terms, with the drifted price and stock."""
    keys = row["keys"]
    full = int(row["price"]) + PRICE_DRIFT
    sell = int(row["sale_price"] if row["sale_price"] is not None else row["price"]) + PRICE_DRIFT
    amount = max(0, int(row["stock_quantity"])) + STOCK_DRIFT
    if slug == "uzum":
        return {"productId": keys["product_id"], "skuId": keys["sku_id"], "barcode": keys["barcode"],
                "sellerItemCode": row["sku"], "productTitle": row["name_uz"], "fullPrice": full,
                "sellPrice": sell, "amount": amount}
    if slug == "wildberries":
        return {"nmID": keys["nm_id"], "vendorCode": row["sku"], "title": row["name_uz"], "price": full,
                "discount": 0, "sizes": [{"chrtID": keys["chrt_id"], "skus": keys.get("barcodes", []),
                                          "amount": amount}]}
    return {"offer_id": keys["offer_id"], "product_id": keys["product_id"], "sku": keys["sku"],
            "name": row["name_uz"], "price": str(sell), "old_price": "0", "stock": amount}


async def seed_sandboxes(pool: asyncpg.Pool, sandboxes: Sandboxes) -> dict[str, int]:
    """Every mapped product on its sandbox (control API over HTTP), with the keys in our database."""
    seeded: dict[str, int] = {}
    async with aiohttp.ClientSession() as session:
        for slug in SLUGS:
            rows = await pool.fetch(
                """SELECT mp.marketplace_keys AS keys, p.sku, p.name_uz, p.price, p.sale_price, p.stock_quantity
                   FROM marketplace_products mp JOIN products p ON p.id = mp.product_id
                   JOIN marketplaces m ON m.id = mp.marketplace_id
                   WHERE m.slug = $1 AND mp.is_active ORDER BY p.id""", slug)
            items = [_catalog_item(slug, row) for row in rows]
            # in parts: the control API takes bodies up to 16 MB (100,000 items are ~20 MB)
            for start in range(0, len(items), SEED_BATCH):
                part = items[start:start + SEED_BATCH]
                await SandboxControl(session, sandboxes.base(slug)).seed_catalog(
                    {"cards": part} if slug == "wildberries" else {"items": part})
            seeded[slug] = len(items)
    return seeded


# --- lower bounds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    calls: int
    seconds: float
    text: str  # the arithmetic, for the table


def _rate_text(spec: Mapping[str, Any]) -> str:
    requests, period = float(spec["requests"]), float(spec["period"])
    if period == 1:
        return f"{requests:g}/s"
    if period == 60:
        return f"{requests:g}/min"
    return f"{requests:g}/{period:g} s"


def lower_bound(calls: int, what: str, limits: Mapping[str, Mapping[str, Any]], groups: Sequence[str]) -> Bound:
    """The fastest `calls` calls drawing on `groups` can go: the burst at once, the rest at the rate."""
    worst_group, worst = groups[0], -1.0
    for group in groups:
        spec = limits[group]
        seconds = max(0, calls - int(spec["burst"])) / (float(spec["requests"]) / float(spec["period"]))
        if seconds > worst:
            worst_group, worst = group, seconds
    spec = limits[worst_group]
    named = f" ({worst_group})" if len(groups) > 1 else ""
    if worst <= 0:
        return Bound(calls, 0.0, f"{what}: within the burst of {spec['burst']}{named}, no wait")
    return Bound(calls, worst, f"{what}, burst {spec['burst']} then {_rate_text(spec)}{named} → ≥{worst:.1f} s")


def _n(count: int, what: str) -> str:
    return f"{count:,} {what}" if count == 1 else f"{count:,} {what}s"


def minimum_calls(slug: str, sync_type: str, items: int) -> tuple[int, str, tuple[str, ...]]:
    """The fewest calls a push of `items` items needs (the marketplace's batch sizes), what they
    are, and the rate-limit groups they draw on."""
    if slug == "uzum":
        if sync_type == "price":
            return items, f"{_n(items, 'call')} (one per product)", ("default",)
        batch = uzum_adapter.STOCK_BATCH
        calls = math.ceil(items / batch)
        return calls, f"{_n(calls, 'call')} of {batch} (Uzum documents no maximum: ours)", ("default",)
    if slug == "wildberries":
        if sync_type == "price":
            uploads = math.ceil(items / wb_sandbox.PRICE_BATCH_MAX)
            return 2 * uploads, (f"{_n(uploads, 'upload')} of ≤{wb_sandbox.PRICE_BATCH_MAX:,} + "
                                 f"{_n(uploads, 'status check')}"), ("prices",)
        calls = math.ceil(items / wb_sandbox.STOCK_BATCH_MAX)
        return calls, f"{_n(calls, 'call')} of ≤{wb_sandbox.STOCK_BATCH_MAX:,}", ("stocks",)
    if sync_type == "price":
        calls = math.ceil(items / ozon_sandbox.PRICE_BATCH_MAX)
        return calls, f"{_n(calls, 'call')} of ≤{ozon_sandbox.PRICE_BATCH_MAX:,}", ("global",)
    calls = math.ceil(items / ozon_sandbox.STOCK_BATCH_MAX)
    return calls, f"{_n(calls, 'call')} of ≤{ozon_sandbox.STOCK_BATCH_MAX}", ("global", "stocks")


async def backlog(pool: asyncpg.Pool, redis: ArqRedis) -> dict[str, int]:
    """What the store's worker still has to do: outbox events not yet in Redis, products not yet
    pushed (`pending_pushes`), jobs queued or deferred on the sync and notification queues."""
    return {"outbox_events": await outbox.pending_event_count(pool),
            "pending_pushes": await outbox.pending_push_count(pool),
            "sync_jobs": int(await redis.zcard(events.QUEUE_SYNC)),
            "notification_jobs": int(await redis.zcard(events.QUEUE_NOTIFICATIONS))}


async def drain(pool: asyncpg.Pool, redis: ArqRedis, timeout: float = QUEUE_DRAIN_TIMEOUT) -> float:
    """Wait until the backlog is empty (or `timeout`); returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not any((await backlog(pool, redis)).values()):
            break
        await asyncio.sleep(0.2)
    return time.monotonic() - started


def _percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


# --- the benchmarks --------------------------------------------------------------------------------


@dataclass
class Run:
    """One measured run_sync."""

    slug: str
    sync_type: str
    seconds: float
    status: str
    processed: int
    failed: int
    message: str | None
    calls: int = 0
    rate_limited: int = 0  # 429 answers the sandbox gave
    # where the time went (seconds, from the sandbox's call log): before the first call arrived,
    # from it to the end of the last answer, after that until the run returned
    before_first_call: float = 0.0
    calls_span: float = 0.0
    after_last_call: float = 0.0


class SyncBench:
    """`async with SyncBench(...) as sync:` then `await sync.push()`, `sync.order_import()`,
    `sync.propagation(store)`; figures go to `report` (a table row) and `results`."""

    def __init__(self, report: Report, results: dict[str, Any], pool: asyncpg.Pool, redis_url: str,
                 keybox: KeyBox, sandboxes: Sandboxes, args: argparse.Namespace, bot_token: str) -> None:
        self.report = report
        self.results = results
        self.pool = pool
        self.redis_url = redis_url
        self.keybox = keybox
        self.sandboxes = sandboxes
        self.args = args
        self.bot_token = bot_token
        self._redis: ArqRedis | None = None
        self._session: aiohttp.ClientSession | None = None
        self._resources = jobs.SyncResources()
        # psutil's CPU % is measured between two calls on the same object
        self._sandbox_cpu = psutil.Process(sandboxes.process.proc.pid)
        self._ozon_stocks_pushed_at = 0.0  # monotonic: when the full push last touched every Ozon pair

    async def __aenter__(self) -> SyncBench:
        self._redis = await create_pool(RedisSettings.from_dsn(self.redis_url))
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._resources.close()
        if self._session is not None:
            await self._session.close()
        if self._redis is not None:
            await self._redis.aclose()

    @property
    def redis(self) -> ArqRedis:
        assert self._redis is not None, "use SyncBench as an async context manager"
        return self._redis

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use SyncBench as an async context manager"
        return self._session

    def deps(self) -> SyncDeps:
        """What sync.jobs.sync_deps builds in the worker: one HTTP session, the Redis rate limiter."""
        session, limiter = self._resources.session(), self._resources.limiter(self.redis)
        return SyncDeps(self.pool, self.redis, self.keybox, lambda account: build_adapter(account, session, limiter))

    def control(self, slug: str) -> SandboxControl:
        return SandboxControl(self.session, self.sandboxes.base(slug))

    # --- helpers ---------------------------------------------------------------------------------

    def _ranges(self) -> tuple[list[int], list[int], list[int]]:
        """Products for: the delta price changes, the order import, the propagation sales; apart
        from each other and from the checkout benchmark's (ids up to 3000 and 5001-5020)."""
        total = int(self.args.products)
        sales = list(range(total - self.args.sales + 1, total + 1))
        orders = list(range(5021, total - self.args.sales + 1))
        delta = list(range(3001, 3001 + self.args.price_changes))
        if self.args.price_changes > 2000 or len(orders) < 100 or self.args.sales < 1:
            raise SystemExit("bench: the sync benchmarks need --products 10000 or close (and --price-changes ≤ 2000)")
        return delta, orders, sales

    async def fresh_buckets(self, slug: str) -> dict[str, dict[str, Any]]:
        """Both sides' rate-limit buckets full again (as after a quiet minute); returns the limits
        the sandbox enforces."""
        async for key in self.redis.scan_iter(match=f"{KEY_PREFIX}:{slug}:*"):
            await self.redis.delete(key)
        snapshot = await self.control(slug).configure_limits()
        if not snapshot["enabled"]:
            raise RuntimeError(f"the {slug} sandbox does not enforce its rate limits")
        groups: dict[str, dict[str, Any]] = snapshot["groups"]
        return groups

    def _check_limits(self, slug: str, enforced: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Where the sandbox's limits differ from the ones our limiter paces by (sync.ratelimit)."""
        ours = DEFAULT_LIMITS[slug]
        differ = []
        for group, spec in enforced.items():
            mine = ours.get(group)
            rate = float(spec["requests"]) / float(spec["period"])
            if mine is None or not math.isclose(mine.rate, rate) or mine.burst != int(spec["burst"]):
                differ.append(f"{slug} {group}: sandbox {_rate_text(spec)} burst {spec['burst']}, ours "
                              f"{'none' if mine is None else f'{mine.rate:g}/s burst {mine.burst}'}")
        return differ

    async def _calls(self, slug: str) -> dict[str, Any]:
        calls: dict[str, Any] = (await self.control(slug).state())["calls"]
        return calls

    @staticmethod
    def _timeline(run: Run, calls: Mapping[str, Any], part: str | None, started: float, ended: float) -> None:
        """Split the run's wall time by its calls as the sandbox logged them (wall clock, same host)."""
        mine = [c for c in calls["log"] if part is None or part in c["endpoint"]]
        if not mine:
            return
        first = min(c["at"] for c in mine)
        last = max(c["at"] + c["duration_ms"] / 1000 for c in mine)
        run.before_first_call, run.calls_span, run.after_last_call = first - started, last - first, ended - last

    @staticmethod
    def _count(calls: Mapping[str, Any], part: str | None = None) -> tuple[int, int]:
        """(calls, 429 answers) of the endpoints containing `part` (all when None)."""
        total = limited = 0
        for endpoint, statuses in calls["statuses"].items():
            if part is None or part in endpoint:
                total += sum(statuses.values())
                limited += int(statuses.get("429", 0))
        return total, limited

    async def _timed_run(self, slug: str, sync_type: str, full: bool) -> Run:
        started = time.monotonic()
        report = await run_sync(self.deps(), slug, sync_type, full=full)
        seconds = time.monotonic() - started
        if report.skipped or not report.logs:
            raise RuntimeError(f"{slug} {sync_type}: the run was skipped (another run held the lock)")
        entry = report.logs[0]
        return Run(slug, sync_type, seconds, entry.status, entry.items_processed, entry.items_failed,
                   entry.error_message)

    async def _measure(self, slug: str, types: Sequence[str], *, full: bool) -> tuple[list[Run], float, float]:
        """Run `types` of `slug` together from full buckets; (runs with their calls, wall seconds,
        the sandboxes' CPU % meanwhile)."""
        await self.fresh_buckets(slug)
        await self.control(slug).clear_calls()
        self._sandbox_cpu.cpu_percent()
        started, wall_started = time.monotonic(), time.time()
        runs = list(await asyncio.gather(*(self._timed_run(slug, t, full) for t in types)))
        wall = time.monotonic() - started
        cpu = self._sandbox_cpu.cpu_percent()
        if slug == "ozon" and "stock" in types:
            self._ozon_stocks_pushed_at = time.monotonic()
        calls = await self._calls(slug)
        for run in runs:
            endpoints = PRICE_ENDPOINTS if run.sync_type == "price" else STOCK_ENDPOINTS
            part = endpoints[slug] if len(types) > 1 else None
            run.calls, run.rate_limited = self._count(calls, part)
            self._timeline(run, calls, part, wall_started, wall_started + run.seconds)
        return runs, wall, cpu

    def _status_note(self, run: Run) -> str:
        if run.status == "success":
            return ""
        return f" [{run.status}: {run.failed} failed; {(run.message or '')[:120]}]"

    # --- 3. push ---------------------------------------------------------------------------------

    async def push(self) -> None:
        delta_ids, order_ids, sale_ids = self._ranges()
        # The products the order import and the propagation sell have stock to sell; set before the
        # full stock push, so the marketplaces hold it too.
        await self.pool.execute("UPDATE products SET stock_quantity = $2 WHERE id = any($1::int[])",
                                order_ids + sale_ids, SALE_STOCK)
        out: dict[str, Any] = {"limits_differ": []}
        enforced = {slug: await self.fresh_buckets(slug) for slug in SLUGS}
        for slug, limits in enforced.items():
            out[slug] = {"limits": limits}
            out["limits_differ"].extend(self._check_limits(slug, limits))
        self.report("sync: rate limits the sandboxes enforce",
                    "= sync.ratelimit.DEFAULT_LIMITS" if not out["limits_differ"] else "DIFFER from sync.ratelimit",
                    "; ".join(f"{slug} " + ", ".join(f"{group} {_rate_text(spec)} burst {spec['burst']}"
                                                     for group, spec in limits.items())
                              for slug, limits in enforced.items()))
        for difference in out["limits_differ"]:
            self.report("  limits differ", difference, "")
        for slug in SLUGS:
            limits = enforced[slug]
            mid = await self.pool.fetchval("SELECT id FROM marketplaces WHERE slug = $1", slug)
            mapped = await self.pool.fetchval(
                "SELECT count(*) FROM marketplace_products WHERE marketplace_id = $1 AND is_active", mid)
            if slug == "wildberries":
                # Separate buckets and separate worker jobs: both at once, as the worker runs them.
                runs, wall, cpu = await self._measure(slug, ["price", "stock"], full=True)
                bounds = [self._bound(slug, run.sync_type, mapped, limits) for run in runs]
                for run, bound in zip(runs, bounds, strict=True):
                    self._push_row(run, bound, mapped, cpu)
                    out[slug][run.sync_type] = {**asdict(run), "bound": asdict(bound), "items": mapped,
                                                "sandbox_cpu_percent": cpu}
                slowest = max(bounds, key=lambda b: b.seconds)
                together = Bound(sum(b.calls for b in bounds), slowest.seconds,
                                 f"separate buckets: the slower bound, ≥{slowest.seconds:.1f} s")
                worst = next((r for r in runs if r.status != "success"), runs[0])
                self._push_row(Run(slug, "prices ‖ stocks", wall, worst.status, worst.failed, worst.failed,
                                   worst.message, sum(r.calls for r in runs), sum(r.rate_limited for r in runs)),
                               together, mapped, cpu)
                out[slug]["together"] = {"seconds": wall, "bound_seconds": slowest.seconds}
                continue
            for sync_type in ("price", "stock"):
                items = mapped
                if slug == "uzum" and sync_type == "price" and self.args.uzum_price_products < mapped:
                    # One call per product at ~5/s: all of them take ~33 min. The rest of the
                    # mappings sit out this run (inactive), so it is the real full run, smaller.
                    items = self.args.uzum_price_products
                    await self.pool.execute(
                        """UPDATE marketplace_products SET is_active = false
                           WHERE marketplace_id = $1 AND product_id NOT IN (
                               SELECT product_id FROM marketplace_products WHERE marketplace_id = $1
                               ORDER BY product_id LIMIT $2)""", mid, items)
                try:
                    runs, wall, cpu = await self._measure(slug, [sync_type], full=True)
                finally:
                    await self.pool.execute(
                        "UPDATE marketplace_products SET is_active = true WHERE marketplace_id = $1", mid)
                bound = self._bound(slug, sync_type, items, limits)
                self._push_row(runs[0], bound, mapped, cpu, subset=items if items < mapped else None)
                out[slug][sync_type] = {**asdict(runs[0]), "bound": asdict(bound), "items": items,
                                        "sandbox_cpu_percent": cpu}
        self.results["sync_push"] = out
        await self.delta(delta_ids)

    def _bound(self, slug: str, sync_type: str, items: int, limits: Mapping[str, Mapping[str, Any]]) -> Bound:
        calls, what, groups = minimum_calls(slug, sync_type, items)
        return lower_bound(calls, what, limits, groups)

    def _push_row(self, run: Run, bound: Bound, mapped: int, cpu: float, subset: int | None = None) -> None:
        what = "prices" if run.sync_type == "price" else "stocks" if run.sync_type == "stock" else run.sync_type
        items = f"{subset:,} of {mapped:,} products, a subset" if subset else f"{mapped:,} products"
        name = f"sync push: {run.slug} {what} ({items})"
        if bound.seconds >= 1.0:
            ratio = run.seconds / bound.seconds
            value = f"{run.seconds:.1f} s = {ratio:.2f}× bound"
            aim = "aim ≤1.10×"
        else:
            value = f"{run.seconds:.1f} s (no rate wait)"
            aim = "no ratio: the limits add no wait"
        self.report(name, value + self._status_note(run), f"{aim}; {bound.text}")
        timeline = (f"{run.before_first_call:.2f} s to the first call, {run.calls_span:.2f} s of calls, "
                    f"{run.after_last_call:.2f} s after" if run.calls_span else "")
        self.report(f"  {run.slug} {what}: calls / 429s / sandbox CPU",
                    f"{run.calls} (minimum {bound.calls}) / {run.rate_limited} / {cpu:.0f}%", timeline)

    # --- 3b. delta -------------------------------------------------------------------------------

    async def delta(self, product_ids: list[int]) -> None:
        """Change prices the way the owner does (products_admin.set_price, which also enqueues the
        propagation: a no-op while auto sync is off), then one delta price run per marketplace."""
        rows = await self.pool.fetch("SELECT sku, price, sale_price FROM products WHERE id = any($1::int[])",
                                     product_ids)
        for row in rows:
            await products_admin.set_price(self.pool, row["sku"], row["price"] + Decimal(1000),
                                           row["sale_price"])
        out: dict[str, Any] = {"changed": len(rows)}
        for slug in SLUGS:
            runs, _, _ = await self._measure(slug, ["price"], full=False)
            run = runs[0]
            least, what, _ = minimum_calls(slug, "price", len(rows))
            out[slug] = {**asdict(run), "minimum_calls": least}
            self.report(f"sync delta after {len(rows)} price changes: {slug}",
                        f"{_n(run.calls, 'API call')}, {run.seconds:.1f} s" + self._status_note(run),
                        f"fewest possible: {what}")
        self.results["sync_delta"] = out

    # --- 5. order import -------------------------------------------------------------------------

    async def order_import(self) -> None:
        _, order_ids, _ = self._ranges()
        count = self.args.import_orders
        out: dict[str, Any] = {}
        for index, slug in enumerate(SLUGS):
            ids = [order_ids[(index * count + i) % len(order_ids)] for i in range(count)]
            rows = await self.pool.fetch(
                """SELECT mp.product_id, mp.marketplace_keys AS keys FROM marketplace_products mp
                   JOIN marketplaces m ON m.id = mp.marketplace_id
                   WHERE m.slug = $1 AND mp.product_id = any($2::int[])""", slug, ids)
            keys = {row["product_id"]: row["keys"] for row in rows}
            specs = [self._order_spec(slug, keys[pid]) for pid in ids]
            await self.control(slug).add_orders({"postings": specs} if slug == "ozon" else {"orders": specs})
            before = await self.pool.fetchval("SELECT count(*) FROM orders WHERE source = $1", slug)
            limits = await self.fresh_buckets(slug)
            await self.control(slug).clear_calls()
            runs: list[Run] = []
            started, wall_started = time.monotonic(), time.time()
            imported = 0
            while imported < count and len(runs) < 5:
                runs.append(await self._timed_run(slug, "orders", False))
                imported = await self.pool.fetchval("SELECT count(*) FROM orders WHERE source = $1", slug) - before
            seconds = time.monotonic() - started
            calls = await self._calls(slug)
            whole = Run(slug, "orders", seconds, runs[-1].status, imported, 0, None)
            whole.calls, whole.rate_limited = self._count(calls)
            self._timeline(whole, calls, None, wall_started, wall_started + seconds)
            group = {"uzum": "default", "wildberries": "marketplace", "ozon": "global"}[slug]
            floor = lower_bound(whole.calls, _n(whole.calls, "call"), limits, (group,))
            out[slug] = {"orders": count, "imported": imported, "seconds": seconds, "runs": [asdict(r) for r in runs],
                         "calls": whole.calls, "rate_limited": whole.rate_limited,
                         "rate_floor_seconds": floor.seconds, "timeline": asdict(whole)}
            note = "" if imported >= count else f" [only {imported} imported]"
            note += "".join(self._status_note(r) for r in runs)
            self.report(f"order import: {slug} ({count:,} new orders)",
                        f"{seconds:.1f} s, {imported / seconds:,.0f} orders/s" + note,
                        f"{len(runs)} run(s); {floor.text}")
            self.report(f"  {slug} import: first call / calls / after the last",
                        f"{whole.before_first_call:.2f} s / {whole.calls_span:.2f} s / {whole.after_last_call:.2f} s",
                        "after the last call: recording the orders (one transaction each)"
                        if slug != "wildberries" else "WB reads the statuses of open orders last")
        self.results["order_import"] = out

    @staticmethod
    def _order_spec(slug: str, keys: Mapping[str, Any]) -> dict[str, Any]:
        """One new one-unit order for the item, as the marketplace shows it (its stock reserved)."""
        if slug == "uzum":
            return {"orderItems": [{"skuId": keys["sku_id"], "amount": 1}], "status": "CREATED", "scheme": "FBS"}
        if slug == "wildberries":
            return {"chrtId": keys["chrt_id"]}
        return {"products": [{"offer_id": keys["offer_id"], "quantity": 1}]}

    # --- 4. propagation ----------------------------------------------------------------------------

    async def _drain_queue(self) -> float:
        """Wait for the store's worker to finish what earlier steps set off; returns the seconds waited."""
        return await drain(self.pool, self.redis)

    async def propagation(self, store: harness.Process) -> None:
        _, _, sale_ids = self._ranges()
        waited = await self._drain_queue()
        left = {what: n for what, n in (await backlog(self.pool, self.redis)).items() if n}
        if left:  # the earlier parts' work still going on would share the worker with these sales
            self.report("  propagation: backlog left before the sales", str(left),
                        f"not drained in {QUEUE_DRAIN_TIMEOUT:.0f} s")
        rows = await self.pool.fetch(
            """SELECT mp.product_id, m.slug, mp.marketplace_keys AS keys FROM marketplace_products mp
               JOIN marketplaces m ON m.id = mp.marketplace_id WHERE mp.product_id = any($1::int[])""", sale_ids)
        stock_key: dict[tuple[str, int], str] = {}
        for row in rows:
            keys = row["keys"]
            stock_key[(row["slug"], row["product_id"])] = str(
                keys["barcode"] if row["slug"] == "uzum" else keys["chrt_id"] if row["slug"] == "wildberries"
                else keys["offer_id"])
        # Ozon takes one stock update per product and warehouse per 30 s; the full push touched every
        # pair, so the sales start once that window has passed for all of them (a store's sales do
        # not follow a full push by seconds; the sales use one product each for the same reason).
        window = float((await self.control("ozon").configure())["stock_pair_window"])
        await asyncio.sleep(max(0.0, self._ozon_stocks_pushed_at + window + 1 - time.monotonic()))
        for slug in SLUGS:
            await self.fresh_buckets(slug)
        pending: dict[str, dict[str, tuple[int, int]]] = {slug: {} for slug in SLUGS}  # key -> (sale, stock)
        answered: dict[int, float] = {}  # sale -> monotonic time of its 201
        arrived: dict[str, dict[int, float]] = {slug: {} for slug in SLUGS}  # sale -> seconds after the 201
        failures: list[str] = []
        sales_done = asyncio.Event()

        async def poll(slug: str) -> None:
            control = self.control(slug)
            while not (sales_done.is_set() and not pending[slug]):
                waiting = pending[slug]
                if waiting:
                    levels = await control.stock(list(waiting))
                    now = time.monotonic()
                    for key, level in levels.items():
                        sale, expected = waiting[key]
                        if level == expected:
                            arrived[slug][sale] = now - answered[sale]
                            del waiting[key]
                        elif now - answered[sale] > PROPAGATION_TIMEOUT:
                            failures.append(f"{slug}: sale {sale} never showed stock {expected} (shows {level})")
                            del waiting[key]
                await asyncio.sleep(POLL_INTERVAL)

        async def sell(sale: int, product_id: int) -> None:
            auth = {"Authorization": f"tma {init_data(self.bot_token, 840_000_000 + sale)}"}
            async with self.session.put(f"{store.url}/api/cart/items/{product_id}", json={"quantity": 1},
                                        headers=auth) as response:
                await response.read()
                if response.status >= 300:
                    failures.append(f"sale {sale}: cart answered {response.status}")
                    return
            async with self.session.post(f"{store.url}/api/orders", json=CHECKOUT_BODY,
                                         headers={**auth, "Idempotency-Key": uuid.uuid4().hex}) as response:
                await response.read()
                if response.status != 201:
                    failures.append(f"sale {sale}: checkout answered {response.status}")
                    return
                answered[sale] = time.monotonic()
            expected = await self.pool.fetchval("SELECT stock_quantity FROM products WHERE id = $1", product_id)
            for slug in SLUGS:
                pending[slug][stock_key[(slug, product_id)]] = (sale, expected)

        await self.pool.execute("UPDATE marketplaces SET auto_sync_enabled = true")
        me, store_cpu = psutil.Process(os.getpid()), psutil.Process(store.proc.pid)
        for process in (me, self._sandbox_cpu, store_cpu):
            process.cpu_percent()
        pollers = [asyncio.create_task(poll(slug)) for slug in SLUGS]
        try:
            started = time.monotonic()
            sales: list[Awaitable[None]] = []
            for sale, product_id in enumerate(sale_ids):
                # Open loop: sale i starts at i × interval whatever the earlier ones are doing.
                await asyncio.sleep(max(0.0, started + sale * self.args.sale_interval - time.monotonic()))
                sales.append(asyncio.create_task(sell(sale, product_id)))
            await asyncio.gather(*sales)
            selling = time.monotonic() - started
            sales_done.set()
            await asyncio.gather(*pollers)
        finally:
            sales_done.set()
            for task in pollers:
                task.cancel()
            await asyncio.gather(*pollers, return_exceptions=True)
            await self.pool.execute("UPDATE marketplaces SET auto_sync_enabled = false")
        cpu = {"bench": me.cpu_percent(), "sandboxes": self._sandbox_cpu.cpu_percent(),
               "store": store_cpu.cpu_percent()}
        out: dict[str, Any] = {"sales": len(answered), "sale_interval": self.args.sale_interval,
                               "queue_drain_seconds": waited, "cpu_percent": cpu, "failures": failures}
        for slug in SLUGS:
            latencies = list(arrived[slug].values())
            out[slug] = {"p50": _percentile(latencies, 0.5), "p95": _percentile(latencies, 0.95),
                         "max": max(latencies, default=math.nan), "arrived": len(latencies),
                         "latencies": latencies}
            missing = len(answered) - len(latencies)
            self.report(f"propagation: checkout → {slug} stock ({len(answered)} sales)",
                        f"p50 {out[slug]['p50']:.2f} s, p95 {out[slug]['p95']:.2f} s"
                        + (f" [{missing} missing]" if missing else ""), "aim p95 <5 s")
        everywhere = [max(arrived[s][sale] for s in SLUGS) for sale in answered
                      if all(sale in arrived[s] for s in SLUGS)]
        out["everywhere"] = {"p50": _percentile(everywhere, 0.5), "p95": _percentile(everywhere, 0.95)}
        self.report("propagation: on all three marketplaces",
                    f"p50 {out['everywhere']['p50']:.2f} s, p95 {out['everywhere']['p95']:.2f} s", "")
        self.report("propagation: pace / CPU bench, sandboxes, store",
                    f"{len(answered) / selling:.1f} sales/s / {cpu['bench']:.0f}%, {cpu['sandboxes']:.0f}%, "
                    f"{cpu['store']:.0f}%",
                    f"one product per sale; polled every {POLL_INTERVAL * 1000:.0f} ms")
        for failure in failures[:5]:
            self.report("  propagation problem", failure, "")
        self.results["propagation"] = out
