"""Checkout load, run as its own process: N concurrent customers, each filling a three-item cart
and placing the order, for a fixed time. Prints one JSON line with the counts and timings.

Usage: python -m bench.checkout_load --url http://127.0.0.1:PORT --token BOT_TOKEN \
        --products 1,2,3,... --customers 32 --seconds 10 --mode distinct|contended
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid

import aiohttp
import psutil

from store.telegram_auth import sign_init_data


def init_data(token: str, telegram_id: int) -> str:
    user = {"id": telegram_id, "first_name": f"Bench{telegram_id}", "language_code": "uz"}
    return sign_init_data(token, {"auth_date": int(time.time()), "query_id": f"b{telegram_id}", "user": user})


async def customer(session: aiohttp.ClientSession, url: str, auth: str, products: list[int], deadline: float,
                   stats: dict[str, float], latencies: list[float], index: int, mode: str) -> None:
    headers = {"Authorization": f"tma {auth}"}
    body = {"customer_name": "Bench Mijoz", "customer_phone": "+998901234567",
            "delivery_address": "Toshkent, Amir Temur ko'chasi 1", "delivery_notes": ""}
    step = 0
    while time.monotonic() < deadline:
        if mode == "distinct":
            # Every customer works its own slice of the catalog: no two carts share a product.
            base = index * 3
            cart = [products[(base + k + step * 96) % len(products)] for k in range(3)]
        else:
            cart = [products[(index + step + k * 7) % len(products)] for k in range(3)]
        step += 1
        started = time.monotonic()
        for product_id in cart:
            async with session.put(f"{url}/api/cart/items/{product_id}", json={"quantity": 1},
                                   headers=headers) as response:
                if response.status >= 500:
                    stats["errors_5xx"] += 1
                await response.read()
        async with session.post(f"{url}/api/orders", json=body,
                                headers={**headers, "Idempotency-Key": uuid.uuid4().hex}) as response:
            payload = await response.json(content_type=None)
            if response.status == 201:
                stats["orders"] += 1
                stats["units"] += sum(int(i["quantity"]) for i in payload["order"]["items"]) \
                    if "order" in payload else sum(int(i["quantity"]) for i in payload.get("items", []))
                latencies.append(time.monotonic() - started)
            elif response.status == 409:
                stats["conflicts"] += 1
                # Stock or price moved: start over with an empty cart.
                for product_id in cart:
                    async with session.put(f"{url}/api/cart/items/{product_id}", json={"quantity": 0},
                                           headers=headers) as cleared:
                        await cleared.read()
            elif response.status == 429:
                stats["rate_limited"] += 1
            elif response.status >= 500:
                stats["errors_5xx"] += 1
            else:
                stats["other"] += 1


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--products", required=True)
    parser.add_argument("--customers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--mode", choices=["distinct", "contended"], default="distinct")
    parser.add_argument("--first-user", type=int, default=800_000_000)
    args = parser.parse_args()
    products = [int(p) for p in args.products.split(",")]
    stats = {"orders": 0.0, "units": 0.0, "conflicts": 0.0, "errors_5xx": 0.0, "rate_limited": 0.0, "other": 0.0}
    latencies: list[float] = []
    me = psutil.Process(os.getpid())
    connector = aiohttp.TCPConnector(limit=args.customers)
    async with aiohttp.ClientSession(connector=connector) as session:
        auths = [init_data(args.token, args.first_user + i) for i in range(args.customers)]
        me.cpu_percent()
        started = time.monotonic()
        deadline = started + args.seconds
        await asyncio.gather(*(customer(session, args.url, auths[i], products, deadline, stats, latencies, i,
                                        args.mode) for i in range(args.customers)))
        elapsed = time.monotonic() - started
        cpu = me.cpu_percent()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    print(json.dumps({**stats, "elapsed": elapsed, "orders_per_s": stats["orders"] / elapsed,
                      "p50_ms": pct(0.5), "p99_ms": pct(0.99), "loadgen_cpu_percent": cpu}))


if __name__ == "__main__":
    asyncio.run(main())
