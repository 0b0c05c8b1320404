"""HTTP load from a separate process: wrk (C, event-driven) so the load generator is not the
bottleneck; its latency distribution gives p50/p99."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_LUA = """
wrk.headers["Authorization"] = os.getenv("WRK_AUTH") or ""
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d errors=%d status_errors=%d p50_us=%d p99_us=%d\\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def available() -> bool:
    return shutil.which("wrk") is not None


def run(url: str, *, connections: int = 32, seconds: int = 10, auth: str = "", threads: int = 1) -> LoadResult:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "report.lua"
        script.write_text(_LUA)
        env = {"WRK_AUTH": auth, "PATH": "/usr/bin:/bin"}
        out = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "-s", str(script),
             "--timeout", "10s", url],
            capture_output=True, text=True, env=env, check=True, timeout=seconds + 60,
        ).stdout
    match = re.search(r"RESULT requests=(\d+) duration_us=(\d+) errors=(\d+) status_errors=(\d+) "
                      r"p50_us=(\d+) p99_us=(\d+)", out)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    requests, duration, errors, status_errors, p50, p99 = map(int, match.groups())
    return LoadResult(rps=requests / (duration / 1e6), p50_ms=p50 / 1000, p99_ms=p99 / 1000,
                      requests=requests, errors=errors + status_errors)
