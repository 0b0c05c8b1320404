"""Online payment around the order: choosing the method at checkout, paying again, the expiry
job, the owner's refund, and a payment racing the customer's cancel (exactly one wins)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from store import keys
from store.services import payments
from store.settings import Settings
from tests.conftest import MakeClient
from tests.payments_support import click, click_params, payme, place, start_pay_shop, stock_of, tiyin
from tests.tma import CHECKOUT_FORM, Shop


@pytest.fixture
async def shop(settings: Settings, pool: asyncpg.Pool, make_client: MakeClient) -> Shop:
    return await start_pay_shop(settings, pool, make_client)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


async def _pay_by_payme(shop: Shop, order: dict[str, Any], tx_id: str) -> None:
    await payme(shop, "CreateTransaction", {"id": tx_id, "time": 1, "amount": tiyin(order),
                                            "account": {"order_id": order["order_number"]}})
    assert (await payme(shop, "PerformTransaction", {"id": tx_id}))["result"]["state"] == 2


async def test_cash_stays_the_default_and_only_enabled_methods_are_accepted(shop: Shop) -> None:
    customer = shop.customer()
    me = await customer.get("/api/me")
    assert me.body["payment_methods"] == ["cash", "payme", "click"]  # no provider token: no Telegram
    cash = await place(shop, customer, None)
    assert cash["payment"]["method"] == "cash" and cash["payment"]["url"] is None
    assert (cash["payment"]["state"], cash["payment"]["state_text"]) == ("cash", "Naqd pul, yetkazib berishda")
    assert cash["payment"]["expires_at"] is None

    tea = await shop.product("AS-TEA-GRN")
    await customer.put_cart(tea.id, 1)
    for method, code in (("telegram", "payment_method_unavailable"), ("bitcoin", "validation_failed"),
                         (5, "validation_failed")):
        reply = await customer.checkout(form={**CHECKOUT_FORM, "payment_method": method})
        assert reply.status == 400 and reply.error["code"] == code, reply.body
        assert "payment_method" in reply.error["fields"]
    assert await shop.pool.fetchval("SELECT count(*) FROM orders") == 1  # the refusals wrote nothing


async def test_an_online_order_expires_after_the_timeout_and_says_so(shop: Shop) -> None:
    order = await place(shop, shop.customer(), "payme")
    expires = datetime.fromisoformat(order["payment"]["expires_at"].replace("Z", "+00:00"))
    minutes = (expires - datetime.now(UTC)).total_seconds() / 60
    assert 29 < minutes <= 30
    assert (order["payment"]["state"], order["payment"]["payable"]) == ("awaiting", True)
    assert order["payment"]["state_text"] == "To'lov kutilmoqda"


async def test_the_same_key_with_another_method_is_another_request(shop: Shop) -> None:
    customer = shop.customer()
    tea = await shop.product("AS-TEA-GRN")
    await customer.put_cart(tea.id, 1)
    key = uuid.uuid4().hex
    first = await customer.checkout(key, form={**CHECKOUT_FORM, "payment_method": "payme"})
    assert first.status == 201
    replay = await customer.checkout(key, form={**CHECKOUT_FORM, "payment_method": "payme"})
    assert replay.status == 201 and replay.body["order_number"] == first.body["order_number"]
    assert replay.body["payment"]["url"] == first.body["payment"]["url"]
    other = await customer.checkout(key, form={**CHECKOUT_FORM, "payment_method": "click"})
    assert other.status == 422


async def test_pay_again_gives_a_link_until_paid_and_may_switch_method(shop: Shop) -> None:
    customer = shop.customer()
    order = await place(shop, customer, "payme")
    number = order["order_number"]
    again = await customer.call("POST", f"/api/orders/{number}/pay")
    assert again.status == 200 and again.body["payment"]["url"] == order["payment"]["url"]
    switched = await customer.call("POST", f"/api/orders/{number}/pay", {"payment_method": "click"})
    assert switched.status == 200 and switched.body["payment"]["method"] == "click"
    assert switched.body["payment"]["url"].startswith("https://my.click.uz/services/pay?")
    assert (await customer.call("POST", f"/api/orders/{number}/pay", {"payment_method": "cash"})).status == 400
    assert (await shop.customer(700000099).call("POST", f"/api/orders/{number}/pay")).status == 404

    await _pay_by_payme(shop, order, "tx-again")  # any enabled online method may pay it
    paid = await customer.call("POST", f"/api/orders/{number}/pay")
    assert paid.status == 409 and paid.error["code"] == "not_payable"
    assert "allaqachon to'langan" in paid.error["message"]
    cancel = await customer.call("POST", f"/api/orders/{number}/cancel")
    assert cancel.status == 409  # a paid order is cancelled (and refunded) by the shop
    mine = await customer.get(f"/api/orders/{number}")
    assert mine.body["can_cancel"] is False and mine.body["payment"]["method"] == "payme"


async def test_the_expiry_job_cancels_unpaid_online_orders_and_returns_their_stock(shop: Shop) -> None:
    start = await stock_of(shop, "AS-TEA-GRN")
    unpaid_payme = await place(shop, shop.customer(700000021), "payme")
    unpaid_click = await place(shop, shop.customer(700000022), "click")
    cash = await place(shop, shop.customer(700000023), None)
    paid = await place(shop, shop.customer(700000024), "payme")
    await _pay_by_payme(shop, paid, "tx-paid")
    shipped = await place(shop, shop.customer(700000025), "click", quantity=1)  # on its way: not taken back
    await shop.pool.execute("UPDATE orders SET status = 'shipped' WHERE id = $1", shipped["id"])
    start -= 1
    await payme(shop, "CreateTransaction", {"id": "tx-open", "time": 1, "amount": tiyin(unpaid_payme),
                                            "account": {"order_id": unpaid_payme["order_number"]}})
    assert await stock_of(shop, "AS-TEA-GRN") == start - 8
    db = shop.app[keys.DB]
    await shop.pool.execute("DELETE FROM outbox_events; DELETE FROM pending_pushes")

    assert await payments.expire_unpaid(db) == []  # nothing is due yet
    await shop.pool.execute("UPDATE order_payments SET expires_at = $1", _now() - timedelta(seconds=1))
    expired = await payments.expire_unpaid(db)
    assert sorted(expired) == sorted([unpaid_payme["order_number"], unpaid_click["order_number"]])
    assert await payments.expire_unpaid(db) == []  # a second run changes nothing

    statuses = {r["id"]: (r["status"], r["payment_status"]) for r in await shop.pool.fetch(
        "SELECT id, status, payment_status FROM orders")}
    assert statuses[unpaid_payme["id"]] == ("cancelled", "unpaid")
    assert statuses[unpaid_click["id"]] == ("cancelled", "unpaid")
    assert statuses[cash["id"]] == ("pending", "unpaid")
    assert statuses[paid["id"]] == ("pending", "paid")
    assert statuses[shipped["id"]] == ("shipped", "unpaid")
    assert await stock_of(shop, "AS-TEA-GRN") == start - 4  # two orders' units came back, once
    check = await payme(shop, "CheckTransaction", {"id": "tx-open"})
    assert (check["result"]["state"], check["result"]["reason"]) == (-1, 4)
    assert (await payme(shop, "PerformTransaction", {"id": "tx-open"}))["error"]["code"] == -31008
    late = await shop.customer(700000021).get(f"/api/orders/{unpaid_payme['order_number']}")
    assert (late.body["payment"]["state"], late.body["payment"]["payable"]) == ("expired", False)
    # the customers hear of it, the marketplaces get the stock back (written with the change)
    jobs = {r["job_id"] for r in await shop.pool.fetch("SELECT job_id FROM outbox_events")}
    assert {f"order-status:{unpaid_payme['id']}:cancelled", f"order-status:{unpaid_click['id']}:cancelled"} <= jobs
    tea = await shop.product("AS-TEA-GRN")
    assert await shop.pool.fetchval(
        "SELECT count(*) FROM pending_pushes WHERE product_id = $1 AND sync_type = 'stock'", tea.id) == 1


async def test_the_owner_marks_a_click_payment_refunded(shop: Shop) -> None:
    start = await stock_of(shop, "AS-TEA-GRN")
    order = await place(shop, shop.customer(), "click")
    number, amount = order["order_number"], f"{tiyin(order) // 100}.00"
    prepared = await click(shop, "prepare", click_params(number, amount, action=0, click_trans_id=77))
    await click(shop, "complete", click_params(number, amount, action=1, click_trans_id=77,
                                               prepare_id=prepared["merchant_prepare_id"]))
    db = shop.app[keys.DB]
    refunded = await payments.refund(db, number, admin_id=555)
    assert (refunded.status, refunded.payment_status) == ("cancelled", "refunded")
    assert await stock_of(shop, "AS-TEA-GRN") == start
    with pytest.raises(payments.RefundNotAllowed):
        await payments.refund(db, number, admin_id=555)  # not twice
    history = await shop.pool.fetch("SELECT event, actor FROM payment_events WHERE order_id = $1 ORDER BY id",
                                    order["id"])
    assert [(r["event"], r["actor"]) for r in history][-2:] == [("paid", "click"), ("refunded", "admin:555")]
    by_payme = await place(shop, shop.customer(700000031), "payme")
    await _pay_by_payme(shop, by_payme, "tx-payme-refund")
    with pytest.raises(payments.RefundNotAllowed):
        await payments.refund(db, by_payme["order_number"], admin_id=555)  # Payme refunds through Payme


async def test_a_payment_racing_the_customers_cancel_exactly_one_wins(shop: Shop) -> None:
    start = await stock_of(shop, "AS-TEA-GRN")
    rounds = 8
    outcomes = []
    kept_units = 0
    for n in range(rounds):
        customer = shop.customer(700000500 + n)
        order = await place(shop, customer, "payme", quantity=1)
        tx_id = f"race-{n}"
        await payme(shop, "CreateTransaction", {"id": tx_id, "time": 1, "amount": tiyin(order),
                                                "account": {"order_id": order["order_number"]}})
        perform, cancel = await asyncio.gather(
            payme(shop, "PerformTransaction", {"id": tx_id}),
            customer.call("POST", f"/api/orders/{order['order_number']}/cancel"),
        )
        paid = "result" in perform
        cancelled = cancel.status == 200
        assert paid != cancelled, (perform, cancel.status, cancel.body)
        if paid:
            assert cancel.status == 409
            kept_units += 1
        else:
            assert perform["error"]["code"] == -31008
        row = await shop.pool.fetchrow("SELECT status, payment_status FROM orders WHERE id = $1", order["id"])
        assert row is not None
        assert (row["status"], row["payment_status"]) == (("pending", "paid") if paid else ("cancelled", "unpaid"))
        outcomes.append(paid)
    assert await stock_of(shop, "AS-TEA-GRN") == start - kept_units
    assert await shop.pool.fetchval("SELECT count(*) FROM payment_events WHERE event = 'paid'") == sum(outcomes)


async def test_racing_payment_callbacks_pay_the_order_once(shop: Shop) -> None:
    order = await place(shop, shop.customer(), "payme")
    account = {"order_id": order["order_number"]}
    created = await asyncio.gather(*(payme(shop, "CreateTransaction", {
        "id": f"rival-{n}", "time": 1, "amount": tiyin(order), "account": account}) for n in range(4)))
    winners = [c for c in created if "result" in c]
    assert len(winners) == 1  # one active transaction per order
    assert all(c["error"]["code"] == -31052 for c in created if "error" in c)
    winner = next(f"rival-{n}" for n, c in enumerate(created) if "result" in c)
    performed = await asyncio.gather(*(payme(shop, "PerformTransaction", {"id": winner}) for _ in range(3)))
    assert len({p["result"]["perform_time"] for p in performed}) == 1  # the same answer to every repeat
    assert await shop.pool.fetchval(
        "SELECT count(*) FROM payment_events WHERE order_id = $1 AND event = 'paid'", order["id"]) == 1
    # the payment's notification was written with it, once
    assert await shop.pool.fetchval("SELECT count(*) FROM outbox_events WHERE job_id = $1",
                                    f"payment:{order['id']}:paid") == 1

    other = await place(shop, shop.customer(700000042), "click")
    number, amount = other["order_number"], f"{tiyin(other) // 100}.00"
    prepared = await click(shop, "prepare", click_params(number, amount, action=0, click_trans_id=880))
    completes = await asyncio.gather(*(click(shop, "complete", click_params(
        number, amount, action=1, click_trans_id=880, prepare_id=prepared["merchant_prepare_id"])) for _ in range(3)))
    assert sorted(c["error"] for c in completes) == [-4, -4, 0]


def test_the_worker_runs_the_expiry_every_minute_and_the_payment_notifications() -> None:
    from sync.worker import cron_jobs, worker_functions

    assert "cron:expire_unpaid_payments" in {c.name for c in cron_jobs("sync")}
    assert "expire_unpaid_payments" in {f.name for f in worker_functions("sync")}
    assert payments.JOB_PAYMENT_NOTIFY in {f.name for f in worker_functions("notifications")}
