"""Faults and bursts (issue #13): marketplace convergence and Telegram delivery after a burst of
orders with admins set, and after a Redis outage, with the store, its Redis, the marketplaces'
sandboxes and the Bot API each a process of their own.

* The store under test is `amazing-store run` (worker inside, RUN_WORKER=true) with two admins in
  ADMIN_IDS, its bot pointed at bench.fake_telegram (which enforces Telegram's one message a
  second per chat and ~30 a second overall with 429 + retry_after, and records what each chat
  got), auto sync on for the three sandboxes (documented rate limits on), every product mapped.
* Its Redis is one of the bench's own (store.embedded.EmbeddedRedis under DATA_DIR/bench/faults),
  so the bench can SIGKILL it and start it again on the same port, as a crash and a restart do.
  The other bench parts' store must not be running then: two workers on one database would share
  the outbox. __main__ runs this part after that store stopped.

(a) **Burst**: N Mini App orders (default 480) in S seconds (30), open loop, each a different
customer, spread over P products (100). Measured from the last order's 201: the time until every
marketplace shows every sold product's final master stock (the sandboxes' stock lookup, polled),
the time until both admins have been told of every order (a "N ta yangi buyurtma" summary counts N,
a single "Yangi buyurtma" card counts 1) and how many messages each got, and the time until every
customer got "order placed".

(b) **Redis outage**: Redis SIGKILLed, M sales (50) at an even pace while it is away, started again
after T seconds (10). /healthz is polled throughout (200 "degraded" expected while Redis is away,
"ok" after). Measured from Redis's return: every marketplace converging, every customer's "order
placed" and both admins' alerts for the M orders.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import signal
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from bench import harness, sync_bench
from bench.checkout_load import init_data
from store.embedded import EmbeddedRedis
from sync.sandbox import SandboxControl

Report = Callable[[str, str, str], None]

ADMINS = (990_000_001, 990_000_002)
FIRST_CUSTOMER = 860_000_000
FAULT_STOCK = 1000  # master stock of the products this part sells, set before it starts
POLL = 0.1  # seconds between two looks at the sandboxes and the Bot API's messages
SETTLE_TIMEOUT = 600.0  # the longest a phase waits for convergence and delivery before it gives up
_BATCH = re.compile(r"(\d+) ta yangi buyurtma|Новых заказов: (\d+)")
_SINGLE = ("Yangi buyurtma", "Новый заказ")
_PLACED = ("Buyurtmangiz qabul qilindi", "Ваш заказ принят")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("faults and bursts (issue #13)")
    group.add_argument("--burst-orders", type=int, default=480, help="Mini App orders in the burst")
    group.add_argument("--burst-seconds", type=float, default=30.0, help="seconds the burst's orders are spread over")
    group.add_argument("--burst-products", type=int, default=100, help="products the burst's orders are spread over")
    group.add_argument("--outage-sales", type=int, default=50, help="sales while Redis is away")
    group.add_argument("--outage-seconds", type=float, default=10.0, help="seconds Redis is away")


def orders_told(text: str) -> int:
    """How many new orders an admin message tells of (0: it is not a new-order alert)."""
    batch = _BATCH.search(text)
    if batch:
        return int(batch.group(1) or batch.group(2))
    return 1 if any(marker in text for marker in _SINGLE) else 0


def states(checks: Sequence[tuple[float, int, str]]) -> str:
    """/healthz answers as "200 degraded ×19, 200 ok ×2"."""
    seen = sorted({(status, body) for _, status, body in checks})
    return ", ".join(f"{status} {body} ×{sum(1 for c in checks if (c[1], c[2]) == (status, body))}"
                     for status, body in seen) or "none"


def _percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


class FaultsBench:
    def __init__(self, report: Report, results: dict[str, Any], pool: asyncpg.Pool, sandboxes: sync_bench.Sandboxes,
                 telegram_url: str, env: dict[str, str], data_dir: Path, logs: Path, args: argparse.Namespace,
                 bot_token: str) -> None:
        self.report, self.results, self.pool, self.sandboxes = report, results, pool, sandboxes
        self.telegram_url, self.env, self.data_dir, self.logs = telegram_url, env, data_dir, logs
        self.args, self.bot_token = args, bot_token
        self.redis_server = EmbeddedRedis(data_dir / "faults")
        self._session: aiohttp.ClientSession | None = None
        self._redis: ArqRedis | None = None
        self.store: harness.Process | None = None
        self.stock_key: dict[tuple[str, int], str] = {}
        self.out: dict[str, Any] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None
        return self._session

    @property
    def redis(self) -> ArqRedis:
        assert self._redis is not None
        return self._redis

    # --- processes -----------------------------------------------------------------------------

    def kill_redis(self) -> None:
        process = self.redis_server._process
        assert process is not None, "the bench started this Redis"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    async def run(self) -> None:
        await asyncio.to_thread(self.redis_server.start)
        self._session = aiohttp.ClientSession()
        try:
            self._redis = await create_pool(RedisSettings.from_dsn(self.redis_server.url))
            await self.redis.flushall()  # the data dir is kept between bench runs: start empty
            port = harness.free_port()
            self.store = harness.start(["-m", "store.cli", "run"], self.logs / "store-faults.log", port, {
                **self.env, "WEB_PORT": str(port), "REDIS_URL": self.redis_server.url, "RUN_WORKER": "true",
                "ADMIN_IDS": ",".join(map(str, ADMINS)), "DATA_DIR": str(self.data_dir / "faults-store"),
                # INFO: every push and deferral is in logs/store-faults.log, to explain the figures
                "LOG_LEVEL": "INFO"})
            await harness.wait_http(f"{self.store.url}/healthz", proc=self.store.proc)
            products = await self._products()
            burst_ids = products[:self.args.burst_products]
            outage_ids = products[self.args.burst_products:]
            await self.pool.execute("UPDATE products SET stock_quantity = $2 WHERE id = any($1::int[])",
                                    products, FAULT_STOCK)
            # What the earlier parts left (pushes settle at once while auto sync is off), then go.
            await sync_bench.drain(self.pool, self.redis)
            await self.pool.execute("UPDATE marketplaces SET auto_sync_enabled = true")
            for slug in sync_bench.SLUGS:
                await SandboxControl(self.session, self.sandboxes.base(slug)).configure_limits()
            await self.burst(burst_ids)
            await self.outage(outage_ids)
        finally:
            await self.pool.execute("UPDATE marketplaces SET auto_sync_enabled = false")
            if self.store is not None:
                self.store.stop()
            if self._redis is not None:
                await self._redis.aclose()
            await self._session.close()
            await asyncio.to_thread(self.redis_server.stop)
        self.results["faults"] = self.out

    async def _products(self) -> list[int]:
        """Products apart from the other parts' (ids 3101 on, where the catalog has them), mapped on
        every marketplace; their keys in the sandboxes' stock lookup."""
        wanted = self.args.burst_products + self.args.outage_sales
        ids = [r["id"] for r in await self.pool.fetch(
            """SELECT p.id FROM products p WHERE (SELECT count(*) FROM marketplace_products mp
                 WHERE mp.product_id = p.id AND mp.is_active) = 3
               ORDER BY p.id > 3100 DESC, p.id LIMIT $1""", wanted)]
        if len(ids) < wanted:
            raise SystemExit(f"bench faults: needs {wanted} products mapped on all three marketplaces")
        rows = await self.pool.fetch(
            """SELECT mp.product_id, m.slug, mp.marketplace_keys AS keys FROM marketplace_products mp
               JOIN marketplaces m ON m.id = mp.marketplace_id WHERE mp.product_id = any($1::int[])""", ids)
        for row in rows:
            keys = row["keys"]
            self.stock_key[(row["slug"], row["product_id"])] = str(
                keys["barcode"] if row["slug"] == "uzum" else keys["chrt_id"] if row["slug"] == "wildberries"
                else keys["offer_id"])
        return ids

    # --- the pieces each phase uses ------------------------------------------------------------------

    async def sell(self, customer: int, product_id: int) -> tuple[float | None, str]:
        """One Mini App order (cart, then checkout): the wall time of its 201, or None and why not."""
        assert self.store is not None
        auth = {"Authorization": f"tma {init_data(self.bot_token, customer)}"}
        try:
            async with self.session.put(f"{self.store.url}/api/cart/items/{product_id}", json={"quantity": 1},
                                        headers=auth) as response:
                await response.read()
                if response.status >= 300:
                    return None, f"cart {response.status}"
            async with self.session.post(f"{self.store.url}/api/orders", json=sync_bench.CHECKOUT_BODY,
                                         headers={**auth, "Idempotency-Key": uuid.uuid4().hex}) as response:
                await response.read()
                if response.status != 201:
                    return None, f"checkout {response.status}"
                return time.time(), ""
        except aiohttp.ClientError as exc:
            return None, type(exc).__name__

    async def sell_paced(self, customers: Sequence[int], products: Sequence[int], seconds: float,
                         ) -> tuple[dict[int, float], list[str]]:
        """Open loop: sale i starts at i × seconds / n whatever the earlier ones are doing."""
        answered: dict[int, float] = {}
        failures: list[str] = []

        async def one(customer: int, product_id: int) -> None:
            at, why = await self.sell(customer, product_id)
            if at is None:
                failures.append(f"customer {customer}: {why}")
            else:
                answered[customer] = at

        started = time.monotonic()
        interval = seconds / max(1, len(customers))
        tasks = []
        for i, (customer, product_id) in enumerate(zip(customers, products, strict=True)):
            await asyncio.sleep(max(0.0, started + i * interval - time.monotonic()))
            tasks.append(asyncio.create_task(one(customer, product_id)))
        await asyncio.gather(*tasks)
        return answered, failures

    async def messages(self) -> dict[int, list[dict[str, Any]]]:
        async with self.session.get(f"{self.telegram_url}/_messages") as response:
            body: dict[str, list[dict[str, Any]]] = await response.json()
        return {int(chat): items for chat, items in body.items()}

    async def telegram_stats(self) -> dict[str, int]:
        async with self.session.get(f"{self.telegram_url}/_stats") as response:
            stats: dict[str, int] = await response.json()
            return stats

    async def settle(self, products: Sequence[int], customers: Sequence[int], orders: int) -> dict[str, Any]:
        """Wait until every marketplace shows the products' master stock, every customer got "order
        placed" and both admins were told of `orders` new orders (or SETTLE_TIMEOUT). Returns the wall
        times each happened at (None: not within the timeout) and what the chats got."""
        final = {r["id"]: int(r["stock_quantity"]) for r in await self.pool.fetch(
            "SELECT id, stock_quantity FROM products WHERE id = any($1::int[])", list(products))}
        converged: dict[str, float | None] = {slug: None for slug in sync_bench.SLUGS}
        wrong: dict[str, int] = {}
        deadline = time.monotonic() + SETTLE_TIMEOUT
        chats: dict[int, list[dict[str, Any]]] = {}
        while True:
            for slug in sync_bench.SLUGS:
                if converged[slug] is not None:
                    continue
                keys = {self.stock_key[(slug, pid)]: pid for pid in products}
                levels = await SandboxControl(self.session, self.sandboxes.base(slug)).stock(list(keys))
                wrong[slug] = sum(1 for key, pid in keys.items() if levels.get(key) != final[pid])
                if not wrong[slug]:
                    converged[slug] = time.time()
            chats = await self.messages()
            told = {admin: sum(orders_told(m["text"]) for m in chats.get(admin, [])) for admin in ADMINS}
            placed = sum(1 for c in customers if any(any(p in m["text"] for p in _PLACED) for m in chats.get(c, [])))
            done = all(at is not None for at in converged.values()) and placed == len(customers) \
                and all(count >= orders for count in told.values())
            if done or time.monotonic() > deadline:
                break
            await asyncio.sleep(POLL)
        return {"converged_at": converged, "not_converged": {s: n for s, n in wrong.items() if converged[s] is None},
                "chats": chats, "final_stock": final}

    def delivery(self, chats: dict[int, list[dict[str, Any]]], customers: Sequence[int], orders: int,
                 ) -> dict[str, Any]:
        """From what the Bot API delivered: when each admin had been told of `orders` orders, how many
        messages they got, when each customer got "order placed"."""
        admins: dict[str, Any] = {}
        for admin in ADMINS:
            count, told_at, alerts = 0, None, 0
            for message in sorted(chats.get(admin, []), key=lambda m: float(m["at"])):
                told = orders_told(message["text"])
                alerts += 1 if told else 0
                count += told
                if told_at is None and count >= orders:
                    told_at = float(message["at"])
            admins[str(admin)] = {"told_of": count, "all_told_at": told_at, "messages": len(chats.get(admin, [])),
                                  "alert_messages": alerts}
        placed: dict[int, float] = {}
        for customer in customers:
            times = [float(m["at"]) for m in chats.get(customer, []) if any(p in m["text"] for p in _PLACED)]
            if times:
                placed[customer] = min(times)
        return {"admins": admins, "placed_at": placed}

    async def relay_lag(self, since: float) -> dict[str, Any]:
        """Seconds from each new-order event's commit to its delivery into Redis, for events since `since`."""
        rows = await self.pool.fetch(
            """SELECT extract(epoch FROM delivered_at - created_at)::float8 AS lag FROM outbox_events
               WHERE job_name = 'notify_order_created' AND delivered_at IS NOT NULL
                 AND created_at >= to_timestamp($1) AT TIME ZONE 'UTC'""", since)
        lags = [float(r["lag"]) for r in rows]
        return {"events": len(lags), "p50": _percentile(lags, 0.5), "max": max(lags, default=math.nan)}

    # --- (a) the burst -----------------------------------------------------------------------------

    async def burst(self, products: Sequence[int]) -> None:
        count, seconds = self.args.burst_orders, self.args.burst_seconds
        customers = [FIRST_CUSTOMER + i for i in range(count)]
        targets = [products[i % len(products)] for i in range(count)]
        async with self.session.post(f"{self.telegram_url}/_reset") as response:
            await response.read()
        assert self.store is not None
        self.store.cpu_percent()
        answered, failures = await self.sell_paced(customers, targets, seconds)
        cpu_selling = self.store.cpu_percent()
        if not answered:
            self.report("faults: burst", f"no order placed: {failures[:3]}", "")
            return
        first, last = min(answered.values()), max(answered.values())
        settled = await self.settle(sorted(set(targets)), list(answered), len(answered))
        delivered = self.delivery(settled["chats"], list(answered), len(answered))
        stats = await self.telegram_stats()
        out: dict[str, Any] = {"orders": len(answered), "failures": failures, "selling_seconds": last - first,
                               "store_cpu_percent_selling": cpu_selling, "products": len(set(targets)),
                               "telegram_429s": stats.get("rate_limited", 0),
                               "not_converged": settled["not_converged"]}
        label = f"{len(answered)} orders in {last - first:.0f} s, {len(set(targets))} products, 2 admins"
        self.report(f"faults: burst of {label}", f"{len(failures)} refused" if failures else "all 201",
                    f"store CPU {cpu_selling:.0f}% while selling")
        out["converged_after_last_sale"] = self._convergence_rows("burst", settled, last,
                                                                   "after the last sale")
        self._delivery_rows("burst", delivered, answered, last, "after the last sale", out)
        relay = await self.relay_lag(first - 1.0)
        out["relay_lag"] = relay
        self.report("  burst: new-order events, commit → in Redis (the outbox relay)",
                    f"p50 {relay['p50']:.2f} s, max {relay['max']:.2f} s", f"{relay['events']} events")
        self.report("  burst: Bot API 429s: per chat / overall", f"{stats.get('rate_limited_chat', 0)} / "
                    f"{stats.get('rate_limited_overall', 0)}", "Telegram's 1 msg/s per chat, ~30/s overall")
        for failure in failures[:3]:
            self.report("  burst problem", failure, "")
        self.out["burst"] = out

    def _convergence_rows(self, phase: str, settled: dict[str, Any], since: float, what: str,
                          ) -> dict[str, float | None]:
        figures: dict[str, float | None] = {}
        for slug, at in settled["converged_at"].items():
            figures[slug] = None if at is None else max(0.0, at - since)
        value = ", ".join(f"{slug} {'never' if s is None else f'{s:.1f} s'}" for slug, s in figures.items())
        missing = settled["not_converged"]
        if missing:
            value += f" [{', '.join(f'{s}: {n} wrong' for s, n in missing.items())} after {SETTLE_TIMEOUT:.0f} s]"
        self.report(f"  {phase}: every marketplace shows the final stock, {what}", value,
                    "Ozon takes one update per product per 30 s")
        return figures

    def _delivery_rows(self, phase: str, delivered: dict[str, Any], answered: dict[int, float], since: float,
                       what: str, out: dict[str, Any]) -> None:
        admins = delivered["admins"]
        told = [a["all_told_at"] for a in admins.values()]
        told_after = None if any(t is None for t in told) else max(float(t) for t in told) - since
        per_admin = ", ".join(f"{a['told_of']} told / {a['messages']} msgs" for a in admins.values())
        self.report(f"  {phase}: both admins told of all {len(answered)} orders, {what}",
                    "not all" if told_after is None else f"{told_after:.1f} s",
                    f"per admin: {per_admin}")
        placed: dict[int, float] = delivered["placed_at"]
        latencies = [placed[c] - answered[c] for c in answered if c in placed]
        all_placed = max(placed.values()) - since if len(placed) == len(answered) else None
        slowest = max(latencies, default=math.nan)
        self.report(f"  {phase}: every customer's \"order placed\" sent, {what}",
                    f"not all ({len(placed)} of {len(answered)})" if all_placed is None else f"{all_placed:.1f} s",
                    f"201 → message p50 {_percentile(latencies, 0.5):.1f} s, max {slowest:.1f} s")
        out.update({"admins_told_after": told_after, "admins": admins, "customers_placed_after": all_placed,
                    "customer_message_p50": _percentile(latencies, 0.5),
                    "customer_message_max": max(latencies, default=math.nan), "customers_told": len(placed)})

    # --- (b) the Redis outage ------------------------------------------------------------------------

    async def outage(self, products: Sequence[int]) -> None:
        assert self.store is not None
        count, away = self.args.outage_sales, self.args.outage_seconds
        drained = await sync_bench.drain(self.pool, self.redis)
        left = await sync_bench.backlog(self.pool, self.redis)
        customers = [FIRST_CUSTOMER + 100_000 + i for i in range(count)]
        targets = [products[i % len(products)] for i in range(count)]
        async with self.session.post(f"{self.telegram_url}/_reset") as response:
            await response.read()
        health: list[tuple[float, int, str]] = []  # (wall time, HTTP status, body status)
        watching = asyncio.Event()

        async def watch() -> None:
            assert self.store is not None
            while not watching.is_set():
                try:
                    async with self.session.get(f"{self.store.url}/healthz",
                                                timeout=aiohttp.ClientTimeout(total=5)) as response:
                        body = await response.json(content_type=None)
                        health.append((time.time(), response.status, str(body.get("status"))))
                except (aiohttp.ClientError, TimeoutError) as exc:
                    health.append((time.time(), 0, type(exc).__name__))
                await asyncio.sleep(0.5)

        watcher = asyncio.create_task(watch())
        try:
            killed = time.time()
            await asyncio.to_thread(self.kill_redis)
            # The sales fill the outage but for its last second, so none races the restart.
            answered, failures = await self.sell_paced(customers, targets, max(0.0, away - 1.0))
            await asyncio.sleep(max(0.0, killed + away - time.time()))
            await asyncio.to_thread(self.redis_server.start)
            back = time.time()
            settled = await self.settle(sorted(set(targets)), list(answered), len(answered))
            for _ in range(60):  # until /healthz says ok again (30 s at most), and two more answers
                if any(h[0] >= back and h[2] == "ok" for h in health):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)
        finally:
            watching.set()
            await watcher
        during = [h for h in health if killed + 1 <= h[0] < back]
        after = [h for h in health if h[0] >= back]
        ok_at = next((h[0] for h in after if h[2] == "ok"), None)
        delivered = self.delivery(settled["chats"], list(answered), len(answered))
        out: dict[str, Any] = {"orders": len(answered), "failures": failures, "seconds_away": back - killed,
                               "backlog_before": left, "drain_before_seconds": drained,
                               "health_during": sorted({(s, b) for _, s, b in during}),
                               "health_after": sorted({(s, b) for _, s, b in after})}
        self.report(f"faults: Redis SIGKILLed for {back - killed:.1f} s during {count} sales",
                    f"{len(answered)} orders placed" + (f", {len(failures)} refused" if failures else ""),
                    "checkout needs only PostgreSQL")
        self.report("  outage: /healthz while Redis was away / after it is back", f"{states(during)} / {states(after)}",
                    "aim 200 degraded / 200 ok" + ("" if ok_at is None else f" ({ok_at - back:.1f} s after)"))
        out["health_ok_after_redis_back"] = None if ok_at is None else ok_at - back
        out["converged_after_redis_back"] = self._convergence_rows("outage", settled, back, "after Redis is back")
        self._delivery_rows("outage", delivered, answered, back, "after Redis is back", out)
        for failure in failures[:3]:
            self.report("  outage problem", failure, "")
        self.out["redis_outage"] = out
