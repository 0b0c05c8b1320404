"""Marketplace sync, the rules in one place: pushing prices and stock, importing orders, and pushing
one product's stock (or price) everywhere right after it changed. Called by the worker's jobs
(`sync.jobs`) and by `amazing-store sync run`; the adapters (`sync.adapters`) know the APIs.

Runs. Every run of one marketplace and one type (price, stock, orders) writes a `sync_logs` row: it
is opened as `error` / "run did not finish" (so a killed run is never taken for a success) and
finished with `success`, `partial` (some items failed) or `error` (the run failed), the counts and
a short message a person can act on (which SKUs, what the marketplace said, never a secret); every
failed item is kept in `sync_log_items`. A run that did not end in success enqueues the bot's
`alert_sync_failure(sync_log_id)`. Runs of the same marketplace and type never overlap: each holds
a Redis lock (`sync_lock`) that a killed process loses after LOCK_TTL seconds. So a row still open
(completed_at NULL) whose lock nobody holds belongs to a process that died: the next run of that
type, the cron tick and /syncstatus close it as "interrupted (the process stopped)"
(`close_dead_runs`); an open row means a run that is really going on.

Schedule. The cron tick runs a type `sync_interval_minutes` after the last scheduled run started.
A scheduled run that failed (`error`) is run again after 1, 2, 5, then every 10 minutes (never later
than the interval); one whose items the marketplace deferred, once their wait is over. Manual runs
(bot /sync, `amazing-store sync run`) never move the schedule, and wait up to MANUAL_LOCK_WAIT for a
run going on elsewhere instead of refusing.

Pushes are deltas: only mappings whose current price / master stock differs from what the
marketplace last accepted (`marketplace_price` + `marketplace_full_price`, `marketplace_stock`) are
sent, so nothing changed means no call; `full=True` sends every active mapping. Only items the
marketplace accepted update those columns (with the values sent, not re-read ones) and their
`last_*_sync_at`; "accepted" means the marketplace's answer confirmed the item (the adapters refuse
a 200 that is empty or wrongly shaped). An item the marketplace deferred (ItemResult.retry_after:
Ozon's one stock update per product and warehouse per 30 s) is neither accepted nor failed: it is
in RunResult.deferred, stays in the delta and is sent again after RunResult.retry_after seconds.
Items are handed to the adapter in chunks of PUSH_CHUNK (a multiple of every batch
size) and recorded per chunk, so a run stopped half-way keeps what went through and the next delta
run continues from there.

Stock semantics: we push the master stock as an absolute value (a retry is idempotent). Ozon wants
"available, excluding reserved": our master stock already is that, because every order we know of,
from the Mini App or imported from any marketplace, took its units when it was recorded. A marketplace
order placed but not imported yet is the one gap; the order import runs first in a full run for that
reason.

Order import: one transaction per order. The order is inserted with ON CONFLICT (source,
marketplace_order_id) DO NOTHING, and stock is taken only when the insert happened, in the same
transaction, so an order fetched again, or by two workers at once, is one order with its stock taken
once. A sale that already happened on the marketplace is never refused: when our stock is short we
take what there is (stock never goes below zero), record the shortfall and report it. An item we
cannot match to our catalog is recorded with its SKU snapshot and no product, and reported. Later
statuses move forwards only (pending < confirmed < shipped < delivered); cancellation is accepted from
any status and gives back exactly the units the import took, once. The high-water mark moves only when
every fetched order was recorded, so a failed order is fetched again next time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg
from arq.connections import ArqRedis
from redis.exceptions import LockError, RedisError

from db.models import Marketplace, MarketplaceOrder, Order, Product, SyncCandidate, SyncLog
from db.pool import Executor
from db.repos import (
    marketplace_orders,
    marketplace_products,
    marketplace_quotas,
    marketplaces,
    orders,
    products,
    sync_logs,
    sync_state,
)
from store.crypto import KeyBox
from store.logs import redact
from store.services import events, stock
from store.services.checkout import normalize_uz_phone, retry_transient
from store.services.marketplace_admin import (
    AdapterFactory,
    AdminError,
    MarketplaceSpec,
    account_for,
    normalize_keys,
    spec_for,
)
from sync.adapters.base import (
    DailyQuota,
    MarketplaceAdapter,
    MarketplaceError,
    OrderStatusSource,
    PriceUpdate,
    RemoteOrder,
    RemoteOrderLine,
    StockUpdate,
    WatchedOrders,
)

log = logging.getLogger(__name__)

SYNC_TYPES = ("orders", "stock", "price")  # the order of a run of every type: orders move stock first
RUN_TYPES = (*SYNC_TYPES, "reconcile")  # reconcile runs on its own (store.services.reconcile), never in "every type"
STATUSES = ("pending", "confirmed", "shipped", "delivered", "cancelled")
_FORWARD_RANK = {"pending": 0, "confirmed": 1, "shipped": 2, "delivered": 3}

PUSH_CHUNK = 1000  # items per adapter call: WB batches 1000, Ozon 1000 (prices) / 100 (stocks)
ORDER_LOOKBACK = timedelta(days=7)  # the first import of a marketplace looks this far back
ORDER_LOOKBACK_MAX = timedelta(days=30)  # a stuck high-water mark never makes a window longer than this
RETURN_WATCH = timedelta(days=14)  # a delivered marketplace order is watched this long for a return
QUOTA_MEMORY = timedelta(hours=1)  # a remembered daily quota primes the next run for this long
CURSOR_OVERLAP = timedelta(minutes=10)  # re-read a little before the mark: clocks differ, late orders
RECONCILE_INTERVAL = 24 * 60  # minutes between drift reconcile runs unless `reconcile_interval` says otherwise
DUE_SLACK = timedelta(seconds=30)  # a run that started a few seconds after a tick is due at the next
ERROR_SUMMARY_LIMIT = 1000  # characters of sync_logs.error_message (every item is in sync_log_items)
LOCK_TTL = 15.0  # seconds a lock outlives a killed holder (renewed every LOCK_RENEW while held)
LOCK_RENEW = 5.0
MANUAL_LOCK_WAIT = 120.0  # seconds a manual run (bot /sync, `sync run`) waits for a run going on elsewhere
RETRY_BACKOFF = (60.0, 120.0, 300.0, 600.0)  # after 1, 2, 3, 4+ failed scheduled runs (capped at the interval)
ALERT_JOB = "alert_sync_failure"
PLACEHOLDER_PHONE = "—"  # orders.customer_phone is NOT NULL; the marketplaces hide the buyer's phone
_AUTH = re.compile(r"\bHTTP 40[13]\b")  # how the adapters word a refused key in per-item errors


@dataclass(frozen=True)
class SyncDeps:
    """What a run needs: the database, Redis (locks, events), the keys and the adapter factory."""

    pool: asyncpg.Pool
    redis: ArqRedis
    keybox: KeyBox
    adapters: AdapterFactory


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --- locks -------------------------------------------------------------------------------------


def lock_key(slug: str, sync_type: str) -> str:
    return f"amazing-store:sync-lock:{slug}:{sync_type}"


@asynccontextmanager
async def sync_lock(
    redis: ArqRedis, slug: str, sync_type: str, *, wait: float = 0.0, on_wait: Callable[[], None] | None = None,
) -> AsyncIterator[bool]:
    """Hold the run lock of (marketplace, type), waiting up to `wait` seconds; yields False when it
    is held elsewhere. `on_wait` is called once when the lock is busy and we are about to wait. The
    lock expires LOCK_TTL seconds after its holder stops renewing it (a killed worker), so a restart
    can never be locked out for longer."""
    lock = redis.lock(lock_key(slug, sync_type), timeout=LOCK_TTL, sleep=0.1, thread_local=False)
    acquired = await lock.acquire(blocking=False)
    if not acquired and wait > 0:
        if on_wait is not None:
            on_wait()
        acquired = await lock.acquire(blocking=True, blocking_timeout=wait)
    if not acquired:
        yield False
        return

    async def keep() -> None:
        while True:
            await asyncio.sleep(LOCK_RENEW)
            try:
                await lock.reacquire()
            except (LockError, RedisError):
                log.warning("sync lock %s could not be renewed", lock_key(slug, sync_type))

    keeper = asyncio.create_task(keep())
    try:
        yield True
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
        try:
            await lock.release()
        except (LockError, RedisError):
            log.warning("sync lock %s had expired before the run ended", lock_key(slug, sync_type))


# --- results and sync_logs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    mapping_id: int | None
    ref: str  # our SKU, or the marketplace's order id
    message: str


@dataclass(frozen=True)
class Drift:
    """A reconcile difference: the mapping, our SKU, what differed (stock / price) and both values."""

    mapping_id: int | None
    ref: str
    kind: str
    ours: str
    theirs: str


@dataclass(frozen=True)
class Deferred:
    """An item the marketplace asked us to send again later (ItemResult.retry_after): not recorded
    as pushed, not a failure; it stays in the delta and is sent again after `retry_after` seconds."""

    mapping_id: int
    ref: str  # our SKU
    retry_after: float
    message: str


@dataclass
class RunResult:
    """What one run did; `fatal` says why the run as a whole failed. `deferred` items count in
    `processed` but are neither accepted nor failed: the caller re-sends them after `retry_after`."""

    processed: int = 0
    failures: list[Failure] = field(default_factory=list)
    fatal: str | None = None
    notes: list[str] = field(default_factory=list)  # work left undone: makes the run partial
    remarks: list[str] = field(default_factory=list)  # worth knowing, not a failure (kept in the message)
    headline: list[str] = field(default_factory=list)  # what stopped the run, said before the item list
    drift: list[Drift] = field(default_factory=list)  # reconcile: every difference found (sync_log_items)
    whole_failure_is_error: bool = True  # pushes: every item failing means the run failed
    deferred: list[Deferred] = field(default_factory=list)

    @property
    def retry_after(self) -> float | None:
        """The longest wait any deferred item asked for (seconds); None when nothing was deferred."""
        return max((d.retry_after for d in self.deferred), default=None)

    @property
    def deferred_ids(self) -> list[int]:
        """marketplace_products ids of the deferred items (to re-send after `retry_after`)."""
        return [d.mapping_id for d in self.deferred]

    def status(self) -> str:
        if self.fatal is not None:
            return "error"
        attempted = self.processed - len(self.deferred)
        if self.failures and self.whole_failure_is_error and len(self.failures) >= attempted:
            return "error"
        return "partial" if self.failures or self.notes else "success"

    def _deferral_note(self, marketplace: Marketplace | None) -> str:
        refs = [d.ref for d in self.deferred]
        more = f" and {len(refs) - 5} more" if len(refs) > 5 else ""
        wait = f"{self.retry_after:g} s" if self.retry_after is not None else "a while"
        if marketplace is not None and marketplace.slug == "ozon":
            why = "by Ozon's 30-s rule (one stock update per product and warehouse per 30 s)"
        else:
            name = marketplace.name if marketplace is not None else "the marketplace"
            why = f"by {name} ({self.deferred[0].message})"
        return f"{len(refs)} deferred {why}, re-sent after {wait}: {', '.join(refs[:5])}{more}"

    def message(self, marketplace: Marketplace | None = None) -> str | None:
        parts: list[str] = list(self.headline)
        if self.fatal:
            parts.append(self.fatal)
        if self.failures:
            if marketplace is not None and not self.fatal and any(_AUTH.search(f.message) for f in self.failures):
                parts.append(f"{marketplace.name} refused the API key: set a valid one with "
                             f"`amazing-store marketplace set-key {marketplace.slug}`")
            # Items that failed for the same reason are listed once (a whole batch often shares it).
            by_reason: dict[str, list[str]] = {}
            for failure in self.failures:
                by_reason.setdefault(failure.message, []).append(failure.ref)
            listed = []
            for reason, refs in by_reason.items():
                more = f" and {len(refs) - 5} more" if len(refs) > 5 else ""
                listed.append(f"{', '.join(refs[:5])}{more}: {reason}")
            parts.append(f"{len(self.failures)} of {self.processed} failed: " + "; ".join(listed))
        if self.deferred:
            parts.append(self._deferral_note(marketplace))
        parts.extend(self.notes)
        parts.extend(self.remarks)
        if not parts:
            return None
        text = redact(" | ".join(parts))
        if len(text) > ERROR_SUMMARY_LIMIT:
            text = text[: ERROR_SUMMARY_LIMIT - 40].rstrip() + " … (every item: sync_log_items)"
        return text


def describe_error(marketplace: Marketplace, exc: MarketplaceError) -> str:
    """What a person should know and do about a failed call."""
    hints = {
        "auth": f"the marketplace refused the API key; set a valid one with "
                f"`amazing-store marketplace set-key {marketplace.slug}`",
        "rate_limited": "the marketplace's rate limit was hit; the next run retries",
        "server": "the marketplace answered with a server error; the next run retries",
        "timeout": "the marketplace did not answer in time; the next run retries",
        "bad_response": "the marketplace's answer could not be read; the next run retries",
        "rejected": "the marketplace rejected the request",
        "quota": "the marketplace's daily request quota is used up; what was not sent goes out once it renews",
    }
    hint = hints.get(exc.kind, "the call failed")
    return redact(f"{marketplace.name}: {hint} ({exc})")


async def _alert(db: Executor, entry: SyncLog) -> None:
    if entry.status == "success":
        return
    await events.job(db, ALERT_JOB, entry.id, job_id=f"sync-alert:{entry.id}", queue=events.QUEUE_NOTIFICATIONS)


Work = Callable[[MarketplaceAdapter], Awaitable[RunResult]]


async def run_logged(
    deps: SyncDeps, marketplace: Marketplace, sync_type: str, work: Work, *, scheduled: bool, alert: bool = True,
) -> SyncLog:
    """Open the sync_logs row, build the adapter, do the work, finish the row; a failing run is an
    `error` row, never an exception (except cancellation, which leaves the row saying the run did
    not finish). `scheduled` runs move the due time of the type; `alert` False keeps the admins
    from hearing of a failure that is about to be retried. See `run_logged_result`."""
    entry, _ = await run_logged_result(deps, marketplace, sync_type, work, scheduled=scheduled, alert=alert)
    return entry


async def run_logged_result(
    deps: SyncDeps, marketplace: Marketplace, sync_type: str, work: Work, *, scheduled: bool, alert: bool = True,
) -> tuple[SyncLog, RunResult]:
    """`run_logged`, also returning the RunResult (its `deferred` items and `retry_after` tell the
    caller what to send again, and when). The caller holds `sync_lock(slug, sync_type)`: runs of a
    marketplace and type never overlap, so a row of that pair still open now belongs to a run whose
    process died, and is closed as interrupted first."""
    closed = await sync_logs.close_open(deps.pool, marketplace.id, sync_type)
    if closed:
        log.warning("sync %s %s: %d earlier run(s) had not finished; closed as interrupted", marketplace.slug,
                    sync_type, closed)
    if scheduled:
        await sync_state.mark_run_started(deps.pool, marketplace.id, sync_type)
    log_id = await sync_logs.start(deps.pool, marketplace.id, sync_type)
    adapter: MarketplaceAdapter | None = None
    try:
        adapter = deps.adapters(account_for(marketplace, deps.keybox))
        await _prime_quota(deps.pool, marketplace, adapter)
        result = await work(adapter)
    except AdminError as exc:
        result = RunResult(fatal=str(exc))
    except MarketplaceError as exc:
        result = RunResult(fatal=describe_error(marketplace, exc))
    except Exception as exc:  # the run's boundary: a bug or an outage is logged with its traceback and
        # recorded as this run's error instead of leaving the row saying only "did not finish"
        log.exception("%s %s sync failed", marketplace.slug, sync_type)
        result = RunResult(fatal=f"internal error: {type(exc).__name__}: {exc}")
    if adapter is not None:
        await _keep_quota(deps.pool, marketplace, adapter, result)
    entry = await sync_logs.finish(
        deps.pool, log_id, status=result.status(), items_processed=result.processed,
        items_failed=len(result.failures), error_message=result.message(marketplace),
    )
    await sync_logs.add_items(deps.pool, log_id, [(f.mapping_id, f.ref, redact(f.message)) for f in result.failures])
    await sync_logs.add_differences(deps.pool, log_id, [
        (d.mapping_id, d.ref, f"{d.kind} differed", redact(d.ours), redact(d.theirs)) for d in result.drift])
    if scheduled:
        await _reschedule(deps.pool, marketplace, sync_type, entry, result)
    if entry.status == "success":
        await marketplaces.mark_synced(deps.pool, marketplace.id)
    if alert:
        await _alert(deps.pool, entry)
    log.info("sync %s %s: %s, %d processed, %d failed, %d deferred", marketplace.slug, sync_type, entry.status,
             entry.items_processed, entry.items_failed, len(result.deferred))
    return entry, result


def _interval(marketplace: Marketplace) -> timedelta:
    return timedelta(minutes=max(1, marketplace.sync_interval_minutes or 60))


async def _reschedule(
    db: asyncpg.Pool, marketplace: Marketplace, sync_type: str, entry: SyncLog, result: RunResult,
) -> None:
    """After a scheduled run: a failed one (`error`) is run again soon, backing off 1, 2, 5, 10
    minutes (never more than the interval) instead of waiting a whole interval; one whose items the
    marketplace deferred runs again once their wait is over; otherwise the interval decides."""
    interval = _interval(marketplace).total_seconds()
    failures = await sync_state.record_outcome(
        db, marketplace.id, sync_type, failed=entry.status == "error",
        retry_in=[min(step, interval) for step in RETRY_BACKOFF],
        defer_seconds=min(result.retry_after, interval) if result.retry_after is not None else None,
    )
    if failures:
        log.info("sync %s %s: %d scheduled run(s) failed in a row; retried sooner than the interval",
                 marketplace.slug, sync_type, failures)


async def close_dead_runs(db: asyncpg.Pool, redis: ArqRedis) -> int:
    """Close the runs still open (completed_at NULL) whose run lock nobody holds: their process died
    (a running run always holds its lock). Called by the cron tick and /syncstatus, so an open row
    means a run that is really going on. Returns how many were closed; with Redis unreachable it
    closes nothing (a lock cannot be checked) and returns 0."""
    dead = []
    try:
        for log_id, slug, sync_type in await sync_logs.open_runs(db):
            if not await redis.exists(lock_key(slug, sync_type)):
                dead.append(log_id)
    except (RedisError, OSError) as exc:
        log.warning("open sync runs not checked, Redis is unreachable: %s", exc)
        return 0
    closed = await sync_logs.close_interrupted(db, dead)
    if closed:
        log.warning("closed %d sync run(s) whose process stopped as interrupted", closed)
    return closed


async def _prime_quota(pool: asyncpg.Pool, marketplace: Marketplace, adapter: MarketplaceAdapter) -> None:
    """Tell an adapter with a daily quota what the last run saw (recently), so it does not start
    spending a quota that is already used up."""
    if not isinstance(adapter, DailyQuota):
        return
    known = await marketplace_quotas.get(pool, marketplace.id)
    if known is not None and known.observed_at >= utcnow() - QUOTA_MEMORY:
        adapter.assume_daily_quota(known.daily_remaining, known.daily_limit)


async def _keep_quota(pool: asyncpg.Pool, marketplace: Marketplace, adapter: MarketplaceAdapter,
                      result: RunResult) -> None:
    """Remember the quota the run ended with (for the next run and /syncstatus) and say in the run's
    message how much of it is left when that is what stopped the run."""
    if not isinstance(adapter, DailyQuota):
        return
    seen = adapter.daily_quota()
    if seen is None:
        return
    remaining, limit = seen
    try:
        await marketplace_quotas.record(pool, marketplace.id, remaining, limit)
    except (asyncpg.PostgresError, OSError):
        log.exception("could not record the daily quota of %s", marketplace.slug)
    stopped = sum(1 for f in result.failures if "daily request quota is used up" in f.message)
    if stopped:
        if stopped == len(result.failures):
            result.whole_failure_is_error = False  # nothing is wrong: the day's budget is spent
        of = f" of {limit}" if limit is not None else ""
        result.headline.append(f"{marketplace.name}'s daily request quota: {remaining}{of} left; {stopped} item(s) "
                               "wait for it to renew (the next run continues)")


# --- pushes ------------------------------------------------------------------------------------


def _chunks(items: Sequence[SyncCandidate], size: int = PUSH_CHUNK) -> Iterable[Sequence[SyncCandidate]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _usable(spec: MarketplaceSpec, candidates: Sequence[SyncCandidate], result: RunResult) -> list[SyncCandidate]:
    """Mappings whose keys the adapter can use; the others fail with what to do."""
    usable = []
    for candidate in candidates:
        try:
            normalize_keys(spec, candidate.marketplace_keys)
        except AdminError as exc:
            result.failures.append(Failure(candidate.id, candidate.sku, f"mapping incomplete ({exc}): map it again "
                                           f"with `amazing-store marketplace map {spec.slug}`"))
            continue
        usable.append(candidate)
    return usable


def _split(
    sent: Sequence[SyncCandidate], answers: Sequence[Any], result: RunResult,
) -> list[SyncCandidate]:
    """The candidates the marketplace accepted; those it asked to send later are `deferred` (neither
    recorded nor failed: they stay in the delta); the rest become failures with its words."""
    by_ref = {answer.ref: answer for answer in answers}
    accepted = []
    for candidate in sent:
        answer = by_ref.get(candidate.id)
        if answer is None:
            result.failures.append(Failure(candidate.id, candidate.sku, "the marketplace gave no result for it"))
        elif not answer.ok and getattr(answer, "retry_after", None) is not None:
            result.deferred.append(Deferred(candidate.id, candidate.sku, float(answer.retry_after),
                                            answer.error or "deferred by the marketplace"))
        elif answer.ok:
            accepted.append(candidate)
            if getattr(answer, "note", None):
                result.remarks.append(f"{candidate.sku}: {answer.note}")
        else:
            result.failures.append(Failure(candidate.id, candidate.sku, answer.error or "rejected"))
    return accepted


async def _push(
    deps: SyncDeps, marketplace: Marketplace, candidates: Sequence[SyncCandidate],
    send: Callable[[Sequence[SyncCandidate]], Awaitable[Sequence[Any]]],
    record: Callable[[list[SyncCandidate]], Awaitable[None]], deadline: float | None,
) -> RunResult:
    result = RunResult()
    usable = _usable(spec_for(marketplace.slug), candidates, result)
    result.processed = len(candidates)
    loop = asyncio.get_running_loop()
    done = 0
    for chunk in _chunks(usable):
        if deadline is not None and loop.time() > deadline:
            result.notes.append(f"stopped at the time limit with {len(usable) - done} item(s) left; "
                                "the next run continues with them")
            result.processed -= len(usable) - done
            break
        try:
            answers = await send(chunk)
        except MarketplaceError as exc:
            # The whole call failed: what earlier chunks did stays recorded, the rest waits for the next run.
            result.fatal = describe_error(marketplace, exc)
            left = len(usable) - done
            result.failures.extend(Failure(c.id, c.sku, f"not sent: {exc.kind}") for c in chunk)
            if left > len(chunk):
                result.notes.append(f"{left - len(chunk)} more item(s) not sent")
            break
        await record(_split(chunk, answers, result))
        done += len(chunk)
    return result


async def push_prices(
    deps: SyncDeps, marketplace: Marketplace, adapter: MarketplaceAdapter, candidates: Sequence[SyncCandidate],
    *, deadline: float | None = None,
) -> RunResult:
    """Send these mappings' prices (the full price and what the buyer pays); record what was accepted."""

    async def send(chunk: Sequence[SyncCandidate]) -> Sequence[Any]:
        pushed = await adapter.push_prices([
            PriceUpdate(ref=c.id, sku=c.sku, keys=c.marketplace_keys, price=c.price, sale_price=c.sale_price)
            for c in chunk
        ])
        return pushed.items

    async def record(accepted: list[SyncCandidate]) -> None:
        await marketplace_products.record_prices(deps.pool, [(c.id, c.current_price, c.price) for c in accepted])

    return await _push(deps, marketplace, candidates, send, record, deadline)


async def push_stocks(
    deps: SyncDeps, marketplace: Marketplace, adapter: MarketplaceAdapter, candidates: Sequence[SyncCandidate],
    *, deadline: float | None = None,
) -> RunResult:
    """Send these mappings' master stock (absolute values); record what was accepted."""

    async def send(chunk: Sequence[SyncCandidate]) -> Sequence[Any]:
        pushed = await adapter.push_stocks([
            StockUpdate(ref=c.id, sku=c.sku, keys=c.marketplace_keys, quantity=max(0, c.stock_quantity))
            for c in chunk
        ])
        return pushed.items

    async def record(accepted: list[SyncCandidate]) -> None:
        await marketplace_products.record_stocks(deps.pool, [(c.id, max(0, c.stock_quantity)) for c in accepted])

    return await _push(deps, marketplace, candidates, send, record, deadline)


# --- order import ------------------------------------------------------------------------------


class OrderRejected(Exception):
    """The marketplace's order cannot be recorded as it is; the message says why."""


@dataclass
class _Line:
    remote: RemoteOrderLine
    product: Product | None
    price: Decimal


class _Matcher:
    """Finds our product for an order line: by the mapping's keys (most specific first), then by
    the marketplace item key, then by the seller's code being our SKU."""

    def __init__(self, spec: MarketplaceSpec) -> None:
        self.spec = spec
        self.by_key: dict[tuple[str, str], set[int]] = {}
        self.by_item: dict[str, int] = {}
        self.products: dict[int, Product] = {}
        self.by_sku: dict[str, Product] = {}

    @classmethod
    async def load(cls, db: asyncpg.Pool, marketplace: Marketplace, spec: MarketplaceSpec) -> _Matcher:
        matcher = cls(spec)
        mappings = await marketplace_products.list_for_marketplace(db, marketplace.id)
        for product in await products.get_many(db, [m.product_id for m in mappings]):
            matcher.products[product.id] = product
            matcher.by_sku[product.sku] = product
        for mapping in mappings:
            matcher.by_item[mapping.marketplace_sku] = mapping.product_id
            for key, value in mapping.marketplace_keys.items():
                for one in value if isinstance(value, list) else [value]:
                    matcher.by_key.setdefault((key, str(one)), set()).add(mapping.product_id)
        return matcher

    async def find_by_codes(self, db: asyncpg.Pool, codes: Iterable[str]) -> None:
        """Load our products whose SKU is one of these seller codes (lines of unmapped items)."""
        wanted = sorted({c for c in codes if c and c not in self.by_sku})
        if wanted:
            for product in await products.get_many_by_sku(db, wanted):
                self.products[product.id] = product
                self.by_sku[product.sku] = product

    def match(self, line: RemoteOrderLine) -> Product | None:
        for key in self.spec.match_keys:
            value = line.keys.get(key)
            if value is None:
                continue
            ids = self.by_key.get((key, str(value)), set())
            if len(ids) == 1:
                return self.products.get(next(iter(ids)))
        code = (line.seller_sku or "").strip()
        if code and code in self.by_item:
            return self.products.get(self.by_item[code])
        return self.by_sku.get(code) if code else None


def _money(value: object, what: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise OrderRejected(f"{what} is not a number: {str(value)[:30]!r}") from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("100000000"):
        raise OrderRejected(f"{what} is out of range: {amount}")
    return amount.quantize(Decimal("0.01"))


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _line_label(spec: MarketplaceSpec, line: RemoteOrderLine) -> str:
    keys = ", ".join(f"{k}={line.keys[k]}" for k in spec.match_keys if line.keys.get(k) is not None)
    parts = [p for p in (line.seller_sku and f"seller code {line.seller_sku}", keys) if p]
    return (" / ".join(parts) or f"line {line.line_id}") + (f" ({line.name[:60]})" if line.name else "")


def _snapshot_sku(spec: MarketplaceSpec, line: RemoteOrderLine) -> str:
    if line.seller_sku and line.seller_sku.strip():
        return line.seller_sku.strip()[:100]
    for key in spec.match_keys:
        if line.keys.get(key) is not None:
            return f"{spec.slug}:{key}={line.keys[key]}"[:100]
    return f"{spec.slug}:line={line.line_id}"[:100]


@dataclass
class _Imported:
    order: Order
    new: bool
    old_status: str | None = None  # set when the status moved
    stock_moved: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _validate(remote: RemoteOrder) -> None:
    if not remote.marketplace_order_id or len(remote.marketplace_order_id) > 255:
        raise OrderRejected("the order has no id (or one longer than 255 characters)")
    if not remote.lines:
        raise OrderRejected("the order has no items")
    for line in remote.lines:
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) or not 0 < line.quantity <= 100_000:
            raise OrderRejected(f"item {line.line_id}: quantity {line.quantity!r} is not a positive whole number")


def next_status(current: str, remote: str) -> str | None:
    """The status an order moves to when the marketplace reports `remote`: forwards only, except
    cancellation, which is accepted from anywhere; None for no change (also for a status that is
    not ours, such as Ozon's arbitration, which keeps the previous one)."""
    if remote not in STATUSES or remote == current or current == "cancelled":
        return None
    if remote == "cancelled":
        return "cancelled"
    if current not in _FORWARD_RANK or _FORWARD_RANK[remote] > _FORWARD_RANK[current]:
        return remote
    return None


async def _import_one(
    pool: asyncpg.Pool, marketplace: Marketplace, spec: MarketplaceSpec, matcher: _Matcher, remote: RemoteOrder,
) -> _Imported:
    """Record one marketplace order (one transaction): new -> insert + take stock; known -> status."""
    _validate(remote)
    lines = [_Line(line, matcher.match(line), _money(line.price, f"item {line.line_id} price"))
             for line in remote.lines]
    subtotal = sum((line.price * line.remote.quantity for line in lines), Decimal("0"))
    status = remote.status if remote.status in STATUSES else "pending"
    payload = _jsonable(remote)
    async with pool.acquire() as conn, conn.transaction():
        imported = await _record_or_update(conn, marketplace, spec, remote, lines, subtotal, status, payload)
        await _announce(conn, imported)  # in the same transaction: the events exist exactly when the order does
        return imported


async def _record_or_update(
    conn: Executor, marketplace: Marketplace, spec: MarketplaceSpec, remote: RemoteOrder, lines: list[_Line],
    subtotal: Decimal, status: str, payload: dict[str, Any],
) -> _Imported:
    # Known orders (most of every fetch) are found first, so they use up no order number.
    existing = await marketplace_orders.lock_order(conn, marketplace.slug, remote.marketplace_order_id)
    if existing is not None:
        return await _update_known(conn, existing, remote, payload)
    order = await marketplace_orders.insert_order(
        conn, order_number=await orders.next_order_number(conn, spec.order_prefix), source=marketplace.slug,
        marketplace_order_id=remote.marketplace_order_id,
        customer_name=(" ".join((remote.customer_name or "").split()))[:255] or marketplace.name,
        customer_phone=_phone(remote.customer_phone), subtotal=subtotal, total=subtotal, status=status,
        payment_status="unpaid", delivery_address=(remote.delivery_address or None), delivery_notes=None,
        created_at=_naive_utc(remote.created_at),
    )
    if order is not None:
        return await _record_new(conn, marketplace, spec, order, remote, lines, payload)
    # Another worker inserted it in the meantime (its insert committed first): it is known now.
    existing = await marketplace_orders.lock_order(conn, marketplace.slug, remote.marketplace_order_id)
    if existing is None:
        raise OrderRejected("the order disappeared while it was being imported")
    return await _update_known(conn, existing, remote, payload)


def _phone(raw: str | None) -> str:
    if not raw or not raw.strip():
        return PLACEHOLDER_PHONE
    return normalize_uz_phone(raw) or raw.strip()[:20]


async def _record_new(
    conn: Executor, marketplace: Marketplace, spec: MarketplaceSpec, order: Order, remote: RemoteOrder,
    lines: list[_Line], payload: dict[str, Any],
) -> _Imported:
    problems: list[str] = []
    wanted: dict[int, int] = {}
    for line in lines:
        if line.product is None:
            problems.append(f"item {_line_label(spec, line.remote)} is not mapped to our catalog, so no stock was "
                            f"taken for it: map it with `amazing-store marketplace map {marketplace.slug}`")
        else:
            wanted[line.product.id] = wanted.get(line.product.id, 0) + line.remote.quantity
    taken: dict[str, int] = {}
    short: dict[str, int] = {}
    if order.status != "cancelled" and wanted:
        # Locked in id order, like checkout, so concurrent imports and checkouts queue instead of deadlocking.
        for product in await products.lock_many(conn, list(wanted)):
            units = min(wanted[product.id], max(0, product.stock_quantity))
            if units > 0:
                await stock.take(conn, product.id, units, sku=product.sku)
                taken[str(product.id)] = units
            if units < wanted[product.id]:
                short[str(product.id)] = wanted[product.id] - units
                problems.append(f"{product.sku}: {wanted[product.id]} ordered but only {units} in stock "
                                f"({wanted[product.id] - units} short); the order is recorded, the stock is 0")
            await products.add_order_count(conn, product.id, wanted[product.id])
    await orders.add_items(conn, order.id, [
        orders.NewOrderItem(
            product_id=line.product.id if line.product else None,
            product_name=((line.remote.name or "").strip() or (line.product.name_uz if line.product else "?"))[:255],
            product_sku=line.product.sku if line.product else _snapshot_sku(spec, line.remote),
            price=line.price, quantity=line.remote.quantity,
        )
        for line in lines
    ])
    await marketplace_orders.create(
        conn, order_id=order.id, marketplace_id=marketplace.id, raw_status=remote.raw_status or remote.status,
        is_return=remote.is_return, stock_taken=taken, stock_short=short, payload=payload,
    )
    return _Imported(order, new=True, stock_moved=sorted(int(p) for p in taken), problems=problems)


async def _update_known(
    conn: Executor, order: Order, remote: RemoteOrder, payload: dict[str, Any],
) -> _Imported:
    side = await marketplace_orders.get(conn, order.id)
    if side is not None:
        await marketplace_orders.note_status(conn, order.id, remote.raw_status or remote.status, remote.is_return,
                                             payload)
    new_status = None if remote.on_hold else next_status(order.status, remote.status)
    return await _move(conn, order, side, new_status)


async def _move(conn: Executor, order: Order, side: MarketplaceOrder | None, new_status: str | None) -> _Imported:
    """Apply a status change (None: none); a cancellation gives back what the import took, once."""
    if new_status is None:
        return _Imported(order, new=False)
    returned: list[int] = []
    if new_status == "cancelled" and side is not None and side.stock_taken \
            and await marketplace_orders.mark_stock_returned(conn, order.id):
        for product_id, units in sorted((int(p), u) for p, u in side.stock_taken.items()):
            if units > 0 and await stock.give_back(conn, product_id, units) is not None:
                returned.append(product_id)
    updated = await orders.set_status(conn, order.id, new_status)
    return _Imported(updated, new=False, old_status=order.status, stock_moved=returned)


async def import_orders(
    deps: SyncDeps, marketplace: Marketplace, adapter: MarketplaceAdapter, *, since: datetime | None = None,
) -> RunResult:
    """Fetch the orders created or changed since the high-water mark and record each (see the module
    docstring). Safe to run again, and at the same time as another import of the same orders."""
    spec = spec_for(marketplace.slug)
    started = utcnow()
    if since is None:
        state = await sync_state.get(deps.pool, marketplace.id, "orders")
        since = state.cursor_at - CURSOR_OVERLAP if state and state.cursor_at else started - ORDER_LOOKBACK
        since = max(since, started - ORDER_LOOKBACK_MAX)
    if isinstance(adapter, WatchedOrders):
        adapter.watch_orders_from(await marketplace_orders.oldest_watched(
            deps.pool, marketplace.slug, started - RETURN_WATCH))
    remote_orders = await adapter.fetch_orders(since)
    matcher = await _Matcher.load(deps.pool, marketplace, spec)
    await matcher.find_by_codes(deps.pool, (line.seller_sku or "" for o in remote_orders for line in o.lines))
    result = RunResult(processed=len(remote_orders), whole_failure_is_error=False)
    unrecorded = 0
    for remote in remote_orders:
        ref = f"{marketplace.slug} {remote.marketplace_order_id}"[:255]
        try:
            imported = await retry_transient(
                functools.partial(_import_one, deps.pool, marketplace, spec, matcher, remote), "order import")
        except OrderRejected as exc:
            unrecorded += 1
            result.failures.append(Failure(None, ref, f"not recorded: {exc}"))
            continue
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            unrecorded += 1
            result.failures.append(Failure(None, ref, f"not recorded, the database refused it: {exc}"))
            continue
        if imported.problems:
            result.failures.append(Failure(None, ref, "; ".join(imported.problems)))
    for skipped in getattr(remote_orders, "skipped", []):
        unrecorded += 1
        result.processed += 1
        order_id, _, reason = str(skipped).partition(":")
        result.failures.append(Failure(None, f"{marketplace.slug} {order_id.strip()}"[:255],
                                       f"not recorded, the marketplace's data could not be read: {reason.strip()}"))
    if isinstance(adapter, OrderStatusSource):
        await _refresh_statuses(deps, marketplace, adapter, result)
    if unrecorded == 0:
        await sync_state.move_cursor(deps.pool, marketplace.id, "orders", started)
    else:
        result.notes.append(f"{unrecorded} order(s) not recorded: the next run fetches them again")
    return result


async def _apply_status(
    pool: asyncpg.Pool, marketplace: Marketplace, marketplace_order_id: str, status: str, raw_status: str,
) -> _Imported | None:
    async with pool.acquire() as conn, conn.transaction():
        order = await marketplace_orders.lock_order(conn, marketplace.slug, marketplace_order_id)
        if order is None:
            return None
        side = await marketplace_orders.get(conn, order.id)
        if side is not None:
            await marketplace_orders.note_status(conn, order.id, raw_status or status, False)
        imported = await _move(conn, order, side, next_status(order.status, status))
        await _announce(conn, imported)
        return imported


async def _refresh_statuses(
    deps: SyncDeps, marketplace: Marketplace, adapter: OrderStatusSource, result: RunResult,
) -> None:
    """Statuses of our open orders that the order lists do not show (Wildberries)."""
    open_ids = await marketplace_orders.open_order_ids(deps.pool, marketplace.slug)
    if not open_ids:
        return
    try:
        statuses = await adapter.fetch_order_statuses(open_ids)
    except MarketplaceError as exc:
        result.notes.append(f"the statuses of {len(open_ids)} open order(s) were not refreshed: "
                            f"{describe_error(marketplace, exc)}")
        return
    for marketplace_order_id, (status, raw_status) in statuses.items():
        await retry_transient(
            functools.partial(_apply_status, deps.pool, marketplace, str(marketplace_order_id), status, raw_status),
            "order status")


async def _announce(conn: Executor, imported: _Imported) -> None:
    if imported.new:
        await events.order_created(conn, imported.order.id)
    elif imported.old_status is not None:
        await events.order_status_changed(conn, imported.order.id, imported.old_status, imported.order.status)
    if imported.stock_moved:
        await events.stock_changed(conn, imported.stock_moved)


# --- runs --------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    logs: list[SyncLog] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # types whose run was going on elsewhere


async def run_sync(
    deps: SyncDeps, slug: str, sync_type: str | None = None, *, full: bool = False, lock_wait: float = 0.0,
    time_limit: float | None = None, scheduled: bool = False, on_wait: Callable[[str], None] | None = None,
) -> SyncReport:
    """Run one type (or every type: orders, stock, price) for the marketplace now. A type whose run
    is going on elsewhere is waited for up to `lock_wait` seconds (`on_wait(type)` is called when it
    starts waiting), then skipped (`skipped`). `full` pushes every mapping, not only changes.
    `time_limit` (seconds) stops a push between chunks; the next run continues. Only a `scheduled`
    run (the cron tick's) moves the schedule: a manual one (bot /sync, `sync run`) leaves it alone.
    Raises AdminError for an unknown or disabled marketplace or an unknown type."""
    if sync_type is not None and sync_type not in RUN_TYPES:
        raise AdminError(f"unknown sync type '{sync_type}'; one of: price, stock, orders, reconcile")
    marketplace = await marketplaces.get_by_slug(deps.pool, slug)
    if marketplace is None:
        raise AdminError(f"no marketplace '{slug}'")
    if not marketplace.is_active:
        raise AdminError(f"{slug} is disabled: enable it with `amazing-store marketplace enable {slug}`")
    deadline = asyncio.get_running_loop().time() + time_limit if time_limit is not None else None
    report = SyncReport()
    for current in [sync_type] if sync_type else list(SYNC_TYPES):
        waiting = functools.partial(on_wait, current) if on_wait is not None else None
        async with sync_lock(deps.redis, marketplace.slug, current, wait=lock_wait, on_wait=waiting) as held:
            if not held:
                log.info("sync %s %s is already running elsewhere; skipped", marketplace.slug, current)
                report.skipped.append(current)
                continue
            entry = await run_logged(deps, marketplace, current, _work(deps, marketplace, current, full, deadline),
                                     scheduled=scheduled)
            report.logs.append(entry)
            if current == "reconcile":
                await _announce_reconcile(deps.pool, entry)
    return report


async def _announce_reconcile(pool: asyncpg.Pool, entry: SyncLog) -> None:
    """The admins get the reconcile's one-line summary (bot.notices.notify_reconcile)."""
    await events.job(pool, "notify_reconcile", entry.id, job_id=f"reconcile-notice:{entry.id}",
                     queue=events.QUEUE_NOTIFICATIONS)


def _work(deps: SyncDeps, marketplace: Marketplace, sync_type: str, full: bool, deadline: float | None) -> Work:
    async def work(adapter: MarketplaceAdapter) -> RunResult:
        if sync_type == "orders":
            return await import_orders(deps, marketplace, adapter)
        if sync_type == "reconcile":
            from store.services import reconcile

            return await reconcile.reconcile(deps, marketplace, adapter)
        if sync_type == "stock":
            candidates = await marketplace_products.stock_candidates(deps.pool, marketplace.id, full=full)
            return await push_stocks(deps, marketplace, adapter, candidates, deadline=deadline)
        candidates = await marketplace_products.price_candidates(deps.pool, marketplace.id, full=full)
        return await push_prices(deps, marketplace, adapter, candidates, deadline=deadline)

    return work


async def due_syncs(db: asyncpg.Pool, now: datetime | None = None) -> list[tuple[str, str]]:
    """(slug, type) of every run that is due: active marketplaces with auto sync on and an API key,
    whose last scheduled run of the type started sync_interval_minutes ago or more (or never), or
    whose retry time (after a failed scheduled run, or deferred items) has come."""
    now = now or utcnow()
    states = {(s.marketplace_id, s.sync_type): s for s in await sync_state.list_all(db)}
    due = []
    for marketplace in await marketplaces.list_active(db):
        if not marketplace.auto_sync_enabled or not marketplace.api_key_encrypted:
            continue
        interval = _interval(marketplace)
        for sync_type in SYNC_TYPES:
            state = states.get((marketplace.id, sync_type))
            last = state.last_run_at if state else None
            retry_at = state.retry_at if state else None
            retry_due = retry_at is not None and retry_at <= now + DUE_SLACK
            if last is None or last + interval <= now + DUE_SLACK or retry_due:
                due.append((marketplace.slug, sync_type))
        # drift reconcile: its own interval (setting reconcile_interval, minutes; default a day),
        # counted from its last run, or from the last stock run when it never ran
        every = timedelta(minutes=max(1, _int_setting(marketplace, "reconcile_interval", RECONCILE_INTERVAL)))
        reconciled, stocked = states.get((marketplace.id, "reconcile")), states.get((marketplace.id, "stock"))
        anchor = (reconciled.last_run_at if reconciled else None) or (stocked.last_run_at if stocked else None)
        if anchor is not None and anchor + every <= now + DUE_SLACK:
            due.append((marketplace.slug, "reconcile"))
    return due


def _int_setting(marketplace: Marketplace, name: str, default: int) -> int:
    value = marketplace.settings.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# --- propagation: changed products, every marketplace, right after a change ------------------

PUSH_BUSY_RETRY = 3.0  # seconds: another run of that marketplace and type holds the lock
PUSH_BACKOFF = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0)  # after a push that did not land, by attempt


def push_backoff(attempts: int) -> float:
    return PUSH_BACKOFF[min(max(attempts, 0), len(PUSH_BACKOFF) - 1)]


@dataclass
class Propagation:
    """What a push of some products' current value did: the sync_logs rows it wrote, and the
    products to push again with the seconds to wait (a marketplace whose lock was held elsewhere,
    whose call failed or that deferred the item). A product not in `retry` landed everywhere, or was
    refused item by item (that is logged and alerted; the scheduled delta run tries it again)."""

    logs: list[SyncLog] = field(default_factory=list)
    retry: dict[int, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    deferred: set[int] = field(default_factory=set)  # products a marketplace deferred (its own rule)
    failing: set[int] = field(default_factory=set)  # products whose push failed or could not run

    def _again(self, product_ids: Iterable[int], delay: float, why: str, *, deferral: bool = False) -> None:
        for product_id in product_ids:
            self.retry[product_id] = min(self.retry.get(product_id, delay), delay)
            (self.deferred if deferral else self.failing).add(product_id)
        self.errors.append(why)

    @property
    def only_deferred(self) -> set[int]:
        """Products that landed everywhere else and wait only for a marketplace's deferral to end."""
        return self.deferred - self.failing


async def propagate(
    deps: SyncDeps, sync_type: str, product_ids: Sequence[int], *, attempts: int = 0, lock_wait: float = 10.0,
    alert: bool = True,
) -> Propagation:
    """Push these products' current master stock (or price) to each active marketplace (auto sync on)
    whose mapping does not have it yet: one call batch and one sync_logs row per marketplace called.
    Safe to run twice: the second run finds nothing to send. `attempts` (pushes of these products
    that did not land before) sets the backoff; `alert` False keeps a failure that will be retried
    from alerting the admins."""
    if sync_type not in ("stock", "price"):
        raise ValueError(f"propagate: unknown sync type {sync_type!r}")
    outcome = Propagation()
    ids = sorted(set(product_ids))
    if not ids:
        return outcome
    candidates_of = marketplace_products.stock_candidates if sync_type == "stock" else \
        marketplace_products.price_candidates
    push = push_stocks if sync_type == "stock" else push_prices
    for marketplace in await marketplaces.list_syncing_products(deps.pool, ids):
        async with sync_lock(deps.redis, marketplace.slug, sync_type, wait=lock_wait) as held:
            if not held:
                outcome._again(ids, PUSH_BUSY_RETRY, f"{marketplace.slug}: a {sync_type} run holds the lock")
                continue
            # Read inside the lock: a run that just finished may have sent these values already.
            candidates = await candidates_of(deps.pool, marketplace.id, full=False, product_ids=ids)
            if not candidates:
                continue  # the marketplace has these values already: no call, no log
            work = functools.partial(_push_with, push, deps, marketplace, candidates)
            entry, result = await run_logged_result(deps, marketplace, sync_type, work, scheduled=False, alert=alert)
            outcome.logs.append(entry)
            if result.fatal is None:
                # Every item answered: accepted, refused for a reason a retry does not fix, or deferred
                # by the marketplace (Ozon's 30-s rule): those go again once the wait it asked for is over.
                if result.deferred:
                    product_of = {c.id: c.product_id for c in candidates}
                    outcome._again({product_of[i] for i in result.deferred_ids if i in product_of},
                                   await _deferral_wait(deps, sync_type, result) + 1.0,
                                   f"{marketplace.slug}: {len(result.deferred)} item(s) deferred by the marketplace",
                                   deferral=True)
                continue
            # The call failed (or the adapter could not be built): whatever is still not there goes again.
            left = await candidates_of(deps.pool, marketplace.id, full=False, product_ids=ids)
            outcome._again({c.product_id for c in left}, push_backoff(attempts),
                           entry.error_message or f"{marketplace.slug}: {entry.status}")
    return outcome


async def _deferral_wait(deps: SyncDeps, sync_type: str, result: RunResult) -> float:
    """Seconds until the deferred items may go. Ozon's rule (one stock update per product and
    warehouse per 30 s) counts from the update it last accepted, so the wait is what is left of
    that window, not a fresh 30 s from now: a product sold again and again would otherwise never
    reach Ozon while its sales go on (every deferral pushing the next try 30 s out). At least
    PUSH_BUSY_RETRY: a window started by someone else's update is not ours to know."""
    asked = result.retry_after or PUSH_BUSY_RETRY
    if sync_type != "stock":
        return asked
    ages = await marketplace_products.seconds_since_stock_sync(deps.pool, result.deferred_ids)
    waits = [d.retry_after - ages[d.mapping_id] if d.mapping_id in ages else d.retry_after for d in result.deferred]
    return max(PUSH_BUSY_RETRY, min(asked, max(waits, default=asked)))


async def _push_with(
    push: Callable[[SyncDeps, Marketplace, MarketplaceAdapter, Sequence[SyncCandidate]], Awaitable[RunResult]],
    deps: SyncDeps, marketplace: Marketplace, candidates: Sequence[SyncCandidate], adapter: MarketplaceAdapter,
) -> RunResult:
    return await push(deps, marketplace, adapter, candidates)
