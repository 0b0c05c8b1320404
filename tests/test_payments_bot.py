"""The owner's side of online payment in the bot: how an order is paid on its card with the
payment's history, /orders paid|unpaid, /stats by payment method, /refund."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from db.models import Order
from db.repos import payments as payment_repo
from store.services import payments
from store.settings import Settings
from tests.bot_helpers import ADMIN_ID, customer, order, product
from tests.conftest import Client
from tests.fake_telegram import Call, FakeTelegram, user
from tests.payments_support import payment_settings

pytest_plugins = ["tests.bot_support"]

ADMIN = user(ADMIN_ID, "uz", "Owner")


@pytest.fixture
def bot_settings(bot_settings: Settings) -> Settings:
    return payment_settings(bot_settings)


async def ask(telegram: FakeTelegram, text: str, contains: str = "") -> Call:
    mark = telegram.mark()
    await telegram.send_text(ADMIN, text)
    return await telegram.wait_sent(ADMIN_ID, contains, after=mark)


async def _online_order(pool: asyncpg.Pool, number: str, method: str, settings: Settings) -> Order:
    buyer = await customer(pool, 700_100 + int(number[-3:]))
    phone = await product(pool, f"SKU-{number}", price="150000", stock=5)
    placed = await order(pool, items=[(phone, 1)], user=buyer, number=number)
    async with pool.acquire() as conn, conn.transaction():
        await payments.start(conn, placed, method, settings)
    return placed


async def _pay_payme(pool: asyncpg.Pool, placed: Order, tx_id: str) -> None:
    payme = payments.Payme(pool)
    account: dict[str, Any] = {"order_id": placed.order_number}
    await payme.create({"id": tx_id, "time": 1, "amount": 15_000_000, "account": account})
    await payme.perform({"id": tx_id})


async def test_cards_lists_stats_and_refunds_show_the_payment(
        bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool, bot_settings: Settings) -> None:
    await customer(pool, ADMIN_ID, "uz", "Owner")
    by_payme = await _online_order(pool, "AS-2026-000101", "payme", bot_settings)
    waiting = await _online_order(pool, "AS-2026-000102", "click", bot_settings)
    by_click = await _online_order(pool, "AS-2026-000103", "click", bot_settings)
    await _pay_payme(pool, by_payme, "tx-bot-1")
    click = payments.Click(pool, bot_settings)
    assert by_click.order_number and waiting.order_number
    prepared = await click.prepare(_click(by_click.order_number, prepare=None))
    assert (await click.complete(_click(by_click.order_number, prepare=prepared["merchant_prepare_id"])))["error"] == 0

    card = await ask(telegram, "/order AS-2026-000101", "AS-2026-000101")
    assert "To'lov: Payme · To'langan" in card.text
    assert "To'lov tarixi:" in card.text and "paid 150 000 so'm — payme" in card.text
    pending = await ask(telegram, "/order AS-2026-000102", "AS-2026-000102")
    assert "To'lov: Click · To'lov kutilmoqda" in pending.text

    paid_list = await ask(telegram, "/orders paid", "Buyurtmalar")
    assert "AS-2026-000101" in paid_list.text and "AS-2026-000103" in paid_list.text
    assert "AS-2026-000102" not in paid_list.text and "(To'langan)" in paid_list.text
    unpaid_list = await ask(telegram, "/orders unpaid", "Buyurtmalar")
    assert "AS-2026-000102" in unpaid_list.text and "AS-2026-000101" not in unpaid_list.text

    stats = await ask(telegram, "/stats today", "To'lov usullari bo'yicha")
    assert "• Click: 2 ta buyurtma, 300 000 so'm (onlayn to'langan: 150 000 so'm)" in stats.text
    assert "• Payme: 1 ta buyurtma, 150 000 so'm (onlayn to'langan: 150 000 so'm)" in stats.text

    refused = await ask(telegram, "/refund AS-2026-000101", "AS-2026-000101")
    assert "Payme kabinetida" in refused.text
    done = await ask(telegram, "/refund AS-2026-000103", "qaytarilgan deb belgilandi")
    assert "Bekor qilindi" in done.text
    history = await payment_repo.events(pool, by_click.id)
    assert [(e.event, e.actor) for e in history][-1] == ("refunded", f"admin:{ADMIN_ID}")
    usage = await ask(telegram, "/refund", "Foydalanish")
    assert "/refund" in usage.text


def _click(number: str, *, prepare: int | None) -> dict[str, str]:
    from tests.payments_support import click_params

    return click_params(number, "150000.00", action=0 if prepare is None else 1, click_trans_id=9001,
                        prepare_id=prepare)
