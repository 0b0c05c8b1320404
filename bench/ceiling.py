"""The ceiling: a bare aiohttp handler returning a small JSON, run the same way as the store
(one process, the same event loop policy), so catalog figures can be read as a fraction of it."""

from __future__ import annotations

import argparse

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"id": 1, "name": "ceiling", "price": "125000.00"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/", hello)
    import uvloop

    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None,
                loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
