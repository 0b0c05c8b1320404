"""The migration runner, and the promise that migrations build exactly db/schema.sql."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from db.migrate import MIGRATIONS_DIR, SCHEMA_FILE, MigrationError, load_migrations, migrate

MakeDb = Callable[[], Awaitable[str]]


async def _connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url)


async def test_fresh_apply_then_rerun_is_a_noop(make_database: MakeDb) -> None:
    conn = await _connect(await make_database())
    try:
        applied = await migrate(conn)
        assert applied == [m.name for m in load_migrations()]
        assert await migrate(conn) == []
        rows = await conn.fetch("SELECT name, checksum FROM schema_migrations ORDER BY name")
        assert [(r["name"], r["checksum"]) for r in rows] == [(m.name, m.checksum) for m in load_migrations()]
    finally:
        await conn.close()


async def test_edited_migration_is_refused(make_database: MakeDb, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    conn = await _connect(await make_database())
    try:
        await migrate(conn, directory)
        first = sorted(directory.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
        with pytest.raises(MigrationError, match=f"{first.name} was edited after it was applied"):
            await migrate(conn, directory)
    finally:
        await conn.close()


async def test_new_migration_is_applied_in_its_own_transaction(make_database: MakeDb, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    conn = await _connect(await make_database())
    try:
        await migrate(conn, directory)
        (directory / "9998_good.sql").write_text("CREATE TABLE t_good (id int);")
        (directory / "9999_bad.sql").write_text("CREATE TABLE t_bad (id int); SELECT no_such_function();")
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(conn, directory)
        names = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        assert "9998_good.sql" in names and "9999_bad.sql" not in names
        assert await conn.fetchval("SELECT to_regclass('t_bad')") is None  # nothing half-written
    finally:
        await conn.close()


async def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_description\.sql"):
        load_migrations(tmp_path)


async def test_two_concurrent_runners_apply_each_migration_once(make_database: MakeDb) -> None:
    url = await make_database()
    conns = [await _connect(url) for _ in range(2)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        all_names = [m.name for m in load_migrations()]
        assert sorted(results[0] + results[1]) == sorted(all_names)
        assert await conns[0].fetchval("SELECT count(*) FROM schema_migrations") == len(all_names)
    finally:
        for c in conns:
            await c.close()


CATALOG_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision,
               numeric_scale, is_nullable, column_default
        FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_migrations'
        ORDER BY table_name, column_name""",
    "constraints": """
        SELECT conrelid::regclass::text AS tbl, conname, contype, pg_get_constraintdef(oid) AS def
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
          AND conrelid::regclass::text <> 'schema_migrations'
        ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' AND tablename <> 'schema_migrations' ORDER BY 1, 2""",
    "triggers": """
        SELECT tgrelid::regclass::text AS tbl, tgname, pg_get_triggerdef(oid) AS def
        FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2""",
    "functions": """
        SELECT proname, pg_get_functiondef(oid) AS def FROM pg_proc
        WHERE pronamespace = 'public'::regnamespace ORDER BY 1""",
    "sequences": """
        SELECT sequence_name, data_type, start_value, increment FROM information_schema.sequences
        WHERE sequence_schema = 'public' ORDER BY 1""",
    "tables": """
        SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_name <> 'schema_migrations' ORDER BY 1""",
}


async def _catalog(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in CATALOG_QUERIES.items()}


async def test_migrations_build_exactly_the_schema_file(make_database: MakeDb) -> None:
    from_schema = await _connect(await make_database())
    from_migrations = await _connect(await make_database())
    try:
        await from_schema.execute(SCHEMA_FILE.read_text())
        await migrate(from_migrations)
        expected, actual = await _catalog(from_schema), await _catalog(from_migrations)
        for part in CATALOG_QUERIES:
            assert actual[part] == expected[part], f"migrations and schema.sql differ in {part}"
    finally:
        await from_schema.close()
        await from_migrations.close()


async def test_schema_has_the_owners_eleven_tables_and_seven_triggers(make_database: MakeDb) -> None:
    conn = await _connect(await make_database())
    try:
        await migrate(conn)
        catalog = await _catalog(conn)
        tables = {t[0] for t in catalog["tables"]}
        assert {"users", "categories", "products", "marketplaces", "marketplace_products", "cart_items",
                "favorites", "orders", "order_items", "banners", "sync_logs"} <= tables
        updated_at_triggers = [t for t in catalog["triggers"] if "update_updated_at_column" in str(t[2])]
        assert len(updated_at_triggers) == 7
    finally:
        await conn.close()


SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "spec"


def _owner_ddl() -> str:
    import re

    texts = [p.read_text(encoding="utf-8") for p in sorted(SPEC_DIR.glob("000_*.txt"))]
    blocks = [b for text in texts for b in re.findall(r"```sql\n(.*?)```", text, re.S) if "CREATE" in b]
    return "\n".join(blocks)


@pytest.mark.skipif(not SPEC_DIR.exists(), reason="the owner's spec (../shared/spec) is not beside this checkout")
async def test_every_object_of_the_owners_design_is_in_the_schema(make_database: MakeDb) -> None:
    owner = await _connect(await make_database())
    ours = await _connect(await make_database())
    try:
        await owner.execute(_owner_ddl())
        await ours.execute(SCHEMA_FILE.read_text())
        expected, actual = await _catalog(owner), await _catalog(ours)
        for part in CATALOG_QUERIES:
            missing = set(expected[part]) - set(actual[part])
            assert not missing, f"schema.sql lost or changed the owner's {part}: {sorted(map(str, missing))}"
    finally:
        await owner.close()
        await ours.close()
