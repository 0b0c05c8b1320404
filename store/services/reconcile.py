"""Drift reconcile: what a marketplace holds versus what we think it holds.

Delta pushes send only what differs from what the marketplace last accepted, so a stock or price
changed by hand in a cabinet, or lost on the marketplace's side, would stay wrong for ever. A
reconcile run (`sync run SLUG --type reconcile`, and on the worker's cron every `reconcile_interval`
minutes, default a day) reads back the marketplace's current stock and price of every active mapping
(the adapter's `DriftReader`), records every difference as an item of its `sync_logs` row with both
values (`sync_log_items.ours` / `theirs`), forgets the recorded value of those mappings (so every
later delta run pushes them until the marketplace accepts ours), pushes ours (holding the stock and
price run locks, so it never overlaps a delta push), and tells the admins one line:
"Ozon: 12 stocks and 3 prices differed; fixed".

An item the marketplace does not have at all (a deleted card) cannot be fixed by pushing: it is a
failed item saying so. Stock is compared as each adapter pushes it (Ozon: available units).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from db.models import Marketplace, SyncCandidate
from db.repos import marketplace_products
from store.services.marketplace_admin import spec_for
from store.services.marketplace_sync import (
    Drift,
    Failure,
    RunResult,
    SyncDeps,
    _usable,
    describe_error,
    push_prices,
    push_stocks,
    sync_lock,
)
from sync.adapters.base import (
    Comparison,
    DriftReader,
    MarketplaceAdapter,
    MarketplaceError,
    PriceUpdate,
    StockUpdate,
)

log = logging.getLogger(__name__)

LOCK_WAIT = 120.0  # seconds to wait for a running delta push of the same type before fixing
JOB_NOTIFY = "notify_reconcile"  # bot.notices: the admins get the run's one-line summary


def _stock_update(c: SyncCandidate) -> StockUpdate:
    return StockUpdate(ref=c.id, sku=c.sku, keys=c.marketplace_keys, quantity=max(0, c.stock_quantity))


def _price_update(c: SyncCandidate) -> PriceUpdate:
    return PriceUpdate(ref=c.id, sku=c.sku, keys=c.marketplace_keys, price=c.price, sale_price=c.sale_price)


def _take(kind: str, candidates: Sequence[SyncCandidate], found: Comparison,
          result: RunResult, forget: list[int]) -> list[SyncCandidate]:
    """Record the differences of one kind; the candidates to push (the marketplace has the item).
    Every differing mapping goes to `forget` (its recorded value is not what the marketplace holds)."""
    by_id = {c.id: c for c in candidates}
    fix: list[SyncCandidate] = []
    for difference in found.differences:
        candidate = by_id.get(difference.ref)
        if candidate is None:
            continue
        result.drift.append(Drift(candidate.id, candidate.sku, kind, difference.ours, difference.theirs))
        forget.append(candidate.id)
        if difference.missing:
            result.failures.append(Failure(candidate.id, candidate.sku, f"{kind} not fixed: {difference.theirs}; "
                                                                        "map the product to a live item"))
        else:
            fix.append(candidate)
    for ref, why in found.unread.items():
        candidate = by_id.get(ref)
        if candidate is not None:
            result.failures.append(Failure(candidate.id, candidate.sku, f"{kind} not read back: {why}"))
    return fix


def summary(marketplace: Marketplace, stocks: int, prices: int, unfixed: int) -> str:
    """"Ozon: 12 stocks and 3 prices differed; fixed" (English: sync_logs is for the owner and the
    log; the bot says it in the admin's language from the same numbers)."""
    if not stocks and not prices:
        return f"{marketplace.name}: no stock or price differed"
    parts = [f"{n} {what}{'' if n == 1 else 's'}" for n, what in ((stocks, "stock"), (prices, "price")) if n]
    outcome = "fixed" if not unfixed else f"{unfixed} not fixed (see the items)"
    return f"{marketplace.name}: {' and '.join(parts)} differed; {outcome}"


async def reconcile(deps: SyncDeps, marketplace: Marketplace, adapter: MarketplaceAdapter) -> RunResult:
    result = RunResult(whole_failure_is_error=False)
    if not isinstance(adapter, DriftReader):
        result.fatal = f"{marketplace.name}: its adapter cannot read stock and prices back"
        return result
    spec = spec_for(marketplace.slug)
    stock_candidates = _usable(spec, await marketplace_products.stock_candidates(
        deps.pool, marketplace.id, full=True), result)
    price_candidates = _usable(spec, await marketplace_products.price_candidates(
        deps.pool, marketplace.id, full=True), result)
    result.processed = len({c.product_id for c in stock_candidates} | {c.product_id for c in price_candidates})
    # stocks and prices are read (and fixed) at once: on WB they are separate rate-limit buckets
    stocks, prices = await asyncio.gather(adapter.compare_stocks([_stock_update(c) for c in stock_candidates]),
                                          adapter.compare_prices([_price_update(c) for c in price_candidates]))
    forget_stocks: list[int] = []
    forget_prices: list[int] = []
    fix_stocks = _take("stock", stock_candidates, stocks, result, forget_stocks)
    fix_prices = _take("price", price_candidates, prices, result, forget_prices)
    await marketplace_products.forget_values(deps.pool, forget_stocks, forget_prices)
    before = len(result.failures)

    async def fix(kind: str, candidates: list[SyncCandidate]) -> None:
        if not candidates:
            return
        async with sync_lock(deps.redis, marketplace.slug, kind, wait=LOCK_WAIT) as held:
            if not held:
                result.notes.append(f"{len(candidates)} {kind} item(s) not pushed now (a {kind} run was busy); "
                                    "the next delta run sends them")
                return
            try:
                pushed = (await push_stocks(deps, marketplace, adapter, candidates) if kind == "stock"
                          else await push_prices(deps, marketplace, adapter, candidates))
            except MarketplaceError as exc:
                result.failures.extend(Failure(c.id, c.sku, f"{kind} not fixed: {exc}") for c in candidates)
                result.notes.append(describe_error(marketplace, exc))
                return
            result.failures.extend(Failure(f.mapping_id, f.ref, f"{kind} not fixed: {f.message}")
                                   for f in pushed.failures)
            result.remarks.extend(pushed.remarks)
            if pushed.deferred:  # e.g. Ozon's one stock update per 30 s: the delta runs send them
                result.remarks.append(f"{len(pushed.deferred)} {kind} item(s) deferred by the marketplace; "
                                      "the next delta run sends them")

    await asyncio.gather(fix("stock", fix_stocks), fix("price", fix_prices))
    stock_count = sum(1 for d in result.drift if d.kind == "stock")
    price_count = sum(1 for d in result.drift if d.kind == "price")
    unfixed = sum(1 for f in result.failures if " not fixed" in f.message)
    result.headline.append(summary(marketplace, stock_count, price_count, unfixed))
    result.remarks.append(f"{stocks.checked} stocks and {prices.checked} prices read back in "
                          f"{stocks.calls + prices.calls} requests")
    log.info("reconcile %s: %d stock and %d price differences, %d not fixed (%d failures before pushing)",
             marketplace.slug, stock_count, price_count, unfixed, before)
    return result
