"""/healthz: 200 when the database and Redis answer, 503 when either does not.

Telegram's state is reported but does not fail the check: the shop keeps selling without it.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from store import keys
from sync.worker import HEARTBEAT_KEY

CHECK_TIMEOUT = 2.0


async def _check_database(app: web.Application) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await app[keys.DB].fetchval("SELECT 1")
        return "ok"
    except Exception as exc:  # any failure at all means the dependency is down
        return f"down: {type(exc).__name__}"


async def _check_redis(app: web.Application) -> tuple[str, str]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            redis = app[keys.REDIS]
            await redis.ping()
            beat = await redis.get(HEARTBEAT_KEY)
        if beat is None:
            worker = "no heartbeat yet"
        else:
            worker = f"alive ({int(time.time()) - int(beat)} s ago)"
        return "ok", worker
    except Exception as exc:
        return f"down: {type(exc).__name__}", "unknown"


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    database, (redis, worker) = await asyncio.gather(_check_database(app), _check_redis(app))
    telegram = app[keys.TELEGRAM]
    healthy = database == "ok" and redis == "ok"
    body = {
        "status": "ok" if healthy else "unavailable",
        "database": database,
        "redis": redis,
        "worker": worker,
        "telegram": {"state": telegram.state, "detail": telegram.detail, "bot": telegram.bot_username},
    }
    return web.json_response(body, status=200 if healthy else 503)
