"""`make bench`: load the bench data, run every benchmark, print one table, write JSON to bench/results/.

Runs on the embedded servers under DATA_DIR/bench (or on DATABASE_URL / REDIS_URL, in a separate
database named `<db>_bench` that it drops and recreates). Figures are ratios against a ceiling
measured in the same run wherever one exists.

Processes: the store under test (`amazing-store run`, worker included), the ceiling server, the
three marketplace sandboxes (`python -m sync.sandbox`, documented rate limits on) and a fake
Telegram Bot API (`bench.fake_telegram`), each its own process; the bench process loads the data,
drives the load and runs the sync benchmarks (bench.sync_bench). It takes about 10 minutes; most of
it is rate-limit waiting that the sync figures measure. Shorter: `--seconds 3` (each HTTP load run),
`--uzum-price-products 100` (Uzum prices: one call per product at ~5/s), `--sales 50`,
`--import-orders 200`; see `python -m bench --help`. `--only NAME[,NAME]` runs some parts alone:
reads, checkout, push, import, propagation, processes (`run --processes 1` and `2` side by side),
faults (bench.faults: a burst of orders with admins set and a Redis outage, with a store and a Redis
of their own, after the others), and scale (bench.scale_bench: 100,000 products through the sync,
~10 min, in `<db>_bench_scale` with sandboxes of its own; only when named: `--only scale`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bench import data, faults, harness, scale_bench, sync_bench, wrk
from store import runtime
from store.crypto import KeyBox
from store.settings import Settings, load_settings
from store.telegram_auth import sign_init_data

BOT_TOKEN = "123456789:AAHbenchbenchbenchbenchbenchbenchben"
RESULTS = Path(__file__).parent / "results"
PARTS = ("reads", "checkout", "push", "import", "propagation", "processes", "faults", "scale")
DEFAULT_PARTS = PARTS[:-1]  # scale (bench.scale_bench, ~10 min) runs only when named


def _init_data(telegram_id: int) -> str:
    user = {"id": telegram_id, "first_name": "Bench", "language_code": "uz"}
    return sign_init_data(BOT_TOKEN, {"auth_date": int(time.time()), "query_id": "bench", "user": user})


async def _fresh_database(server_url: str, suffix: str = "_bench") -> str:
    base, _, name = server_url.rpartition("/")
    bench_name = f"{name.split('?')[0]}{suffix}"
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{bench_name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{bench_name}"')
    finally:
        await conn.close()
    return f"{base}/{bench_name}"


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.results: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(timespec="seconds")}
        self.rows: list[tuple[str, str, str]] = []
        self.checkout_top: dict[str, Any] = {}

    def row(self, name: str, value: str, aim: str = "") -> None:
        self.rows.append((name, value, aim))
        print(f"  {name:<58} {value:<34} {aim}", flush=True)

    async def catalog_reads(self, store: harness.Process, ceiling: harness.Process, pool: asyncpg.Pool) -> None:
        seconds = self.args.seconds
        auth = f"tma {_init_data(700_000_001)}"
        category = await pool.fetchval("SELECT id FROM categories WHERE parent_id IS NOT NULL ORDER BY id LIMIT 1")
        product = await pool.fetchval("SELECT id FROM products ORDER BY id LIMIT 1 OFFSET 500")
        ceiling_result = wrk.run(f"{ceiling.url}/", seconds=seconds)
        self.results["ceiling"] = vars(ceiling_result)
        self.row("ceiling: bare aiohttp JSON handler", f"{ceiling_result.rps:,.0f} req/s, p99 "
                 f"{ceiling_result.p99_ms:.1f} ms")
        targets = {
            "home": "/api/home",
            "category page": f"/api/products?category={category}",
            "search": "/api/products?q=choynak&sort=popular",
            "product page": f"/api/products/{product}",
        }
        reads: dict[str, Any] = {}
        store.cpu_percent()
        for name, path in targets.items():
            result = wrk.run(f"{store.url}{path}", seconds=seconds, auth=auth)
            ratio = result.rps / ceiling_result.rps
            reads[name] = {**vars(result), "ratio_to_ceiling": ratio}
            self.row(f"catalog read: {name}", f"{result.rps:,.0f} req/s ({ratio:.0%}), p50 {result.p50_ms:.1f} "
                     f"p99 {result.p99_ms:.1f} ms", "aim ≥50%, p99 <25 ms")
            if result.errors:
                self.row(f"catalog read: {name} errors", str(result.errors))
        reads["store_cpu_percent_during_reads"] = store.cpu_percent()
        self.results["catalog_reads"] = reads
        self.results["footprint_rss_mb_after_reads"] = store.rss_mb()

    async def checkout_once(self, store: harness.Process, pool: asyncpg.Pool, mode: str, first_user: int,
                            worker: harness.Process | None = None) -> dict[str, Any]:
        """One checkout load (bench.checkout_load, its own process) against `store`: 32 customers,
        three-item carts; `distinct` products per customer or `contended` (20 products); checks
        that the units sold equal the stock taken. CPU per order, over the load alone: `store`
        (with its children), PostgreSQL, Redis, and `worker` when it runs apart."""
        if mode == "distinct":
            ids = [r["id"] for r in await pool.fetch(
                "UPDATE products SET stock_quantity = 100000 WHERE id <= 3000 RETURNING id")]
        else:
            ids = [r["id"] for r in await pool.fetch(
                "UPDATE products SET stock_quantity = 300 WHERE id BETWEEN 5001 AND 5020 RETURNING id")]
        stock_before = await pool.fetchval("SELECT sum(stock_quantity) FROM products WHERE id = any($1)", ids)
        max_order = await pool.fetchval("SELECT coalesce(max(id), 0) FROM orders")
        await pool.execute("DELETE FROM cart_items")
        # Every run starts from the same state: the previous run's dead rows vacuumed and its dirty
        # pages written, so that neither run pays for the one before it.
        await pool.execute("VACUUM (ANALYZE) products, cart_items, orders, order_items, order_payments, "
                           "payment_events, idempotency_keys, outbox_events, pending_pushes, users")
        await pool.execute("CHECKPOINT")
        servers_before = {"postgres": harness.cpu_seconds(("postgres",)), "redis": harness.cpu_seconds(("redis",))}
        processes = {"server": store, **({"worker": worker} if worker is not None else {})}
        processes_before = {name: proc.cpu_seconds() for name, proc in processes.items()}
        proc = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bench.checkout_load", "--url", store.url, "--token", BOT_TOKEN,
             "--products", ",".join(map(str, sorted(ids))), "--customers", "32",
             "--seconds", str(self.args.seconds), "--mode", mode, "--first-user", str(first_user)],
            capture_output=True, text=True, check=True, timeout=self.args.seconds + 120)
        load = json.loads(proc.stdout.strip().splitlines()[-1])
        orders = max(1.0, load["orders"])
        for name, before in servers_before.items():
            load[f"{name}_cpu_ms_per_order"] = 1000 * (harness.cpu_seconds((name,)) - before) / orders
        for name, before in processes_before.items():
            load[f"{name}_cpu_ms_per_order"] = 1000 * (processes[name].cpu_seconds() - before) / orders
        stock_after = await pool.fetchval("SELECT sum(stock_quantity) FROM products WHERE id = any($1)", ids)
        sold = await pool.fetchval(
            """SELECT coalesce(sum(oi.quantity), 0) FROM order_items oi JOIN orders o ON o.id = oi.order_id
               WHERE o.id > $1 AND o.source = 'app' AND o.status <> 'cancelled'""", max_order)
        negative = await pool.fetchval("SELECT count(*) FROM products WHERE stock_quantity < 0")
        exact = stock_before - stock_after == sold and negative == 0
        return {**load, "stock_before": stock_before, "stock_after": stock_after, "units_sold": sold,
                "exact": exact}

    async def checkout_ceiling(self, pool: asyncpg.Pool, database_url: str, logs: Path) -> None:
        """The checkout ceiling (bench.checkout_ceiling: the same four requests, the sale's own SQL
        behind a bare aiohttp handler, nothing else) on the bench data, before the store starts:
        no worker of the store's may process its orders while it is measured. The outbox jobs and
        stock pushes its sales wrote are then dropped, so that the store does not start with a
        backlog of them."""
        ceiling = harness.start(["-m", "bench.checkout_ceiling", "--port", str(port := harness.free_port()),
                                 "--database-url", database_url], logs / "checkout-ceiling.log", port)
        try:
            await harness.wait_http(f"{ceiling.url}/healthz", proc=ceiling.proc)
            self.checkout_top = await self.checkout_once(ceiling, pool, "distinct", 840_000_000)
        finally:
            ceiling.stop()
        await pool.execute("DELETE FROM outbox_events WHERE delivered_at IS NULL")
        await pool.execute("DELETE FROM pending_pushes")

    async def checkout(self, store: harness.Process, pool: asyncpg.Pool) -> None:
        """The store's checkout: distinct products, then 20 contended ones (these run out of stock:
        20 × 300 units), read against the checkout ceiling measured before the store started."""
        out: dict[str, Any] = {}
        for mode in ("distinct", "contended"):
            result = await self.checkout_once(store, pool, mode, 810_000_000 if mode == "distinct" else 820_000_000)
            out[mode] = result
            label = "32 customers, distinct products" if mode == "distinct" else "32 customers on 20 products"
            self.row(f"checkout ({label})", f"{result['orders_per_s']:,.0f} orders/s, p99 {result['p99_ms']:.0f} ms",
                     "aim ≥300 orders/s" if mode == "distinct" else "")
            self.row(f"checkout ({mode}): CPU per order, store process / PostgreSQL",
                     f"{result['server_cpu_ms_per_order']:.2f} / {result['postgres_cpu_ms_per_order']:.2f} ms")
            taken = result["stock_before"] - result["stock_after"]
            self.row(f"checkout ({mode}): units sold vs stock moved",
                     f"{result['units_sold']} sold = {taken} taken: {'exact' if result['exact'] else 'NOT EXACT'}")
            self.row(f"checkout ({mode}): 409 / 5xx / load-gen CPU",
                     f"{result['conflicts']:.0f} / {result['errors_5xx']:.0f} / {result['loadgen_cpu_percent']:.0f}%")
        top = self.checkout_top
        out["ceiling"] = top
        ratio = out["distinct"]["orders_per_s"] / max(top["orders_per_s"], 1e-9)
        out["distinct"]["ratio_to_ceiling"] = ratio
        self.row("checkout ceiling: the sale's SQL behind a bare handler",
                 f"{top['orders_per_s']:,.0f} orders/s, p99 {top['p99_ms']:.0f} ms, "
                 f"{'exact' if top['exact'] else 'NOT EXACT'}; store {ratio:.0%} of it")
        self.row("checkout ceiling: CPU per order, its process / PostgreSQL / load generator",
                 f"{top['server_cpu_ms_per_order']:.2f} / {top['postgres_cpu_ms_per_order']:.2f} ms / "
                 f"{top['loadgen_cpu_percent']:.0f}% of a core")
        self.results["checkout"] = out

    async def processes(self, pool: asyncpg.Pool, env: dict[str, str], logs: Path) -> None:
        """`run --processes N` for N = 1 and 2 (RUN_WORKER=false, one `amazing-store worker` beside):
        product page req/s (wrk) and checkout orders/s (distinct products), beside the bare aiohttp
        ceiling measured in the same run."""
        auth = f"tma {_init_data(700_000_001)}"
        product = await pool.fetchval("SELECT id FROM products ORDER BY id LIMIT 1 OFFSET 500")
        seconds = self.args.seconds
        ceiling = harness.start(["-m", "bench.ceiling", "--port", str(port := harness.free_port())],
                                logs / "ceiling.log", port)
        out: dict[str, Any] = {}
        try:
            await harness.wait_http(f"{ceiling.url}/", proc=ceiling.proc)
            top = wrk.run(f"{ceiling.url}/", seconds=seconds)
            out["ceiling"] = vars(top)
            self.row("processes: ceiling (bare aiohttp, 1 process)", f"{top.rps:,.0f} req/s, p99 {top.p99_ms:.1f} ms")
        finally:
            ceiling.stop()
        for count in (1, 2):
            # The production layout for both: web processes only (RUN_WORKER=false) and one
            # `amazing-store worker` process beside them, so the figures differ only in N.
            store_port = harness.free_port()
            web_env = {**env, "WEB_PORT": str(store_port), "RUN_WORKER": "false"}
            store = harness.start(["-m", "store.cli", "run", "--processes", str(count)],
                                  logs / f"store-{count}p.log", store_port, web_env)
            worker = harness.start(["-m", "store.cli", "worker"], logs / f"worker-{count}p.log",
                                   harness.free_port(), web_env)
            try:
                await harness.wait_http(f"{store.url}/healthz", proc=store.proc)
                reads = wrk.run(f"{store.url}/api/products/{product}", seconds=seconds, auth=auth)
                sales = await self.checkout_once(store, pool, "distinct", 830_000_000 + count * 1_000_000, worker)
                pg_ms, redis_ms = sales["postgres_cpu_ms_per_order"], sales["redis_cpu_ms_per_order"]
                rss = store.tree_rss_mb()
                out[f"{count}"] = {"product_page": vars(reads), "checkout": sales, "rss_mb": rss}
                self.row(f"processes: {count} — product page",
                         f"{reads.rps:,.0f} req/s ({reads.rps / top.rps:.0%} of the ceiling), "
                         f"p99 {reads.p99_ms:.1f} ms")
                self.row(f"processes: {count} — checkout (32 customers, distinct)",
                         f"{sales['orders_per_s']:,.0f} orders/s, p99 {sales['p99_ms']:.0f} ms, "
                         f"{'exact' if sales['exact'] else 'NOT EXACT'}, 5xx {sales['errors_5xx']:.0f}")
                self.row(f"processes: {count} — server CPU per order (4 requests)",
                         f"web {sales['server_cpu_ms_per_order']:.2f} ms, "
                         f"worker {sales['worker_cpu_ms_per_order']:.2f} ms, "
                         f"PostgreSQL {pg_ms:.2f} ms, Redis {redis_ms:.2f} ms",
                         f"one core of each: ≤{1000 / max(pg_ms, 1e-9):,.0f} / "
                         f"≤{1000 / max(redis_ms, 1e-9):,.0f} orders/s")
                self.row(f"processes: {count} — RSS by process",
                         ", ".join(f"{name.split(':')[0]} {mb:.0f} MB" for name, mb in rss.items())
                         + f"; worker {worker.rss_mb():.0f} MB")
            finally:
                store.stop()
                worker.stop()
        self.results["processes"] = out

    async def run(self) -> None:
        settings = load_settings()
        bench_settings = settings.model_copy(update={"data_dir": settings.data_dir.resolve() / "bench"})
        async with runtime.servers(bench_settings) as endpoints:
            if set(self.args.only) - {"scale"}:
                await self.run_parts(endpoints, bench_settings)
            if "scale" in self.args.only:
                await self.run_scale(endpoints, bench_settings.data_dir / "logs")
        RESULTS.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        for name in (f"{stamp}.json", "latest.json"):
            (RESULTS / name).write_text(json.dumps(self.results, indent=2, default=str))
        print(f"\nresults written to {RESULTS / (stamp + '.json')}")

    async def run_scale(self, endpoints: runtime.Endpoints, logs: Path) -> None:
        """The 10x catalog through the sync: its own database and sandboxes (bench.scale_bench)."""
        database_url = await _fresh_database(endpoints.database_url, "_bench_scale")
        async with runtime.database(runtime.Endpoints(database_url, endpoints.redis_url, False, False)) as pool:
            sandboxes = sync_bench.start_sandboxes(logs / "sandboxes-scale.log")
            keybox = KeyBox((SecretStr(Fernet.generate_key().decode()),))
            try:
                await sandboxes.wait_ready()
                await scale_bench.ScaleBench(self.row, self.results, pool, endpoints.redis_url, keybox,
                                             sandboxes, self.args).run()
            finally:
                sandboxes.process.stop()

    async def run_parts(self, endpoints: runtime.Endpoints, bench_settings: Settings) -> None:
        """Every part but scale, on the 10,000-product bench data."""
        database_url = await _fresh_database(endpoints.database_url)
        async with runtime.database(runtime.Endpoints(database_url, endpoints.redis_url, False, False)) as pool:
            logs = bench_settings.data_dir / "logs"
            # The marketplaces' sandboxes (own process, documented limits on) and the Telegram
            # Bot API the store talks to (own process, answers ok at once).
            sandboxes = sync_bench.start_sandboxes(logs / "sandboxes.log")
            telegram = harness.start(["-m", "bench.fake_telegram", "--port", str(tg := harness.free_port())],
                                     logs / "telegram.log", tg)
            secret_key = Fernet.generate_key().decode()  # the store's SECRET_KEYS: it decrypts the API keys
            keybox = KeyBox((SecretStr(secret_key),))
            try:
                await sandboxes.wait_ready()
                t = time.monotonic()
                counts = await data.load(pool, products=self.args.products, orders=self.args.orders,
                                         marketplace_urls=sandboxes.api_urls, keybox=keybox)
                self.row("bench data loaded", f"{counts['products']:,} products, {counts['orders']:,} orders, "
                         f"{counts['mappings']:,} mappings in {time.monotonic() - t:.0f} s")
                t = time.monotonic()
                seeded = await sync_bench.seed_sandboxes(pool, sandboxes)
                self.row("sandboxes seeded (control API)", ", ".join(f"{s} {n:,}" for s, n in seeded.items())
                         + f" in {time.monotonic() - t:.0f} s", "documented rate limits on")
                await harness.wait_http(f"{telegram.url}/_stats", proc=telegram.proc)
                env = {
                    "DATABASE_URL": database_url, "REDIS_URL": endpoints.redis_url, "BOT_TOKEN": BOT_TOKEN,
                    "TELEGRAM_API_URL": telegram.url, "WEB_HOST": "127.0.0.1", "RUN_WORKER": "true",
                    "LOG_LEVEL": "WARNING", "WRITE_RATE_LIMIT": "1000000/1", "SECRET_KEYS": secret_key,
                    "DATA_DIR": str(bench_settings.data_dir / "store"),
                }
                sync = sync_bench.SyncBench(self.row, self.results, pool, endpoints.redis_url, keybox,
                                            sandboxes, self.args, BOT_TOKEN)
                if set(self.args.only) - {"faults", "scale"}:
                    await self.run_store(pool, env, logs, sync)
                self.results["telegram_calls"] = await _telegram_calls(telegram)
                if "faults" in self.args.only:
                    # Its own store and Redis, once the other store has stopped (one outbox, one worker).
                    await faults.FaultsBench(self.row, self.results, pool, sandboxes, telegram.url, env,
                                             bench_settings.data_dir, logs, self.args, BOT_TOKEN).run()
            finally:
                sandboxes.process.stop()
                telegram.stop()

    async def run_store(self, pool: asyncpg.Pool, env: dict[str, str], logs: Path, sync: sync_bench.SyncBench) -> None:
        """Start the store under test (`amazing-store run`, worker included) and run every benchmark."""
        ceiling = harness.start(["-m", "bench.ceiling", "--port", str(port := harness.free_port())],
                                logs / "ceiling.log", port)
        if "checkout" in self.args.only:
            await self.checkout_ceiling(pool, env["DATABASE_URL"], logs)
        store_port = harness.free_port()
        started = time.monotonic()
        store = harness.start(["-m", "store.cli", "run"], logs / "store.log", store_port,
                              {**env, "WEB_PORT": str(store_port)})
        try:
            await harness.wait_http(f"{ceiling.url}/", proc=ceiling.proc)
            ready = await harness.wait_http(f"{store.url}/healthz", proc=store.proc)
            ready = time.monotonic() - started
            self.results["startup_seconds"] = ready
            self.row("footprint: `amazing-store run` to /healthz 200", f"{ready:.2f} s (existing database)")
            steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
                ("reads", lambda: self.catalog_reads(store, ceiling, pool)),
                ("checkout", lambda: self.checkout(store, pool)),
                ("push", sync.push),  # 3: full pushes against the bound, then the delta run
                ("import", sync.order_import),  # 5
                ("propagation", lambda: sync.propagation(store)),  # 4: last, it turns auto sync on
            ]
            async with sync:
                for name, step in steps:
                    if name in self.args.only:
                        await step()
            if "footprint_rss_mb_after_reads" in self.results:
                self.row("footprint: store RSS after catalog + reads",
                         f"{self.results['footprint_rss_mb_after_reads']:.0f} MB")
        finally:
            store.stop()
            ceiling.stop()
        if "processes" in self.args.only:  # stores of its own, one after the other, on the same data
            await self.processes(pool, env, logs)


async def _telegram_calls(telegram: harness.Process) -> dict[str, int]:
    async with aiohttp.ClientSession() as session, session.get(f"{telegram.url}/_stats") as response:
        calls: dict[str, int] = await response.json()
        return calls


def _parts(value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in names if name not in PARTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown part(s) {', '.join(unknown) or '(none)'}; "
                                         f"the parts are {', '.join(PARTS)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--seconds", type=int, default=8, help="duration of each load run")
    parser.add_argument("--products", type=int, default=data.PRODUCTS)
    parser.add_argument("--orders", type=int, default=data.ORDERS)
    parser.add_argument("--only", type=_parts, default=DEFAULT_PARTS, metavar="NAME[,NAME]",
                        help=f"run only these parts: {', '.join(PARTS)} (default: all but scale)")
    sync_bench.add_arguments(parser)
    scale_bench.add_arguments(parser)
    faults.add_arguments(parser)
    args = parser.parse_args()
    if {"reads"} & set(args.only) and not wrk.available():
        sys.exit("bench: wrk is not installed (make bench installs Debian's wrk when it can)")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from store.logs import setup_logging

    setup_logging(30)
    print(f"{'benchmark':<60} {'figure':<34} aim")
    asyncio.run(Bench(args).run())


if __name__ == "__main__":
    main()
