"""`amazing-store marketplace ...`, `sync run` and `secrets rotate` (registered by store.cli).

    amazing-store marketplace add --slug uzum --name "Uzum Market" \
        --api-base-url https://api-seller.uzum.uz/api/seller-openapi --set shop_id=12345
    amazing-store marketplace set-key uzum < uzum-token.txt          (Ozon: CLIENT_ID:API_KEY)
    amazing-store marketplace set ozon warehouse_id=22000000001 interval=30 auto_sync=on
    amazing-store marketplace list
    amazing-store marketplace enable|disable wildberries
    amazing-store marketplace map wildberries mapping.csv
    amazing-store marketplace automap ozon
    amazing-store sync run uzum --type stock --full
    amazing-store secrets rotate

Output is short lines for a person; an API key is never printed.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from arq import create_pool as create_arq_pool
from arq.connections import ArqRedis, RedisSettings

from db.models import SyncLog
from store.services import marketplace_admin
from store.services.marketplace_admin import SPECS, AdminError, describe_time, keybox_for
from store.settings import Settings

MAP_HELP = "columns (header row; comma, semicolon or tab separated):\n" + "\n".join(
    f"  {slug}: {spec.csv_columns()}" for slug, spec in SPECS.items()
) + "\n  barcodes (wildberries) may hold several barcodes separated by '|'"
SETTINGS_HELP = (
    "uzum: shop_id; wildberries: warehouse_id; ozon: warehouse_id (client_id comes with set-key); "
    "any: currency_code, rate_limits (JSON); and interval=MINUTES, auto_sync=on|off, url=..., name=..."
)


def add_parsers(sub: Any, secrets_sub: Any) -> None:
    """Add the marketplace and sync commands, and `secrets rotate`, to the main parser."""
    market = sub.add_parser("marketplace", help="marketplace accounts, API keys and product mapping")
    msub = market.add_subparsers(dest="marketplace_command", required=True)
    add = msub.add_parser("add", help="add a marketplace account (then set its key)")
    add.add_argument("--slug", required=True, help=f"one of: {', '.join(SPECS)}")
    add.add_argument("--name", required=True, help="the name people see, e.g. 'Uzum Market'")
    add.add_argument("--api-base-url", required=True, help="the API address (a sandbox's in local mode)")
    add.add_argument("--interval", type=int, default=60, help="minutes between automatic syncs (default 60)")
    add.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SETTINGS_HELP)
    key = msub.add_parser("set-key", help="store the API key, read from standard input (never echoed)",
                          description="Reads the key from standard input (a pipe or a file; at a terminal it "
                                      "asks without echo). For Ozon give CLIENT_ID:API_KEY.")
    key.add_argument("slug")
    settings = msub.add_parser("set", help="change settings: KEY=VALUE ...", description=SETTINGS_HELP)
    settings.add_argument("slug")
    settings.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    msub.add_parser("list", help="every marketplace, whether its key is set, its mappings and last sync")
    for verb in ("enable", "disable"):
        toggle = msub.add_parser(verb, help=f"{verb} syncing with the marketplace")
        toggle.add_argument("slug")
    mapping = msub.add_parser("map", help="map our SKUs to the marketplace's keys from a CSV file",
                              description=MAP_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    mapping.add_argument("slug")
    mapping.add_argument("file", type=Path)
    auto = msub.add_parser("automap", help="map by the marketplace's catalogue (seller SKU / offer_id / vendorCode / "
                                           "barcode) and report what could not be matched")
    auto.add_argument("slug")

    sync = sub.add_parser("sync", help="run a marketplace sync now")
    ssub = sync.add_subparsers(dest="sync_command", required=True)
    run = ssub.add_parser("run", help="run now in the foreground and print the sync_logs rows")
    run.add_argument("slug")
    run.add_argument("--type", dest="sync_type", choices=("price", "stock", "orders", "reconcile"),
                     help="default: price, stock and orders; reconcile reads the marketplace back and fixes drift")
    run.add_argument("--full", action="store_true", help="push every mapped product, not only what changed")

    secrets_sub.add_parser("rotate", help="re-encrypt every stored API key with the first key of SECRET_KEYS")


def _pairs(items: Sequence[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise AdminError(f"expected KEY=VALUE, got {item[:40]!r}")
        pairs[name.strip()] = value.strip()
    return pairs


@asynccontextmanager
async def _database(settings: Settings, *, need_redis: bool = False) -> AsyncIterator[tuple[asyncpg.Pool, str]]:
    from store import runtime

    async with runtime.servers(settings, need_redis=need_redis) as endpoints, \
            runtime.database(endpoints) as pool:
        yield pool, endpoints.redis_url


@asynccontextmanager
async def _sync_deps(settings: Settings) -> AsyncIterator[Any]:
    from store.services.marketplace_sync import SyncDeps
    from sync.adapters import build_adapter
    from sync.ratelimit import RedisRateLimiter

    async with _database(settings, need_redis=True) as (pool, redis_url):
        redis: ArqRedis = await create_arq_pool(RedisSettings.from_dsn(redis_url))
        try:
            async with aiohttp.ClientSession() as session:
                limiter = RedisRateLimiter(redis)
                yield SyncDeps(pool, redis, keybox_for(settings),
                               lambda account: build_adapter(account, session, limiter))
        finally:
            await redis.aclose()


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


async def cmd_add(settings: Settings, args: argparse.Namespace) -> int:
    async with _database(settings) as (pool, _):
        marketplace = await marketplace_admin.add_marketplace(
            pool, slug=args.slug, name=args.name, api_base_url=args.api_base_url, settings=_pairs(args.set),
            sync_interval_minutes=args.interval)
    print(f"added {marketplace.slug} ({marketplace.name}); next: amazing-store marketplace set-key {marketplace.slug}")
    return 0


def _read_secret() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("API key (not shown): ", stream=sys.stderr)
    return sys.stdin.readline().strip()


async def cmd_set_key(settings: Settings, args: argparse.Namespace) -> int:
    secret = _read_secret()
    async with _database(settings) as (pool, _):
        marketplace = await marketplace_admin.set_api_key(pool, keybox_for(settings), args.slug, secret)
    print(f"API key of {marketplace.slug} stored (encrypted)")
    return 0


async def cmd_set(settings: Settings, args: argparse.Namespace) -> int:
    async with _database(settings) as (pool, _):
        marketplace = await marketplace_admin.configure(pool, args.slug, _pairs(args.pairs))
    shown = ", ".join(f"{k}={v}" for k, v in sorted(marketplace.settings.items())) or "no settings"
    print(f"{marketplace.slug}: every {marketplace.sync_interval_minutes} min, auto sync "
          f"{'on' if marketplace.auto_sync_enabled else 'off'}, {shown}")
    return 0


async def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    async with _database(settings) as (pool, _):
        views = await marketplace_admin.list_marketplaces(pool)
    if not views:
        print("no marketplaces yet: amazing-store marketplace add --slug ... --name ... --api-base-url ...")
        return 0
    print(f"{'slug':<12} {'name':<24} {'active':<6} {'auto':<4} {'every':>7} {'key':<7} {'mapped':>6}  last sync")
    for view in views:
        m = view.marketplace
        runs = ", ".join(f"{t} {s}" for t, s in sorted(view.last_status.items()))
        print(f"{m.slug:<12} {m.name[:24]:<24} {_yes(m.is_active):<6} {'on' if m.auto_sync_enabled else 'off':<4} "
              f"{m.sync_interval_minutes:>4} min {'set' if view.key_set else 'not set':<7} {view.mappings:>6}  "
              f"{describe_time(m.last_sync_at)}" + (f" ({runs})" if runs else ""))
        shown = ", ".join(f"{k}={v}" for k, v in sorted(m.settings.items()))
        print(f"{'':<12} {m.api_base_url or '-'}" + (f"  {shown}" if shown else ""))
    return 0


async def cmd_toggle(settings: Settings, args: argparse.Namespace) -> int:
    active = args.marketplace_command == "enable"
    async with _database(settings) as (pool, _):
        marketplace = await marketplace_admin.set_active(pool, args.slug, active)
    print(f"{marketplace.slug} {'enabled' if marketplace.is_active else 'disabled'}")
    return 0


async def cmd_map(settings: Settings, args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise AdminError(f"cannot read {args.file}: {exc.strerror}") from None
    async with _database(settings) as (pool, _):
        report = await marketplace_admin.map_from_csv(pool, args.slug, data)
    if report.errors:
        print(f"nothing was mapped: {len(report.errors)} problem(s) in {args.file.name}", file=sys.stderr)
        for line in report.errors[:50]:
            print(f"  {line}", file=sys.stderr)
        if len(report.errors) > 50:
            print(f"  … and {len(report.errors) - 50} more", file=sys.stderr)
        return 1
    print(f"mapped {report.mapped} product(s) to {args.slug}, {report.unchanged} already so")
    return 0


def _listing(title: str, items: Sequence[str], limit: int = 20) -> None:
    if not items:
        return
    print(f"{title} ({len(items)}):")
    for item in items[:limit]:
        print(f"  {item}")
    if len(items) > limit:
        print(f"  … and {len(items) - limit} more")


async def cmd_automap(settings: Settings, args: argparse.Namespace) -> int:
    async with _sync_deps(settings) as deps:
        report = await marketplace_admin.automap(deps.pool, deps.keybox, deps.adapters, args.slug)
    print(f"mapped {len(report.mapped)} product(s), {report.unchanged} already mapped the same way")
    _listing("mapped", report.mapped)
    _listing("kept as they were", report.kept)
    _listing("ambiguous, not mapped", report.ambiguous)
    _listing(f"on {args.slug} but not matched to our catalog", report.unmatched)
    _listing(f"our active products not found on {args.slug}", report.not_listed)
    return 0


def print_log(slug: str, entry: SyncLog) -> None:
    took = ""
    if entry.completed_at is not None:
        took = f" in {(entry.completed_at - entry.started_at).total_seconds():.1f}s"
    print(f"sync_logs #{entry.id} {slug} {entry.sync_type}: {entry.status}, {entry.items_processed} processed, "
          f"{entry.items_failed} failed{took}")
    if entry.error_message:
        print(f"  {entry.error_message}")


async def cmd_sync_run(settings: Settings, args: argparse.Namespace) -> int:
    from store.services import marketplace_sync

    wait = marketplace_sync.MANUAL_LOCK_WAIT

    def waiting(sync_type: str) -> None:
        print(f"{args.slug} {sync_type}: a run is going on elsewhere (a scheduled run or a push after a sale); "
              f"waiting up to {wait:.0f} s for it to end…", flush=True)

    async with _sync_deps(settings) as deps:
        # A manual run: it waits for a busy lock instead of giving up, and leaves the schedule alone.
        report = await marketplace_sync.run_sync(deps, args.slug, args.sync_type, full=args.full, lock_wait=wait,
                                                 on_wait=waiting)
    for entry in report.logs:
        print_log(args.slug, entry)
    for skipped in report.skipped:
        print(f"{args.slug} {skipped}: skipped, still busy after {wait:.0f} s of waiting (try again later)")
    return 1 if any(entry.status == "error" for entry in report.logs) or report.skipped else 0


async def cmd_secrets_rotate(settings: Settings, args: argparse.Namespace) -> int:
    async with _database(settings) as (pool, _):
        count = await marketplace_admin.rotate_keys(pool, keybox_for(settings))
    print(f"re-encrypted {count} API key(s) with the first key of SECRET_KEYS")
    return 0


COMMANDS = {
    "marketplace:add": cmd_add,
    "marketplace:set-key": cmd_set_key,
    "marketplace:set": cmd_set,
    "marketplace:list": cmd_list,
    "marketplace:enable": cmd_toggle,
    "marketplace:disable": cmd_toggle,
    "marketplace:map": cmd_map,
    "marketplace:automap": cmd_automap,
    "sync:run": cmd_sync_run,
    "secrets:rotate": cmd_secrets_rotate,
}
