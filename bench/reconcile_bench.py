"""Drift reconcile benchmark (issue #12), runnable on its own:

    .venv/bin/python -m bench.reconcile_bench [--products 10000] [--drift 100]

Loads `--products` products mapped to all three marketplaces into a fresh database (embedded servers
under DATA_DIR/bench-reconcile, or `<db>_reconcile` on DATABASE_URL), starts the three sandboxes in
their own process with the documented rate limits on, seeds them with exactly our values except
`--drift` stocks and `--drift` prices per marketplace changed "by hand", then runs
`run_sync(slug, "reconcile")` per marketplace from full buckets, as the worker would. Each figure
stands beside the lower bound the marketplace's limits allow for the same calls: reading back every
mapped item (batch sizes of the read methods) plus pushing the differing ones, per rate-limit group
the burst at once and the rest at the replenish rate, the slowest group binding. It also checks the
run found exactly the drifted items and that the sandboxes hold our values afterwards. Prints one
table; writes bench/results/reconcile-<stamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bench import data, sync_bench
from bench.sync_bench import SLUGS, Bound, SyncBench, _rate_text
from db.repos import sync_logs
from store import runtime
from store.crypto import KeyBox
from store.settings import load_settings
from sync.adapters import ozon as ozon_adapter
from sync.adapters import uzum as uzum_adapter
from sync.adapters import wildberries as wb_adapter
from sync.sandbox import SandboxControl

RESULTS = Path(__file__).parent / "results"


def planned_calls(slug: str, items: int, drift: int) -> dict[str, int]:
    """The fewest calls a reconcile of `items` mappings with `drift` stocks and `drift` prices off
    makes, per rate-limit group: the read-back at the read methods' page sizes, then the fixes."""
    if slug == "uzum":
        # the stock list has no total: it ends at the first short page (an empty one after full pages)
        reads = items // uzum_adapter.STOCKS_PAGE + 1 + math.ceil(items / uzum_adapter.CATALOG_PAGE)
        fixes = drift + math.ceil(drift / uzum_adapter.STOCK_BATCH)  # prices: one call per product
        return {"default": reads + fixes}
    if slug == "wildberries":
        prices = math.ceil(items / wb_adapter.GOODS_PAGE) + 2 * math.ceil(drift / wb_adapter.PRICE_BATCH)
        stocks = math.ceil(items / wb_adapter.STOCK_BATCH) + math.ceil(drift / wb_adapter.STOCK_BATCH)
        return {"prices": prices, "stocks": stocks}
    reads = 2 * math.ceil(items / ozon_adapter.READ_LIMIT)
    price_fix = math.ceil(drift / ozon_adapter.PRICE_BATCH)
    stock_fix = math.ceil(drift / ozon_adapter.STOCK_BATCH)
    return {"global": reads + price_fix + stock_fix, "stocks": stock_fix}


def bound(calls: dict[str, int], limits: dict[str, dict[str, Any]]) -> Bound:
    worst_group, worst = next(iter(calls)), -1.0
    for group, count in calls.items():
        spec = limits[group]
        seconds = max(0, count - int(spec["burst"])) / (float(spec["requests"]) / float(spec["period"]))
        if seconds > worst:
            worst_group, worst = group, seconds
    spec = limits[worst_group]
    total = sum(calls.values()) - (calls.get("stocks", 0) if "global" in calls else 0)
    what = ", ".join(f"{group} {count}" for group, count in calls.items())
    if worst <= 0:
        return Bound(total, 0.0, f"calls {what}: within the bursts, no wait")
    return Bound(total, worst, f"calls {what}; {worst_group} burst {spec['burst']} then {_rate_text(spec)} "
                               f"→ ≥{worst:.1f} s")


async def _fresh_database(server_url: str) -> str:
    base, _, name = server_url.rpartition("/")
    bench_name = f"{name.split('?')[0]}_reconcile"
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{bench_name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{bench_name}"')
    finally:
        await conn.close()
    return f"{base}/{bench_name}"


async def seed_with_drift(pool: asyncpg.Pool, sandboxes: sync_bench.Sandboxes, drift: int) -> dict[str, set[str]]:
    """Every mapped product on its sandbox with our values, except `drift` stocks (+7) and `drift`
    prices (+1,000 so'm) per marketplace, spread over the catalogue; returns "<sku> stock|price"."""
    drifted: dict[str, set[str]] = {}
    async with aiohttp.ClientSession() as session:
        for slug in SLUGS:
            rows = await pool.fetch(
                """SELECT mp.marketplace_keys AS keys, p.sku, p.name_uz, p.price, p.sale_price, p.stock_quantity
                   FROM marketplace_products mp JOIN products p ON p.id = mp.product_id
                   JOIN marketplaces m ON m.id = mp.marketplace_id
                   WHERE m.slug = $1 AND mp.is_active ORDER BY p.id""", slug)
            step = max(1, len(rows) // max(1, drift))
            stock_off = {i for i in range(0, len(rows), step)}
            price_off = {i for i in range(step // 2, len(rows), step)}
            stock_off = set(sorted(stock_off)[:drift])
            price_off = set(sorted(price_off)[:drift])
            items = []
            for i, row in enumerate(rows):
                full, sell = int(row["price"]), int(row["sale_price"] or row["price"])
                amount = max(0, int(row["stock_quantity"])) + (7 if i in stock_off else 0)
                if i in price_off:
                    full, sell = full + 1000, sell + 1000
                keys = row["keys"]
                if slug == "uzum":
                    items.append({"productId": keys["product_id"], "skuId": keys["sku_id"],
                                  "barcode": keys["barcode"], "sellerItemCode": row["sku"],
                                  "productTitle": row["name_uz"], "fullPrice": full, "sellPrice": sell,
                                  "amount": amount})
                elif slug == "wildberries":
                    discount = wb_adapter.wb_discount(full, Decimal(sell) if sell < full else None)[0]
                    items.append({"nmID": keys["nm_id"], "vendorCode": row["sku"], "title": row["name_uz"],
                                  "price": full, "discount": discount,
                                  "sizes": [{"chrtID": keys["chrt_id"], "skus": keys.get("barcodes", []),
                                             "amount": amount}]})
                else:
                    on_sale = sell < full
                    items.append({"offer_id": keys["offer_id"], "product_id": keys["product_id"],
                                  "sku": keys["sku"], "name": row["name_uz"], "price": str(sell),
                                  "old_price": str(full) if on_sale else "0", "stock": amount})
            await SandboxControl(session, sandboxes.base(slug)).seed_catalog(
                {"cards": items} if slug == "wildberries" else {"items": items})
            drifted[slug] = ({f"{rows[i]['sku']} stock" for i in stock_off}
                             | {f"{rows[i]['sku']} price" for i in price_off})
    return drifted


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = load_settings()
    bench_settings = settings.model_copy(update={"data_dir": settings.data_dir.resolve() / "bench-reconcile"})
    results: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                               "products": args.products, "drift": args.drift}

    def row(name: str, value: str, aim: str = "") -> None:
        print(f"  {name:<52} {value:<30} {aim}", flush=True)

    async with runtime.servers(bench_settings) as endpoints:
        database_url = await _fresh_database(endpoints.database_url)
        async with runtime.database(runtime.Endpoints(database_url, endpoints.redis_url, False, False)) as pool:
            logs = bench_settings.data_dir / "logs"
            sandboxes = sync_bench.start_sandboxes(logs / "sandboxes.log")
            keybox = KeyBox((SecretStr(Fernet.generate_key().decode()),))
            try:
                await sandboxes.wait_ready()
                started = time.monotonic()
                counts = await data.load(pool, products=args.products, orders=0,
                                         marketplace_urls=sandboxes.api_urls, keybox=keybox)
                drifted = await seed_with_drift(pool, sandboxes, args.drift)
                row("data", f"{counts['mappings']:,} mappings in {time.monotonic() - started:.0f} s",
                    f"{args.drift} stocks + {args.drift} prices drifted per marketplace")
                async with SyncBench(row, results, pool, endpoints.redis_url, keybox, sandboxes, args, "-") as bench:
                    for slug in SLUGS:
                        limits = await bench.fresh_buckets(slug)
                        await bench.control(slug).clear_calls()
                        mapped = int(await pool.fetchval(
                            """SELECT count(*) FROM marketplace_products mp JOIN marketplaces m
                               ON m.id = mp.marketplace_id WHERE m.slug = $1 AND mp.is_active""", slug))
                        t = time.monotonic()
                        report = await sync_bench.run_sync(bench.deps(), slug, "reconcile")
                        seconds = time.monotonic() - t
                        entry = report.logs[0]
                        calls, limited = bench._count(await bench._calls(slug))
                        items = await sync_logs.differences(pool, entry.id)
                        found = {f"{ref} {message.split()[0]}" for ref, message, ours, _ in items if ours is not None}
                        exact = found == drifted[slug]
                        expected = bound(planned_calls(slug, mapped, args.drift), limits)
                        ratio = f" = {seconds / expected.seconds:.2f}× bound" if expected.seconds >= 1 else ""
                        row(f"reconcile {slug} ({mapped:,} SKUs)", f"{seconds:.1f} s{ratio}",
                            f"{entry.status}; {expected.text}")
                        row(f"  {slug}: calls (minimum) / 429s / found exactly the drift",
                            f"{calls} ({expected.calls}) / {limited} / {'yes' if exact else 'NO'}",
                            (entry.error_message or "")[:100])
                        results[slug] = {"seconds": seconds, "bound_seconds": expected.seconds, "bound": expected.text,
                                         "calls": calls, "minimum_calls": expected.calls, "rate_limited": limited,
                                         "status": entry.status, "found_exactly": exact, "differences": len(found),
                                         "message": entry.error_message}
            finally:
                sandboxes.process.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile_bench")
    parser.add_argument("--products", type=int, default=data.PRODUCTS, help="products mapped on each marketplace")
    parser.add_argument("--drift", type=int, default=100, help="stocks and prices changed by hand per marketplace")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"reconcile-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults written to {path}")


if __name__ == "__main__":
    main()
