"""/healthz: 200 while the shop can sell (the database answers), 503 when it cannot.

Redis down is `degraded`, still 200: checkout and browsing need only PostgreSQL, and what Redis
carries (jobs) waits in the outbox meanwhile, so a load balancer must not take the store out. The
worker's heartbeat, the events waiting in the outbox and Telegram's state are reported too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web

from bot.health import TELEGRAM_CALLS, sends_state
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


async def _outbox(app: web.Application) -> dict[str, object]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            row = await app[keys.DB].fetchrow(
                """SELECT (SELECT count(*) FROM outbox_events WHERE delivered_at IS NULL) AS events,
                          (SELECT extract(epoch FROM now() AT TIME ZONE 'UTC' - min(created_at))
                           FROM outbox_events WHERE delivered_at IS NULL) AS oldest,
                          (SELECT count(*) FROM pending_pushes) AS pushes""")
        assert row is not None
        oldest = row["oldest"]
        return {"pending_events": row["events"], "oldest_pending_seconds": round(float(oldest)) if oldest else 0,
                "pending_pushes": row["pushes"]}
    except Exception as exc:
        return {"error": type(exc).__name__}


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    database, (redis, worker), outbox = await asyncio.gather(_check_database(app), _check_redis(app), _outbox(app))
    telegram = app[keys.TELEGRAM]
    state, detail = telegram.state, telegram.detail
    if state in ("polling", "webhook") and TELEGRAM_CALLS.failing:
        state, detail = "failing", TELEGRAM_CALLS.detail  # the loop runs, but its calls do not get through
    sends: dict[str, object] = {"state": "unknown"}
    if redis == "ok" and telegram.state != "off":
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CHECK_TIMEOUT):
                sends = await sends_state(app[keys.REDIS])
    status = "unavailable" if database != "ok" else "ok" if redis == "ok" else "degraded"
    body = {
        "status": status,
        "database": database,
        "redis": redis,
        "worker": worker,
        "outbox": outbox,
        "telegram": {"state": state, "detail": detail, "bot": telegram.bot_username, "sends": sends},
    }
    return web.json_response(body, status=503 if status == "unavailable" else 200)
