"""PostgreSQL unreachable: the API answers 503 with Retry-After and the JSON error in the customer's
language (not 500 `internal`), and serves again when the database is back (issue 13 item 9).

Real servers, no mocks: the store's pool reaches the test's real PostgreSQL through a TCP relay the
test owns. "Down" closes the relay's port and cuts every connection through it (what a stopped or
unreachable server looks like from the store: established connections drop, new ones are refused);
"up" opens the same port again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from store.settings import Settings
from tests.conftest import MakeClient
from tests.tma import Shop, start_shop


class Relay:
    """A TCP relay 127.0.0.1:port -> PostgreSQL that can be cut and restored."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()
        self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


@pytest.fixture
async def relay(settings: Settings) -> Relay:
    assert settings.database_url is not None
    target = urlsplit(settings.database_url)
    relay = Relay(target.hostname or "127.0.0.1", target.port or 5432)
    await relay.up()
    yield relay  # type: ignore[misc]
    if relay.server is not None:
        await relay.down()


@pytest.fixture
async def shop(settings: Settings, pool: asyncpg.Pool, make_client: MakeClient, relay: Relay) -> Shop:
    assert settings.database_url is not None
    parts = urlsplit(settings.database_url)
    auth, _, _ = parts.netloc.rpartition("@")
    through_relay = urlunsplit(parts._replace(netloc=f"{auth}@127.0.0.1:{relay.port}"))
    return await start_shop(settings.model_copy(update={"database_url": through_relay}), pool, make_client)


async def test_a_database_outage_is_503_with_retry_after_in_the_customers_language_then_service_resumes(
    shop: Shop, relay: Relay, caplog: pytest.LogCaptureFixture,
) -> None:
    uz, ru = shop.customer(700_000_101), shop.customer(700_000_102, language_code="ru")
    product = await shop.product("AS-KIT-BLN")
    assert (await ru.put_cart(product.id, 1)).status == 200  # a known session (cached), in Russian
    assert (await uz.get("/api/cart")).status == 200

    await relay.down()
    newcomer = shop.customer(700_000_103, language_code="ru")  # never seen: registering needs the database
    with caplog.at_level(logging.WARNING, logger="webapp.middleware"):
        replies = [
            await ru.put_cart(product.id, 2),
            await ru.checkout(),
            await ru.get("/api/cart"),
            await uz.get("/api/orders"),
            await uz.get(f"/api/products/{product.id}"),
            await newcomer.get("/api/me"),
        ]
    for reply in replies:
        assert reply.status == 503, reply.body
        assert reply.headers["Retry-After"] == "5"
        assert reply.error["code"] == "unavailable" and reply.error["retry_after"] == 5
    assert replies[0].error["message"].startswith("Магазин временно недоступен")
    assert replies[5].error["message"].startswith("Магазин временно недоступен")  # from initData's language
    assert replies[3].error["message"].startswith("Do'kon vaqtincha ishlamayapti")
    logged = [r for r in caplog.records if r.name == "webapp.middleware"]
    assert len(logged) == len(replies) and all(r.exc_info is None for r in logged)  # one line each, no traceback

    await relay.up()
    for _ in range(50):  # the pool reconnects on the next acquire
        reply = await ru.put_cart(product.id, 2)
        if reply.status == 200:
            break
        await asyncio.sleep(0.1)
    assert reply.status == 200 and reply.body["item_count"] == 2
    assert (await newcomer.get("/api/me")).status == 200
