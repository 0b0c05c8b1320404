"""The whole store as a user runs it: `amazing-store run` on embedded servers, local mode, a
Telegram that cannot be reached, and Ctrl-C leaving no server processes behind."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import aiohttp
import psutil
import pytest

FAKE_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="amazing-store-process-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Store:
    def __init__(self, data_dir: Path, port: int, **env: str) -> None:
        self.port = port
        self.log = data_dir / f"store-{time.monotonic_ns()}.log"
        environ = {k: v for k, v in os.environ.items()
                   if k not in {"DATABASE_URL", "REDIS_URL", "BOT_TOKEN", "TELEGRAM_API_URL"}}
        environ.update(DATA_DIR=str(data_dir), WEB_PORT=str(port), WEB_HOST="127.0.0.1", **env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "store.cli", "run", "--seed-demo"], env=environ, cwd=data_dir,
            stdout=self.log.open("w"), stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_healthy(self) -> dict[str, object]:
        deadline = time.monotonic() + 120
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, f"store exited early:\n{self.output()}"
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            body: dict[str, object] = await response.json()
                            return body
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"store never became healthy:\n{self.output()}")

    def stop(self, sig: signal.Signals) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"store did not stop on {sig.name}:\n{self.output()}") from None


def _servers_left(data_dir: Path) -> list[str]:
    left = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmdline and proc.info["name"] in {"postgres", "redis-server"}:
            if proc.status() != psutil.STATUS_ZOMBIE:
                left.append(cmdline)
    return left


async def test_run_local_mode_then_restart_with_unreachable_telegram(data_dir: Path) -> None:
    port = _free_port()
    store = Store(data_dir, port)
    try:
        health = await store.wait_healthy()
        assert health["telegram"] == {"state": "off", "detail": "local mode: BOT_TOKEN is not set", "bot": None,
                                      "sends": {"state": "unknown"}}
        output = store.output()
        assert "bot: off (local mode" in output
        assert "embedded PostgreSQL" in output and "embedded Redis" in output
        link = re.search(r"(http://127\.0\.0\.1:\d+/#tgWebAppData=\S+)", output)
        assert link, output
        init_data = unquote(link.group(1).split("tgWebAppData=", 1)[1].split("&", 1)[0])
        async with aiohttp.ClientSession() as session:
            async with session.get(link.group(1)) as page:
                assert page.status == 200 and "<html" in (await page.text())
            # The link's initData passes the same validation a Telegram client's would.
            async with session.get(f"http://127.0.0.1:{port}/api/me",
                                   headers={"Authorization": f"tma {init_data}"}) as me:
                assert me.status == 200, await me.text()
                assert (await me.json())["first_name"] == "Demo"
            async with session.get(f"http://127.0.0.1:{port}/api/me",
                                   headers={"Authorization": f"tma {init_data.replace('Demo', 'Evil')}"}) as bad:
                assert bad.status == 401
    finally:
        code = store.stop(signal.SIGINT)
    assert code == 0, store.output()
    assert _servers_left(data_dir) == []
    assert "embedded PostgreSQL stopped" in store.output()

    # Second start: same data, a bot token, and a Telegram that refuses connections.
    dead_port = _free_port()
    store = Store(data_dir, port, BOT_TOKEN=FAKE_TOKEN, TELEGRAM_API_URL=f"http://127.0.0.1:{dead_port}")
    try:
        health = await store.wait_healthy()
        deadline = time.monotonic() + 60
        while health["telegram"]["state"] != "failing":  # type: ignore[index]
            assert time.monotonic() < deadline, health
            await asyncio.sleep(0.2)
            health = await store.wait_healthy()
        assert "unreachable" in health["telegram"]["detail"]  # type: ignore[index]
        assert "local mode" not in store.output()
        assert FAKE_TOKEN not in store.output()
        assert "demo data seeded" not in store.output()  # the database was not empty any more
    finally:
        code = store.stop(signal.SIGTERM)
    assert code == 0, store.output()
    assert _servers_left(data_dir) == []


async def test_worker_runs_alone_and_stops_on_sigterm(database_url: str, redis_url: str, data_dir: Path) -> None:
    from redis.asyncio import Redis

    from sync.worker import HEARTBEAT_KEY

    redis = Redis.from_url(redis_url)
    await redis.delete(HEARTBEAT_KEY)
    env = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "TELEGRAM_API_URL"}}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, DATA_DIR=str(data_dir))
    log = data_dir / "worker.log"
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "store.cli", "worker", env=env, cwd=data_dir,
                                                stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while await redis.get(HEARTBEAT_KEY) is None:  # the cron job ran: the worker takes jobs
            assert proc.returncode is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=60)
        await redis.aclose()
    assert code == 0, log.read_text()
    assert "embedded" not in log.read_text()  # the URLs were set: nothing embedded started
