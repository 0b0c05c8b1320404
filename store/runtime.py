"""Where the database and Redis are: the URLs from settings, or embedded servers we start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from db.migrate import migrate
from db.pool import create_pool
from store.embedded import EmbeddedPostgres, EmbeddedRedis
from store.keys import Endpoints
from store.settings import Settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def servers(settings: Settings, *, need_redis: bool = True) -> AsyncIterator[Endpoints]:
    """Yield the endpoints; embedded servers started here are stopped on the way out."""
    pg: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    try:
        if settings.database_url:
            database_url = settings.database_url
            log.info("database: external PostgreSQL (DATABASE_URL)")
        else:
            pg = EmbeddedPostgres(settings.data_dir.resolve())
            await asyncio.to_thread(pg.start)
            database_url = pg.dsn
            log.info("database: embedded PostgreSQL at %s", database_url)
        redis_url = ""
        if settings.redis_url:
            redis_url = settings.redis_url
            log.info("redis: external Redis (REDIS_URL)")
        elif need_redis:
            redis = EmbeddedRedis(settings.data_dir.resolve())
            await asyncio.to_thread(redis.start)
            redis_url = redis.url
            log.info("redis: embedded Redis at %s", redis_url)
        yield Endpoints(database_url, redis_url, pg is not None, redis is not None)
    finally:
        if redis is not None:
            await asyncio.to_thread(redis.stop)
        if pg is not None:
            await asyncio.to_thread(pg.stop)


@asynccontextmanager
async def database(endpoints: Endpoints, *, run_migrations: bool = True,
                   pool_size: int | None = None) -> AsyncIterator[asyncpg.Pool]:
    """The pool (at most `pool_size` connections; None: create_pool's default), with every pending
    migration applied first."""
    if pool_size is None:
        pool = await create_pool(endpoints.database_url)
    else:
        pool = await create_pool(endpoints.database_url, min_size=min(2, pool_size), max_size=pool_size)
    try:
        if run_migrations:
            async with pool.acquire() as conn:
                applied = await migrate(conn)
            if applied:
                log.info("migrations applied: %s", ", ".join(applied))
        yield pool
    finally:
        await pool.close()
