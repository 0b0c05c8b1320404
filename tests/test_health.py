"""/healthz: 200 while the shop can sell; Redis down is `degraded` (still 200: checkout needs only
PostgreSQL), the database down is 503."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestClient

from store.app import create_app
from store.embedded import EmbeddedPostgres, EmbeddedRedis
from store.settings import Settings
from tests.conftest import Client, MakeClient


async def test_healthz_up(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["redis"] == "ok"
    assert body["telegram"]["state"] == "off"


async def _status(client: TestClient, want: int) -> dict[str, object]:  # type: ignore[type-arg]
    """Poll until /healthz answers `want` (a reconnect can take a moment), then return the body."""
    body: dict[str, object] = {}
    for _ in range(100):
        response = await client.get("/healthz")
        body = await response.json()
        if response.status == want:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz never answered {want}: {body}")


async def _status_is(client: TestClient, want: str) -> dict[str, object]:  # type: ignore[type-arg]
    body: dict[str, object] = {}
    for _ in range(100):
        response = await client.get("/healthz")
        body = await response.json()
        if body["status"] == want:
            assert response.status == 200
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz never said {want}: {body}")


async def test_healthz_degraded_without_redis_and_down_without_the_database(
    own_dir: Path, make_client: MakeClient,
) -> None:
    pg, redis = EmbeddedPostgres(own_dir), EmbeddedRedis(own_dir)
    pg.start()
    redis.start()
    try:
        settings = Settings(DATABASE_URL=pg.dsn, REDIS_URL=redis.url, DATA_DIR=own_dir / "data",
                            RUN_WORKER=False, _env_file=None)  # type: ignore[call-arg]
        client = await make_client(create_app(settings, with_bot=False))
        await _status(client, 200)

        redis.stop()
        body = await _status_is(client, "degraded")
        assert str(body["redis"]).startswith("down") and body["database"] == "ok"

        redis.start()
        await _status(client, 200)

        pg.stop()
        body = await _status(client, 503)
        assert str(body["database"]).startswith("down") and body["redis"] == "ok"

        pg.start()
        await _status(client, 200)
    finally:
        redis.stop()
        pg.stop()
