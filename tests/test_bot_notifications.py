"""Notifications that arrive: a checkout and a marketplace order reach the customer and the admins
through the arq jobs, status changes pressed by an admin reach the customer, a customer who
blocked the bot is noted and skipped without holding anyone up, a 429 is honoured, a message that
cannot be sent is logged with its order number, and a failing sync alerts the admins once an hour."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis
from arq.jobs import Job
from arq.worker import Retry

from bot import delivery
from db.repos import bot_chats, marketplaces, orders, products, sync_logs
from store.services import checkout, events
from store.settings import Settings
from tests.bot_helpers import ADMIN_ID, JobLog, customer, order, pending_push, product
from tests.conftest import Client
from tests.fake_telegram import FakeTelegram, user

pytest_plugins = ["tests.bot_support"]


async def _job_result(redis: ArqRedis, job_id: str, timeout: float = 20.0) -> Any:
    """The result of a job that may not even be queued yet (it is enqueued by another job)."""
    job = Job(job_id, redis)
    deadline = asyncio.get_running_loop().time() + timeout
    while (info := await job.result_info()) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job {job_id} never finished")
        await asyncio.sleep(0.02)
    return info.result


async def _checkout(pool: asyncpg.Pool, redis: ArqRedis, settings: Settings, telegram_id: int, lang: str,
                    *lines: tuple[int, int]) -> checkout.PlacedOrder:
    buyer = await customer(pool, telegram_id, lang)
    for product_id, quantity in lines:
        await checkout.set_cart_quantity(pool, buyer.id, product_id, quantity, settings)
    form = checkout.parse_checkout_form({"customer_name": "Aziz Karimov", "customer_phone": "90 123 45 67",
                                         "delivery_address": "Toshkent, Chilonzor 5"})
    return await checkout.place_order(pool, settings, buyer, form, f"key-{telegram_id}")


async def test_checkout_reaches_the_customer_in_russian_and_the_admin_with_buttons(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool, arq_redis: ArqRedis,
    bot_settings: Settings,
) -> None:
    phone = await product(pool, "PHN-A15", price="2190000", stock=5)
    case = await product(pool, "ACC-CASE", price="79000", stock=5, name_uz="G'ilof", name_ru="Чехол")
    placed = await _checkout(pool, arq_redis, bot_settings, 700_010, "ru", (phone.id, 1), (case.id, 2))
    number = placed.order.order_number

    to_customer = await telegram.wait_sent(700_010, f"Заказ № {number}")
    assert "Ваш заказ принят" in to_customer.text
    assert "× 2" in to_customer.text and "2 348 000 сум" in to_customer.text  # 2 190 000 + 2 × 79 000

    alert = await telegram.wait_sent(ADMIN_ID, f"Buyurtma № {number}")
    assert "Yangi buyurtma" in alert.text and "Mini App" in alert.text and "PHN-A15" in alert.text
    assert "+998901234567" in alert.text and "2 348 000 so'm" in alert.text
    assert [b["text"] for b in alert.buttons] == ["✅ Tasdiqlash", "❌ Bekor qilish"]


async def test_status_changes_pressed_by_the_admin_reach_the_customer(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool, arq_redis: ArqRedis,
) -> None:
    buyer = await customer(pool, 700_011, "uz")
    phone = await product(pool, stock=5)
    placed = await order(pool, items=[(phone, 1)], user=buyer)
    await events.order_created(pool, placed.id)
    admin = {"id": ADMIN_ID, "is_bot": False, "first_name": "Owner", "language_code": "uz"}
    card = await telegram.wait_sent(ADMIN_ID, placed.order_number)

    for button, status, tell in (("Tasdiqlash", "confirmed", "tasdiqlandi"), ("Jo'natildi", "shipped", "jo'natildi"),
                                 ("Yetkazildi", "delivered", "yetkazildi")):
        mark = telegram.mark()
        await telegram.click(admin, card, card.button(button)["callback_data"])
        card = await telegram.wait_for(lambda c, m=mark: c.method == "editMessageText" and c.chat_id == ADMIN_ID
                                       and telegram.calls.index(c) >= m, what=f"the card after {status}")
        await telegram.wait_sent(700_011, f"Buyurtma № {placed.order_number} {tell}", after=mark)
        current = await orders.get(pool, placed.id)
        assert current is not None and current.status == status
    assert card.buttons == []  # delivered: nothing left to press
    final = await orders.get(pool, placed.id)
    assert final is not None and final.confirmed_at is not None and final.delivered_at is not None


async def test_cancel_asks_first_then_returns_the_stock_and_tells_the_customer(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool, arq_redis: ArqRedis,
) -> None:
    buyer = await customer(pool, 700_012, "ru")
    phone = await product(pool, stock=5)
    placed = await order(pool, items=[(phone, 2)], user=buyer)
    await events.order_created(pool, placed.id)
    admin = {"id": ADMIN_ID, "is_bot": False, "first_name": "Owner", "language_code": "uz"}
    card = await telegram.wait_sent(ADMIN_ID, placed.order_number)

    mark = telegram.mark()
    await telegram.click(admin, card, card.button("Bekor qilish")["callback_data"])
    question = await telegram.wait_for(lambda c: c.method == "editMessageText" and telegram.calls.index(c) >= mark,
                                       what="the are-you-sure question")
    assert "bekor qilinsinmi" in question.text
    assert [b["text"] for b in question.buttons] == ["Ha, bekor qilish", "Yo'q"]
    assert (await orders.get(pool, placed.id)).status == "pending"  # type: ignore[union-attr]

    mark = telegram.mark()
    await telegram.click(admin, question, question.button("Ha, bekor qilish")["callback_data"])
    await telegram.wait_sent(700_012, f"Заказ № {placed.order_number} отменён", after=mark)
    cancelled = await orders.get(pool, placed.id)
    assert cancelled is not None and cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    restored = await products.get(pool, phone.id)
    assert restored is not None and restored.stock_quantity == 5
    assert await pending_push(pool, "stock", phone.id)

    # Pressing an old button again is refused with the rule's message; the card shows where it is now.
    mark = telegram.mark()
    await telegram.click(admin, question, f"os:{placed.id}:confirmed")
    refused = await telegram.wait_for(lambda c: c.method == "answerCallbackQuery" and telegram.calls.index(c) >= mark,
                                      what="the refusal")
    assert "bu amalni bajarib bo'lmaydi" in refused.params["text"]


async def test_a_customer_cancelling_in_the_mini_app_is_told_to_the_admins(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool, arq_redis: ArqRedis,
) -> None:
    from store.services import orders as order_service

    buyer = await customer(pool, 700_013, "uz")
    phone = await product(pool, stock=5)
    placed = await order(pool, items=[(phone, 1)], user=buyer, number="AS-2026-000777")
    mark = telegram.mark()
    await order_service.change_status(pool, placed.order_number, "cancelled", order_service.Actor.customer(buyer.id))
    notice = await telegram.wait_sent(ADMIN_ID, "Mijoz buyurtmani bekor qildi", after=mark)
    assert "AS-2026-000777" in notice.text and "Kutilmoqda" in notice.text  # the card, and what it was
    # an admin's own cancellation is not reported back to the admins
    other = await order(pool, items=[(phone, 1)], user=buyer, number="AS-2026-000778")
    await order_service.change_status(pool, other.id, "cancelled", order_service.Actor.admin(ADMIN_ID))
    await telegram.wait_sent(700_013, "AS-2026-000778")  # the customer hears of it: the jobs have run
    assert not [c for c in telegram.sent(chat_id=ADMIN_ID) if "AS-2026-000778" in c.text]


async def test_a_marketplace_order_alerts_the_admins(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool, arq_redis: ArqRedis,
) -> None:
    phone = await product(pool, stock=5)
    sold = await order(pool, items=[(phone, 3)], source="uzum", number="UZ-778899")
    await events.order_created(pool, sold.id)

    alert = await telegram.wait_sent(ADMIN_ID, "Buyurtma № UZ-778899")
    assert "Uzum Market" in alert.text and "× 3" in alert.text and "6 570 000 so'm" in alert.text
    assert "uzum-1" in alert.text  # the marketplace's own order id
    assert alert.button("Tasdiqlash")["callback_data"] == f"os:{sold.id}:confirmed"
    assert [c for c in telegram.sent() if c.chat_id != ADMIN_ID] == []  # no customer to tell


async def test_a_customer_who_blocked_the_bot_is_noted_and_skipped(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool, arq_redis: ArqRedis,
) -> None:
    from store.services import orders as order_service

    buyer = await customer(pool, 700_013, "uz")
    phone = await product(pool, stock=5)
    telegram.block(700_013)
    placed = await order(pool, items=[(phone, 1)], user=buyer)
    await events.order_created(pool, placed.id)

    await telegram.wait_sent(ADMIN_ID, placed.order_number)  # the admin is not held up
    await telegram.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == 700_013 and c.status == 403,
                            what="the refused message")
    assert await _job_result(arq_redis, f"send:order-created:{placed.id}:700013") == "blocked"
    assert await bot_chats.is_blocked(pool, 700_013)

    # Next status change: no message is even attempted to the blocked chat.
    await order_service.change_status(pool, placed.id, "confirmed", order_service.Actor.admin(ADMIN_ID))
    assert await _job_result(arq_redis, f"send:order-status:{placed.id}:confirmed:700013") == "blocked"
    attempts = [c for c in telegram.calls if c.method == "sendMessage" and c.chat_id == 700_013]
    assert len(attempts) == 1

    # The customer comes back: /start clears the mark and the greeting gets through.
    telegram.blocked.clear()
    await telegram.send_text(user(700_013, "uz"), "/start")
    await telegram.wait_sent(700_013, "Assalomu alaykum")
    assert not await bot_chats.is_blocked(pool, 700_013)


async def test_telegram_429_is_honoured_and_the_message_arrives(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool, arq_redis: ArqRedis,
) -> None:
    buyer = await customer(pool, 700_014, "uz")
    phone = await product(pool, stock=5)
    placed = await order(pool, items=[(phone, 1)], user=buyer)
    telegram.fail_next("sendMessage", 429, retry_after=1, chat_id=700_014)
    await events.order_created(pool, placed.id)

    delivered = await telegram.wait_sent(700_014, placed.order_number)
    attempts = [c for c in telegram.calls if c.method == "sendMessage" and c.chat_id == 700_014]
    assert [c.status for c in attempts] == [429, 200]
    assert delivered.received_at - attempts[0].received_at >= 0.95  # waited the retry_after


async def test_a_message_that_cannot_be_sent_is_retried_then_logged_with_the_order_number(
    telegram: FakeTelegram, clean_bot_tables: asyncpg.Pool, bot_settings: Settings, arq_redis: ArqRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx: dict[str, Any] = {"settings": bot_settings, "db": clean_bot_tables, "redis": arq_redis, "job_try": 1}
    telegram.fail_next("sendMessage", 500, times=10)
    try:
        with pytest.raises(Retry):  # a 5xx: try again later
            await delivery.send_message(ctx, 700_015, "hi", None, "AS-2026-000042", "order placed")
        await arq_redis.delete("bot:ratelimit:chat:700015")  # the retry comes after the chat's slot freed
        ctx["job_try"] = 500  # a day of tries later: given up, logged, the admins told in plain text
        with caplog.at_level(logging.ERROR, logger="bot.delivery"):
            outcome = await delivery.send_message(ctx, 700_015, "hi", None, "AS-2026-000042", "order placed",
                                                  time.time() - delivery.MAX_MESSAGE_AGE)
    finally:
        await delivery.close_bot(ctx)
    assert outcome == "failed"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("AS-2026-000042" in m and "700015" in m and "dropped" in m for m in errors), errors
    fallback = await Job(f"send:undelivered:order placed:AS-2026-000042:700015:{ADMIN_ID}", arq_redis).info()
    assert fallback is not None and fallback.kwargs == {} and fallback.args[0] == ADMIN_ID
    assert "AS-2026-000042" in fallback.args[1] and fallback.args[-1] is True  # plain text: nothing to mis-parse


async def test_local_mode_jobs_send_nothing(
    telegram: FakeTelegram, clean_bot_tables: asyncpg.Pool, settings: Settings, arq_redis: ArqRedis,
) -> None:
    ctx: dict[str, Any] = {"settings": settings, "db": clean_bot_tables, "redis": arq_redis, "job_try": 1}
    assert settings.bot_token is None
    assert await delivery.send_message(ctx, 700_016, "hi") == "local"
    await delivery.notify_order_created(ctx, 1)
    assert telegram.calls == []


async def test_a_failed_sync_alerts_the_admins_at_most_once_an_hour(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool, arq_redis: ArqRedis,
) -> None:
    uzum = await marketplaces.create(pool, name="Uzum Market", slug="uzum", api_base_url=None)

    async def run(sync_type: str, status: str, error: str | None) -> int:
        log_id = await sync_logs.start(pool, uzum.id, sync_type)
        await sync_logs.finish(pool, log_id, status=status, items_processed=10, items_failed=3, error_message=error)
        job = await arq_redis.enqueue_job("alert_sync_failure", log_id, _queue_name=events.QUEUE_NOTIFICATIONS)
        assert job is not None
        await job.result(timeout=20)
        return log_id

    first = await run("stock", "error", "401 Unauthorized: api-key=abcdef123 is invalid")
    alert = await telegram.wait_sent(ADMIN_ID, "Uzum Market")
    assert "Qoldiq" in alert.text and "xato" in alert.text and "Qayta ishlangan: 10, xato: 3" in alert.text
    assert "abcdef123" not in alert.text  # secrets are redacted from the excerpt
    await run("stock", "partial", "again")  # same marketplace and type within the hour: throttled
    other_type = await run("price", "partial", None)  # another type: its own alert
    await run("orders", "success", None)  # not a failure: nothing
    assert await _job_result(arq_redis, f"send:sync-alert:{first}:{ADMIN_ID}") == "sent"
    assert await _job_result(arq_redis, f"send:sync-alert:{other_type}:{ADMIN_ID}") == "sent"
    alerts = [c for c in telegram.sent(chat_id=ADMIN_ID) if "Uzum Market" in c.text]
    assert len(alerts) == 2 and "Narxlar" in alerts[1].text


async def test_daily_low_stock_digest(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool, arq_redis: ArqRedis,
) -> None:
    await product(pool, "LOW-1", stock=2, name_uz="Kabel")
    await product(pool, "FULL-1", stock=50, name_uz="Zaryadlovchi")
    assert any(c.name == "cron:low_stock_digest" for c in delivery.CRON_JOBS)
    await arq_redis.enqueue_job("low_stock_digest", _queue_name=events.QUEUE_NOTIFICATIONS)
    digest = await telegram.wait_sent(ADMIN_ID, "Kunlik hisobot")
    assert "LOW-1" in digest.text and "Kabel: 2 dona" in digest.text and "FULL-1" not in digest.text


def test_the_worker_registers_the_bot_jobs() -> None:
    from sync.worker import cron_jobs, worker_functions

    names = {f.name for f in worker_functions()}
    assert {"send_message", "notify_order_created", "notify_order_status", "alert_sync_failure",
            "low_stock_digest"} <= names
    assert "cron:low_stock_digest" in {c.name for c in cron_jobs()}


async def test_a_message_is_kept_through_a_long_telegram_outage_until_it_is_a_day_old(
    telegram: FakeTelegram, clean_bot_tables: asyncpg.Pool, bot_settings: Settings, arq_redis: ArqRedis,
) -> None:
    """Before: 6 tries (~112 s) and the message was gone. Now a network error or a 5xx is retried,
    a minute apart at most, until the message is a day old."""
    ctx: dict[str, Any] = {"settings": bot_settings, "db": clean_bot_tables, "redis": arq_redis, "job_try": 40}
    telegram.fail_next("sendMessage", 502, times=1)
    try:
        with pytest.raises(Retry) as retried:  # the 40th try, 3 hours into the outage: still kept
            await delivery.send_message(ctx, 700_017, "hi", None, "AS-2026-000043", "order placed",
                                        time.time() - 3 * 3600)
        assert retried.value.defer_score is not None and retried.value.defer_score <= 60_000
        await arq_redis.delete("bot:ratelimit:chat:700017")
        assert await delivery.send_message(ctx, 700_017, "hi", None, "AS-2026-000043", "order placed",
                                           time.time() - 3 * 3600) == "sent"
    finally:
        await delivery.close_bot(ctx)
    assert delivery.FUNCTIONS[0].max_tries >= 24 * 60  # a try a minute for a day fits


async def test_healthz_tells_when_telegram_stops_answering_while_polling(
    bot_app: Client, telegram: FakeTelegram, arq_redis: ArqRedis, bot_settings: Settings,
    clean_bot_tables: asyncpg.Pool,
) -> None:
    body = await (await bot_app.get("/healthz")).json()
    assert body["telegram"]["state"] == "polling"
    telegram.fail_next("getUpdates", 502, times=10_000)  # Telegram goes away under a running bot
    for _ in range(200):
        body = await (await bot_app.get("/healthz")).json()
        if body["telegram"]["state"] == "failing":
            break
        await asyncio.sleep(0.1)
    detail = body["telegram"]["detail"]
    assert body["telegram"]["state"] == "failing" and ("502" in detail or "Bad Gateway" in detail), body
    # The worker's sends report too (they may run in another process).
    ctx: dict[str, Any] = {"settings": bot_settings, "db": clean_bot_tables, "redis": arq_redis, "job_try": 1}
    telegram.fail_next("sendMessage", 502, times=1)
    try:
        with pytest.raises(Retry):
            await delivery.send_message(ctx, 700_018, "hi")
    finally:
        await delivery.close_bot(ctx)
    body = await (await bot_app.get("/healthz")).json()
    assert body["telegram"]["sends"]["state"] == "failing", body
    telegram._faults.clear()
