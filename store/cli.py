"""`amazing-store`: run the store, the worker alone, migrations, demo data and admin commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from store.settings import Settings, SettingsError, load_settings

log = logging.getLogger("amazing_store")

Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


def local_link(settings: Settings, token: str) -> str:
    from urllib.parse import quote

    from store.telegram_auth import demo_init_data

    host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "::", "") else settings.web_host
    theme = '{"bg_color":"#ffffff","text_color":"#000000","button_color":"#2481cc","button_text_color":"#ffffff"}'
    fragment = (
        f"tgWebAppData={quote(demo_init_data(token), safe='')}&tgWebAppVersion=8.0"
        f"&tgWebAppPlatform=weba&tgWebAppThemeParams={quote(theme, safe='')}"
    )
    return f"http://{host}:{settings.web_port}/#{fragment}"


async def seed_if_empty(settings: Settings, pool: Any, sandboxes: Any) -> None:
    """`run --seed-demo`: the demo catalog on an empty database; in local mode the demo marketplaces
    on the running sandboxes too."""
    from db.repos import products
    from store.seed import seed_demo

    if await products.count(pool) == 0:
        from store.services.media import media_dir

        created = await seed_demo(pool, media_dir(settings.data_dir))  # with a drawn picture per product
        log.info("demo data seeded on the empty database: %s", created)
    if settings.local_mode and sandboxes is not None:
        from store.local_marketplaces import seed_demo_marketplaces
        from store.services.marketplace_admin import keybox_for

        made = await seed_demo_marketplaces(pool, keybox_for(settings), sandboxes)
        if any(made.values()):
            log.info("demo marketplaces on the local sandboxes: %s", made)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    import uvloop

    processes = settings.web_processes if args.processes is None else args.processes
    if args.web_process is not None:
        return _run_web_process(settings, args.web_process, args.pool_size)
    if processes > 1:
        from store.supervisor import run_supervised

        return uvloop.run(run_supervised(settings, processes, seed_demo=args.seed_demo))

    from aiohttp import web

    from store import keys
    from store.app import create_app

    app = create_app(settings)

    if args.seed_demo:
        async def seed(app: web.Application) -> None:
            sandboxes = None
            if settings.local_mode:
                from store.local_marketplaces import SANDBOXES

                sandboxes = app[SANDBOXES]
            await seed_if_empty(settings, app[keys.DB], sandboxes)

        app.on_startup.append(seed)

    async def announce(app: web.Application) -> None:
        log.info("store is up: http://%s:%d/ (health: /healthz)", settings.web_host, settings.web_port)
        if settings.local_mode:
            log.info("local mode: open the Mini App as a demo customer with this link:\n    %s",
                     local_link(settings, app[keys.INIT_DATA_TOKEN]))

    app.on_startup.append(announce)

    web.run_app(app, host=settings.web_host, port=settings.web_port, print=None,
                shutdown_timeout=10, handle_signals=True, loop=uvloop.new_event_loop())
    return 0


def _run_web_process(settings: Settings, index: int, pool_size: int) -> int:
    """One of the N web processes the parent of `run --processes N` starts (store/supervisor.py):
    it shares the port with its siblings (SO_REUSEPORT)."""
    import uvloop
    from aiohttp import web

    from store import keys
    from store.app import create_app

    app = create_app(settings, web_process=keys.WebProcess(index=index, pool_size=pool_size))

    async def announce(app: web.Application) -> None:
        log.info("web process %d serving on %s:%d (pool of %d connections)", index, settings.web_host,
                 settings.web_port, pool_size)

    app.on_startup.append(announce)
    web.run_app(app, host=settings.web_host, port=settings.web_port, print=None, reuse_port=True,
                shutdown_timeout=10, handle_signals=True, loop=uvloop.new_event_loop())
    return 0


async def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """The worker alone. Exits 1 when it cannot run (Redis or PostgreSQL unreachable at start-up),
    so a supervisor restarting on failure restarts it; once running, it rides out Redis outages."""
    import signal

    from store import runtime
    from sync.worker import WorkerService, redis_reachable

    queues = ("sync", "notifications") if args.queue == "all" else (args.queue,)
    async with runtime.servers(settings) as endpoints, runtime.database(endpoints) as pool:
        problem = await redis_reachable(endpoints.redis_url)
        if problem is not None:
            print(f"amazing-store worker: Redis is unreachable: {problem}", file=sys.stderr)
            return 1
        service = WorkerService(settings, endpoints.redis_url, endpoints.database_url, pool, queues=queues)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info("worker: queues %s%s", ", ".join(queues),
                 "; outbox relay and marketplace pushes" if service.runs_sync else "")
        task = asyncio.create_task(service.run())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        task.cancel()
        results = await asyncio.gather(task, return_exceptions=True)
        if not stop.is_set() and isinstance(results[0], BaseException) \
                and not isinstance(results[0], asyncio.CancelledError):
            print(f"amazing-store worker: stopped: {results[0]!r}", file=sys.stderr)
            return 1
    return 0


async def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from store import runtime

    async with runtime.servers(settings, need_redis=False) as endpoints, runtime.database(endpoints):
        print("database is up to date")
    return 0


async def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    from store import runtime
    from store.seed import seed_demo

    async with runtime.servers(settings, need_redis=False) as endpoints, runtime.database(endpoints) as pool:
        from store.services.media import media_dir

        created = await seed_demo(pool, media_dir(settings.data_dir))
    print("demo data: created " + ", ".join(f"{v} {k}" for k, v in created.items()))
    return 0


async def cmd_secrets_new_key(settings: Settings, args: argparse.Namespace) -> int:
    from store.crypto import new_key

    print(new_key())
    return 0


def _processes(value: str) -> int:
    from store.settings import parse_web_processes

    try:
        return parse_web_processes(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amazing-store", description="Amazing Store: shop, bot and sync.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the store: web server, bot and (by default) the sync worker")
    run.add_argument("--seed-demo", action="store_true", help="fill an empty database with demo data first")
    run.add_argument("--processes", type=_processes, default=None, metavar="N",
                     help="web processes on the one port (default: WEB_PROCESSES, 1); auto = one per CPU core")
    # Internal: how the parent of `run --processes N` starts each of its web processes.
    run.add_argument("--web-process", type=int, default=None, help=argparse.SUPPRESS)
    run.add_argument("--pool-size", type=int, default=20, help=argparse.SUPPRESS)
    worker = sub.add_parser("worker", help="run the worker alone: marketplace sync, notifications, the outbox relay")
    worker.add_argument("--queue", choices=("all", "sync", "notifications"), default="all",
                        help="which jobs: sync (marketplace runs, the outbox relay and pushes), notifications "
                             "(Telegram messages), or all (default)")
    sub.add_parser("migrate", help="apply pending database migrations")
    sub.add_parser("seed-demo", help="fill the database with the demo catalog (idempotent)")
    secrets = sub.add_parser("secrets", help="encryption keys for marketplace API keys")
    secrets_sub = secrets.add_subparsers(dest="secrets_command", required=True)
    secrets_sub.add_parser("new-key", help="print a new Fernet key for SECRET_KEYS")
    from store import marketplace_cli

    marketplace_cli.add_parsers(sub, secrets_sub)
    return parser


ASYNC_COMMANDS: dict[str, Command] = {
    "worker": cmd_worker,
    "migrate": cmd_migrate,
    "seed-demo": cmd_seed_demo,
    "secrets:new-key": cmd_secrets_new_key,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"amazing-store: {exc}", file=sys.stderr)
        return 2
    from store.logs import setup_logging
    from store.supervisor import TAG_ENV, watch_parent

    setup_logging(settings.log_level_number, tag=os.environ.get(TAG_ENV, ""))
    watch_parent()  # a child of `run --processes N` stops when its parent is gone
    if args.command == "run":
        return cmd_run(settings, args)
    from store import marketplace_cli

    subcommand = getattr(args, f"{args.command}_command", None)
    name = args.command + (f":{subcommand}" if subcommand else "")
    command = {**ASYNC_COMMANDS, **marketplace_cli.COMMANDS}[name]
    try:
        import uvloop

        return uvloop.run(command(settings, args))
    except Exception as exc:  # the command's own errors: one line, no traceback, for a person
        from store.logs import redact

        print(f"amazing-store {args.command}: {redact(str(exc))}", file=sys.stderr)
        log.debug("command failed", exc_info=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
