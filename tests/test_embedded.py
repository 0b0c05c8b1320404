"""Embedded PostgreSQL and Redis: start, data survives a restart, a running server is reused."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
from redis.asyncio import Redis

from store.embedded import EmbeddedPostgres, EmbeddedRedis


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """Its own directory, outside pytest's rotating base (the PostgreSQL user must traverse it)."""
    path = Path(tempfile.mkdtemp(prefix="amazing-store-embedded-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _alive(port: int) -> bool:
    return any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
               for c in psutil.net_connections("tcp"))


async def test_postgres_start_stop_restart_keeps_data(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path)
    pg.start()
    try:
        conn = await asyncpg.connect(pg.dsn)
        await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
        await conn.close()
    finally:
        pg.stop()
    assert not _alive(pg.port)

    again = EmbeddedPostgres(tmp_path)
    again.start()
    try:
        assert again.port == pg.port  # the remembered address
        conn = await asyncpg.connect(again.dsn)
        assert await conn.fetchval("SELECT v FROM kept") == "still here"
        await conn.close()
    finally:
        again.stop()


async def test_postgres_left_running_is_reused_not_restarted(tmp_path: Path) -> None:
    first = EmbeddedPostgres(tmp_path)
    first.start()
    try:
        second = EmbeddedPostgres(tmp_path)
        second.start()
        assert second.port == first.port and not second.started_here
        second.stop()  # not ours to stop
        conn = await asyncpg.connect(first.dsn)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    finally:
        first.stop()


async def test_postgres_recovers_from_a_stale_pid_file(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path)
    pg.start()
    pg.stop()
    # A crash leaves postmaster.pid behind, naming a process that no longer exists.
    (pg.pgdata / "postmaster.pid").write_text("999999\n" + str(pg.pgdata) + "\n0\n" + str(pg.port) + "\n")
    again = EmbeddedPostgres(tmp_path)
    try:
        again.start()
        conn = await asyncpg.connect(again.dsn)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    finally:
        again.stop()


async def test_redis_start_stop_restart_keeps_data(tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path)
    redis.start()
    try:
        client = Redis.from_url(redis.url)
        await client.set("kept", "yes")
        await client.aclose()
        second = EmbeddedRedis(tmp_path)
        second.start()
        assert not second.started_here and second.port == redis.port
    finally:
        redis.stop()
    assert not _alive(redis.port)

    again = EmbeddedRedis(tmp_path)
    again.start()
    try:
        client = Redis.from_url(again.url)
        assert await client.get("kept") == b"yes"
        await client.aclose()
    finally:
        again.stop()
