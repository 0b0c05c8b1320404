"""Helpers for the adapter tests: sandboxes on real sockets, accounts, and virtual time.

Virtual time: the sandbox runs on a `ManualClock` and our limiter, backoff and polling sleep on a
:class:`VirtualClock` over the same ManualClock, whose `sleep` moves the time on at once. Pacing is
then exact and instant, and cannot depend on the machine's speed (only HTTP itself, and the request
timeout, run in real time).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from sync.adapters import build_adapter
from sync.adapters.base import Account, MarketplaceAdapter
from sync.http import ClientOptions
from sync.ratelimit import LocalRateLimiter
from sync.sandbox import ManualClock, RunningSandbox, start_sandbox
from sync.sandbox.common import STATE_KEY
from sync.sandbox.ozon import DEFAULT_API_KEY, DEFAULT_CLIENT_ID
from sync.sandbox.ozon import DEFAULT_WAREHOUSE_ID as OZON_WAREHOUSE
from sync.sandbox.uzum import BASE as UZUM_BASE
from sync.sandbox.uzum import DEFAULT_AUTHORIZATION as UZUM_TOKEN
from sync.sandbox.wildberries import DEFAULT_AUTHORIZATION as WB_TOKEN
from sync.sandbox.wildberries import DEFAULT_WAREHOUSE_ID as WB_WAREHOUSE

# fast retries; generous request timeout (tests of timeouts set their own)
FAST = ClientOptions(timeout=10.0, backoff_base=0.01, backoff_cap=0.05)


class VirtualClock:
    """now() is the sandbox's ManualClock; sleep(s) moves it to (at least) now + s at once."""

    def __init__(self, manual: ManualClock) -> None:
        self.manual = manual

    def now(self) -> float:
        return self.manual()

    async def sleep(self, seconds: float) -> None:
        target = self.manual() + max(0.0, seconds)
        await asyncio.sleep(0)
        if self.manual.value < target:
            self.manual.value = target


@dataclass
class Harness:
    sandbox: RunningSandbox
    session: aiohttp.ClientSession
    manual: ManualClock
    clock: VirtualClock
    limiter: LocalRateLimiter

    @property
    def base_url(self) -> str:
        return self.sandbox.base_url

    def adapter(self, account: Account, **kwargs: Any) -> MarketplaceAdapter:
        """build_adapter on this harness's session, limiter and virtual clock (FAST options)."""
        kwargs.setdefault("options", FAST)
        return build_adapter(account, self.session, self.limiter, clock=self.clock, **kwargs)

    def elapsed_since(self, start: float) -> float:
        return self.manual() - start


@contextlib.asynccontextmanager
async def harness(app: web.Application) -> AsyncIterator[Harness]:
    """The sandbox app on a free port, a client session, and a limiter on virtual time: the
    sandbox's own ManualClock when it has one (then both sides agree on time), else a fresh one."""
    state = app[STATE_KEY]
    manual = state.clock if isinstance(state.clock, ManualClock) else ManualClock()
    clock = VirtualClock(manual)
    running = await start_sandbox(app)
    try:
        async with aiohttp.ClientSession() as session:
            yield Harness(running, session, manual, clock, LocalRateLimiter(clock))
    finally:
        await running.close()


def uzum_account(base_url: str, *, token: str = UZUM_TOKEN, **settings: Any) -> Account:
    settings.setdefault("shop_id", 1)
    return Account("uzum", base_url + UZUM_BASE, token, settings, id=1)


def wb_account(base_url: str, *, token: str = WB_TOKEN, **settings: Any) -> Account:
    settings.setdefault("warehouse_id", WB_WAREHOUSE)
    return Account("wildberries", base_url, token, settings, id=2)


def ozon_account(base_url: str, *, api_key: str = DEFAULT_API_KEY, **settings: Any) -> Account:
    settings.setdefault("client_id", DEFAULT_CLIENT_ID)
    settings.setdefault("warehouse_id", OZON_WAREHOUSE)
    return Account("ozon", base_url, api_key, settings, id=3)
