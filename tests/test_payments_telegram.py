"""Telegram Payments through the fake Bot API: the invoice link at checkout (UZS, tiyin), the
pre_checkout_query answered (refused with the reason when the order is no longer payable), and
successful_payment marking the order paid with both charge ids; the payment notifications."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from arq.worker import Worker
from pydantic import SecretStr

from bot import delivery
from store import payment_jobs
from store.app import create_app
from store.seed import seed_demo
from store.services import events
from store.settings import Settings
from sync.relay import OutboxRelay, Wakeup, run_relay
from sync.worker import redis_client, stop_worker
from tests.bot_helpers import ADMIN_ID
from tests.conftest import MakeClient
from tests.fake_telegram import FakeTelegram, user
from tests.payments_support import payment_settings, place, tiyin
from tests.tma import Shop

pytest_plugins = ["tests.bot_support"]

PROVIDER_TOKEN = "398062629:TEST:999999999_F91D8F69C042267444B74CC0B3C747757EB0E065"
CUSTOMER = 700000777


@pytest.fixture
def pay_bot_settings(bot_settings: Settings) -> Settings:
    return payment_settings(bot_settings, telegram_payment_provider_token=SecretStr(PROVIDER_TOKEN))


@pytest.fixture
async def shop(pool: asyncpg.Pool, pay_bot_settings: Settings, make_client: MakeClient,
               telegram: FakeTelegram) -> Shop:
    app = create_app(pay_bot_settings)
    client = await make_client(app)
    await telegram.wait_for(lambda c: c.method == "getUpdates", what="the bot to start long polling")
    await seed_demo(pool)
    return Shop(app, client, pool)


@pytest.fixture
async def payment_worker(pool: asyncpg.Pool, pay_bot_settings: Settings, redis_url: str,
                         database_url: str) -> AsyncIterator[None]:
    """The notifications queue's worker with the payment notification job, and the outbox relay."""
    async def startup(ctx: dict[str, Any]) -> None:
        ctx["db"], ctx["settings"] = pool, pay_bot_settings
        await delivery.open_bot(ctx)

    worker = Worker(
        functions=[*delivery.FUNCTIONS, *payment_jobs.NOTIFICATION_FUNCTIONS],
        redis_pool=redis_client(redis_url, socket_timeout=5, queue=events.QUEUE_NOTIFICATIONS),
        queue_name=events.QUEUE_NOTIFICATIONS, on_startup=startup, on_shutdown=delivery.close_bot,
        handle_signals=False, poll_delay=0.05, keep_result=60)
    relay_redis = redis_client(redis_url, socket_timeout=5)
    wakeup = Wakeup(database_url)
    relay = OutboxRelay(pool, relay_redis, retention_seconds=3600)
    tasks = [asyncio.create_task(worker.main()), asyncio.create_task(wakeup.run()),
             asyncio.create_task(run_relay(relay, wakeup.waiter()))]
    yield
    for task in tasks[1:]:
        task.cancel()
    await asyncio.gather(*tasks[1:], return_exceptions=True)
    await relay_redis.aclose(close_connection_pool=True)
    await stop_worker(worker, tasks[0])


async def _answer(telegram: FakeTelegram, query_id: str) -> dict[str, Any]:
    call = await telegram.wait_for(lambda c: c.method == "answerPreCheckoutQuery"
                                   and c.params.get("pre_checkout_query_id") == query_id,
                                   what=f"the answer to {query_id}")
    params = dict(call.params)
    params["ok"] = str(params["ok"]).lower() == "true"  # form-encoded by aiogram
    return params


async def test_checkout_by_telegram_creates_an_invoice_link_in_tiyin(shop: Shop, telegram: FakeTelegram) -> None:
    customer = shop.customer(CUSTOMER, language_code="ru")
    order = await place(shop, customer, "telegram")
    assert order["payment"]["method"] == "telegram"
    assert order["payment"]["url"].startswith("https://t.me/$invoice-")
    call = await telegram.wait_for(lambda c: c.method == "createInvoiceLink", what="createInvoiceLink")
    assert call.params["currency"] == "UZS"
    assert call.params["prices"] == [{"label": "Итого", "amount": tiyin(order)}]
    assert call.params["payload"] == f"order:{order['order_number']}"
    assert call.params["provider_token"] == PROVIDER_TOKEN
    assert call.params["title"] == f"Заказ {order['order_number']}"


async def test_pre_checkout_then_successful_payment_marks_the_order_paid_once(
        shop: Shop, telegram: FakeTelegram, payment_worker: None) -> None:
    customer = shop.customer(CUSTOMER, language_code="ru")
    await customer.get("/api/me")  # registers the customer (language ru)
    order = await place(shop, customer, "telegram")
    payload, amount, who = f"order:{order['order_number']}", tiyin(order), user(CUSTOMER, "ru")
    placed = await telegram.wait_sent(CUSTOMER, order["order_number"])  # "order placed" says how it is paid
    assert "Оплата: Картой в Telegram · Ожидает оплаты" in placed.text

    wrong = await _answer(telegram, await telegram.pre_checkout_query(who, payload, amount - 100))
    assert wrong["ok"] is False and wrong["error_message"] == "Сумма заказа изменилась. Откройте заказ заново."
    right = await _answer(telegram, await telegram.pre_checkout_query(who, payload, amount))
    assert right["ok"] is True and "error_message" not in right

    await telegram.successful_payment(who, payload, amount, "tg-charge-1", "click-charge-1")
    await telegram.successful_payment(who, payload, amount, "tg-charge-1", "click-charge-1")  # repeated update
    paid = await telegram.wait_sent(CUSTOMER, "Оплата заказа")
    assert order["order_number"] in paid.text
    admin = await telegram.wait_sent(ADMIN_ID, "to'landi")
    assert order["order_number"] in admin.text and "Telegram" in admin.text
    tx = await shop.pool.fetchrow("SELECT state, amount_tiyin, details FROM payment_transactions WHERE order_id = $1",
                                  order["id"])
    assert tx is not None and (tx["state"], tx["amount_tiyin"]) == (2, amount)
    assert tx["details"]["telegram_payment_charge_id"] == "tg-charge-1"
    assert tx["details"]["provider_payment_charge_id"] == "click-charge-1"
    assert await shop.pool.fetchval("SELECT payment_status FROM orders WHERE id = $1", order["id"]) == "paid"
    assert await shop.pool.fetchval(
        "SELECT count(*) FROM payment_events WHERE order_id = $1 AND event = 'paid'", order["id"]) == 1

    again = await _answer(telegram, await telegram.pre_checkout_query(who, payload, amount))
    assert again["ok"] is False and again["error_message"] == "Заказ уже оплачен."


async def test_a_cancelled_order_is_refused_at_pre_checkout(shop: Shop, telegram: FakeTelegram) -> None:
    customer = shop.customer(CUSTOMER)
    order = await place(shop, customer, "telegram")
    assert (await customer.call("POST", f"/api/orders/{order['order_number']}/cancel")).status == 200
    answer = await _answer(telegram, await telegram.pre_checkout_query(
        user(CUSTOMER), f"order:{order['order_number']}", tiyin(order)))
    assert answer["ok"] is False and answer["error_message"] == "Buyurtma bekor qilingan."


async def test_an_order_placed_while_telegram_fails_gets_its_link_from_pay_again(
        shop: Shop, telegram: FakeTelegram) -> None:
    customer = shop.customer(CUSTOMER)
    telegram.fail_next("createInvoiceLink", 500)
    order = await place(shop, customer, "telegram")  # placed: the 201 says so, without a link yet
    assert order["payment"]["url"] is None and order["payment"]["payable"] is True
    again = await customer.call("POST", f"/api/orders/{order['order_number']}/pay")
    assert again.status == 200 and again.body["payment"]["url"].startswith("https://t.me/$invoice-")
