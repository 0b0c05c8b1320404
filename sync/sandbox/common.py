"""Shared machinery of the marketplace sandboxes.

Every sandbox is one aiohttp application built by :func:`build_app` around a subclass of
:class:`SandboxState`. The state owns the marketplace's in-memory data plus the pieces that are
the same everywhere:

* :class:`RateLimiter`: one token bucket per (identity, limit group), configurable (rate, burst);
* :class:`FaultQueue`: "the next N matching requests misbehave" rules;
* :class:`CallLog`: every API request with its endpoint template, status and item count;
* the control API under ``/_sandbox/`` (see :func:`add_control_routes`), which only calls public
  methods of the state, so tests in the same process can call those methods directly instead.

The request pipeline (:func:`sandbox_middleware`) is: fault injection, authentication, rate
limiting, the marketplace handler, extra rate-limit cost, rate-limit headers, call log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import time
import uuid
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from aiohttp import web

CONTROL_PREFIX = "/_sandbox"

FaultMode = Literal["429", "500", "timeout", "garbage"]
FAULT_MODES: tuple[str, ...] = ("429", "500", "timeout", "garbage")
GARBAGE_BODIES: tuple[str, ...] = ("truncated", "html", "shape", "empty", "object", "hollow")


class SandboxError(ValueError):
    """Wrong use of the control API or of a state helper (the control API answers 400)."""


class ApiError(Exception):
    """Raised by a marketplace handler; the state turns it into that marketplace's error body.

    ``body`` bypasses the marketplace's usual error format (e.g. WB's 409 array).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | int | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.body = body
        self.headers = dict(headers or {})


# --------------------------------------------------------------------------------------------
# Clocks


class ManualClock:
    """A clock for tests: ``clock()`` returns the current value, ``advance(s)`` moves it on."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


def utc_from_timestamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def rfc3339(moment: datetime, *, micro: bool = False) -> str:
    """``2026-10-01T12:00:00Z`` (UTC, ``Z`` suffix); with ``micro`` keep microseconds."""
    moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="microseconds" if micro else "seconds")
    return text.replace("+00:00", "Z")


def parse_rfc3339(value: object, what: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{what} must be an RFC3339 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(400, f"{what} is not an RFC3339 date-time: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# --------------------------------------------------------------------------------------------
# Small validation helpers shared by the handlers


def strict_int(value: object, what: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A JSON integer (bools and floats rejected) within the bounds, else ApiError 400."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"{what} must be an integer")
    if minimum is not None and value < minimum:
        raise ApiError(400, f"{what} must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ApiError(400, f"{what} must be <= {maximum}")
    return value


def query_int(
    request: web.Request,
    name: str,
    *,
    default: int | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ApiError(400, f"query parameter {name} is required")
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, f"query parameter {name} must be an integer") from exc
    if minimum is not None and value < minimum:
        raise ApiError(400, f"query parameter {name} must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ApiError(400, f"query parameter {name} must be <= {maximum}")
    return value


def json_object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(400, f"{what} must be a JSON object")
    return value


def json_list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ApiError(400, f"{what} must be a JSON array")
    return value


def decimal_text(value: Decimal) -> str:
    """``Decimal("1530.00")`` -> ``"1530"``, ``Decimal("12.50")`` -> ``"12.5"`` (no exponent)."""
    normal = value.normalize()
    return format(normal, "f")


def parse_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return parsed if parsed.is_finite() else None


def opaque_cursor(payload: Mapping[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "invalid cursor") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid cursor")
    return data


def control_int(value: object, what: str) -> int:
    """Integer from control-API input (ints or integer strings), else SandboxError."""
    if isinstance(value, bool):
        raise SandboxError(f"{what} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise SandboxError(f"{what} must be an integer")


def control_list(data: object, key: str) -> list[dict[str, Any]]:
    """Control bodies are either a bare list or an object holding the list under ``key``."""
    if isinstance(data, dict):
        data = data.get(key, [])
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise SandboxError(f"expected a list of objects (or {{{key!r}: [...]}})")
    return data


# --------------------------------------------------------------------------------------------
# Rate limiting


@dataclass(frozen=True)
class LimitSpec:
    """``requests`` per ``period`` seconds, bucket size ``burst``."""

    requests: float
    period: float
    burst: int

    def __post_init__(self) -> None:
        if self.requests <= 0 or self.period <= 0 or self.burst < 1:
            raise SandboxError("a limit needs requests > 0, period > 0 and burst >= 1")

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self.requests / self.period

    def scaled(self, factor: float) -> LimitSpec:
        return LimitSpec(self.requests * factor, self.period, max(1, round(self.burst * factor)))

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "period": self.period, "burst": self.burst, "rate": self.rate}

    @classmethod
    def from_json(cls, data: object, base: LimitSpec | None = None) -> LimitSpec:
        if not isinstance(data, dict):
            raise SandboxError("a limit must be an object {requests, period, burst}")
        merged: dict[str, Any] = base.to_json() if base else {}
        merged.update(data)
        try:
            return cls(float(merged["requests"]), float(merged["period"]), int(merged["burst"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise SandboxError(f"bad limit {data!r}: need requests, period, burst") from exc


class TokenBucket:
    """Classic token bucket. Tokens may go negative through :meth:`charge` (a debt)."""

    def __init__(self, spec: LimitSpec, now: float) -> None:
        self.spec = spec
        self.tokens = float(spec.burst)
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(float(self.spec.burst), self.tokens + (now - self.updated) * self.spec.rate)
        self.updated = now

    def try_take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; return 0.0 on success, else the seconds until it would succeed."""
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.spec.rate

    def charge(self, now: float, cost: float) -> None:
        self._refill(now)
        self.tokens -= cost

    def remaining(self, now: float) -> int:
        self._refill(now)
        return max(0, math.floor(self.tokens))

    def until_full(self, now: float) -> float:
        self._refill(now)
        return max(0.0, (self.spec.burst - self.tokens) / self.spec.rate)


@dataclass(frozen=True)
class LimitDecision:
    group: str
    allowed: bool
    spec: LimitSpec
    remaining: int
    retry_after: float  # seconds; 0.0 when allowed
    reset_after: float  # seconds until the bucket is full again
    daily_limit: int | None = None
    daily_remaining: int | None = None
    retry_floor: int = 1  # injected faults may ask for 0

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, rounded up, at least ``retry_floor`` (HTTP ``Retry-After`` is delta-seconds)."""
        return str(max(self.retry_floor, math.ceil(self.retry_after)))


class RateLimiter:
    """Token buckets per (identity, group) plus an optional daily quota per identity."""

    def __init__(
        self, defaults: Mapping[str, LimitSpec], clock: Callable[[], float], wall: Callable[[], float]
    ) -> None:
        self.defaults = dict(defaults)
        self._clock = clock
        self._wall = wall
        self.enabled = True
        self.scale = 1.0
        self.overrides: dict[str, LimitSpec] = {}
        self.daily_quota: int | None = None
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._daily: dict[str, tuple[str, int]] = {}

    def reset(self) -> None:
        """Back to the defaults, all buckets full."""
        self.enabled = True
        self.scale = 1.0
        self.overrides.clear()
        self.daily_quota = None
        self._buckets.clear()
        self._daily.clear()

    def spec(self, group: str) -> LimitSpec:
        if group in self.overrides:
            return self.overrides[group]
        base = self.defaults.get(group)
        if base is None:
            raise SandboxError(f"unknown limit group {group!r}; known: {sorted(self.defaults)}")
        return base.scaled(self.scale) if self.scale != 1.0 else base

    def configure(
        self,
        *,
        enabled: bool | None = None,
        scale: float | None = None,
        groups: Mapping[str, LimitSpec | Mapping[str, Any]] | None = None,
        daily_quota: int | Literal["keep"] | None = "keep",
    ) -> None:
        """Change enforcement; every bucket starts again full."""
        if enabled is not None:
            self.enabled = bool(enabled)
        if scale is not None:
            if scale <= 0:
                raise SandboxError("scale must be > 0")
            self.scale = float(scale)
        for group, spec in (groups or {}).items():
            if group not in self.defaults:
                raise SandboxError(f"unknown limit group {group!r}; known: {sorted(self.defaults)}")
            self.overrides[group] = (
                spec if isinstance(spec, LimitSpec) else LimitSpec.from_json(spec, self.spec(group))
            )
        if daily_quota != "keep":
            if daily_quota is not None and daily_quota < 0:
                raise SandboxError("daily_quota must be >= 0 or null")
            self.daily_quota = daily_quota
        self._buckets.clear()
        self._daily.clear()

    def _bucket(self, identity: str, group: str) -> TokenBucket:
        key = (identity, group)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.spec(group), self._clock())
            self._buckets[key] = bucket
        return bucket

    def _day(self) -> str:
        return utc_from_timestamp(self._wall()).strftime("%Y-%m-%d")

    def _daily_used(self, identity: str) -> int:
        day, used = self._daily.get(identity, ("", 0))
        return used if day == self._day() else 0

    def _seconds_to_midnight(self) -> float:
        now = self._wall()
        return 86400.0 - (now % 86400.0)

    def check(self, identity: str, group: str, cost: float = 1.0) -> LimitDecision:
        """Take ``cost`` tokens from the bucket if enforcement is on."""
        spec = self.spec(group)
        now = self._clock()
        bucket = self._bucket(identity, group)
        daily_limit = self.daily_quota
        daily_remaining: int | None = None
        if daily_limit is not None:
            used = self._daily_used(identity)
            daily_remaining = max(0, daily_limit - used)
            if self.enabled and used + cost > daily_limit:
                return LimitDecision(
                    group,
                    False,
                    spec,
                    bucket.remaining(now),
                    self._seconds_to_midnight(),
                    bucket.until_full(now),
                    daily_limit,
                    daily_remaining,
                )
        if not self.enabled:
            return LimitDecision(group, True, spec, spec.burst, 0.0, 0.0, daily_limit, daily_remaining)
        wait = bucket.try_take(now, cost)
        if wait > 0:
            return LimitDecision(
                group,
                False,
                spec,
                bucket.remaining(now),
                wait,
                bucket.until_full(now),
                daily_limit,
                daily_remaining,
            )
        if daily_limit is not None:
            used = self._daily_used(identity) + int(cost)
            self._daily[identity] = (self._day(), used)
            daily_remaining = max(0, daily_limit - used)
        return LimitDecision(
            group,
            True,
            spec,
            bucket.remaining(now),
            0.0,
            bucket.until_full(now),
            daily_limit,
            daily_remaining,
        )

    def charge(self, identity: str, group: str, cost: float) -> None:
        """Extra cost after the fact (WB: a 4XX counts as 10 requests)."""
        if self.enabled and cost > 0:
            self._bucket(identity, group).charge(self._clock(), cost)

    def status(self, identity: str, group: str) -> LimitDecision:
        """The bucket as it is now, without taking a token."""
        spec = self.spec(group)
        now = self._clock()
        bucket = self._bucket(identity, group)
        daily_remaining = None
        if self.daily_quota is not None:
            daily_remaining = max(0, self.daily_quota - self._daily_used(identity))
        if not self.enabled:
            return LimitDecision(group, True, spec, spec.burst, 0.0, 0.0, self.daily_quota, daily_remaining)
        return LimitDecision(
            group,
            True,
            spec,
            bucket.remaining(now),
            0.0,
            bucket.until_full(now),
            self.daily_quota,
            daily_remaining,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "scale": self.scale,
            "daily_quota": self.daily_quota,
            "groups": {group: self.spec(group).to_json() for group in sorted(self.defaults)},
            "defaults": {group: spec.to_json() for group, spec in sorted(self.defaults.items())},
        }


# --------------------------------------------------------------------------------------------
# Fault injection


@dataclass
class FaultRule:
    """The next ``count`` requests whose path starts with ``path`` (and method is ``method``) misbehave.

    * ``429``: the marketplace's own 429 with ``Retry-After`` = ``retry_after`` seconds;
    * ``500``: answer ``status`` (500, 502, 503 or 504); 500 carries the marketplace's JSON error
      body, 502/503/504 an HTML gateway page;
    * ``timeout``: sleep ``delay`` seconds, then answer normally (with ``apply`` false: sleep, then
      a 504 gateway page without running the request);
    * ``garbage``: 200 with a broken body: ``truncated`` JSON, an ``html`` page, valid JSON of the
      wrong ``shape``, an ``empty`` body, an empty JSON ``object`` (``{}``), or a ``hollow`` answer:
      the marketplace's own success wrapper with nothing in it (:meth:`SandboxState.hollow_response`).
      Unless ``apply`` is set the request is not applied: a 200 that changed nothing, as a faulty
      gateway or a half-deployed marketplace can answer.

    ``apply`` says whether the real handler runs (changing state) before the fault is served. By
    default only ``timeout`` applies the request, like a slow server that did the write.
    ``count`` -1 means "until cleared".
    """

    mode: FaultMode
    count: int = 1
    path: str | None = None
    method: str | None = None
    retry_after: float = 1.0
    delay: float = 1.0
    status: int = 500
    body: str = "truncated"
    apply: bool | None = None
    served: int = 0

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES:
            raise SandboxError(f"fault mode must be one of {FAULT_MODES}")
        if self.count == 0 or self.count < -1:
            raise SandboxError("count must be >= 1 (or -1 for until cleared)")
        if self.mode == "500" and self.status not in (500, 502, 503, 504):
            raise SandboxError("status must be 500, 502, 503 or 504")
        if self.body not in GARBAGE_BODIES:
            raise SandboxError(f"body must be one of {GARBAGE_BODIES}")
        if self.delay < 0 or self.retry_after < 0:
            raise SandboxError("delay and retry_after must be >= 0")
        if self.method is not None:
            self.method = self.method.upper()

    @classmethod
    def from_json(cls, data: object) -> FaultRule:
        if not isinstance(data, dict):
            raise SandboxError("a fault must be a JSON object")
        data = dict(data)
        mode = str(data.pop("mode", ""))
        if mode in ("502", "503", "504"):
            data.setdefault("status", int(mode))
            mode = "500"
        if mode not in FAULT_MODES:
            raise SandboxError(f"fault mode must be one of {FAULT_MODES} (or 502/503/504)")
        allowed = {"count", "path", "method", "retry_after", "delay", "status", "body", "apply"}
        unknown = set(data) - allowed
        if unknown:
            raise SandboxError(f"unknown fault keys {sorted(unknown)}")
        try:
            return cls(
                mode=mode,  # type: ignore[arg-type]  # checked against FAULT_MODES above
                count=int(data.get("count", 1)),
                path=data.get("path"),
                method=data.get("method"),
                retry_after=float(data.get("retry_after", 1.0)),
                delay=float(data.get("delay", 1.0)),
                status=int(data.get("status", 500)),
                body=str(data.get("body", "truncated")),
                apply=None if data.get("apply") is None else bool(data["apply"]),
            )
        except (TypeError, ValueError) as exc:
            raise SandboxError(f"bad fault {data!r}: {exc}") from exc

    @property
    def applies_request(self) -> bool:
        return self.apply if self.apply is not None else self.mode == "timeout"

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path is None or path.startswith(self.path)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "count": self.count,
            "path": self.path,
            "method": self.method,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "status": self.status,
            "body": self.body,
            "apply": self.applies_request,
            "served": self.served,
        }


class FaultQueue:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first matching rule, consuming one of its uses."""
        for rule in self.rules:
            if rule.matches(method, path):
                rule.served += 1
                if rule.count > 0:
                    rule.count -= 1
                    if rule.count == 0:
                        self.rules.remove(rule)
                return rule
        return None

    def clear(self) -> None:
        self.rules.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        return [rule.to_json() for rule in self.rules]


# --------------------------------------------------------------------------------------------
# Call log


@dataclass
class CallRecord:
    """One API request as the sandbox saw it.

    ``items`` is the number of items in the request's batch (None for requests without one);
    ``ignored`` counts batch items the marketplace silently skipped (WB unknown keys);
    ``changed`` counts items that changed state.
    """

    seq: int
    at: float
    method: str
    path: str
    endpoint: str
    query: dict[str, str]
    identity: str | None = None
    status: int = 0
    items: int | None = None
    ignored: int = 0
    changed: int | None = None
    fault: str | None = None
    limited: bool = False
    note: str | None = None
    body: Any = None
    duration_ms: float = 0.0

    def to_json(self, include_body: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "seq": self.seq,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "query": self.query,
            "identity": self.identity,
            "status": self.status,
            "items": self.items,
            "ignored": self.ignored,
            "changed": self.changed,
            "fault": self.fault,
            "limited": self.limited,
            "note": self.note,
            "duration_ms": round(self.duration_ms, 3),
        }
        if include_body:
            data["body"] = self.body
        return data


class CallLog:
    """Recent requests (bounded) plus exact counts per endpoint and per (endpoint, status)."""

    def __init__(self, maxlen: int = 20_000) -> None:
        self.records: deque[CallRecord] = deque(maxlen=maxlen)
        self.counts: Counter[str] = Counter()
        self.statuses: dict[str, Counter[int]] = {}
        self._seq = 0

    def start(self, request: web.Request, endpoint: str, at: float) -> CallRecord:
        self._seq += 1
        return CallRecord(self._seq, at, request.method, request.path, endpoint, dict(request.query))

    def finish(self, record: CallRecord) -> None:
        self.records.append(record)
        self.counts[record.endpoint] += 1
        self.statuses.setdefault(record.endpoint, Counter())[record.status] += 1

    def clear(self) -> None:
        self.records.clear()
        self.counts.clear()
        self.statuses.clear()

    def for_endpoint(self, endpoint: str) -> list[CallRecord]:
        """Records of one endpoint, e.g. ``"PUT /api/v3/stocks/{warehouseId}"``."""
        return [record for record in self.records if record.endpoint == endpoint]

    def count(self, endpoint: str, status: int | None = None) -> int:
        if status is None:
            return self.counts[endpoint]
        return self.statuses.get(endpoint, Counter())[status]

    def snapshot(self, include_bodies: bool = False) -> dict[str, Any]:
        return {
            "total": sum(self.counts.values()),
            "counts": dict(self.counts),
            "statuses": {ep: {str(k): v for k, v in c.items()} for ep, c in self.statuses.items()},
            "log": [record.to_json(include_bodies) for record in self.records],
        }


# --------------------------------------------------------------------------------------------
# The state base class


class SandboxState(ABC):
    """In-memory marketplace. Subclasses add the catalogue, prices, stocks and orders.

    The public methods are the Python-side control API (the HTTP control API calls exactly these):
    :meth:`seed_catalog`, :meth:`set_credentials`, :meth:`add_orders`, :meth:`set_order_status`,
    :meth:`add_fault` / :meth:`inject_fault`, :meth:`configure_limits`, :meth:`configure`,
    :meth:`snapshot`, :meth:`reset`, plus ``calls`` (a :class:`CallLog`).
    """

    marketplace: ClassVar[str] = ""
    limit_defaults: ClassVar[Mapping[str, LimitSpec]] = {}

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] | None = None,
        enforce_limits: bool = True,
    ) -> None:
        self.clock: Callable[[], float] = clock or time.monotonic
        self.wall_clock: Callable[[], float] = wall_clock or time.time
        self.limiter = RateLimiter(self.limit_defaults, self.clock, self.wall_clock)
        self.faults = FaultQueue()
        self.calls = CallLog()
        self._enforce_default = enforce_limits
        self.limiter.enabled = enforce_limits
        self._init_data()

    # ---- lifecycle -------------------------------------------------------------------------

    @abstractmethod
    def _init_data(self) -> None:
        """(Re)create the marketplace data, default credentials and options."""

    def reset(self) -> None:
        """Forget everything: data, credentials, options, faults, limits, call log."""
        self.faults.clear()
        self.calls.clear()
        self.limiter.reset()
        self.limiter.enabled = self._enforce_default
        self._init_data()

    def now(self) -> datetime:
        return utc_from_timestamp(self.wall_clock())

    def now_ms(self) -> int:
        return int(self.wall_clock() * 1000)

    # ---- hooks used by the middleware --------------------------------------------------------

    def before_request(self) -> None:  # noqa: B027  # an optional hook, empty by default
        """Called before each API request (e.g. to finish due asynchronous tasks)."""

    @abstractmethod
    def authenticate(self, request: web.Request) -> str:
        """The caller's identity (token or client id); raise ApiError(401/403) otherwise."""

    @abstractmethod
    def limit_groups(self, request: web.Request) -> Sequence[str]:
        """The buckets this request draws from (all must have a token)."""

    @abstractmethod
    def error_response(self, error: ApiError) -> web.Response:
        """The marketplace's error body for ``error``."""

    @abstractmethod
    def rate_limited_response(self, decision: LimitDecision) -> web.Response:
        """The marketplace's 429."""

    def rate_headers(self, decision: LimitDecision) -> dict[str, str]:
        """Rate-limit headers for a normal response."""
        return {}

    def extra_cost(self, group: str, status: int) -> int:
        """Tokens to take after the handler answered ``status`` (besides the one already taken)."""
        return 0

    def internal_error_response(self) -> web.Response:
        return self.error_response(ApiError(500, "Internal server error", code="internal"))

    def hollow_response(self) -> web.Response:
        """A 200 in the marketplace's success shape that confirms nothing (the ``hollow`` garbage
        body); by default an empty JSON object."""
        return web.json_response({})

    # ---- Python-side control API ---------------------------------------------------------------

    @abstractmethod
    def seed_catalog(self, data: Any) -> dict[str, Any]:
        """Add or replace catalogue items given in the marketplace's own key terms."""

    @abstractmethod
    def set_credentials(self, data: Any) -> dict[str, Any]:
        """Replace the accepted credentials."""

    @abstractmethod
    def add_orders(self, data: Any) -> list[dict[str, Any]]:
        """Create orders (a list or one object); returns them as the API would show them."""

    @abstractmethod
    def set_order_status(self, order_id: str, data: Any) -> dict[str, Any]:
        """Change one order's status; returns the order as the API would show it."""

    @abstractmethod
    def snapshot_data(self) -> dict[str, Any]:
        """Marketplace-specific part of :meth:`snapshot` (prices, stocks, orders, ...)."""

    def stock_levels(self, keys: Sequence[str]) -> dict[str, int | None]:
        """The stock each item shows now, by the marketplace's stock key (Uzum: barcode, Wildberries:
        chrtId, Ozon: offer_id); None for an unknown key. A cheap read for whoever waits for a push to
        arrive (``GET /_sandbox/stock``), where the whole snapshot would be too heavy to poll."""
        raise SandboxError(f"the {self.marketplace} sandbox has no stock lookup")

    def options(self) -> dict[str, Any]:
        """Marketplace-specific knobs (see :meth:`configure`)."""
        return {}

    def configure(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Set marketplace-specific knobs; unknown keys are an error."""
        current = self.options()
        unknown = set(data) - set(current)
        if unknown:
            raise SandboxError(f"unknown options {sorted(unknown)}; known: {sorted(current)}")
        for key, value in data.items():
            self._set_option(key, value)
        return self.options()

    def _set_option(self, key: str, value: Any) -> None:
        raise SandboxError(f"option {key!r} cannot be set")

    def snapshot(self, include_bodies: bool = False) -> dict[str, Any]:
        self.before_request()
        return {
            "marketplace": self.marketplace,
            **self.snapshot_data(),
            "options": self.options(),
            "limits": self.limiter.snapshot(),
            "faults": self.faults.snapshot(),
            "calls": self.calls.snapshot(include_bodies),
        }

    def add_fault(self, rule: FaultRule | Mapping[str, Any]) -> FaultRule:
        if not isinstance(rule, FaultRule):
            rule = FaultRule.from_json(dict(rule))
        return self.faults.add(rule)

    def inject_fault(self, mode: FaultMode, count: int = 1, **options: Any) -> FaultRule:
        """``state.inject_fault("429", 2, path="/api/v3/stocks", retry_after=3)``."""
        return self.add_fault({"mode": mode, "count": count, **options})

    def clear_faults(self) -> None:
        self.faults.clear()

    def configure_limits(
        self,
        *,
        enabled: bool | None = None,
        scale: float | None = None,
        groups: Mapping[str, LimitSpec | Mapping[str, Any]] | None = None,
        daily_quota: int | Literal["keep"] | None = "keep",
    ) -> dict[str, Any]:
        """Switch enforcement, scale every default, or set (requests, period, burst) per group."""
        self.limiter.configure(enabled=enabled, scale=scale, groups=groups, daily_quota=daily_quota)
        return self.limiter.snapshot()


# --------------------------------------------------------------------------------------------
# Pipeline

STATE_KEY: web.AppKey[SandboxState] = web.AppKey("sandbox_state", SandboxState)
CALL_KEY: web.RequestKey[CallRecord] = web.RequestKey("sandbox_call", CallRecord)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def call_record(request: web.Request) -> CallRecord:
    """The call-log record of the request being served (handlers fill ``items``, ``note``...)."""
    return request[CALL_KEY]


async def read_json(request: web.Request) -> Any:
    """The parsed body (recorded in the call log); ApiError 400 when it is not JSON."""
    raw = await request.read()
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "request body is not valid JSON") from exc
    record = request.get(CALL_KEY)
    if record is not None:
        record.body = data
    return data


def endpoint_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else request.path
    return f"{request.method} {template}"


def _garbage_response(state: SandboxState, kind: str) -> web.Response:
    if kind == "hollow":
        return state.hollow_response()
    if kind == "object":
        return web.json_response({})
    if kind == "html":
        return web.Response(
            status=200,
            text="<html><body><h1>Service temporarily unavailable</h1></body></html>",
            content_type="text/html",
        )
    if kind == "shape":
        return web.json_response({"status": "ok", "items": "not-a-list", "data": [None, 1, "x"]})
    if kind == "empty":
        return web.Response(status=200, body=b"", content_type="application/json")
    return web.Response(
        status=200, text='{"result": [{"id": 1, "name": "tru', content_type="application/json"
    )


def _gateway_page(status: int) -> web.Response:
    reason = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}[status]
    html = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}"
        "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return web.Response(status=status, text=html, content_type="text/html")


def _fault_response(state: SandboxState, rule: FaultRule) -> web.Response:
    if rule.mode == "429":
        spec = next(iter(state.limit_defaults.values()))
        decision = LimitDecision("fault", False, spec, 0, rule.retry_after, rule.retry_after, retry_floor=0)
        return state.rate_limited_response(decision)
    if rule.mode == "garbage":
        return _garbage_response(state, rule.body)
    if rule.status == 500:
        return state.internal_error_response()
    return _gateway_page(rule.status)


async def _serve(
    state: SandboxState, request: web.Request, handler: Handler, record: CallRecord
) -> web.StreamResponse:
    state.before_request()
    rule = state.faults.take(request.method, request.path)
    if rule is not None:
        record.fault = rule.mode
        if not rule.applies_request:
            if rule.mode == "timeout":  # never reached the backend: slow, then a gateway timeout
                await asyncio.sleep(rule.delay)
                return _gateway_page(504)
            return _fault_response(state, rule)
    try:
        identity = state.authenticate(request)
    except ApiError as error:
        return state.error_response(error)
    record.identity = identity
    taken: list[str] = []
    for group in state.limit_groups(request):
        decision = state.limiter.check(identity, group)
        if not decision.allowed:
            record.limited = True
            return state.rate_limited_response(decision)
        taken.append(group)
    try:
        response = await handler(request)
    except ApiError as error:
        response = state.error_response(error)
    for group in taken:
        state.limiter.charge(identity, group, state.extra_cost(group, response.status))
    if taken:
        response.headers.update(state.rate_headers(state.limiter.status(identity, taken[-1])))
    if rule is not None:
        if rule.mode == "timeout":
            await asyncio.sleep(rule.delay)
            return response
        return _fault_response(state, rule)
    return response


@web.middleware
async def sandbox_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(CONTROL_PREFIX + "/"):
        return await handler(request)
    state = request.app[STATE_KEY]
    started = time.perf_counter()
    record = state.calls.start(request, endpoint_of(request), state.wall_clock())
    request[CALL_KEY] = record
    try:
        response = await _serve(state, request, handler, record)
    except web.HTTPException as exc:  # router 404/405 and the like
        record.status = exc.status
        raise
    except asyncio.CancelledError:  # the client went away and the server cancelled the handler
        record.status = 499
        record.note = "client disconnected before the answer"
        raise
    except Exception:
        record.status = 500
        raise
    else:
        record.status = response.status
    finally:
        record.duration_ms = (time.perf_counter() - started) * 1000
        if record.status:
            state.calls.finish(record)
    return response


# --------------------------------------------------------------------------------------------
# Control API


def _control_error(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _control_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise SandboxError("body is not valid JSON") from exc


def _control(action: Callable[[SandboxState, web.Request, Any], Any]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE_KEY]
        try:
            body = await _control_body(request) if request.method in ("POST", "PUT") else {}
            result = action(state, request, body)
        except SandboxError as exc:
            return _control_error(str(exc))
        return web.json_response(result)

    return handler


def _get_state(state: SandboxState, request: web.Request, _body: Any) -> Any:
    return state.snapshot(include_bodies=request.query.get("bodies", "") in ("1", "true", "yes"))


def _stock(state: SandboxState, request: web.Request, _body: Any) -> Any:
    keys = request.query.getall("key", [])
    if not keys:
        raise SandboxError("give the items as ?key=...&key=... (Uzum: barcode, Wildberries: chrtId, Ozon: offer_id)")
    return {"stock": state.stock_levels(keys)}


def _reset(state: SandboxState, _request: web.Request, _body: Any) -> Any:
    state.reset()
    return {"ok": True}


def _catalog(state: SandboxState, _request: web.Request, body: Any) -> Any:
    return state.seed_catalog(body)


def _credentials(state: SandboxState, _request: web.Request, body: Any) -> Any:
    return state.set_credentials(body)


def _orders(state: SandboxState, _request: web.Request, body: Any) -> Any:
    return {"orders": state.add_orders(body)}


def _order_status(state: SandboxState, request: web.Request, body: Any) -> Any:
    return state.set_order_status(request.match_info["order_id"], body)


def _faults_add(state: SandboxState, _request: web.Request, body: Any) -> Any:
    rules = body if isinstance(body, list) else [body]
    for rule in rules:
        state.add_fault(FaultRule.from_json(rule))
    return {"faults": state.faults.snapshot()}


def _faults_get(state: SandboxState, _request: web.Request, _body: Any) -> Any:
    return {"faults": state.faults.snapshot()}


def _faults_clear(state: SandboxState, _request: web.Request, _body: Any) -> Any:
    state.clear_faults()
    return {"faults": []}


def _limits_get(state: SandboxState, _request: web.Request, _body: Any) -> Any:
    return state.limiter.snapshot()


def _limits_set(state: SandboxState, _request: web.Request, body: Any) -> Any:
    if not isinstance(body, dict):
        raise SandboxError("limits body must be an object")
    unknown = set(body) - {"enabled", "scale", "groups", "daily_quota", "reset"}
    if unknown:
        raise SandboxError(f"unknown limits keys {sorted(unknown)}")
    if body.get("reset"):
        state.limiter.reset()
    groups = body.get("groups")
    if groups is not None and not isinstance(groups, dict):
        raise SandboxError("groups must be an object {group: {requests, period, burst}}")
    scale = body.get("scale")
    try:
        scale_value = None if scale is None else float(scale)
    except (TypeError, ValueError) as exc:
        raise SandboxError("scale must be a number") from exc
    daily: int | Literal["keep"] | None = "keep"
    if "daily_quota" in body:
        daily = None if body["daily_quota"] is None else control_int(body["daily_quota"], "daily_quota")
    enabled = body.get("enabled")
    return state.configure_limits(
        enabled=None if enabled is None else bool(enabled),
        scale=scale_value,
        groups=groups,
        daily_quota=daily,
    )


def _config_get(state: SandboxState, _request: web.Request, _body: Any) -> Any:
    return state.options()


def _config_set(state: SandboxState, _request: web.Request, body: Any) -> Any:
    if not isinstance(body, dict):
        raise SandboxError("config body must be an object")
    return state.configure(body)


def _calls_clear(state: SandboxState, _request: web.Request, _body: Any) -> Any:
    state.calls.clear()
    return {"ok": True}


def add_control_routes(app: web.Application) -> None:
    """``/_sandbox/...``: state, stock, reset, catalog, credentials, orders, faults, limits, config, calls."""
    p = CONTROL_PREFIX
    app.router.add_get(f"{p}/state", _control(_get_state))
    app.router.add_get(f"{p}/stock", _control(_stock))
    app.router.add_post(f"{p}/reset", _control(_reset))
    app.router.add_post(f"{p}/catalog", _control(_catalog))
    app.router.add_post(f"{p}/credentials", _control(_credentials))
    app.router.add_post(f"{p}/orders", _control(_orders))
    app.router.add_post(f"{p}/orders/{{order_id}}/status", _control(_order_status))
    app.router.add_get(f"{p}/faults", _control(_faults_get))
    app.router.add_post(f"{p}/faults", _control(_faults_add))
    app.router.add_delete(f"{p}/faults", _control(_faults_clear))
    app.router.add_get(f"{p}/limits", _control(_limits_get))
    app.router.add_post(f"{p}/limits", _control(_limits_set))
    app.router.add_get(f"{p}/config", _control(_config_get))
    app.router.add_post(f"{p}/config", _control(_config_set))
    app.router.add_delete(f"{p}/calls", _control(_calls_clear))


def build_app(state: SandboxState) -> web.Application:
    """An application with the sandbox middleware and the control API; add the API routes to it."""
    app = web.Application(middlewares=[sandbox_middleware], client_max_size=16 * 1024 * 1024)
    app[STATE_KEY] = state
    add_control_routes(app)
    return app


def new_request_id() -> str:
    return uuid.uuid4().hex


# --------------------------------------------------------------------------------------------
# Running servers and talking to them from another process


@dataclass
class RunningSandbox:
    """A sandbox listening on a TCP port (see :func:`start_sandbox`)."""

    runner: web.AppRunner
    host: str
    port: int
    state: SandboxState

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_sandbox(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> RunningSandbox:
    """Serve ``app`` on ``host:port`` (port 0 picks a free one) and return where it listens."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = [addr for addr in runner.addresses if isinstance(addr, tuple)]
    actual_port = int(sockets[0][1]) if sockets else port
    return RunningSandbox(runner, host, actual_port, app[STATE_KEY])


@dataclass
class SandboxControl:
    """The control API over HTTP, for a sandbox running in another process.

    ``session`` is an ``aiohttp.ClientSession`` owned by the caller.
    """

    session: Any
    base_url: str

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.base_url.rstrip('/')}{CONTROL_PREFIX}{path}"
        async with self.session.request(method, url, json=body) as response:
            data = await response.json()
            if response.status != 200:
                raise SandboxError(str(data.get("error", data)))
            return data

    async def state(self, include_bodies: bool = False) -> Any:
        return await self._call("GET", "/state?bodies=1" if include_bodies else "/state")

    async def stock(self, keys: Sequence[str]) -> dict[str, int | None]:
        """The stock of these items (see :meth:`SandboxState.stock_levels`)."""
        query = "&".join(f"key={quote(str(key), safe='')}" for key in keys)
        levels: dict[str, int | None] = (await self._call("GET", f"/stock?{query}"))["stock"]
        return levels

    async def reset(self) -> Any:
        return await self._call("POST", "/reset", {})

    async def seed_catalog(self, data: Any) -> Any:
        return await self._call("POST", "/catalog", data)

    async def set_credentials(self, data: Any) -> Any:
        return await self._call("POST", "/credentials", data)

    async def add_orders(self, data: Any) -> Any:
        return await self._call("POST", "/orders", data)

    async def set_order_status(self, order_id: str | int, data: Any) -> Any:
        return await self._call("POST", f"/orders/{order_id}/status", data)

    async def inject_fault(self, mode: str, count: int = 1, **options: Any) -> Any:
        return await self._call("POST", "/faults", {"mode": mode, "count": count, **options})

    async def clear_faults(self) -> Any:
        return await self._call("DELETE", "/faults")

    async def configure_limits(self, **options: Any) -> Any:
        return await self._call("POST", "/limits", options)

    async def configure(self, **options: Any) -> Any:
        return await self._call("POST", "/config", options)

    async def clear_calls(self) -> Any:
        return await self._call("DELETE", "/calls")
