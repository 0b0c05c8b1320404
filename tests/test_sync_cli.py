"""`amazing-store marketplace ...`, `sync run` and `secrets rotate` as an admin uses them, and the
local-mode demo marketplaces on the built-in sandboxes."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from db.repos import marketplace_products, marketplaces, products
from store.cli import build_parser
from store.crypto import KeyBox, SecretKeyError
from store.marketplace_cli import COMMANDS
from store.services import marketplace_admin, marketplace_sync
from store.services.marketplace_admin import AdminError
from store.settings import Settings
from tests.conftest import MakeClient
from tests.sync_support import Bench, make_products, open_bench, uzum_ids

OZON_SECRET = "100000:sandbox-ozon-api-key"


@pytest.fixture
async def bench(pool: asyncpg.Pool, settings: Settings, redis_url: str) -> AsyncIterator[Bench]:
    async with open_bench(pool, settings, redis_url) as opened:
        yield opened


async def cli(settings: Settings, *argv: str) -> int:
    """One command, the way `amazing-store` dispatches it (in this event loop)."""
    args = build_parser().parse_args(list(argv))
    subcommand = getattr(args, f"{args.command}_command")
    return await COMMANDS[f"{args.command}:{subcommand}"](settings, args)


def with_keys(settings: Settings, *keys: str) -> Settings:
    return settings.model_copy(update={"secret_keys": tuple(SecretStr(k) for k in keys)})


async def test_keys_are_stored_encrypted_never_shown_and_rotate(
    pool: asyncpg.Pool, settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = with_keys(settings, old)
    assert await cli(before, "marketplace", "add", "--slug", "ozon", "--name", "Ozon", "--api-base-url",
                     "https://api-seller.ozon.ru", "--set", "warehouse_id=22000000001") == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(OZON_SECRET + "\n"))
    assert await cli(before, "marketplace", "set-key", "ozon") == 0
    assert await cli(before, "marketplace", "list") == 0
    shown = capsys.readouterr().out
    assert "API key of ozon stored (encrypted)" in shown and "client_id=100000" in shown
    assert "sandbox-ozon-api-key" not in shown and "gAAAA" not in shown
    stored = await marketplaces.get_by_slug(pool, "ozon")
    assert stored is not None and stored.api_key_encrypted is not None
    assert "sandbox-ozon-api-key" not in stored.api_key_encrypted
    assert KeyBox((SecretStr(old),)).decrypt(stored.api_key_encrypted) == "sandbox-ozon-api-key"
    assert stored.settings == {"warehouse_id": 22000000001, "client_id": "100000"}

    # A new key goes first in SECRET_KEYS; `secrets rotate` re-encrypts; then the old key can go.
    assert await cli(with_keys(settings, new, old), "secrets", "rotate") == 0
    assert "re-encrypted 1 API key(s)" in capsys.readouterr().out
    rotated = await marketplaces.get_by_slug(pool, "ozon")
    assert rotated is not None and rotated.api_key_encrypted is not None
    assert KeyBox((SecretStr(new),)).decrypt(rotated.api_key_encrypted) == "sandbox-ozon-api-key"
    with pytest.raises(SecretKeyError):
        KeyBox((SecretStr(old),)).decrypt(rotated.api_key_encrypted)
    # Rotating without the old key in the list changes nothing and says what to do.
    with pytest.raises(AdminError, match="keep the old key in the list"):
        await cli(with_keys(settings, Fernet.generate_key().decode()), "secrets", "rotate")
    assert (await marketplaces.get_by_slug(pool, "ozon")).api_key_encrypted == rotated.api_key_encrypted  # type: ignore[union-attr]

    assert await cli(before, "marketplace", "disable", "ozon") == 0
    assert (await marketplaces.get_by_slug(pool, "ozon")).is_active is False  # type: ignore[union-attr]
    assert await cli(before, "marketplace", "enable", "ozon") == 0
    assert await cli(before, "marketplace", "set", "ozon", "interval=15", "auto_sync=off") == 0
    changed = await marketplaces.get_by_slug(pool, "ozon")
    assert changed is not None and (changed.is_active, changed.sync_interval_minutes, changed.auto_sync_enabled) == (
        True, 15, False)
    with pytest.raises(AdminError, match="unknown setting 'shop_id'"):
        await cli(before, "marketplace", "set", "ozon", "shop_id=1")
    with pytest.raises(AdminError, match="CLIENT_ID:API_KEY"):
        monkeypatch.setattr("sys.stdin", io.StringIO("just-a-key\n"))
        await cli(before, "marketplace", "set-key", "ozon")
    with pytest.raises(AdminError, match="already exists"):
        await cli(before, "marketplace", "add", "--slug", "ozon", "--name", "x", "--api-base-url", "https://x.uz")


async def test_map_reports_every_problem_and_applies_nothing_until_the_file_is_right(
    pool: asyncpg.Pool, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    items = await make_products(pool, 3)
    assert await cli(settings, "marketplace", "add", "--slug", "uzum", "--name", "Uzum", "--api-base-url",
                     "https://api-seller.uzum.uz/api/seller-openapi", "--set", "shop_id=7") == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("sku;product_id;sku_id;barcode\n"
                   f"{items[0].sku};10;100;4780000000001\n"
                   "NO-SUCH;11;101;4780000000002\n"
                   f"{items[1].sku};12;abc;4780000000003\n"
                   f"{items[2].sku};13;100;4780000000004\n")
    assert await cli(settings, "marketplace", "map", "uzum", str(bad)) == 1
    problems = capsys.readouterr().err
    assert "nothing was mapped: 3 problem(s)" in problems
    assert "row 3: sku 'NO-SUCH' is not in our catalog" in problems
    assert "row 4: sku_id must be a positive whole number" in problems
    assert "row 5: uzum item 100 is already on row 2" in problems
    assert await marketplace_products.list_for_marketplace(pool, 1) == []

    good = tmp_path / "good.csv"
    good.write_text("sku,productId,skuId,barcode,seller_sku\n"
                    f"{items[0].sku},10,100,04780000000001,{items[0].sku}\n{items[1].sku},12,102,4780000000003,\n")
    assert await cli(settings, "marketplace", "map", "uzum", str(good)) == 0
    assert await cli(settings, "marketplace", "map", "uzum", str(good)) == 0
    out = capsys.readouterr().out
    assert "mapped 2 product(s) to uzum, 0 already so" in out and "mapped 0 product(s) to uzum, 2 already so" in out
    (first,) = await marketplace_products.list_for_product(pool, items[0].id)
    assert (first.marketplace_sku, first.marketplace_product_id) == ("100", "10")
    assert first.marketplace_keys == {"product_id": 10, "sku_id": 100, "barcode": "04780000000001",
                                      "seller_sku": items[0].sku}  # the barcode keeps its leading zero


async def test_automap_matches_by_seller_code_then_barcode_and_reports_the_rest(
    bench: Bench, capsys: pytest.CaptureFixture[str],
) -> None:
    items = await make_products(bench.pool, 3)
    await bench.pool.execute("UPDATE products SET barcode = '4780000000777' WHERE id = $1", items[1].id)
    await bench.add_marketplaces(("uzum",))
    bench.uzum.seed_catalog([
        {**_uzum(0), "sellerItemCode": items[0].sku.lower()},  # the seller's code, in other case
        {**_uzum(1), "barcode": "4780000000777"},  # no code, but our barcode
        {**_uzum(5), "sellerItemCode": "SOMEONE-ELSES"},
    ])

    assert await cli(bench.settings, "marketplace", "automap", "uzum") == 0

    out = capsys.readouterr().out
    assert "mapped 2 product(s)" in out
    assert "on uzum but not matched to our catalog (1):\n  SOMEONE-ELSES" in out
    assert f"our active products not found on uzum (1):\n  {items[2].sku}" in out
    by_product = {m.product_id: m for m in await marketplace_products.list_for_marketplace(bench.pool, 1)}
    assert by_product[items[0].id].marketplace_keys["sku_id"] == uzum_ids(0)["sku_id"]
    assert by_product[items[1].id].marketplace_keys["barcode"] == "4780000000777"
    # The mapping works: a stock push reaches both items.
    report = await marketplace_sync.run_sync(bench.deps, "uzum", "stock")
    assert [e.status for e in report.logs] == ["success"]
    assert bench.uzum.skus[uzum_ids(1)["sku_id"]].amount == 10


def _uzum(i: int) -> dict[str, object]:
    ids = uzum_ids(i)
    return {"productId": ids["product_id"], "skuId": ids["sku_id"], "barcode": ids["barcode"], "amount": 0}


async def test_sync_run_prints_the_sync_logs_rows(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    items = await make_products(bench.pool, 2, stock=6)
    await bench.add_marketplaces(("wildberries",))
    await bench.map_products("wildberries", items)

    assert await cli(bench.settings, "sync", "run", "wildberries", "--type", "stock") == 0
    assert await cli(bench.settings, "sync", "run", "wildberries") == 0
    assert await cli(bench.settings, "sync", "run", "wildberries", "--type", "stock", "--full") == 0

    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("sync_logs")]
    assert [line.split(":")[0] for line in lines] == [
        "sync_logs #1 wildberries stock", "sync_logs #2 wildberries orders", "sync_logs #3 wildberries stock",
        "sync_logs #4 wildberries price", "sync_logs #5 wildberries stock"]
    assert "success, 2 processed, 0 failed" in lines[0] and "success, 0 processed" in lines[2]
    assert "success, 2 processed" in lines[4]

    await bench.pool.execute("UPDATE marketplaces SET api_key_encrypted = NULL")
    assert await cli(bench.settings, "sync", "run", "wildberries", "--type", "price") == 1
    assert "set-key wildberries" in capsys.readouterr().out


async def test_local_mode_runs_the_sandboxes_with_demo_marketplaces(
    pool: asyncpg.Pool, settings: Settings, make_client: MakeClient, redis_url: str,
) -> None:
    from store.app import create_app
    from store.local_marketplaces import SANDBOXES, seed_demo_marketplaces
    from store.seed import seed_demo

    assert settings.local_mode and not settings.secret_keys
    app = create_app(settings, with_bot=False)
    await make_client(app)
    sandboxes = app[SANDBOXES]
    await seed_demo(pool)
    keybox = marketplace_admin.keybox_for(settings)
    created = await seed_demo_marketplaces(pool, keybox, sandboxes)
    assert created == {"marketplaces": 3, "mappings": 36}
    assert await seed_demo_marketplaces(pool, keybox, sandboxes) == {"marketplaces": 0, "mappings": 0}
    assert (settings.data_dir / "local-secret-key").exists()  # the keys are encrypted with it

    async with open_bench(pool, settings, redis_url) as bench:
        deps = marketplace_sync.SyncDeps(pool, bench.redis, keybox, bench.adapter)
        for slug in ("uzum", "wildberries", "ozon"):
            marketplace = await marketplaces.get_by_slug(pool, slug)
            assert marketplace is not None and marketplace.settings["sandbox"] is True
            assert marketplace.api_base_url == sandboxes.url(slug)
            report = await marketplace_sync.run_sync(deps, slug)
            assert [(e.sync_type, e.status) for e in report.logs] == [
                ("orders", "success"), ("stock", "success"), ("price", "success")], report.logs
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE source <> 'app'") == 3  # one demo order each
    first = (await products.list_all(pool))[0]
    assert sandboxes.uzum.skus[1_000_000].sell_price == int(first.current_price)
