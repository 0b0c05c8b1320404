"""Scale-out (issue #11): several store processes and workers on one PostgreSQL and one Redis, and
`amazing-store run --processes N` supervising them. Real processes, real servers; customers talk
HTTP to the processes, the bot to tests/fake_telegram.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
import pytest

from db.pool import create_pool
from store.settings import Settings, SettingsError, load_settings
from store.supervisor import (
    HEADROOM,
    LISTEN_PER_WEB_PROCESS,
    MAX_POOL,
    WORKER_CONNECTIONS,
    SupervisorError,
    plan_pools,
)
from store.telegram_auth import local_bot_token
from sync.worker import build_worker, stop_worker
from tests.bot_helpers import product
from tests.fake_telegram import BOT_USERNAME, TOKEN, FakeTelegram
from tests.test_process import _free_port
from tests.tma import auth

ADMIN = 900_611
CHECKOUT_FORM = {"customer_name": "Aziz Karimov", "customer_phone": "+998 90 123-45-67",
                 "delivery_address": "Toshkent, Chilonzor 9"}


# --- settings and the connection plan ---------------------------------------------------------------


def test_web_processes_is_validated_and_auto_is_the_core_count() -> None:
    assert load_settings(_env_file=None).web_processes == 1
    assert load_settings(_env_file=None, WEB_PROCESSES="3").web_processes == 3
    assert load_settings(_env_file=None, WEB_PROCESSES="auto").web_processes == len(os.sched_getaffinity(0))
    for bad in ("0", "-1", "two", "65", "1.5"):
        with pytest.raises(SettingsError, match="WEB_PROCESSES: must be a whole number from 1 to 64, or auto"):
            load_settings(_env_file=None, WEB_PROCESSES=bad)


def test_run_processes_flag_refuses_a_bad_value_with_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "store.cli", "run", "--processes", "0"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--processes: must be a whole number from 1 to 64, or auto" in result.stderr


def test_pools_are_sized_so_every_connection_fits_under_max_connections() -> None:
    plan = plan_pools(max_connections=100, reserved=3, in_use=4, processes=4, worker=True)
    total = 4 * (plan.per_process + LISTEN_PER_WEB_PROCESS) + WORKER_CONNECTIONS + 3 + 4 + HEADROOM
    assert plan.per_process == 15 and total <= 100
    # Plenty of connections: the single-process default, not more.
    assert plan_pools(max_connections=500, reserved=3, in_use=0, processes=2, worker=False).per_process == MAX_POOL
    # Too few for even two connections each: refuse to start, saying what to do.
    with pytest.raises(SupervisorError, match=r"max_connections is 40.*run fewer processes.*raise max_connections"):
        plan_pools(max_connections=40, reserved=3, in_use=2, processes=8, worker=True)


async def test_a_worker_whose_start_up_swallows_a_cancellation_still_stops(
    pool: asyncpg.Pool, settings: Settings, redis_url: str,
) -> None:
    """SIGTERM within a second of a worker's start (the supervisor stopping a worker it has just
    restarted) landed while arq's start-up waited on Redis; the cancellation was lost there and the
    worker polled on, so the process never exited. stop_worker cancels until the task ends."""
    worker = build_worker(settings, redis_url, pool, queue="sync")
    started = asyncio.Event()

    async def start_up_that_loses_one_cancellation() -> None:
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(120)
        await asyncio.sleep(120)  # "polling" on

    task = asyncio.create_task(start_up_that_loses_one_cancellation())
    await started.wait()
    await asyncio.wait_for(stop_worker(worker, task, drain=1.0), 30)
    assert task.done()


# --- real processes -----------------------------------------------------------------------------------


@pytest.fixture
def own_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="amazing-store-scale-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def fresh(make_database: Callable[[], Awaitable[str]], redis_url: str) -> AsyncIterator[tuple[str, str]]:
    """(database URL, Redis URL) nobody else uses: a new empty database, a flushed Redis db."""
    from redis.asyncio import Redis

    database = await make_database()
    redis = redis_url.rsplit("/", 1)[0] + "/5"
    client = Redis.from_url(redis)
    await client.flushdb()
    yield database, redis
    await client.flushdb()
    await client.aclose()


class Proc:
    """`python -m store.cli ARGS` with its own environment and log file."""

    def __init__(self, directory: Path, name: str, args: list[str], **env: str) -> None:
        self.log = directory / f"{name}.log"
        environ = {k: v for k, v in os.environ.items()
                   if k not in {"DATABASE_URL", "REDIS_URL", "BOT_TOKEN", "TELEGRAM_API_URL", "ADMIN_IDS",
                                "WEB_PROCESSES", "RUN_WORKER", "WEBHOOK_URL"}}
        environ.update(DATA_DIR=str(directory), WEB_HOST="127.0.0.1", **env)
        self.proc = subprocess.Popen([sys.executable, "-m", "store.cli", *args], env=environ, cwd=directory,
                                     stdout=self.log.open("w"), stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 90) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child.kill()
            self.proc.kill()
            raise AssertionError(f"did not stop on {sig.name}:\n{self.output()[-4000:]}") from None


async def _wait_healthy(port: int, procs: list[Proc], timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            for proc in procs:
                assert proc.proc.poll() is None, f"exited early:\n{proc.output()[-4000:]}"
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/healthz") as reply:
                    if reply.status == 200:
                        body: dict[str, Any] = await reply.json()
                        return body
            await asyncio.sleep(0.2)
    raise AssertionError("never became healthy:\n" + "\n".join(p.output()[-3000:] for p in procs))


async def _wait_for(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


class Customer:
    def __init__(self, session: aiohttp.ClientSession, token: str, telegram_id: int) -> None:
        self.session, self.telegram_id = session, telegram_id
        self.headers = auth(token, telegram_id=telegram_id)

    async def put_cart(self, port: int, product_id: int, quantity: int = 1) -> tuple[int, Any]:
        async with self.session.put(f"http://127.0.0.1:{port}/api/cart/items/{product_id}",
                                    json={"quantity": quantity}, headers=self.headers) as reply:
            return reply.status, await reply.json()

    async def order(self, port: int) -> tuple[int, Any]:
        async with self.session.post(f"http://127.0.0.1:{port}/api/orders", json=CHECKOUT_FORM,
                                     headers={**self.headers, "Idempotency-Key": uuid.uuid4().hex}) as reply:
            return reply.status, await reply.json()

    async def stock_seen(self, port: int, product_id: int) -> int:
        async with self.session.get(f"http://127.0.0.1:{port}/api/products/{product_id}",
                                    headers=self.headers) as reply:
            assert reply.status == 200, await reply.text()
            stock: int = (await reply.json())["stock_quantity"]
            return stock


def _alive(procs: list[Proc]) -> list[int]:
    """Every process of these trees still running (zombies excepted)."""
    left = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(proc.proc.pid)
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    if p.status() != psutil.STATUS_ZOMBIE:
                        left.append(p.pid)
    return left


async def test_two_store_processes_and_two_workers_share_one_database_and_redis(
    fresh: tuple[str, str], own_dir: Path, telegram: FakeTelegram,
) -> None:
    """Everything per-process that must be shared goes through PostgreSQL or Redis: the catalog
    cache's invalidation, stock under a checkout race, the per-customer write limit, the outbox."""
    database_url, redis_url = fresh
    token = local_bot_token(own_dir)  # the stores run in local mode: initData signed with this token
    ports = [_free_port(), _free_port()]
    common = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "RUN_WORKER": "false",
              "WRITE_RATE_LIMIT": "6/3600"}
    stores = [Proc(own_dir, "store-a", ["run"], WEB_PORT=str(ports[0]), **common)]
    procs = list(stores)
    pool: asyncpg.Pool | None = None
    try:
        await _wait_healthy(ports[0], stores)  # the first one migrates the fresh database
        stores.append(Proc(own_dir, "store-b", ["run"], WEB_PORT=str(ports[1]), **common))
        workers = [Proc(own_dir, f"worker-{i}", ["worker"], DATABASE_URL=database_url, REDIS_URL=redis_url,
                        BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.url, ADMIN_IDS=str(ADMIN)) for i in range(2)]
        procs = [*stores, *workers]
        await _wait_healthy(ports[1], procs)
        pool = await create_pool(database_url, min_size=1, max_size=2)
        scarce = await product(pool, "SCALE-RACE", stock=7)
        shown = await product(pool, "SCALE-SHOWN", stock=50)

        async with aiohttp.ClientSession() as session:
            # 1. A change made through one process is seen through the other at once (the catalog
            #    cache of B is invalidated by A's commit; without that B would serve 50 for 15 s).
            viewer = Customer(session, token, 711_000)
            assert await viewer.stock_seen(ports[1], shown.id) == 50
            assert await viewer.stock_seen(ports[1], shown.id) == 50  # now from B's cache
            buyer = Customer(session, token, 711_001)
            assert (await buyer.put_cart(ports[0], shown.id, 3))[0] == 200
            status, placed = await buyer.order(ports[0])
            assert status == 201, placed

            async def b_sees_47() -> bool:
                return await viewer.stock_seen(ports[1], shown.id) == 47
            await _wait_for("store B to show the stock store A sold", b_sees_47, timeout=10)

            # 2. A checkout race across both processes sells exactly the stock: no oversell, no 5xx.
            racers = [Customer(session, token, 712_000 + i) for i in range(24)]

            async def race(i: int, racer: Customer) -> int:
                status, body = await racer.put_cart(ports[i % 2], scarce.id)
                assert status == 200, body
                status, body = await racer.order(ports[(i + 1) % 2])  # the order through the other one
                assert status in (201, 409), (status, body)
                return status

            statuses = await asyncio.gather(*(race(i, r) for i, r in enumerate(racers)))
            assert statuses.count(201) == 7 and statuses.count(409) == 17
            assert await pool.fetchval("SELECT stock_quantity FROM products WHERE id = $1", scarce.id) == 0
            assert await pool.fetchval("SELECT sum(quantity) FROM order_items WHERE product_id = $1",
                                       scarce.id) == 7

            # 3. The per-customer write limit is one budget across processes (6 per hour here).
            if 3600 - time.time() % 3600 < 20:  # not across the window's edge
                await asyncio.sleep(3600 - time.time() % 3600 + 1)
            spender = Customer(session, token, 713_000)
            answers = [(await spender.put_cart(ports[i % 2], shown.id, 1))[0] for i in range(8)]
            assert answers == [200] * 6 + [429, 429], answers  # 3 on each process, then refused on both

        # 4. Two workers, two outbox relays: every order is told to its customer once.
        winners = {r.telegram_id for r, s in zip(racers, statuses, strict=True) if s == 201} | {buyer.telegram_id}
        numbers = {r["telegram_id"]: r["order_number"] for r in await pool.fetch(
            "SELECT u.telegram_id, o.order_number FROM orders o JOIN users u ON u.id = o.user_id")}
        assert set(numbers) == winners

        async def all_told() -> bool:
            return all(any(numbers[chat] in c.text for c in telegram.sent(chat_id=chat)) for chat in winners)
        await _wait_for("every customer's order message", all_told, timeout=90)
        await asyncio.sleep(2)  # a duplicate would come from the other worker about now
        for chat in winners:
            assert sum(numbers[chat] in c.text for c in telegram.sent(chat_id=chat)) == 1, chat
    finally:
        if pool is not None:
            await pool.close()
        codes = [p.stop(signal.SIGTERM) for p in procs]
    assert codes == [0] * len(procs), "\n".join(p.output()[-3000:] for p in procs)
    for store in stores:
        assert "Traceback" not in store.output(), store.output()[-4000:]


def _replaced(parent: Proc, before: dict[str, psutil.Process], role: str) -> bool:
    """Is there a child in `role` again, another process than `before`'s? One look at the
    children: a dying one may vanish between two (CI saw the KeyError)."""
    now = _children(parent)
    return role in now and now[role].pid != before[role].pid


def _children(parent: Proc) -> dict[str, psutil.Process]:
    """The supervisor's children by role: `web 0`, `web 1`, ..., `worker`."""
    found = {}
    for child in psutil.Process(parent.proc.pid).children():
        try:
            cmdline = child.cmdline()
        except psutil.Error:  # gone, or a zombie not reaped yet
            continue
        if "--web-process" in cmdline:
            found[f"web {cmdline[cmdline.index('--web-process') + 1]}"] = child
        elif "worker" in cmdline:
            found["worker"] = child
    return found


async def test_run_processes_2_polls_telegram_once_restarts_a_dead_child_and_stops_everything(
    fresh: tuple[str, str], own_dir: Path, telegram: FakeTelegram,
) -> None:
    database_url, redis_url = fresh
    port = _free_port()
    store = Proc(own_dir, "supervised", ["run", "--processes", "2"], WEB_PORT=str(port), DATABASE_URL=database_url,
                 REDIS_URL=redis_url, BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.url, ADMIN_IDS=str(ADMIN))
    every_pid: set[int] = set()
    try:
        health = await _wait_healthy(port, [store])
        await _wait_for("both web processes and the worker", lambda: _async(len(_children(store)) == 3))
        children = _children(store)
        every_pid |= {p.pid for p in children.values()}
        assert set(children) == {"web 0", "web 1", "worker"}
        assert health["database"] == "ok"

        # Only web process 0 polls: one update, one answer (two pollers would both answer it).
        await _wait_for("polling", lambda: _async(any(c.method == "getUpdates" for c in telegram.calls)))
        user = {"id": 714_001, "is_bot": False, "first_name": "Aziz", "language_code": "uz"}
        await telegram.send_text(user, "/help")
        await telegram.wait_sent(714_001)
        await asyncio.sleep(3)
        assert len(telegram.sent(chat_id=714_001)) == 1
        assert len([c for c in telegram.calls if c.method == "deleteWebhook"]) == 1

        # /healthz through either process tells where Telegram's updates are taken, and both know
        # the bot's username (the Mini App's share links): web 1 asks getMe itself.
        seen: dict[str, Any] = {}

        async def both_know_the_bot() -> bool:
            async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as reply:
                telegram_state = (await reply.json())["telegram"]
            assert telegram_state["state"] in ("polling", "elsewhere"), telegram_state
            if telegram_state["state"] == "elsewhere":
                assert telegram_state["detail"] == "long polling runs in web process 0"
            seen[telegram_state["state"]] = telegram_state["bot"]
            return seen == {"polling": BOT_USERNAME, "elsewhere": BOT_USERNAME}

        await _wait_for("both web processes to know the bot's username", both_know_the_bot, timeout=60)

        # A sale through the shared port: the worker process tells the customer.
        pool = await create_pool(database_url, min_size=1, max_size=2)
        try:
            item = await product(pool, "SCALE-SUP", stock=5)
        finally:
            await pool.close()
        async with aiohttp.ClientSession() as session:
            customer = Customer(session, TOKEN, 714_002)
            assert (await customer.put_cart(port, item.id))[0] == 200
            status, placed = await customer.order(port)
            assert status == 201, placed
        await telegram.wait_sent(714_002, placed["order_number"], timeout=60)

        # A web process killed outright is restarted, and the parent says so.
        children["web 1"].kill()
        await _wait_for("web 1 restarted", lambda: _async(_replaced(store, children, "web 1")), timeout=60)
        every_pid |= {p.pid for p in _children(store).values()}
        assert re.search(r"web 1 \(pid \d+\) stopped: killed by SIGKILL after \d+ s; restarting in 1 s", store.output())
        await _wait_for("web 1 serving again", lambda: _async(store.output().count("web process 1 serving") == 2),
                        timeout=120)
        # ...and so is the worker.
        children["worker"].kill()
        await _wait_for("worker restarted", lambda: _async(_replaced(store, children, "worker")), timeout=60)
        every_pid |= {p.pid for p in _children(store).values()}
        await _wait_for("the worker taking jobs again", lambda: _async(
            store.output().count("[worker] amazing_store: worker: queues") == 2), timeout=120)
        await _wait_healthy(port, [store])
    finally:
        code = store.stop(signal.SIGINT)
    output = store.output()
    assert code == 0, output[-4000:]
    assert [pid for pid in every_pid if psutil.pid_exists(pid)
            and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE] == []
    # In order: the web processes, then the worker.
    stopped = [m.group(1) for m in re.finditer(r"(web \d|worker) \(pid \d+\) stopped \(exit code 0\)", output)]
    assert sorted(stopped[:2]) == ["web 0", "web 1"] and stopped[2:] == ["worker"], output[-3000:]
    assert "Traceback" not in output, output[-4000:]


async def _async(value: bool) -> bool:
    return value


def _servers_of(directory: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["name"] in {"postgres", "redis-server"} and str(directory) in " ".join(
                    proc.info["cmdline"] or []) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


async def test_run_processes_2_in_local_mode_starts_the_servers_once_and_ctrl_c_leaves_nothing(
    own_dir: Path,
) -> None:
    port = _free_port()
    store = Proc(own_dir, "local", ["run", "--processes", "2", "--seed-demo"], WEB_PORT=str(port))
    tree: list[int] = []
    try:
        await _wait_healthy(port, [store])
        await _wait_for("the link", lambda: _async("tgWebAppData=" in store.output()))
        await _wait_for("both web processes", lambda: _async(
            "web process 0 serving" in store.output() and "web process 1 serving" in store.output()), timeout=120)
        output = store.output()
        # The parent started one PostgreSQL, one Redis, the sandboxes and the seed, once.
        assert output.count("embedded PostgreSQL started") == 1 and output.count("embedded Redis started") == 1
        assert output.count("local mode: marketplace sandboxes at") == 1
        assert output.count("demo data seeded on the empty database") == 1
        assert len([p for p in _servers_of(own_dir) if p.info["name"] == "postgres"]) >= 1
        assert [c.name() for c in psutil.Process(store.proc.pid).children()].count("redis-server") == 1
        assert "[web 0]" in output and "[web 1]" in output and "[worker]" in output
        # The local link opens the Mini App through whichever process takes the connection.
        link = re.search(r"(http://127\.0\.0\.1:\d+/#tgWebAppData=\S+)", output)
        assert link, output
        async with aiohttp.ClientSession() as session:
            customer = Customer(session, local_bot_token(own_dir), 100_000_001)
            for _ in range(6):  # new connections: the kernel spreads them over both processes
                async with aiohttp.ClientSession() as fresh_session:
                    async with fresh_session.get(f"http://127.0.0.1:{port}/api/me", headers=customer.headers) as me:
                        assert me.status == 200, await me.text()
        tree = _alive([store])
        assert len(tree) >= 4  # parent, web 0, web 1, worker (+ the embedded Redis)
    finally:
        code = store.stop(signal.SIGINT)
    assert code == 0, store.output()[-4000:]
    assert [pid for pid in tree if psutil.pid_exists(pid)
            and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE] == []
    assert _servers_of(own_dir) == []
    assert "embedded PostgreSQL stopped" in store.output()


async def test_run_processes_2_with_a_webhook_registers_it_once_and_every_process_handles_updates(
    fresh: tuple[str, str], own_dir: Path, telegram: FakeTelegram,
) -> None:
    database_url, redis_url = fresh
    port = _free_port()
    secret = "scale-webhook-secret_1"
    store = Proc(own_dir, "webhook", ["run", "--processes", "2"], WEB_PORT=str(port), DATABASE_URL=database_url,
                 REDIS_URL=redis_url, BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.url, RUN_WORKER="false",
                 WEBHOOK_URL="https://shop.example.uz", WEBHOOK_SECRET=secret)
    try:
        await _wait_healthy(port, [store])
        await _wait_for("both web processes", lambda: _async(
            "web process 0 serving" in store.output() and "web process 1 serving" in store.output()), timeout=120)
        await _wait_for("the webhook registered", lambda: _async(
            any(c.method == "setWebhook" for c in telegram.calls)))
        users = [{"id": 715_000 + i, "is_bot": False, "first_name": "Olim", "language_code": "uz"} for i in range(10)]
        for user in users:  # each on a new connection: the kernel spreads them over both processes
            update = telegram.webhook_update(telegram.message_update(user, "/help"))
            async with aiohttp.ClientSession() as session, session.post(
                    f"http://127.0.0.1:{port}/telegram/webhook", json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as reply:
                assert reply.status == 200, await reply.text()  # 503 would be a process without the bot
        for user in users:
            await telegram.wait_sent(user["id"])
        await asyncio.sleep(2)
        assert [c.method for c in telegram.calls].count("setWebhook") == 1
        assert [c.method for c in telegram.calls].count("getUpdates") == 0
        assert all(len(telegram.sent(chat_id=u["id"])) == 1 for u in users)
    finally:
        code = store.stop(signal.SIGINT)
    assert code == 0, store.output()[-4000:]
