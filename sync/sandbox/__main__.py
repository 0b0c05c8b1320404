"""``python -m sync.sandbox``: run the Uzum, Wildberries and Ozon sandboxes side by side."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Sequence

from sync.sandbox.common import RunningSandbox, SandboxState, start_sandbox
from sync.sandbox.ozon import DEFAULT_API_KEY, DEFAULT_CLIENT_ID, OzonState
from sync.sandbox.ozon import create_app as ozon_app
from sync.sandbox.uzum import BASE as UZUM_BASE
from sync.sandbox.uzum import DEFAULT_AUTHORIZATION as UZUM_AUTH
from sync.sandbox.uzum import UzumState
from sync.sandbox.uzum import create_app as uzum_app
from sync.sandbox.wildberries import DEFAULT_AUTHORIZATION as WB_AUTH
from sync.sandbox.wildberries import WildberriesState
from sync.sandbox.wildberries import create_app as wb_app


def seed_demo(uzum: UzumState, wb: WildberriesState, ozon: OzonState) -> None:
    """Three products present on every marketplace (our SKUs DEMO-1..3)."""
    uzum.seed_catalog(
        [
            {
                "productId": 700 + i,
                "productTitle": f"Demo product {i}",
                "skuId": 7000 + i,
                "barcode": f"478000000000{i}",
                "sellerItemCode": f"DEMO-{i}",
                "fullPrice": 150_000 * i,
                "sellPrice": 120_000 * i,
                "amount": 10 * i,
            }
            for i in (1, 2, 3)
        ]
    )
    wb.seed_catalog(
        [
            {
                "nmID": 80_000 + i,
                "vendorCode": f"DEMO-{i}",
                "title": f"Demo product {i}",
                "price": 150_000 * i,
                "discount": 20,
                "sizes": [
                    {"chrtID": 90_000 + i, "techSize": "0", "skus": [f"478000000000{i}"], "amount": 10 * i}
                ],
            }
            for i in (1, 2, 3)
        ]
    )
    ozon.seed_catalog(
        [
            {
                "offer_id": f"DEMO-{i}",
                "product_id": 60_000 + i,
                "name": f"Demo product {i}",
                "price": str(120_000 * i),
                "old_price": str(150_000 * i),
                "stock": 10 * i,
            }
            for i in (1, 2, 3)
        ]
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sync.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port-uzum", type=int, default=8701)
    parser.add_argument("--port-wb", type=int, default=8702)
    parser.add_argument("--port-ozon", type=int, default=8703)
    parser.add_argument("--no-limits", action="store_true", help="do not enforce rate limits")
    parser.add_argument("--demo", action="store_true", help="seed three demo products on each marketplace")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    states: tuple[UzumState, WildberriesState, OzonState] = (
        UzumState(enforce_limits=not args.no_limits),
        WildberriesState(enforce_limits=not args.no_limits),
        OzonState(enforce_limits=not args.no_limits),
    )
    uzum, wb, ozon = states
    if args.demo:
        seed_demo(uzum, wb, ozon)
    running: list[RunningSandbox] = []
    try:
        running.append(await start_sandbox(uzum_app(uzum), args.host, args.port_uzum))
        running.append(await start_sandbox(wb_app(wb), args.host, args.port_wb))
        running.append(await start_sandbox(ozon_app(ozon), args.host, args.port_ozon))
        notes = {
            "uzum": f"base {UZUM_BASE}, header Authorization: {UZUM_AUTH}",
            "wildberries": f"header Authorization: {WB_AUTH}",
            "ozon": f"headers Client-Id: {DEFAULT_CLIENT_ID}, Api-Key: {DEFAULT_API_KEY}",
        }
        for sandbox in running:
            state: SandboxState = sandbox.state
            print(
                f"{state.marketplace:12} {sandbox.base_url}  ({notes[state.marketplace]}; "
                f"control {sandbox.base_url}/_sandbox/state)",
                flush=True,
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        for sandbox in running:
            await sandbox.close()


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
