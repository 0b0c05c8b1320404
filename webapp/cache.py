"""An in-process cache of catalog reads (home, category pages, search), invalidated everywhere at once.

Every change to what the catalog shows (stock, prices, names, activation, categories, banners) calls
`store.services.events.catalog_changed` inside its transaction, which NOTIFYs a PostgreSQL channel
when the transaction commits. Each store process LISTENs on one connection of its own and drops its
whole cache on a notification, so a change is visible to every customer within one NOTIFY delivery
(milliseconds) of its commit. This needs PostgreSQL only: a Redis outage does not touch it.

Memory: entries are the JSON bodies as bytes, bounded by their total size (`max_bytes`, setting
CATALOG_CACHE_MB, default 16 MB), least recently used first out; not by a count of entries, whose
size varies from a 1 KB product card to a 30 KB search page.

Staleness bound: while the LISTEN connection is down (PostgreSQL restarting, a network fault, found
within LISTEN_CHECK_SECONDS by a query on it) the cache is off and every read goes to PostgreSQL; a
reconnect drops the cache first. As the last safety net every entry lives at most TTL_SECONDS. So a
customer never sees stock or prices older than TTL_SECONDS (15 s), and normally sees them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
from aiohttp import web

from db.repos.outbox import CATALOG_CHANNEL
from store import keys
from store.background import running

log = logging.getLogger(__name__)
TTL_SECONDS = 15.0
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
# What one entry costs beyond its body and key: the OrderedDict slot, the tuple, the float, the
# bytes and str headers (measured with sys.getsizeof and tracemalloc: ~250 bytes).
ENTRY_OVERHEAD = 256


class CatalogCache:
    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES, ttl: float = TTL_SECONDS) -> None:
        self.max_bytes, self.ttl = max_bytes, ttl
        self.enabled = False  # only while the invalidation channel is subscribed
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._building: dict[str, asyncio.Future[bytes]] = {}
        self.bytes = 0  # bodies + keys + ENTRY_OVERHEAD of what is held now
        self.hits = self.misses = 0

    @staticmethod
    def _cost(key: str, body: bytes) -> int:
        return len(body) + len(key) + ENTRY_OVERHEAD

    def get(self, key: str) -> bytes | None:
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)  # least recently used goes first
        return entry[1]

    def put(self, key: str, body: bytes) -> None:
        if not self.enabled:
            return
        cost = self._cost(key, body)
        if cost > self.max_bytes // 8:  # one huge page must not push out the whole shop
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= self._cost(key, old[1])
        self._entries[key] = (time.monotonic() + self.ttl, body)
        self.bytes += cost
        while self.bytes > self.max_bytes:
            dropped, (_, dropped_body) = self._entries.popitem(last=False)
            self.bytes -= self._cost(dropped, dropped_body)

    def invalidate(self) -> None:
        self._entries.clear()
        self.bytes = 0
        # A build that started before the change must not store what it read: forget it, so the
        # next reader starts a fresh one (those already waiting still get its answer, as they
        # would had they come a moment earlier).
        self._building.clear()

    async def fetch(self, key: str, build: Callable[[], Awaitable[bytes]]) -> bytes:
        """The cached body, or `build()`'s; concurrent misses of one key share a single build."""
        value = self.get(key)
        if value is not None:
            return value
        pending = self._building.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            result = await build()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        finally:
            if self._building.get(key) is future:
                del self._building[key]
                stored = True
            else:
                stored = False
        future.set_result(result)
        if stored:
            self.put(key, result)
        return result


CATALOG_CACHE = web.AppKey("catalog_cache", CatalogCache)


LISTEN_CHECK_SECONDS = 5.0
LISTEN_NAME = "amazing-store-catalog-listen"


async def _listen(app: web.Application, cache: CatalogCache) -> None:
    delay = 0.5
    dsn = app[keys.ENDPOINTS].database_url
    while True:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(dsn, timeout=5, server_settings={"application_name": LISTEN_NAME})
            await conn.add_listener(CATALOG_CHANNEL, lambda *_: cache.invalidate())
            cache.invalidate()  # whatever happened while we were not listening
            cache.enabled, delay = True, 0.5
            while True:  # a dead connection is found by a query; NOTIFY alone would just go quiet
                await asyncio.sleep(LISTEN_CHECK_SECONDS)
                await conn.fetchval("SELECT 1", timeout=LISTEN_CHECK_SECONDS)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("catalog cache off: invalidation channel lost (%s); retrying", type(exc).__name__)
        finally:
            cache.enabled = False
            cache.invalidate()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


async def catalog_cache_ctx(app: web.Application) -> AsyncIterator[None]:
    async with running(_listen(app, app[CATALOG_CACHE]), "catalog-cache-invalidation"):
        yield
