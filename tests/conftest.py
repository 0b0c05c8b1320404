"""Real services for the tests: PostgreSQL and Redis (embedded unless DATABASE_URL / REDIS_URL are
set), a fresh database per session with every migration applied, a clean slate per test."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from db.migrate import migrate
from db.pool import create_pool
from store.embedded import EmbeddedPostgres, EmbeddedRedis
from store.settings import Settings


@pytest.fixture(scope="session")
def test_data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="amazing-store-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_dir() -> Iterator[Path]:
    """A folder of this test's own (servers it starts and stops, data files), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="amazing-store-own-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def server_urls(test_data_dir: Path) -> Iterator[tuple[str, str]]:
    """(admin database URL, Redis URL) of the servers the whole session uses."""
    pg = redis = None
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if not database_url:
        pg = EmbeddedPostgres(test_data_dir / "servers")
        pg.start()
        database_url = pg.admin_dsn()
    if not redis_url:
        redis = EmbeddedRedis(test_data_dir / "servers")
        redis.start()
        redis_url = redis.url
    try:
        yield database_url, redis_url
    finally:
        if redis is not None:
            redis.stop()
        if pg is not None:
            pg.stop()


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
async def make_database(server_urls: tuple[str, str]) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Factory: a new empty database on the test server; all are dropped at the end."""
    admin_url = server_urls[0]
    created: list[str] = []

    async def make() -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        created.append(name)
        return _with_database(admin_url, name)

    yield make
    conn = await asyncpg.connect(admin_url)
    try:
        for name in created:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def database_url(make_database: Callable[[], Awaitable[str]]) -> str:
    url = await make_database()
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return url


@pytest.fixture(scope="session")
def redis_url(server_urls: tuple[str, str]) -> str:
    base = server_urls[1].rsplit("/", 1)[0] if server_urls[1].count("/") > 2 else server_urls[1]
    return f"{base}/1"


@pytest.fixture(scope="session")
async def session_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=30)
    yield pool
    await pool.close()


@pytest.fixture
async def pool(session_pool: asyncpg.Pool, redis_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The session pool on an empty database: every table truncated, Redis db flushed."""
    tables = await session_pool.fetchval(
        """SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables
           WHERE schemaname = 'public' AND tablename <> 'schema_migrations'""")
    await session_pool.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    yield session_pool


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DATA_DIR=tmp_path / "data",
        RUN_WORKER=False,
        SECRET_KEYS="",
        _env_file=None,
    )  # type: ignore[call-arg]


Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    clients: list[Client] = []

    async def make(app: web.Application) -> Client:
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(
    pool: asyncpg.Pool, settings: Settings,
    make_client: MakeClient,
) -> Client:
    """The whole store app (without the bot) on a real server, on an empty database."""
    from store.app import create_app

    return await make_client(create_app(settings, with_bot=False))
