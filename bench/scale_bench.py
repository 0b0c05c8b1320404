"""The 10x catalog through the sync (issue #11): 100,000 products, each mapped on Uzum, Wildberries
and Ozon, pushed in full against the sandboxes, each run beside its rate-limit lower bound
(`sync_bench.minimum_calls` / `lower_bound`).

`python -m bench --only scale` (not in the default set: about 10 minutes). Its own database
(`<db>_bench_scale`, dropped and created again) and its own sandboxes' process, so it never touches
the other parts' data or figures. The pushes run from the bench process with the worker's
dependencies (`SyncBench.deps`: one HTTP session, the Redis rate limiter), the marketplaces at once
as the worker runs them (each its own job), in two phases:

* **Real limits**: Uzum stocks, Wildberries prices ‖ stocks, Ozon prices, at the documented limits
  (the sandboxes' and ours, `sync.ratelimit.DEFAULT_LIMITS`).
* **Time-compressed**: Uzum prices (one call per product: 100,000 calls at 5/s are 5.6 hours) and
  Ozon stocks (1,000 calls at 80/min, 11.5 minutes), with every rate of those marketplaces
  multiplied by K (`--scale-factor`) on both sides: the sandbox's (`configure_limits`, per group)
  and ours (the marketplace's `rate_limits` setting, as `amazing-store marketplace set` writes it).
  Bursts stay as they are: that compresses time by exactly K (the bound is `(calls - burst) / rate`),
  where the sandbox's own `scale` would also multiply the bursts. The bound at the real limits is
  K times the compressed one, printed beside it; the ratio push/bound is what carries over, as long
  as our side keeps up with K times the real rate (the rows say how many calls a second it made).

Also measured: reading the 100,000 candidates of a full run and of a delta run from PostgreSQL
(`marketplace_products.price_candidates` / `stock_candidates`, with decoding), the bench process's
CPU and peak RSS during each phase, and the sandboxes' CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import asyncpg
import psutil

from bench import data, sync_bench
from bench.sync_bench import SLUGS, Bound, Report, Run, SyncBench
from db.repos import marketplace_products
from store.crypto import KeyBox
from store.services import marketplace_admin
from sync.ratelimit import DEFAULT_LIMITS
from sync.sandbox.common import CallLog

PRODUCTS = 100_000
FACTOR = 100
# What runs in each phase: slug -> sync types (a marketplace's types together, as in sync_bench).
REAL: dict[str, tuple[str, ...]] = {"uzum": ("stock",), "wildberries": ("price", "stock"), "ozon": ("price",)}
COMPRESSED: dict[str, tuple[str, ...]] = {"uzum": ("price",), "ozon": ("stock",)}
LOG_KEEPS = CallLog().records.maxlen or 0  # the sandbox's call log keeps the last N calls (for timelines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scale simulation (--only scale)")
    group.add_argument("--scale-products", type=int, default=PRODUCTS,
                       help="products in the scale simulation, each mapped on the three marketplaces")
    group.add_argument("--scale-factor", type=float, default=FACTOR,
                       help="K: the time-compressed runs (Uzum prices, Ozon stocks) use K times the rates")


def _long(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds:,.0f} s = {seconds / 3600:.1f} h"
    return f"{seconds:,.0f} s = {seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def _what(sync_type: str) -> str:
    return "prices" if sync_type == "price" else "stocks"


class ScaleBench:
    """`await ScaleBench(...).run()` on an empty database and fresh sandboxes; rows go to `report`,
    figures to `results["scale"]`."""

    def __init__(self, report: Report, results: dict[str, Any], pool: asyncpg.Pool, redis_url: str,
                 keybox: KeyBox, sandboxes: sync_bench.Sandboxes, args: argparse.Namespace) -> None:
        self.report = report
        self.results = results
        self.pool = pool
        self.redis_url = redis_url
        self.keybox = keybox
        self.sandboxes = sandboxes
        self.args = args
        self.products = int(args.scale_products)
        self.factor = float(args.scale_factor)
        if self.products < 1 or self.factor < 1:
            raise SystemExit("bench: --scale-products must be ≥ 1 and --scale-factor ≥ 1")
        self.out: dict[str, Any] = {"products": self.products, "factor": self.factor}

    async def run(self) -> None:
        t = time.monotonic()
        counts = await data.load(self.pool, products=self.products, orders=0,
                                 marketplace_urls=self.sandboxes.api_urls, keybox=self.keybox)
        loaded = time.monotonic() - t
        t = time.monotonic()
        seeded = await sync_bench.seed_sandboxes(self.pool, self.sandboxes)
        seeding = time.monotonic() - t
        self.out.update(load_seconds=loaded, seed_seconds=seeding, mappings=counts["mappings"], seeded=seeded)
        self.report("scale: data loaded (COPY) / sandboxes seeded",
                    f"{counts['products']:,} products, {counts['mappings']:,} mappings in {loaded:.0f} s / "
                    f"{seeding:.0f} s", "own database and sandboxes")
        try:
            async with SyncBench(self.report, {}, self.pool, self.redis_url, self.keybox, self.sandboxes,
                                 self.args, "") as sync:
                self.out["candidates_before"] = await self.candidate_reads("before the pushes")
                self.out["real"] = await self.phase(sync, REAL, 1.0)
                self.out["compressed"] = await self.phase(sync, COMPRESSED, self.factor)
                self.out["candidates_after"] = await self.candidate_reads("after the pushes")
            self.verdict()
        finally:
            self.results["scale"] = self.out

    # --- reads -----------------------------------------------------------------------------------

    async def candidate_reads(self, when: str) -> dict[str, Any]:
        """The SELECT every run starts with (read and decoded into SyncCandidate), full and delta."""
        out: dict[str, Any] = {}
        for full in (True, False):
            kind = "full" if full else "delta"
            times: dict[str, float] = {}
            rows: dict[str, int] = {}
            for slug in SLUGS:
                mid = await self.pool.fetchval("SELECT id FROM marketplaces WHERE slug = $1", slug)
                for sync_type, read in (("price", marketplace_products.price_candidates),
                                        ("stock", marketplace_products.stock_candidates)):
                    t = time.perf_counter()
                    found = await read(self.pool, mid, full=full)
                    times[f"{slug} {sync_type}"] = time.perf_counter() - t
                    rows[f"{slug} {sync_type}"] = len(found)
            slowest = max(times, key=lambda k: times[k])
            out[kind] = {"seconds": times, "rows": rows}
            self.report(f"scale: {kind} candidate read, {when}",
                        f"max {times[slowest]:.2f} s ({slowest}, {rows[slowest]:,} rows)",
                        f"6 reads, {sum(times.values()):.1f} s in all; read + decode")
        return out

    # --- pushes ----------------------------------------------------------------------------------

    async def _limits(self, sync: SyncBench, slug: str, factor: float) -> dict[str, dict[str, Any]]:
        """Set both sides' limits of `slug` to the documented ones with every rate × `factor` (bursts
        kept); returns what the sandbox then enforces."""
        control = sync.control(slug)
        defaults: dict[str, dict[str, Any]] = (await control.configure_limits())["defaults"]
        groups = {group: {"requests": float(spec["requests"]) * factor, "period": float(spec["period"]),
                          "burst": int(spec["burst"])} for group, spec in defaults.items()}
        enforced: dict[str, dict[str, Any]] = (await control.configure_limits(groups=groups))["groups"]
        ours = "" if factor == 1 else json.dumps({g: groups[g] for g in DEFAULT_LIMITS[slug] if g in groups})
        await marketplace_admin.configure(self.pool, slug, {"rate_limits": ours})
        return enforced

    async def phase(self, sync: SyncBench, plan: Mapping[str, Sequence[str]], factor: float) -> dict[str, Any]:
        compressed = factor != 1
        label = f"time ×1/{factor:g}" if compressed else "real limits"
        enforced = {slug: await self._limits(sync, slug, factor) for slug in plan}
        me, sandbox = psutil.Process(os.getpid()), psutil.Process(self.sandboxes.process.proc.pid)
        me.cpu_percent()
        sandbox.cpu_percent()
        peak = start_rss = me.memory_info().rss
        sampling = True

        async def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, me.memory_info().rss)
                await asyncio.sleep(0.25)

        sampler = asyncio.create_task(sample())
        started = time.monotonic()
        try:
            measured = await asyncio.gather(*(sync._measure(slug, list(types), full=True)
                                              for slug, types in plan.items()))
        finally:
            wall = time.monotonic() - started
            sampling = False
            await sampler
            if compressed:
                for slug in plan:
                    await self._limits(sync, slug, 1.0)
        cpu = {"bench": me.cpu_percent(), "sandboxes": sandbox.cpu_percent()}
        out: dict[str, Any] = {"factor": factor, "wall_seconds": wall, "cpu_percent": cpu,
                               "bench_rss_mb_at_start": start_rss / 2**20, "bench_peak_rss_mb": peak / 2**20,
                               "limits": enforced, "runs": []}
        worst = 0.0
        for (slug, _), (runs, _, _) in zip(plan.items(), measured, strict=True):
            for run in runs:
                worst = max(worst, self._row(run, enforced[slug], factor, label, out))
        self.report(f"scale: {label} phase ({', '.join(plan)} at once)",
                    f"{wall:.1f} s wall; bench CPU {cpu['bench']:.0f}%, sandboxes {cpu['sandboxes']:.0f}%",
                    f"bench RSS {start_rss / 2**20:.0f} MB at the start, peak {peak / 2**20:.0f} MB "
                    "(the process running run_sync; it also loaded the data)")
        return out

    def _row(self, run: Run, limits: Mapping[str, Mapping[str, Any]], factor: float, label: str,
             out: dict[str, Any]) -> float:
        calls, what, groups = sync_bench.minimum_calls(run.slug, run.sync_type, self.products)
        bound: Bound = sync_bench.lower_bound(calls, what, limits, groups)
        if run.calls > LOG_KEEPS:  # the sandbox kept only the last calls: no timeline
            run.before_first_call = run.calls_span = run.after_last_call = 0.0
        ratio = run.seconds / bound.seconds if bound.seconds >= 1.0 else math.nan
        rate = run.calls / run.seconds if run.seconds else 0.0
        name = f"scale: {run.slug} {_what(run.sync_type)} ({self.products:,} products, {label})"
        value = (f"{run.seconds:.1f} s = {ratio:.2f}× bound" if bound.seconds >= 1.0
                 else f"{run.seconds:.1f} s (no rate wait)")
        note = "" if run.status == "success" else f" [{run.status}: {run.failed} failed; {(run.message or '')[:100]}]"
        self.report(name, value + note, ("aim ≤1.10×; " if bound.seconds >= 1.0 else "") + bound.text)
        real_bound = bound.seconds * factor
        extra = f"; real limits: bound ≥{_long(real_bound)}" if factor != 1 else ""
        self.report(f"  {run.slug} {_what(run.sync_type)}: calls (minimum) / 429s / calls per s",
                    f"{run.calls:,} ({bound.calls:,}) / {run.rate_limited} / {rate:,.1f}",
                    f"K = {factor:g}{extra}" if factor != 1 else
                    (f"{run.before_first_call:.2f} s to the first call, {run.calls_span:.2f} s of calls"
                     if run.calls_span else ""))
        out["runs"].append({**asdict(run), "bound": asdict(bound), "ratio": ratio, "calls_per_second": rate,
                            "real_limit_bound_seconds": real_bound, "items": self.products})
        return 0.0 if math.isnan(ratio) else ratio

    def verdict(self) -> None:
        """One row: what binds at 10x, from the ratios and the reads."""
        runs = [r for phase in ("real", "compressed") for r in self.out[phase]["runs"]]
        bounded = [r for r in runs if r["bound"]["seconds"] >= 1.0]
        over = [f"{r['slug']} {_what(r['sync_type'])} {r['ratio']:.2f}× ("
                + (f"{r['before_first_call']:.1f} s before the first call, {r['calls_span']:.1f} s of calls"
                   if r["calls_span"] else f"{r['calls_per_second']:,.0f} calls/s")
                + f", bound {r['bound']['seconds']:.0f} s)" for r in bounded if r["ratio"] > 1.10]
        slowest = max(runs, key=lambda r: r["real_limit_bound_seconds"])
        reads = self.out["candidates_before"]["full"]["seconds"]
        self.out["verdict"] = {"over_aim": over, "slowest_at_real_limits": f"{slowest['slug']} {slowest['sync_type']}",
                               "slowest_real_bound_seconds": slowest["real_limit_bound_seconds"],
                               "max_full_candidate_read_seconds": max(reads.values())}
        within = len(bounded) - len(over)
        binds = (f"{within} of {len(bounded)} pushes within 1.10× of their rate-limit bound"
                 + (f"; over it: {', '.join(over)}" if over else ""))
        self.report("scale: pushes against their bounds at 10x", binds,
                    f"slowest at the real limits: {slowest['slug']} {_what(slowest['sync_type'])}, "
                    f"≥{_long(slowest['real_limit_bound_seconds'])}")
