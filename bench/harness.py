"""Processes the benchmarks run: the store under test, the ceiling server, and helpers to wait for them."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil


def cpu_seconds(names: tuple[str, ...]) -> float:
    """User + system CPU seconds used so far by every process whose name starts with one of
    `names` (PostgreSQL's backends, redis-server): sampled before and after a load, the
    difference is what the load cost those servers."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        name, times = proc.info.get("name") or "", proc.info.get("cpu_times")
        if times is not None and name.startswith(names):
            total += float(times.user + times.system)
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_http(url: str, timeout: float = 120, proc: subprocess.Popen[bytes] | None = None) -> float:
    """Seconds until `url` answers 200."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - started < timeout:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.02)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s")


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    log: Path
    port: int
    extra: dict[str, str] = field(default_factory=dict)
    _ps: psutil.Process | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20

    def tree_rss_mb(self) -> dict[str, float]:
        """RSS of the process and of each child (`run --processes N`: the parent, the web processes
        and the worker), by a label from the child's command line."""
        parent = psutil.Process(self.proc.pid)
        out = {"parent": float(parent.memory_info().rss) / 2**20}
        for index, child in enumerate(parent.children(recursive=True)):
            try:
                label = " ".join(child.cmdline()[-3:])
                out[f"{index}: {label}"] = float(child.memory_info().rss) / 2**20
            except psutil.Error:
                continue
        return out

    def cpu_percent(self) -> float:
        """CPU % since the previous call (the first call starts the interval): one psutil handle
        must be kept, a new one always answers 0."""
        if self._ps is None:
            self._ps = psutil.Process(self.proc.pid)
        return float(self._ps.cpu_percent())

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the process and its children (`run --processes N`: the web
        processes) have used so far."""
        parent = psutil.Process(self.proc.pid)
        total = 0.0
        for proc in (parent, *parent.children(recursive=True)):
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += float(times.user + times.system)
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(args: list[str], log: Path, port: int, env: dict[str, str] | None = None) -> Process:
    environ = {**os.environ, **(env or {})}
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, *args], env=environ, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    return Process(proc, log, port)
