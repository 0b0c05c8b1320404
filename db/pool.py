"""The asyncpg pool and the small protocol repositories are written against."""

from __future__ import annotations

import json
from typing import Any, Protocol

import asyncpg


class Executor(Protocol):
    """Anything that runs SQL: a pool, a connection, or a connection inside a transaction.

    Repositories take one of these and never open transactions themselves: the caller
    (a service function) owns the unit of work.
    """

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str: ...

    async def executemany(self, command: str, args: Any, *, timeout: float | None = None) -> None: ...

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[asyncpg.Record]: ...

    async def fetchrow(
        self, query: str, *args: Any, timeout: float | None = None
    ) -> asyncpg.Record | None: ...

    async def fetchval(self, query: str, *args: Any, column: int = 0, timeout: float | None = None) -> Any: ...


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _release_as_is(conn: asyncpg.Connection) -> None:
    """asyncpg rolls back an open transaction before calling this. Its default reset then also runs
    `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every release: one more round
    trip per unit of work. Nothing here keeps session state on a pooled connection (no LISTEN, no
    cursors outside transactions, no session SET; the migration runner releases its advisory lock
    itself), so there is nothing to reset."""


CONNECT_TIMEOUT = 10.0


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    """One pool per process; timestamps are stored as UTC `timestamp` (the schema's type)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"timezone": "UTC", "application_name": "amazing-store"},
        command_timeout=60,
        # A PostgreSQL that does not answer (frozen, a dead host) fails a new connection within this
        # many seconds instead of asyncpg's default 60: the API answers 503 and the client retries.
        timeout=CONNECT_TIMEOUT,
        # Every query of the repositories stays prepared per connection (asyncpg's default keeps
        # 100, fewer than the store has: a miss re-prepares and may re-introspect types).
        statement_cache_size=1024,
        reset=_release_as_is,
    )
    assert pool is not None
    return pool
