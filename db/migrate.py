"""Forward-only SQL migrations: db/migrations/NNNN_description.sql, applied in name order.

Each pending file runs in its own transaction and is recorded with its SHA-256 in
`schema_migrations`. A file whose checksum no longer matches what was applied stops the run:
applied migrations are history and must not be edited. A session-level advisory lock makes
concurrent runners (two processes starting at once) apply each migration exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SCHEMA_FILE = Path(__file__).parent / "schema.sql"
_NAME = re.compile(r"^\d{4}_[a-z0-9_]+\.sql$")
# Arbitrary but fixed: "AMAZING" in ASCII, so other tools sharing the database don't collide.
ADVISORY_LOCK_ID = 0x414D415A494E47


class MigrationError(Exception):
    """The migrations on disk and the database's history disagree; the message says how."""


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        if not _NAME.match(path.name):
            raise MigrationError(f"{path.name}: migration files are named NNNN_description.sql")
        migrations.append(Migration(path.name, path.read_text(encoding="utf-8")))
    return migrations


async def migrate(
    conn: asyncpg.Connection | PoolConnectionProxy, directory: Path = MIGRATIONS_DIR
) -> list[str]:
    """Apply every pending migration; return the names applied (empty when up to date)."""
    migrations = load_migrations(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_ID)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                name TEXT PRIMARY KEY,
                checksum TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """
        )
        applied = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
        on_disk = {m.name for m in migrations}
        missing = sorted(set(applied) - on_disk)
        if missing:
            raise MigrationError(f"applied migrations are missing on disk: {', '.join(missing)}")
        done = []
        for migration in migrations:
            recorded = applied.get(migration.name)
            if recorded is not None:
                if recorded != migration.checksum:
                    raise MigrationError(
                        f"{migration.name} was edited after it was applied (checksum mismatch). "
                        "Applied migrations are history: restore the file and add a new migration instead."
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                    migration.name,
                    migration.checksum,
                )
            log.info("applied migration %s", migration.name)
            done.append(migration.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_ID)


async def migrate_dsn(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn)
    finally:
        await conn.close()
