"""Checkout through the HTTP API on the real database: every way it may say yes, and every way it
must say no without writing anything; order status changes and cancellations."""

from __future__ import annotations

import asyncio
import re
import uuid
from decimal import Decimal

import asyncpg
import pytest

from db.repos import products
from store import keys
from store.errors import NotFound
from store.services import orders as order_service
from store.services import stock
from store.settings import Settings
from tests.conftest import MakeClient
from tests.tma import CHECKOUT_FORM, Shop, start_shop


@pytest.fixture
async def shop(settings: Settings, pool: asyncpg.Pool, make_client: MakeClient) -> Shop:
    return await start_shop(settings, pool, make_client)


async def _snapshot(pool: asyncpg.Pool) -> dict[str, object]:
    """Everything checkout may write, to prove a refusal wrote nothing."""
    return {
        "stock": [tuple(r) for r in await pool.fetch(
            "SELECT id, stock_quantity, order_count FROM products ORDER BY id")],
        "orders": await pool.fetchval("SELECT count(*) FROM orders"),
        "items": await pool.fetchval("SELECT count(*) FROM order_items"),
        "cart": [tuple(r) for r in await pool.fetch(
            "SELECT user_id, product_id, quantity FROM cart_items ORDER BY user_id, product_id")],
        "keys": await pool.fetchval("SELECT count(*) FROM idempotency_keys"),
    }


async def _events(pool: asyncpg.Pool) -> set[str]:
    """What the committed changes set off: outbox job ids and pending marketplace pushes."""
    jobs = {r["job_id"] for r in await pool.fetch("SELECT job_id FROM outbox_events")}
    pushes = {f"push-{r['sync_type']}:{r['product_id']}"
              for r in await pool.fetch("SELECT sync_type, product_id FROM pending_pushes")}
    return jobs | pushes


async def test_checkout_creates_the_order_moves_stock_and_empties_the_cart(shop: Shop) -> None:
    buds, cable = await shop.product("AS-AUD-BUDS"), await shop.product("AS-ACC-CBL")
    customer = shop.customer(700000001, language_code="ru")
    assert (await customer.put_cart(buds.id, 2)).status == 200
    assert (await customer.put_cart(cable.id, 3)).status == 200

    reply = await customer.checkout()

    assert reply.status == 201, reply.body
    order = reply.body
    assert re.fullmatch(r"AS-20\d\d-\d{6}", order["order_number"])
    assert (order["status"], order["payment_status"], order["source"]) == ("pending", "unpaid", "app")
    assert order["customer_phone"] == "+998901234567"
    assert order["status_text"] == "Ожидает"
    # the sale price for the buds (850 000), the price for the cable (45 000)
    assert Decimal(order["subtotal"]) == Decimal("850000") * 2 + Decimal("45000") * 3
    assert Decimal(order["delivery_fee"]) == 0  # free from 500 000
    assert Decimal(order["total"]) == Decimal(order["subtotal"])
    lines = {i["sku"]: i for i in order["items"]}
    assert lines["AS-AUD-BUDS"]["name"] == "Samsung Galaxy Buds FE"
    assert lines["AS-ACC-CBL"]["name"] == "Кабель USB-C 1 м"  # the customer's language
    assert (Decimal(lines["AS-ACC-CBL"]["price"]), lines["AS-ACC-CBL"]["quantity"]) == (Decimal("45000"), 3)
    assert Decimal(lines["AS-ACC-CBL"]["subtotal"]) == Decimal("135000")
    assert order["can_cancel"] is True

    after_buds, after_cable = await shop.product("AS-AUD-BUDS"), await shop.product("AS-ACC-CBL")
    assert (after_buds.stock_quantity, after_buds.order_count) == (buds.stock_quantity - 2, 2)
    assert (after_cable.stock_quantity, after_cable.order_count) == (cable.stock_quantity - 3, 3)
    cart = await customer.get("/api/cart")
    assert cart.body["lines"] == []
    assert await shop.pool.fetchval("SELECT phone FROM users WHERE telegram_id = 700000001") == "+998901234567"
    written = await _events(shop.pool)  # in the order's own transaction
    assert written == {f"order-created:{order['id']}", f"push-stock:{buds.id}", f"push-stock:{cable.id}"}

    mine = await customer.get("/api/orders")
    assert [o["order_number"] for o in mine.body["items"]] == [order["order_number"]]
    one = await customer.get(f"/api/orders/{order['order_number']}")
    assert one.status == 200 and one.body["total"] == order["total"]


async def test_delivery_fee_applies_below_the_free_delivery_threshold(shop: Shop) -> None:
    tea = await shop.product("AS-TEA-GRN")  # 18 000
    customer = shop.customer()
    cart = await customer.put_cart(tea.id, 2)
    assert Decimal(cart.body["delivery_fee"]) == Decimal("20000")
    assert cart.body["total_text"] == "56 000 so'm"
    order = await customer.checkout()
    assert order.status == 201
    assert (Decimal(order.body["subtotal"]), Decimal(order.body["delivery_fee"]), Decimal(order.body["total"])) == (
        Decimal("36000"), Decimal("20000"), Decimal("56000"))


async def test_order_numbers_are_unique_and_increasing(shop: Shop) -> None:
    tea = await shop.product("AS-TEA-GRN")
    numbers = []
    for n in range(3):
        customer = shop.customer(700000100 + n)
        await customer.put_cart(tea.id, 1)
        numbers.append((await customer.checkout()).body["order_number"])
    assert len(set(numbers)) == 3 and numbers == sorted(numbers)


async def test_the_same_idempotency_key_returns_the_same_order_and_creates_nothing(shop: Shop) -> None:
    tea = await shop.product("AS-TEA-GRN")
    customer = shop.customer()
    await customer.put_cart(tea.id, 4)
    key = uuid.uuid4().hex
    first = await customer.checkout(key)
    await customer.put_cart(tea.id, 1)  # a new cart must not leak into the replay
    again = await customer.checkout(key)

    assert (first.status, again.status) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.body["order_number"] == first.body["order_number"]
    assert again.body["items"] == first.body["items"]
    assert await shop.pool.fetchval("SELECT count(*) FROM orders") == 1
    assert (await shop.product("AS-TEA-GRN")).stock_quantity == tea.stock_quantity - 4
    assert (await customer.get("/api/cart")).body["item_count"] == 1  # the new cart is untouched

    other_body = await customer.checkout(key, form={**CHECKOUT_FORM, "delivery_address": "Samarqand, Registon 1"})
    assert other_body.status == 422
    assert other_body.error["code"] == "idempotency_key_reused"

    # Keys belong to a customer: another customer's identical key is a new order.
    stranger = shop.customer(700000002)
    await stranger.put_cart(tea.id, 1)
    assert (await stranger.checkout(key)).status == 201


async def test_a_double_tap_sending_one_key_twice_at_once_makes_one_order(shop: Shop) -> None:
    tea = await shop.product("AS-TEA-GRN")
    customer = shop.customer()
    await customer.put_cart(tea.id, 2)
    key = uuid.uuid4().hex
    replies = await asyncio.gather(*(customer.checkout(key) for _ in range(5)))
    assert {r.status for r in replies} == {201}
    assert len({r.body["order_number"] for r in replies}) == 1
    assert await shop.pool.fetchval("SELECT count(*) FROM orders") == 1
    assert (await shop.product("AS-TEA-GRN")).stock_quantity == tea.stock_quantity - 2


@pytest.mark.parametrize(("key", "problem"), [(None, "missing"), ("has space", "invalid"), ("x" * 256, "invalid")])
async def test_checkout_needs_a_valid_idempotency_key(shop: Shop, key: str | None, problem: str) -> None:
    customer = shop.customer()
    await customer.put_cart((await shop.product("AS-TEA-GRN")).id, 1)
    headers = {"Idempotency-Key": key} if key is not None else {}
    reply = await customer.call("POST", "/api/orders", CHECKOUT_FORM, headers=headers)
    assert reply.status == 400
    assert "Idempotency-Key" in reply.error["fields"]
    assert await shop.pool.fetchval("SELECT count(*) FROM orders") == 0


async def test_bad_checkout_input_gets_a_message_per_field(shop: Shop) -> None:
    customer = shop.customer(language_code="ru")
    await customer.put_cart((await shop.product("AS-TEA-GRN")).id, 1)
    before = await _snapshot(shop.pool)
    reply = await customer.checkout(form={"customer_name": "A", "customer_phone": "+7 916 123 45 67",
                                          "delivery_address": "", "delivery_notes": 5})
    assert reply.status == 400
    assert reply.error["code"] == "validation_failed"
    assert set(reply.error["fields"]) == {"customer_name", "customer_phone", "delivery_address", "delivery_notes"}
    assert "Узбекистана" in reply.error["fields"]["customer_phone"]  # in the customer's language
    assert await _snapshot(shop.pool) == before

    not_json = await customer.call("POST", "/api/orders", None, headers={"Idempotency-Key": "k1"})
    assert not_json.status == 400


@pytest.mark.parametrize("phone", ["+998901234567", "998 90 123 45 67", "90 123-45-67", "(90) 123 45 67"])
async def test_uzbek_phone_numbers_are_accepted_as_people_type_them(shop: Shop, phone: str) -> None:
    customer = shop.customer()
    await customer.put_cart((await shop.product("AS-TEA-GRN")).id, 1)
    reply = await customer.checkout(form={**CHECKOUT_FORM, "customer_phone": phone})
    assert reply.status == 201 and reply.body["customer_phone"] == "+998901234567"


async def test_an_empty_cart_cannot_be_ordered(shop: Shop) -> None:
    reply = await shop.customer().checkout()
    assert reply.status == 400 and reply.error["code"] == "cart_empty"


async def test_more_than_the_stock_is_refused_with_what_is_available_and_nothing_is_written(shop: Shop) -> None:
    kettle, tea = await shop.product("AS-KIT-KTL"), await shop.product("AS-TEA-GRN")
    customer = shop.customer()
    await customer.put_cart(tea.id, 1)
    await customer.put_cart(kettle.id, 5)
    async with shop.pool.acquire() as conn, conn.transaction():
        await stock.set_quantity(conn, kettle.id, 3)  # sold elsewhere meanwhile
    before = await _snapshot(shop.pool)

    reply = await customer.checkout()

    assert reply.status == 409
    assert reply.error["code"] == "out_of_stock"
    assert reply.error["available"] == {str(kettle.id): 3}
    assert "3" in reply.error["message"]
    line = next(ln for ln in reply.error["cart"]["lines"] if ln["product"]["id"] == kettle.id)
    assert line["insufficient"] is True and line["available"] == 3
    assert reply.error["cart"]["can_checkout"] is False
    assert await _snapshot(shop.pool) == before


async def test_a_switched_off_product_is_refused_and_nothing_is_written(shop: Shop) -> None:
    dumbbells = await shop.product("AS-FIT-DMB")
    customer = shop.customer()
    await customer.put_cart(dumbbells.id, 1)
    await shop.pool.execute("UPDATE products SET is_active = FALSE WHERE id = $1", dumbbells.id)
    before = await _snapshot(shop.pool)
    reply = await customer.checkout()
    assert reply.status == 409 and reply.error["code"] == "product_unavailable"
    assert reply.error["available"] == {str(dumbbells.id): 0}
    assert reply.error["cart"]["lines"][0]["unavailable"] is True
    assert await _snapshot(shop.pool) == before


async def test_a_changed_price_is_refused_with_the_refreshed_cart_then_ordered_at_the_new_price(shop: Shop) -> None:
    honey = await shop.product("AS-SWT-HNY")  # 150 000
    customer = shop.customer()
    await customer.put_cart(honey.id, 2)
    async with shop.pool.acquire() as conn:
        await products.set_prices(conn, honey.id, Decimal("150000"), Decimal("135000"))

    flagged = await customer.get("/api/cart")
    assert flagged.body["lines"][0]["price_changed"] is True
    assert flagged.body["lines"][0]["old_price_text"] == "150 000 so'm"

    refused = await customer.checkout()
    assert refused.status == 409 and refused.error["code"] == "price_changed"
    line = refused.error["cart"]["lines"][0]
    assert (Decimal(line["price_snapshot"]), line["price_changed"]) == (Decimal("135000"), False)
    assert await shop.pool.fetchval("SELECT count(*) FROM orders") == 0
    assert (await shop.product("AS-SWT-HNY")).stock_quantity == honey.stock_quantity

    confirmed = await customer.checkout()
    assert confirmed.status == 201
    assert Decimal(confirmed.body["items"][0]["price"]) == Decimal("135000")


async def test_the_customer_cancels_their_pending_order_and_the_stock_comes_back(shop: Shop) -> None:
    bag = await shop.product("AS-TRV-BAG")
    customer = shop.customer()
    await customer.put_cart(bag.id, 2)
    order = (await customer.checkout()).body
    number = order["order_number"]

    stranger = shop.customer(700000009)
    assert (await stranger.get(f"/api/orders/{number}")).status == 404
    assert (await stranger.call("POST", f"/api/orders/{number}/cancel")).status == 404

    cancelled = await customer.call("POST", f"/api/orders/{number}/cancel")
    assert cancelled.status == 200
    assert cancelled.body["status"] == "cancelled" and cancelled.body["cancelled_at"]
    assert cancelled.body["can_cancel"] is False
    assert (await shop.product("AS-TRV-BAG")).stock_quantity == bag.stock_quantity
    assert f"order-status:{order['id']}:cancelled" in await _events(shop.pool)

    again = await customer.call("POST", f"/api/orders/{number}/cancel")
    assert again.status == 200  # already cancelled: nothing changes, stock is not returned twice
    assert (await shop.product("AS-TRV-BAG")).stock_quantity == bag.stock_quantity


async def test_a_customer_cannot_cancel_a_confirmed_order(shop: Shop) -> None:
    customer = shop.customer()
    await customer.put_cart((await shop.product("AS-TEA-GRN")).id, 1)
    number = (await customer.checkout()).body["order_number"]
    app = shop.app
    await order_service.change_status(app[keys.DB], number, "confirmed",
                                      order_service.Actor.admin(1))
    reply = await customer.call("POST", f"/api/orders/{number}/cancel")
    assert reply.status == 409 and reply.error["code"] == "status_transition_not_allowed"
    assert (await customer.get(f"/api/orders/{number}")).body["status"] == "confirmed"


async def test_admin_status_transitions_stamp_times_and_refuse_skips(shop: Shop) -> None:
    customer = shop.customer()
    tea = await shop.product("AS-TEA-GRN")
    await customer.put_cart(tea.id, 3)
    order_id = (await customer.checkout()).body["id"]
    db, admin = shop.app[keys.DB], order_service.Actor.admin(42)

    with pytest.raises(order_service.TransitionNotAllowed):
        await order_service.change_status(db, order_id, "delivered", admin)
    confirmed = await order_service.change_status(db, order_id, "confirmed", admin)
    assert confirmed.changed and confirmed.order.confirmed_at is not None
    assert order_service.allowed_next(confirmed.order, admin) == ["shipped", "cancelled"]
    shipped = await order_service.change_status(db, order_id, "shipped", admin)
    with pytest.raises(order_service.TransitionNotAllowed):
        await order_service.change_status(db, order_id, "cancelled", admin)
    delivered = await order_service.change_status(db, order_id, "delivered", admin)
    assert (shipped.old, delivered.order.status) == ("confirmed", "delivered")
    assert delivered.order.delivered_at is not None
    assert (await order_service.change_status(db, order_id, "delivered", admin)).changed is False
    assert (await shop.product("AS-TEA-GRN")).stock_quantity == tea.stock_quantity - 3


async def test_an_admin_cancels_a_confirmed_order_and_the_stock_comes_back(shop: Shop) -> None:
    customer = shop.customer()
    kettle = await shop.product("AS-KIT-KTL")
    await customer.put_cart(kettle.id, 4)
    number = (await customer.checkout()).body["order_number"]
    db, admin = shop.app[keys.DB], order_service.Actor.admin(42)
    await order_service.change_status(db, number, "confirmed", admin)
    change = await order_service.change_status(db, number, "cancelled", admin)
    assert change.order.cancelled_at is not None and change.old == "confirmed"
    assert (await shop.product("AS-KIT-KTL")).stock_quantity == kettle.stock_quantity
    with pytest.raises(NotFound):
        await order_service.change_status(db, "AS-1999-000001", "confirmed", admin)


async def test_a_cart_write_and_a_checkout_take_a_few_round_trips_each(
    shop: Shop, settings: Settings, database_url: str,
) -> None:
    """Every statement a round trip to PostgreSQL (CPU on both sides, locks held longer): a cart
    write is one call of store_cart_put (it was BEGIN, the lock, one read, one write, COMMIT); a
    checkout is BEGIN, the lock, the key, the cart with its products locked, one write of
    everything, COMMIT (it was ~19)."""
    from db.pool import create_pool
    from store.services import checkout, customers

    buds, cable = await shop.product("AS-AUD-BUDS"), await shop.product("AS-ACC-CBL")
    form = checkout.parse_checkout_form(CHECKOUT_FORM, settings)
    statements: list[str] = []
    counted = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with counted.acquire() as conn:
            conn.add_query_logger(lambda record: statements.append(record.query))
        for telegram_id in (700000077, 700000078):  # the first warms the connection (type introspection)
            user = await customers.register(shop.pool, telegram_id=telegram_id, first_name="Aziz",
                                            last_name=None, username=None, language_code="uz")
            statements.clear()
            await checkout.set_cart_quantity(counted, user.id, buds.id, 2, settings)
            writes = len(statements)
            view = await checkout.set_cart_quantity(counted, user.id, cable.id, 1, settings)
            statements.clear()
            placed = await checkout.place_order(counted, settings, user, form, f"round-trips-{telegram_id}")
            orders = len(statements)
    finally:
        await counted.close()
    assert (writes, orders) == (1, 6), statements
    assert [(line.product.id, line.quantity) for line in view.lines] == [(buds.id, 2), (cable.id, 1)]
    assert sorted((i.product_id, i.quantity) for i in placed.items) == sorted([(buds.id, 2), (cable.id, 1)])
    assert (await shop.product("AS-AUD-BUDS")).stock_quantity == buds.stock_quantity - 4
    assert placed.payment is not None and placed.payment.method == "cash"
    assert await _events(shop.pool) >= {f"order-created:{placed.order.id}", f"push-stock:{buds.id}",
                                        f"push-stock:{cable.id}"}


async def test_a_cart_write_answers_what_a_read_of_the_cart_says(shop: Shop, settings: Settings) -> None:
    """The cart write computes its answer from the read before the write (one query fewer): it
    must equal a fresh read, line order included, whether a line is new, changed or removed."""
    from store.services import checkout, customers

    user = await customers.register(shop.pool, telegram_id=700000079, first_name="Aziz", last_name=None,
                                    username=None, language_code="uz")
    items = [await shop.product(sku) for sku in ("AS-AUD-BUDS", "AS-ACC-CBL", "AS-KIT-KTL")]
    steps = [(items[0], 2), (items[1], 1), (items[2], 3), (items[0], 5), (items[1], 0), (items[1], 2),
             (items[2], 0), (items[2], 0)]
    for product, quantity in steps:
        view = await checkout.set_cart_quantity(shop.pool, user.id, product.id, quantity, settings)
        assert view == await checkout.cart_view(shop.pool, user.id, settings), (product.sku, quantity)


async def test_a_cart_write_does_not_wait_for_the_disk_and_an_order_does(shop: Shop, settings: Settings) -> None:
    """synchronous_commit off for the cart write's transaction only (store_cart_put sets it for its
    own transaction): never left on the pooled connection for the order after it."""
    from store.services import checkout, customers

    user = await customers.register(shop.pool, telegram_id=700000081, first_name="Aziz", last_name=None,
                                    username=None, language_code="uz")
    buds = await shop.product("AS-AUD-BUDS")
    seen: list[str] = []
    async with shop.pool.acquire() as conn:
        async with conn.transaction():
            await conn.fetch("SELECT * FROM store_cart_put($1, $2, 1, 50)", user.id, buds.id)
            seen.append(await conn.fetchval("SHOW synchronous_commit"))
        seen.append(await conn.fetchval("SHOW synchronous_commit"))
        async with conn.transaction():
            from db.repos import users

            assert await users.lock(conn, user.id)
            seen.append(await conn.fetchval("SHOW synchronous_commit"))
    assert seen == ["off", "on", "on"]
    view = await checkout.set_cart_quantity(shop.pool, user.id, buds.id, 1, settings)
    assert view.item_count == 1  # committed and read back as usual


async def test_a_cart_write_that_waited_for_the_lock_sees_what_its_holder_committed(
    shop: Shop, settings: Settings,
) -> None:
    """The reason store_cart_put is a function, not one statement: a statement reads with the
    snapshot taken when it began, so one that waited for the customer's lock would answer without
    the line the lock's holder had just committed. The function reads after the lock."""
    from store.services import checkout, customers

    user = await customers.register(shop.pool, telegram_id=700000083, first_name="Aziz", last_name=None,
                                    username=None, language_code="uz")
    buds, cable = await shop.product("AS-AUD-BUDS"), await shop.product("AS-ACC-CBL")
    async with shop.pool.acquire() as holder:
        transaction = holder.transaction()
        await transaction.start()
        try:
            from db.repos import users

            assert await users.lock(holder, user.id)
            await holder.execute(
                "INSERT INTO cart_items (user_id, product_id, quantity, price_snapshot) VALUES ($1, $2, 2, $3)",
                user.id, buds.id, buds.current_price)
            write = asyncio.create_task(checkout.set_cart_quantity(shop.pool, user.id, cable.id, 1, settings))
            await asyncio.sleep(0.3)
            assert not write.done()  # waiting for the customer's lock
        finally:
            await transaction.commit()
        view = await asyncio.wait_for(write, 30)
    assert [(line.product.id, line.quantity) for line in view.lines] == [(buds.id, 2), (cable.id, 1)]
    assert view == await checkout.cart_view(shop.pool, user.id, settings)
