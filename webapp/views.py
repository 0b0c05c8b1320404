"""Product views, counted in memory and written to `products.view_count` in batches.

Opening a product page used to cost a Redis round trip (was this customer's view already counted?)
and a PostgreSQL UPDATE on the product's row (the row checkout locks) on every request. Here a view
is a dictionary increment: `ViewCounter.record` remembers who saw what within VIEW_DEDUP_SECONDS
(so reloading a page does not inflate the count) and adds one to the product's pending count; a task
writes every pending count in one statement every FLUSH_SECONDS.

What it promises:
* A view reaches `view_count` at most FLUSH_SECONDS (+ the statement) after it was counted.
* Never lost on a clean stop: the application's cleanup writes what is pending, after the server
  stopped taking requests and before the pool closes.
* A failed write (PostgreSQL restarting) keeps the counts and adds them to the next write; the
  pending map is bounded by the number of products, so an outage costs no unbounded memory.
* A hard kill (SIGKILL, power loss) loses at most the last FLUSH_SECONDS of views: a popularity
  figure, not money; that is the trade for taking the write off every page view.
* The "already counted" memory is per process (MAX_SEEN entries, oldest forgotten first): with
  `run --processes N` one customer's reload can count once in each process it lands on within the
  hour. Views are a ranking signal; N counts at most per customer-hour does not move it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from db.repos import products
from store import keys
from store.background import running
from store.errors import service_unavailable

log = logging.getLogger(__name__)

VIEW_DEDUP_SECONDS = 3600  # one customer's views of one product count once per this many seconds
FLUSH_SECONDS = 2.0
MAX_SEEN = 200_000  # (customer, product) pairs remembered; ~100 bytes each


class ViewCounter:
    def __init__(self, *, dedup_seconds: float = VIEW_DEDUP_SECONDS, max_seen: int = MAX_SEEN) -> None:
        self.dedup_seconds, self.max_seen = dedup_seconds, max_seen
        self.pending: dict[int, int] = {}
        # (user id << 32 | product id) -> when that view stops counting as seen; insertion order
        # is expiry order (every entry lives the same time), so the first entries are the oldest.
        self._seen: dict[int, float] = {}
        self._lock = asyncio.Lock()

    def record(self, user_id: int, product_id: int, *, now: float | None = None) -> bool:
        """Count the customer's view of the product unless they were counted within the dedup
        window. True when it counted."""
        moment = time.monotonic() if now is None else now
        key = (user_id << 32) | product_id
        until = self._seen.get(key)
        if until is not None and until > moment:
            return False
        if until is not None:
            del self._seen[key]  # re-inserted at the end: insertion order stays expiry order
        self._seen[key] = moment + self.dedup_seconds
        if len(self._seen) > self.max_seen:
            self._forget(moment)
        self.pending[product_id] = self.pending.get(product_id, 0) + 1
        return True

    def _forget(self, now: float) -> None:
        """Drop expired pairs, and the oldest ones while there are still too many."""
        while self._seen:
            key, until = next(iter(self._seen.items()))
            if until > now and len(self._seen) <= self.max_seen * 9 // 10:
                break
            del self._seen[key]

    async def flush(self, db: asyncpg.Pool) -> int:
        """Write every pending count in one statement; returns the views written. On failure the
        counts are kept (merged with those counted meanwhile) and the error raised."""
        async with self._lock:  # one write at a time: the periodic one and the final one
            batch, self.pending = self.pending, {}
            if not batch:
                return 0
            try:
                await products.add_views(db, batch)
            except BaseException:
                for product_id, count in batch.items():
                    self.pending[product_id] = self.pending.get(product_id, 0) + count
                raise
            self._forget(time.monotonic())
            return sum(batch.values())


VIEWS = web.AppKey("product_views", ViewCounter)


async def _flush_forever(app: web.Application, counter: ViewCounter) -> None:
    failing = False
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        try:
            await counter.flush(app[keys.DB])
            if failing:
                log.info("product views written again")
            failing = False
        except Exception as exc:
            if not (service_unavailable(exc) or isinstance(exc, asyncpg.PostgresError)):
                log.exception("product views: write failed; kept for the next one")
            elif not failing:
                log.warning("product views not written (%s); kept for the next write", type(exc).__name__)
            failing = True


async def views_ctx(app: web.Application) -> AsyncIterator[None]:
    counter = app[VIEWS]
    try:
        async with running(_flush_forever(app, counter), "product-views-flush"):
            yield
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                written = await counter.flush(app[keys.DB])
                log.debug("product views: %d written at stop", written)
        if counter.pending:
            log.warning("product views: %d not written at stop (database unavailable)", sum(counter.pending.values()))
