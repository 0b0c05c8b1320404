"""The HTTP layer under every marketplace adapter: one :class:`MarketplaceClient` per account over
the worker's shared `aiohttp.ClientSession`.

Every request:

1. takes a token from each of its rate-limit buckets (sync.ratelimit), sleeping exactly as long as
   the bucket says;
2. is sent with a per-request timeout;
3. tells the limiter what the response's rate-limit headers said (remaining, replenish rate, burst);
4. on 429 waits what the marketplace asked (`X-Ratelimit-Retry` / `Retry-After`, capped at
   `max_retry_wait`), blocking the bucket for every worker, and tries again, at most
   `max_rate_limited` times; a longer requested wait fails at once (`rate_limited`);
5. on 5xx, a timeout or a broken connection retries with bounded exponential backoff and jitter, at
   most `max_tries` attempts in all (our writes are absolute values, so a repeat is harmless);
6. never repeats any other 4XX: it raises :class:`HttpError` (`auth` for 401/403, else `rejected`)
   with the parsed body, so an adapter can read per-item errors out of it (WB's 409 array);
7. parses the body as JSON; a body that is not JSON is `bad_response` with a short excerpt.

Secrets (tokens, API keys) never leave this module: they are only in request headers, and every
message, excerpt and log line is scrubbed of them. aiohttp's own exceptions (whose request info
holds the headers) are never chained.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from sync.adapters.base import MarketplaceError
from sync.ratelimit import BucketKey, Clock, Limit, RateLimiter, RateLimitWait

log = logging.getLogger(__name__)

EXCERPT_CHARS = 200


class HttpError(MarketplaceError):
    """A 4XX/5XX answer (after any retries): `status` and the parsed body (`payload`, None when the
    body was not JSON)."""

    def __init__(self, kind: str, message: str, *, status: int, payload: Any = None) -> None:
        super().__init__(kind, message)
        self.status = status
        self.payload = payload


@dataclass(frozen=True, slots=True)
class ClientOptions:
    timeout: float = 30.0  # seconds per attempt
    max_tries: int = 4  # attempts in all on 5xx, timeouts and broken connections
    max_rate_limited: int = 3  # 429s waited out per request before giving up
    max_retry_wait: float = 120.0  # longest wait a 429 (or a blocked bucket) may ask for
    backoff_base: float = 0.5  # first backoff; doubles each attempt (with jitter: 50-100 % of it)
    backoff_cap: float = 8.0
    concurrency: int = 4  # requests an adapter keeps in flight in one push (the limiter paces them)


@dataclass(frozen=True, slots=True)
class RateHeaders:
    """Which response headers carry what (names are case-insensitive)."""

    remaining: tuple[str, ...] = ()
    rate: tuple[str, ...] = ()
    burst: tuple[str, ...] = ()
    retry: tuple[str, ...] = ("Retry-After",)
    day_remaining: tuple[str, ...] = ()  # a per-day quota (Uzum's gateway): what is left today
    day_limit: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    data: Any  # parsed JSON; None for an empty body
    headers: Mapping[str, str]
    attempts: int  # > 1: an earlier attempt failed (timeout, 5xx, 429) and this is a repeat


@dataclass
class CallTally:
    """Counts the HTTP requests (retries included) of one adapter operation."""

    calls: int = 0


_SPACES = re.compile(r"\s+")


def redact(text: str, secrets: Collection[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def excerpt(text: str, secrets: Collection[str], limit: int = EXCERPT_CHARS) -> str:
    """A short one-line piece of a body for a message a person reads, without secrets."""
    clean = _SPACES.sub(" ", redact(text, secrets)).strip()
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def describe_error(payload: Any) -> str | None:
    """The marketplace's own words from an error body: Uzum `errors[]`, WB `errorText`/`detail`/409
    array, Ozon `message`."""
    if isinstance(payload, list):
        parts = [describe_error(item) for item in payload[:5]]
        text = "; ".join(p for p in parts if p)
        return text or None
    if not isinstance(payload, dict):
        return None
    errors = payload.get("errors")
    if isinstance(errors, list) and errors:
        parts = []
        for error in errors[:5]:
            if isinstance(error, dict):
                code, message = error.get("code"), error.get("message")
                parts.append(": ".join(str(p) for p in (code, message) if p))
        if any(parts):
            return "; ".join(p for p in parts if p)
    for name in ("errorText", "detail", "message", "title", "error"):
        value = payload.get(name)
        if isinstance(value, str) and value:
            code = payload.get("code")
            return f"{code}: {value}" if code not in (None, "") and name != "errorText" else value
    return None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After`-style header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _header_number(headers: Mapping[str, str], names: Sequence[str]) -> float | None:
    for name in names:
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw.strip())
        except ValueError:
            continue
        if math.isfinite(value):
            return value
    return None


class MarketplaceClient:
    """HTTP for one marketplace account.

    `groups` of a request name its rate-limit buckets in `limits`; the first is the one the
    response headers describe (and the one a 429 blocks). `secrets` are scrubbed from every message
    (by default the values of `auth_headers`). `calls` counts every request sent, retries included.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        slug: str,
        account_key: str,
        base_url: str,
        auth_headers: Mapping[str, str],
        limiter: RateLimiter,
        limits: Mapping[str, Limit],
        rate_headers: RateHeaders | None = None,
        options: ClientOptions | None = None,
        clock: Clock | None = None,
        secrets: Collection[str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.session = session
        self.slug = slug
        self.account_key = account_key
        self.base_url = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", **auth_headers}
        self.limiter = limiter
        self.limits = dict(limits)
        self.rate_headers = rate_headers or RateHeaders()
        self.options = options or ClientOptions()
        self.clock: Clock = clock or limiter.clock
        self._secrets = tuple(
            s for s in (secrets if secrets is not None else auth_headers.values()) if s and len(s) >= 3
        )
        self._rng = rng or random.Random()  # jitter, not cryptography
        self.calls = 0
        self.day_remaining: int | None = None  # the per-day quota as the last answer gave it
        self.day_limit: int | None = None
        self._day_in_flight = 0  # requests sent whose answer (and quota count) has not come yet

    # ---- helpers the adapters use -------------------------------------------------------------

    def scrub(self, text: str) -> str:
        return redact(text, self._secrets)

    def bad_response(self, what: str, data: Any = None) -> MarketplaceError:
        """`bad_response` naming what was wrong, with a short secret-free excerpt of `data`."""
        shown = "" if data is None else ": " + excerpt(_dump(data), self._secrets, 120)
        return MarketplaceError("bad_response", f"{self.slug}: {what}{shown}")

    def bucket(self, group: str) -> BucketKey:
        return BucketKey(self.slug, self.account_key, group)

    # ---- the request loop -------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        groups: Sequence[str],
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json_body: Any = None,
        allow_empty: bool = False,
        tally: CallTally | None = None,
        day_floor: int | None = None,
    ) -> Reply:
        """Send one request (with the retries above) and return the 2XX reply.

        `day_floor`: with a per-day quota (RateHeaders.day_remaining), refuse to send (`quota`) once
        the last answer said this many requests or fewer are left today; None: send while any is left.

        `path` is appended to the base URL unless it is a full URL. Raises MarketplaceError
        (`timeout`, `server`, `rate_limited`, `bad_response`) or HttpError (`auth`, `rejected`, or
        `server`/`rate_limited` after the last attempt)."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        what = f"{self.slug} {method} {_path_only(path)}"
        body = None if json_body is None else orjson.dumps(json_body)
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        query = _query(params)
        attempts = 0
        failures = 0
        limited = 0
        while True:
            self._check_day(what, day_floor or 0)
            await self._acquire(groups, what)
            self._check_day(what, day_floor or 0)  # others may have spent it while this one waited
            attempts += 1
            self.calls += 1
            if tally is not None:
                tally.calls += 1
            sent_at = self.clock.now()
            problem: MarketplaceError | None = None
            self._day_in_flight += 1
            try:
                async with self.session.request(
                    method,
                    url,
                    params=query,
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.options.timeout),
                ) as response:
                    raw = await response.read()
                    status = response.status
                    reply_headers = response.headers
            except TimeoutError:
                problem = MarketplaceError("timeout", f"{what}: no answer within {self.options.timeout:g} s")
            except aiohttp.ClientError as exc:
                reason = self.scrub(f"{type(exc).__name__}: {exc}")
                problem = MarketplaceError("server", f"{what}: connection failed ({excerpt(reason, ())})")
            finally:
                self._day_in_flight -= 1
            if problem is not None:
                # handled outside the except block: aiohttp's exception (its request info holds our
                # headers) must not ride along as __context__
                failures += 1
                await self._after_failure(problem, failures, what)
                continue
            await self._observe(groups[0], reply_headers, self.clock.now() - sent_at)
            if status == 429:
                self._check_day(what, 0)  # the day's quota is used up: no waiting helps before tomorrow
                limited += 1
                await self._after_429(groups[0], reply_headers, raw, limited, failures, what)
                continue
            if status >= 500:
                failures += 1
                problem = self._http_error("server", status, raw, what)
                await self._after_failure(problem, failures, what)
                continue
            if status >= 400:
                for group in groups:
                    limit = self.limits[group]
                    if limit.error_cost > 1:
                        await self.limiter.charge(self.bucket(group), limit, limit.error_cost - 1)
                raise self._http_error("auth" if status in (401, 403) else "rejected", status, raw, what)
            if attempts > 1:
                log.info("%s: %s after %d attempts", what, status, attempts)
            return Reply(status, self._parse(raw, status, allow_empty, what), reply_headers, attempts)

    async def _acquire(self, groups: Sequence[str], what: str) -> None:
        for group in groups:
            try:
                await self.limiter.acquire(
                    self.bucket(group), self.limits[group], max_wait=self.options.max_retry_wait
                )
            except RateLimitWait as exc:
                raise MarketplaceError(
                    "rate_limited", f"{what}: rate limit ({group}) blocked for {exc.wait:.0f} s more; not sent"
                ) from None

    def _check_day(self, what: str, floor: int) -> None:
        left = None if self.day_remaining is None else max(0, self.day_remaining - self._day_in_flight)
        if left is not None and left <= floor:
            of = f" of {self.day_limit}" if self.day_limit is not None else ""
            kept = f", {floor} kept for order import" if floor > 0 else ""
            raise MarketplaceError(
                "quota",
                f"{what}: the daily request quota is used up ({left}{of} left today{kept}); "
                "not sent, the next run after the quota renews continues",
            )

    async def _observe(self, group: str, headers: Mapping[str, str], sent_ago: float) -> None:
        spec = self.rate_headers
        day = _header_number(headers, spec.day_remaining)
        if day is not None:
            self.day_remaining = max(0, int(day))
            limit = _header_number(headers, spec.day_limit)
            self.day_limit = int(limit) if limit is not None else self.day_limit
        remaining = _header_number(headers, spec.remaining)
        rate = _header_number(headers, spec.rate)
        burst = _header_number(headers, spec.burst)
        if remaining is None and rate is None and burst is None:
            return
        await self.limiter.observe(
            self.bucket(group),
            self.limits[group],
            remaining=remaining,
            rate=rate if rate is not None and rate > 0 else None,
            burst=burst if burst is not None and burst >= 1 else None,
            sent_ago=sent_ago,
        )

    async def _after_failure(self, problem: MarketplaceError, failures: int, what: str) -> None:
        """Raise `problem` after the last attempt, else sleep the backoff."""
        if failures >= self.options.max_tries:
            raise problem
        delay = self.backoff(failures)
        log.warning("%s failed (%s), try %d of %d in %.2f s", what, problem.kind, failures + 1,
                    self.options.max_tries, delay)
        await self.clock.sleep(delay)

    async def _after_429(
        self, group: str, headers: Mapping[str, str], raw: bytes, limited: int, failures: int, what: str
    ) -> None:
        wait = None
        for name in self.rate_headers.retry:
            wait = parse_retry_after(headers.get(name))
            if wait is not None:
                break
        if wait is None:
            wait = max(1.0, self.backoff(limited))
        bucket = self.bucket(group)
        await self.limiter.block(bucket, self.limits[group], wait)
        said = describe_error(_loads_or_none(raw)) or "too many requests"
        if wait > self.options.max_retry_wait:
            raise HttpError(
                "rate_limited",
                self.scrub(f"{what}: HTTP 429 ({said}); asked to wait {wait:.0f} s, more than we wait"),
                status=429,
            )
        if limited > self.options.max_rate_limited:
            raise HttpError(
                "rate_limited", self.scrub(f"{what}: HTTP 429 ({said}) {limited} times in a row"), status=429
            )
        log.warning("%s: HTTP 429, waiting %.2f s (%d of %d)", what, wait, limited, self.options.max_rate_limited)
        # the next acquire() waits for the blocked bucket; nothing else to do here

    def backoff(self, attempt: int) -> float:
        """Bounded exponential backoff with jitter: 50-100 % of min(cap, base * 2^(attempt-1))."""
        ceiling = min(self.options.backoff_cap, self.options.backoff_base * 2.0 ** max(0, attempt - 1))
        return float(ceiling * (0.5 + 0.5 * self._rng.random()))

    def _http_error(self, kind: str, status: int, raw: bytes, what: str) -> HttpError:
        text = self.scrub(raw.decode("utf-8", errors="replace"))
        payload = _loads_or_none(text.encode())
        said = describe_error(payload) or (excerpt(text, ()) if text.strip() else "empty body")
        return HttpError(kind, f"{what}: HTTP {status}: {excerpt(said, self._secrets)}", status=status, payload=payload)

    def _parse(self, raw: bytes, status: int, allow_empty: bool, what: str) -> Any:
        if not raw.strip():
            if allow_empty or status == 204:
                return None
            raise MarketplaceError("bad_response", f"{what}: HTTP {status} with an empty body")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # raised below, outside the handler: the decode error's `doc` is the raw body
        shown = excerpt(raw.decode("utf-8", errors="replace"), self._secrets, 120)
        raise MarketplaceError("bad_response", f"{what}: HTTP {status}, body is not JSON: {shown}")


def _loads_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        return None


def _dump(data: Any) -> str:
    if isinstance(data, str):
        return data
    try:
        return orjson.dumps(data, default=str).decode()
    except TypeError:
        return repr(data)


def _path_only(path: str) -> str:
    """The path without the scheme/host (messages name the endpoint, not the whole URL)."""
    if path.startswith(("http://", "https://")):
        rest = path.split("://", 1)[1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return path


def _query(params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None) -> list[tuple[str, str]] | None:
    if params is None:
        return None
    pairs = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        if value is None:
            continue
        if isinstance(value, bool):
            out.append((name, "true" if value else "false"))
        else:
            out.append((name, str(value)))
    return out


__all__ = [
    "CallTally",
    "ClientOptions",
    "HttpError",
    "MarketplaceClient",
    "RateHeaders",
    "Reply",
    "describe_error",
    "excerpt",
    "parse_retry_after",
    "redact",
]
