"""Checkouts racing each other through the HTTP API, all at once: exactly the available units are
sold, stock never goes below zero, nobody sees a deadlock or a 5xx."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterable

import aiohttp
import asyncpg
import pytest

from store.settings import Settings
from tests.conftest import MakeClient
from tests.tma import Customer, Reply, Shop, start_shop

BUYERS = 200
UNITS = 10


@pytest.fixture
async def shop(settings: Settings, pool: asyncpg.Pool, make_client: MakeClient) -> Shop:
    return await start_shop(settings, pool, make_client)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # No connection limit, so every request really is in flight at the same time.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


async def _all_at_once(coros: Iterable[Awaitable[Reply]]) -> list[Reply]:
    return list(await asyncio.gather(*coros))


async def test_200_buyers_race_for_10_units_and_exactly_10_win(shop: Shop, session: aiohttp.ClientSession) -> None:
    product = await shop.product("AS-SWT-HNY")
    await shop.pool.execute("UPDATE products SET stock_quantity = $2 WHERE id = $1", product.id, UNITS)
    buyers = [shop.customer(710000000 + n, first_name=f"Buyer{n}") for n in range(BUYERS)]
    added = await _all_at_once([b.put_cart(product.id, 1, session=session) for b in buyers])
    assert {r.status for r in added} == {200}

    replies = await _all_at_once([b.checkout(session=session) for b in buyers])

    statuses = Counter(r.status for r in replies)
    assert statuses == {201: UNITS, 409: BUYERS - UNITS}, statuses
    assert all(r.error["code"] == "out_of_stock" for r in replies if r.status == 409)
    assert all(r.error["available"] == {str(product.id): 0} for r in replies if r.status == 409)
    after = await shop.product("AS-SWT-HNY")
    assert (after.stock_quantity, after.order_count) == (0, UNITS)
    assert await shop.pool.fetchval("SELECT count(*) FROM orders") == UNITS
    assert await shop.pool.fetchval("SELECT sum(quantity) FROM order_items WHERE product_id = $1", product.id) == UNITS
    numbers = [r.body["order_number"] for r in replies if r.status == 201]
    assert len(set(numbers)) == UNITS
    # The losers keep their carts (a refusal writes nothing).
    assert await shop.pool.fetchval("SELECT count(*) FROM cart_items") == BUYERS - UNITS


async def test_overlapping_multi_item_carts_in_different_orders_never_oversell(
    shop: Shop, session: aiohttp.ClientSession,
) -> None:
    skus = ["AS-FRT-APR", "AS-FRT-RSN", "AS-FRT-ALM", "AS-TEA-BLK"]
    items = [await shop.product(sku) for sku in skus]
    initial = {p.id: 12 for p in items}
    for p in items:
        await shop.pool.execute("UPDATE products SET stock_quantity = 12 WHERE id = $1", p.id)
    rng = random.Random(20260101)
    buyers: list[tuple[Customer, dict[int, int]]] = []
    for n in range(80):
        chosen = rng.sample(items, rng.randint(2, 4))  # each cart lists its products in its own order
        cart = {p.id: rng.randint(1, 3) for p in chosen}
        buyer = shop.customer(720000000 + n)
        for product_id, quantity in cart.items():
            assert (await buyer.put_cart(product_id, quantity, session=session)).status == 200
        buyers.append((buyer, cart))

    # Earlier orders being cancelled at the same time move the same rows in the other direction.
    cancellers = []
    for n in range(10):
        canceller = shop.customer(730000000 + n)
        await canceller.put_cart(items[n % 4].id, 1)
        await canceller.put_cart(items[(n + 1) % 4].id, 1)
        placed = await canceller.checkout()
        assert placed.status == 201
        cancellers.append((canceller, placed.body["order_number"]))

    checkouts = [buyer.checkout(session=session) for buyer, _ in buyers]
    cancels = [c.call("POST", f"/api/orders/{number}/cancel", session=session) for c, number in cancellers]
    replies = await _all_at_once(checkouts + cancels)

    assert all(r.status < 500 for r in replies), [r.body for r in replies if r.status >= 500]
    checkout_replies, cancel_replies = replies[:len(buyers)], replies[len(buyers):]
    assert {r.status for r in cancel_replies} == {200}
    assert {r.status for r in checkout_replies} <= {201, 409}
    sold = Counter[int]()
    for (buyer, cart), reply in zip(buyers, checkout_replies, strict=True):
        if reply.status == 201:
            ordered = {i["product_id"]: i["quantity"] for i in reply.body["items"]}
            assert ordered == cart  # the whole cart, never a part of it
            sold.update(ordered)
        else:
            assert reply.error["code"] == "out_of_stock"
            left = await shop.pool.fetch(
                "SELECT product_id, quantity FROM cart_items c JOIN users u ON u.id = c.user_id "
                "WHERE u.telegram_id = $1", buyer.telegram_id)
            assert {r["product_id"]: r["quantity"] for r in left} == cart  # nothing written
    assert sum(r.status == 201 for r in checkout_replies) > 0
    for p in items:
        after = await shop.product(p.sku)
        assert after.stock_quantity >= 0
        # Every unit is accounted for: the cancelled orders took their units before the race and gave
        # them back during it, so what is left is what was there minus what the racers bought.
        assert after.stock_quantity == initial[p.id] - sold[p.id]
