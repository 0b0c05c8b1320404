"""One adapter per marketplace behind one small interface (sync.adapters.base.MarketplaceAdapter).

    limiter = RedisRateLimiter(ctx["redis"])           # sync.ratelimit; shared by every worker
    adapter = build_adapter(account, session, limiter)  # session: the worker's aiohttp.ClientSession
    result = await adapter.push_prices(updates)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from sync.adapters.base import Account, MarketplaceAdapter, MarketplaceError
from sync.http import ClientOptions
from sync.ratelimit import Clock, RateLimiter, limits_for

SLUGS = ("uzum", "wildberries", "ozon")


def build_adapter(
    account: Account,
    session: aiohttp.ClientSession,
    limiter: RateLimiter,
    *,
    options: ClientOptions | None = None,
    limits: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
) -> MarketplaceAdapter:
    """The adapter for `account.slug` over `session` (not closed by the adapter).

    Rate limits: the documented ones (sync.ratelimit.DEFAULT_LIMITS), then
    `account.settings["rate_limits"]`, then `limits` (each `{group: {"requests", "period", "burst"}}`).
    `clock` (tests): virtual time for backoff and polling; defaults to the limiter's.
    Raises MarketplaceError("config") for an unknown slug or bad settings."""
    from sync.adapters import ozon, uzum, wildberries

    try:
        merged = limits_for(account.slug, account.settings.get("rate_limits"), limits)
    except ValueError as exc:
        raise MarketplaceError("config", f"{account.slug}: {exc}") from None
    if account.slug == "uzum":
        client = uzum.make_client(account, session, limiter, limits=merged, options=options, clock=clock)
        return uzum.UzumAdapter(account, client)
    if account.slug == "wildberries":
        client = wildberries.make_client(account, session, limiter, limits=merged, options=options, clock=clock)
        return wildberries.WildberriesAdapter(account, client)
    if account.slug == "ozon":
        client = ozon.make_client(account, session, limiter, limits=merged, options=options, clock=clock)
        return ozon.OzonAdapter(account, client)
    raise MarketplaceError("config", f"no adapter for marketplace {account.slug!r}; known: {', '.join(SLUGS)}")


__all__ = ["SLUGS", "build_adapter"]
