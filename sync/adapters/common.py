"""Pieces every adapter uses: the per-item result book of one push, bounded concurrency, and strict
readers for marketplace values (ids, money, times) that turn bad data into clear errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from sync.adapters.base import ItemResult, MarketplaceError, PushResult
from sync.http import CallTally

T = TypeVar("T")
log = logging.getLogger(__name__)


class PushRun:
    """The results of one push, one per input item (by position, so every item gets exactly one).

    A batch that fails marks its items failed and the run goes on; an `auth` failure (or another
    error that will not go away by itself, see `abort`) stops further calls: the items not sent yet
    get "not sent: ..." instead of each costing a failing request."""

    def __init__(self, count: int) -> None:
        self._results: list[ItemResult | None] = [None] * count
        self._refs: list[int] = [0] * count
        self.tally = CallTally()
        self.aborted: MarketplaceError | None = None
        self.crashed: str | None = None  # an unexpected error in one of the jobs (a bug): see the log

    def track(self, index: int, ref: int) -> None:
        self._refs[index] = ref

    def ok(self, index: int, note: str | None = None) -> None:
        self._results[index] = ItemResult(self._refs[index], True, None, note)

    def fail(self, index: int, error: str) -> None:
        self._results[index] = ItemResult(self._refs[index], False, error)

    def defer(self, index: int, reason: str, retry_after: float) -> None:
        """Not done now, to be sent again after `retry_after` seconds (see ItemResult.retry_after)."""
        self._results[index] = ItemResult(self._refs[index], False, reason, retry_after=retry_after)

    def fail_all(self, indexes: Iterable[int], error: MarketplaceError | str) -> None:
        if isinstance(error, MarketplaceError):
            self.abort_if_fatal(error)
        for index in indexes:
            self.fail(index, str(error))

    def abort_if_fatal(self, error: MarketplaceError) -> None:
        if error.kind in ("auth", "config") and self.aborted is None:
            self.aborted = error

    def done(self, index: int) -> bool:
        return self._results[index] is not None

    def finish(self) -> PushResult:
        items = []
        for index, result in enumerate(self._results):
            if result is None:
                if self.aborted is not None:
                    reason = f"not sent: {self.aborted}"
                elif self.crashed is not None:
                    reason = f"not confirmed: internal error ({self.crashed}), see the worker log"
                else:
                    reason = "no result from the marketplace"
                result = ItemResult(self._refs[index], False, reason)
            items.append(result)
        return PushResult(items, self.tally.calls)


async def run_bounded(jobs: Sequence[Callable[[], Awaitable[None]]], limit: int, run: PushRun) -> None:
    """Run the jobs with at most `limit` at once. Each job records its own results and handles
    MarketplaceError; anything else (a bug) is logged and leaves that job's items unconfirmed
    instead of failing the push. The first job runs alone: if the account is refused (bad token,
    blocked seller) that costs one call, and the others see `run.aborted` instead of failing in flight."""
    if not jobs:
        return

    async def guarded(job: Callable[[], Awaitable[None]]) -> None:
        try:
            await job()
        except Exception as exc:  # one batch's bug must not lose the others' results
            log.exception("marketplace push job failed")
            run.crashed = type(exc).__name__

    await guarded(jobs[0])
    semaphore = asyncio.Semaphore(max(1, limit))

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with semaphore:
            await guarded(job)

    await asyncio.gather(*(one(job) for job in jobs[1:]))


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


# ---- reading values ----------------------------------------------------------------------------


def as_int(value: Any) -> int | None:
    """An integer from an int or a digit string (ids stored as text); None otherwise (bools too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() or (text.startswith("-") and text[1:].isdigit()):
            return int(text)
    return None


def as_text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def whole(value: Decimal) -> int | None:
    """The integer value of a whole Decimal amount, else None."""
    if not value.is_finite() or value != value.to_integral_value():
        return None
    return int(value)


def decimal_text(value: Decimal) -> str:
    """`Decimal("1530.00")` -> "1530", `Decimal("12.50")` -> "12.5" (never an exponent)."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def money(value: Any, what: str) -> Decimal:
    """A Decimal from a JSON number or a decimal string; ValueError naming `what` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what} is not a number: {value!r}")
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{what} is not a number: {value!r}") from None
    if not parsed.is_finite():
        raise ValueError(f"{what} is not a number: {value!r}")
    return parsed


def utc_naive(moment: datetime) -> datetime:
    """Naive UTC (what our tables hold); a naive input is taken as UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def parse_time(value: Any, what: str) -> datetime:
    """Naive UTC from an ISO/RFC 3339 string, or a Unix time number in ms (> 10^11) or seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 10**11 else float(value)
        return datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isdigit():
            return parse_time(int(text), what)
        try:
            return utc_naive(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise ValueError(f"{what} is not a date-time: {value!r}")


def unconfirmed(what: str, problem: str) -> str:
    """The words for a 2XX that does not confirm the write (a `bad_response`): the items are not
    recorded as pushed, so the next delta run sends them again."""
    return f"{what}: the marketplace answered 200 but {problem}; not confirmed, sent again next run"


def expect_dict(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not an object")
    return data


def expect_list(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise ValueError(f"{what} is not a list")
    return data
