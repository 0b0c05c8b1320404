"""Click's SHOP API (prepare, then complete) against the real database, driven as Click's
documentation and its test scenarios describe (docs/payments.md)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from store.settings import Settings
from tests.conftest import MakeClient
from tests.payments_support import click, click_params, place, start_pay_shop, tiyin
from tests.tma import Shop


@pytest.fixture
async def shop(settings: Settings, pool: asyncpg.Pool, make_client: MakeClient) -> Shop:
    return await start_pay_shop(settings, pool, make_client)


def _som(order: dict[str, Any]) -> str:
    amount = tiyin(order)
    return f"{amount // 100}.{amount % 100:02d}"


async def test_prepare_then_complete_pays_the_order(shop: Shop) -> None:
    customer = shop.customer()
    order = await place(shop, customer, "click")
    number = order["order_number"]
    prepared = await click(shop, "prepare", click_params(number, _som(order), action=0, click_trans_id=2001))
    assert (prepared["error"], prepared["error_note"]) == (0, "Success")
    assert prepared["click_trans_id"] == "2001" and prepared["merchant_trans_id"] == number
    prepare_id = prepared["merchant_prepare_id"]
    again = await click(shop, "prepare", click_params(number, _som(order), action=0, click_trans_id=2001))
    assert again == prepared  # Click repeated its prepare: the same answer

    completed = await click(shop, "complete", click_params(number, _som(order), action=1, click_trans_id=2001,
                                                           prepare_id=prepare_id))
    assert (completed["error"], completed["merchant_confirm_id"]) == (0, prepare_id)
    mine = await customer.get(f"/api/orders/{number}")
    assert (mine.body["payment_status"], mine.body["payment"]["state"]) == ("paid", "paid")
    assert mine.body["payment"]["state_text"] == "To'langan"
    repeated = await click(shop, "complete", click_params(number, _som(order), action=1, click_trans_id=2001,
                                                          prepare_id=prepare_id))
    assert repeated["error"] == -4  # already paid, and paid once
    assert await shop.pool.fetchval(
        "SELECT count(*) FROM payment_events WHERE order_id = $1 AND event = 'paid'", order["id"]) == 1
    other = await click(shop, "prepare", click_params(number, _som(order), action=0, click_trans_id=2002))
    assert other["error"] == -4


async def test_the_whole_amount_form_is_accepted(shop: Shop) -> None:
    order = await place(shop, shop.customer(), "click")
    whole = str(tiyin(order) // 100)  # "56000" as well as "56000.00"
    prepared = await click(shop, "prepare", click_params(order["order_number"], whole, action=0, click_trans_id=1))
    assert prepared["error"] == 0


async def test_what_click_gets_wrong_is_refused_with_its_documented_code(shop: Shop) -> None:
    order = await place(shop, shop.customer(), "click")
    number, amount = order["order_number"], _som(order)
    bad_sign = click_params(number, amount, action=0, click_trans_id=3001, secret="not-the-secret")
    assert (await click(shop, "prepare", bad_sign))["error"] == -1
    tampered = click_params(number, amount, action=0, click_trans_id=3001)
    tampered["amount"] = "1.00"  # signed for the real amount, sent with another
    assert (await click(shop, "prepare", tampered))["error"] == -1
    assert (await click(shop, "prepare", click_params(number, "1000.00", action=0, click_trans_id=3001)))["error"] == -2
    assert (await click(shop, "prepare", click_params(number, amount, action=1, click_trans_id=3001)))["error"] == -3
    assert (await click(shop, "prepare", click_params("AS-1999-000009", amount, action=0,
                                                      click_trans_id=3001)))["error"] == -5
    missing = click_params(number, amount, action=0, click_trans_id=3001)
    del missing["sign_time"]
    assert (await click(shop, "prepare", missing))["error"] == -8
    wrong_service = click_params(number, amount, action=0, click_trans_id=3001, service_id=1)
    assert (await click(shop, "prepare", wrong_service))["error"] == -8
    unknown = click_params(number, amount, action=1, click_trans_id=3001, prepare_id=999999)
    assert (await click(shop, "complete", unknown))["error"] == -6
    assert await shop.pool.fetchval("SELECT count(*) FROM payment_transactions") == 0
    cash = await place(shop, shop.customer(700000003), None)
    assert (await click(shop, "prepare", click_params(cash["order_number"], _som(cash), action=0,
                                                      click_trans_id=3002)))["error"] == -5


async def test_a_failed_payment_reported_by_click_cancels_the_transaction(shop: Shop) -> None:
    order = await place(shop, shop.customer(), "click")
    number, amount = order["order_number"], _som(order)
    prepared = await click(shop, "prepare", click_params(number, amount, action=0, click_trans_id=4001))
    failed = await click(shop, "complete", click_params(number, amount, action=1, click_trans_id=4001,
                                                        prepare_id=prepared["merchant_prepare_id"], error=-5017))
    assert failed["error"] == -9
    assert await shop.pool.fetchval("SELECT payment_status FROM orders WHERE id = $1", order["id"]) == "unpaid"
    retried = await click(shop, "complete", click_params(number, amount, action=1, click_trans_id=4001,
                                                         prepare_id=prepared["merchant_prepare_id"]))
    assert retried["error"] == -9  # a cancelled transaction stays cancelled
    # a new attempt may still pay the order
    fresh = await click(shop, "prepare", click_params(number, amount, action=0, click_trans_id=4002))
    done = await click(shop, "complete", click_params(number, amount, action=1, click_trans_id=4002,
                                                      prepare_id=fresh["merchant_prepare_id"]))
    assert done["error"] == 0


async def test_a_cancelled_order_cannot_be_paid(shop: Shop) -> None:
    customer = shop.customer()
    order = await place(shop, customer, "click")
    number, amount = order["order_number"], _som(order)
    prepared = await click(shop, "prepare", click_params(number, amount, action=0, click_trans_id=5001))
    assert (await customer.call("POST", f"/api/orders/{number}/cancel")).status == 200
    completed = await click(shop, "complete", click_params(number, amount, action=1, click_trans_id=5001,
                                                           prepare_id=prepared["merchant_prepare_id"]))
    assert completed["error"] == -9
    assert (await click(shop, "prepare", click_params(number, amount, action=0, click_trans_id=5002)))["error"] == -9
    row = await shop.pool.fetchrow("SELECT status, payment_status FROM orders WHERE id = $1", order["id"])
    assert row is not None and (row["status"], row["payment_status"]) == ("cancelled", "unpaid")


async def test_the_pay_link_is_clicks_documented_form(shop: Shop) -> None:
    order = await place(shop, shop.customer(), "click")
    url = order["payment"]["url"]
    back = f"{shop.client.make_url('/')}".rstrip("/") + f"/%23/orders/{order['order_number']}"
    assert url.startswith("https://my.click.uz/services/pay?service_id=27350&merchant_id=19430&amount=")
    assert f"amount={_som(order)}" in url and f"transaction_param={order['order_number']}" in url
    assert "return_url=" + back.replace(":", "%3A").replace("/", "%2F") in url
