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


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    """One pool per process; timestamps are stored as UTC `timestamp` (the schema's type)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"timezone": "UTC", "application_name": "amazing-store"},
        command_timeout=60,
    )
    assert pool is not None
    return pool
