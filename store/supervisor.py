"""`amazing-store run --processes N`: N web processes on one port and one worker, supervised.

The parent does, once, what must happen once: start the embedded servers (when DATABASE_URL /
REDIS_URL are unset), apply migrations, seed the demo data (`--seed-demo`), run the local marketplace
sandboxes (local mode) and create the files every process reads under DATA_DIR (the local-mode
token, the local secret key, the webhook secret). It reads PostgreSQL's `max_connections` and gives
each web process a pool so that N pools, the worker's pool and every LISTEN connection stay under it.

Then it starts N children, `amazing-store run` with `--web-process I --pool-size K` and the servers'
URLs in their environment. Each binds the port with SO_REUSEPORT, so the kernel spreads new
connections over them; the parent holds the port bound (not listening) for as long as it runs. Only
web process 0 takes Telegram's updates (long polling or registering the webhook: getUpdates from two
processes is a 409 Conflict); in webhook mode every web process handles the updates posted to it.
With RUN_WORKER=true it also starts one `amazing-store worker` child instead of N in-process workers.

Supervision: a child that exits is logged and restarted after a backoff (1, 2, 5, 10, 30 s; reset
after it ran a minute); one that keeps failing within seconds of its start (a wrong setting, a
database that refuses it) stops the whole store with exit code 1, so that systemd or Docker, not a
silent loop, takes over. Children run in their own session, so Ctrl-C reaches the parent only, and
the parent stops them in order: the web processes first (they finish their requests), then the
worker (it drains its jobs), then the sandboxes and the embedded servers. A child whose parent
disappears (killed with SIGKILL) notices within a second and stops itself (`watch_parent`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg

from store.settings import Settings

log = logging.getLogger("amazing_store.supervisor")

PARENT_ENV = "AMAZING_STORE_PARENT_PID"  # set in a child's environment: the pid it watches
TAG_ENV = "AMAZING_STORE_PROCESS"  # set in a child's environment: its name in every log line

# Connections: a web process's pool is at most the single-process default and at least MIN_POOL.
MAX_POOL = 20
MIN_POOL = 2
LISTEN_PER_WEB_PROCESS = 1  # the catalog cache's invalidation channel (webapp/cache.py)
WORKER_CONNECTIONS = MAX_POOL + 1  # `amazing-store worker`: create_pool's default + the outbox LISTEN
HEADROOM = 5  # the parent's own connection, `amazing-store migrate`/`sync run`, psql, a backup

RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
STABLE_AFTER = 60.0  # a child that ran this long starts its backoff over
QUICK_FAILURE = 15.0  # a child that exits sooner than this after its start failed at start-up
GIVE_UP_AFTER = 5  # quick failures in a row before the whole store stops (exit code 1)
STOP_TIMEOUT = 30.0  # per group (web processes, then the worker) before SIGKILL
READY_TIMEOUT = 180.0


class SupervisorError(Exception):
    """The store cannot run with N processes as configured; the message says why and what to do."""


@dataclass(frozen=True)
class PoolPlan:
    """How PostgreSQL's connections are shared out among the processes."""

    max_connections: int
    reserved: int  # superuser_reserved_connections + reserved_connections
    in_use: int  # client connections open when the store started (others', and the parent's)
    processes: int
    worker: bool
    per_process: int

    def describe(self) -> str:
        worker = f" + worker {WORKER_CONNECTIONS}" if self.worker else ""
        used = self.processes * (self.per_process + LISTEN_PER_WEB_PROCESS) + (WORKER_CONNECTIONS if self.worker else 0)
        return (f"{self.processes} web processes × (pool {self.per_process} + {LISTEN_PER_WEB_PROCESS} listener)"
                f"{worker} = {used} connections of PostgreSQL's max_connections {self.max_connections} "
                f"({self.reserved} reserved, {self.in_use} in use at start, {HEADROOM} kept free)")


def plan_pools(*, max_connections: int, reserved: int, in_use: int, processes: int, worker: bool) -> PoolPlan:
    """The largest pool per web process (at most MAX_POOL) that keeps every connection the store
    opens under `max_connections`; SupervisorError when not even MIN_POOL fits."""
    budget = max_connections - reserved - in_use - HEADROOM - (WORKER_CONNECTIONS if worker else 0)
    per_process = min(MAX_POOL, budget // processes - LISTEN_PER_WEB_PROCESS)
    if per_process < MIN_POOL:
        need = processes * (MIN_POOL + LISTEN_PER_WEB_PROCESS) + (WORKER_CONNECTIONS if worker else 0) \
            + reserved + in_use + HEADROOM
        raise SupervisorError(
            f"PostgreSQL's max_connections is {max_connections} ({reserved} reserved, {in_use} in use): "
            f"too few for {processes} web processes{' and the worker' if worker else ''} "
            f"(at least {need} needed); run fewer processes (--processes / WEB_PROCESSES) or raise "
            "max_connections")
    return PoolPlan(max_connections, reserved, in_use, processes, worker, per_process)


async def read_pool_plan(conn: asyncpg.Connection | asyncpg.Pool, processes: int, worker: bool) -> PoolPlan:
    row = await conn.fetchrow(
        """SELECT current_setting('max_connections')::int AS max_connections,
                  current_setting('superuser_reserved_connections')::int
                  + coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved,
                  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS in_use""")
    assert row is not None
    return plan_pools(max_connections=row["max_connections"], reserved=row["reserved"], in_use=row["in_use"],
                      processes=processes, worker=worker)


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (not listen) the port with SO_REUSEPORT: it fails now, with a clear message, when
    another program has it; it stays ours while web processes restart; port 0 becomes a real one.
    A bound socket that does not listen takes no connections: the kernel spreads them over the
    children's listening sockets only."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SupervisorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def watch_parent() -> None:
    """In a child (PARENT_ENV set): stop this process (SIGTERM, the clean way) when the parent is
    gone, so that a parent killed with SIGKILL leaves nothing running."""
    expected = os.environ.get(PARENT_ENV, "")
    if not expected.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(expected):
            time.sleep(1.0)
        log.critical("the supervising process %s is gone; stopping", expected)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: asyncio.subprocess.Process | None = None
    started: float = 0.0
    quick_failures: int = 0
    failures: int = 0
    restarts: int = 0
    pids: list[int] = field(default_factory=list)  # every pid it had, oldest first

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


class Supervisor:
    """Starts the children, restarts the ones that die, stops them all in order."""

    def __init__(self, web: list[Child], worker: Child | None) -> None:
        self.web, self.worker = web, worker
        self.stopping = asyncio.Event()
        self.failure: str | None = None
        self._keepers: list[asyncio.Task[None]] = []

    @property
    def children(self) -> list[Child]:
        return [*self.web, *([self.worker] if self.worker else [])]

    async def _spawn(self, child: Child) -> None:
        child.proc = await asyncio.create_subprocess_exec(
            *child.argv, env=child.env, stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True)  # Ctrl-C reaches the parent only; it stops the children in order
        child.started = time.monotonic()
        child.pids.append(child.proc.pid)
        log.info("%s started (pid %d)", child.name, child.proc.pid)

    async def _keep(self, child: Child) -> None:
        while True:
            assert child.proc is not None
            code = await child.proc.wait()
            if self.stopping.is_set():
                return
            ran = time.monotonic() - child.started
            if ran > STABLE_AFTER:
                child.failures = 0
            child.quick_failures = child.quick_failures + 1 if ran < QUICK_FAILURE else 0
            if child.quick_failures >= GIVE_UP_AFTER:
                self.failure = (f"{child.name} failed {child.quick_failures} times in a row within "
                                f"{QUICK_FAILURE:.0f} s of its start ({describe_exit(code)}); stopping the store")
                log.critical("%s", self.failure)
                self.stopping.set()
                return
            delay = RESTART_BACKOFF[min(child.failures, len(RESTART_BACKOFF) - 1)]
            child.failures += 1
            log.error("%s (pid %d) stopped: %s after %.0f s; restarting in %.0f s",
                      child.name, child.proc.pid, describe_exit(code), ran, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
                return  # stopping while waiting
            child.restarts += 1
            await self._spawn(child)

    async def start(self) -> None:
        for child in self.children:
            await self._spawn(child)
            self._keepers.append(asyncio.create_task(self._keep(child), name=f"keep-{child.name}"))

    async def wait(self) -> None:
        await self.stopping.wait()

    async def stop(self) -> None:
        """Web processes first (they finish their requests and stop their pools), then the worker
        (it drains its jobs); each group gets STOP_TIMEOUT, then SIGKILL."""
        self.stopping.set()
        await _stop_group(self.web)
        if self.worker is not None:
            await _stop_group([self.worker])
        for keeper in self._keepers:
            keeper.cancel()
        await asyncio.gather(*self._keepers, return_exceptions=True)


async def _stop_group(children: list[Child]) -> None:
    running = [c for c in children if c.running]
    for child in running:
        assert child.proc is not None
        with contextlib.suppress(ProcessLookupError):
            child.proc.send_signal(signal.SIGTERM)
    for child in running:
        assert child.proc is not None
        try:
            code = await asyncio.wait_for(child.proc.wait(), STOP_TIMEOUT)
            log.info("%s (pid %d) stopped (%s)", child.name, child.proc.pid, describe_exit(code))
        except TimeoutError:
            log.error("%s (pid %d) did not stop within %.0f s; killing it", child.name, child.proc.pid,
                      STOP_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                child.proc.kill()
            await child.proc.wait()


def child_env(settings: Settings, database_url: str, redis_url: str, port: int, name: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, WEB_PORT=str(port), WEB_PROCESSES="1",
               RUN_WORKER="false", DATA_DIR=str(settings.data_dir.resolve()))
    env[PARENT_ENV] = str(os.getpid())
    env[TAG_ENV] = name
    return env


@contextlib.asynccontextmanager
async def _local_sandboxes(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[object]:
    """Local mode: the marketplace sandboxes, once, in the parent (the children's demo marketplaces
    point at them through the database). Yields the running sandboxes, or None outside local mode."""
    if not settings.local_mode:
        yield None
        return
    from store.local_marketplaces import connect_sandboxes, start_sandboxes

    sandboxes = await start_sandboxes()
    try:
        connected = await connect_sandboxes(pool, sandboxes)
        log.info("local mode: marketplace sandboxes at %s%s",
                 ", ".join(f"{slug} {s.base_url}" for slug, s in sandboxes.running.items()),
                 f" ({connected} demo marketplaces connected)" if connected else "")
        yield sandboxes
    finally:
        for sandbox in sandboxes.running.values():
            await sandbox.close()


def _prepare_shared_files(settings: Settings) -> str:
    """Create, before any child starts, the files under DATA_DIR that every process reads (two
    children creating one at once would each write a different secret). Returns the initData token."""
    from store.services.marketplace_admin import keybox_for
    from store.telegram_auth import local_bot_token

    keybox_for(settings)  # local mode: DATA_DIR/local-secret-key
    if settings.webhook_url and settings.bot_token:
        from bot.webhook import webhook_secret

        webhook_secret(settings)
    if settings.bot_token is not None:
        return settings.bot_token.get_secret_value()
    return local_bot_token(settings.data_dir)


async def _announce_when_up(settings: Settings, port: int, processes: int, token: str) -> None:
    import aiohttp

    from store.cli import local_link

    host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "::", "") else settings.web_host
    url = f"http://{host}:{port}/healthz"
    deadline = time.monotonic() + READY_TIMEOUT
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as reply:
                    if reply.status == 200:
                        log.info("store is up: http://%s:%d/ (health: /healthz), %d web processes",
                                 settings.web_host, port, processes)
                        if settings.local_mode:
                            log.info("local mode: open the Mini App as a demo customer with this link:\n    %s",
                                     local_link(settings.model_copy(update={"web_port": port}), token))
                        return
            await asyncio.sleep(0.5)
    log.warning("no web process answered /healthz within %.0f s", READY_TIMEOUT)


async def run_supervised(settings: Settings, processes: int, *, seed_demo: bool) -> int:
    """The parent of `amazing-store run --processes N` (N > 1). Returns the exit code."""
    from store import runtime
    from store.cli import seed_if_empty

    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_requested.set)
    try:
        reserved = reserve_port(settings.web_host, settings.web_port)
    except SupervisorError as exc:
        print(f"amazing-store run: {exc}", file=sys.stderr)
        return 1
    port: int = reserved.getsockname()[1]
    supervisor: Supervisor | None = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            endpoints = await stack.enter_async_context(runtime.servers(settings))
            async with runtime.database(endpoints, pool_size=2) as pool:  # migrations run here, once
                sandboxes = await stack.enter_async_context(_local_sandboxes(settings, pool))
                if seed_demo:
                    await seed_if_empty(settings, pool, sandboxes)
                plan = await read_pool_plan(pool, processes, settings.run_worker)
            log.info("database connections: %s", plan.describe())
            token = _prepare_shared_files(settings)

            command = [sys.executable, "-m", "store.cli"]
            web = [Child(f"web {i}", [*command, "run", "--web-process", str(i), "--pool-size", str(plan.per_process)],
                         child_env(settings, endpoints.database_url, endpoints.redis_url, port, f"web {i}"))
                   for i in range(processes)]
            worker = None
            if settings.run_worker:
                worker = Child("worker", [*command, "worker", "--queue", "all"],
                               child_env(settings, endpoints.database_url, endpoints.redis_url, port, "worker"))
            else:
                log.info("worker: not started (RUN_WORKER=false); run `amazing-store worker` beside the store")
            supervisor = Supervisor(web, worker)
            if stop_requested.is_set():  # Ctrl-C while migrating or seeding: start nothing
                return 0
            await supervisor.start()
            announcer = asyncio.create_task(_announce_when_up(settings, port, processes, token))
            requested = asyncio.create_task(stop_requested.wait())
            await asyncio.wait([requested, asyncio.create_task(supervisor.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            requested.cancel()
            announcer.cancel()
            log.info("stopping: web processes, then the worker, then %s",
                     "the sandboxes and the embedded servers" if settings.local_mode else "the servers we started")
            await supervisor.stop()
            log.info("every child process stopped")
        # leaving the stack stopped the sandboxes and the embedded servers, in that order
    except SupervisorError as exc:
        print(f"amazing-store run: {exc}", file=sys.stderr)
        return 1
    finally:
        reserved.close()
    if supervisor is not None and supervisor.failure is not None:
        print(f"amazing-store run: {supervisor.failure}", file=sys.stderr)
        return 1
    return 0
