"""Payme's Merchant API against the real database, as Payme's documentation and its sandbox
checklist drive it: wrong auth, wrong amount, unknown account, repeated create/perform/cancel,
the 12-hour timeout, refunds and the statement (docs/payments.md)."""

from __future__ import annotations

import base64
import time
from typing import Any

import asyncpg
import pytest

from store.services.payments import PAYME_TIMEOUT_MS
from store.settings import Settings
from tests.conftest import MakeClient
from tests.payments_support import PAYME_KEY, PAYME_MERCHANT_ID, basic, payme, place, start_pay_shop, stock_of, tiyin
from tests.tma import Shop


@pytest.fixture
async def shop(settings: Settings, pool: asyncpg.Pool, make_client: MakeClient) -> Shop:
    return await start_pay_shop(settings, pool, make_client)


def _account(order: dict[str, Any]) -> dict[str, str]:
    return {"order_id": order["order_number"]}


def _ms() -> int:
    return int(time.time() * 1000)


async def _create(shop: Shop, order: dict[str, Any], tx_id: str, amount: int | None = None) -> dict[str, Any]:
    return await payme(shop, "CreateTransaction", {
        "id": tx_id, "time": _ms(), "amount": tiyin(order) if amount is None else amount, "account": _account(order)})


@pytest.mark.parametrize("authorization", [
    None, basic("Paycom", "wrong-key"), basic("Payme", PAYME_KEY), "Bearer " + PAYME_KEY, "Basic ???",
])
async def test_wrong_credentials_get_insufficient_privilege_and_change_nothing(
        shop: Shop, authorization: str | None) -> None:
    order = await place(shop, shop.customer(), "payme")
    answer = await payme(shop, "CreateTransaction", {
        "id": "tx-auth", "time": _ms(), "amount": tiyin(order), "account": _account(order)},
        authorization=authorization)
    assert answer["error"]["code"] == -32504
    assert set(answer["error"]["message"]) == {"uz", "ru", "en"}
    assert await shop.pool.fetchval("SELECT count(*) FROM payment_transactions") == 0


async def test_check_perform_allows_the_exact_amount_and_refuses_everything_else(shop: Shop) -> None:
    order = await place(shop, shop.customer(), "payme")
    amount = tiyin(order)
    assert amount == 2 * 18_000_00 + 20_000_00  # two teas and the delivery fee, in tiyin

    ok = await payme(shop, "CheckPerformTransaction", {"amount": amount, "account": _account(order)})
    assert ok["result"] == {"allow": True}
    for wrong in (amount - 1, amount + 1, amount * 100, 0):
        answer = await payme(shop, "CheckPerformTransaction", {"amount": wrong, "account": _account(order)})
        assert answer["error"]["code"] == -31001, wrong
    unknown = await payme(shop, "CheckPerformTransaction",
                          {"amount": amount, "account": {"order_id": "AS-1999-000001"}})
    assert unknown["error"]["code"] == -31050 and unknown["error"]["data"] == "order_id"
    assert unknown["error"]["message"]["ru"] == "Заказ не найден"
    missing = await payme(shop, "CheckPerformTransaction", {"amount": amount, "account": {}})
    assert missing["error"]["code"] == -31050
    cash = await place(shop, shop.customer(700000002), None)
    answer = await payme(shop, "CheckPerformTransaction", {"amount": tiyin(cash), "account": _account(cash)})
    assert answer["error"]["code"] == -31050  # a cash order is not paid through Payme


async def test_create_perform_pays_the_order_once_and_repeats_answer_the_same(shop: Shop) -> None:
    customer = shop.customer()
    order = await place(shop, customer, "payme")
    created = await _create(shop, order, "63a1f0c2e1b8c20001a7b001")
    assert created["result"]["state"] == 1 and created["result"]["transaction"]
    again = await _create(shop, order, "63a1f0c2e1b8c20001a7b001")
    assert again["result"] == created["result"]  # Payme repeated its call: the same transaction

    performed = await payme(shop, "PerformTransaction", {"id": "63a1f0c2e1b8c20001a7b001"})
    assert performed["result"]["state"] == 2 and performed["result"]["perform_time"] > 0
    assert performed["result"]["transaction"] == created["result"]["transaction"]
    repeated = await payme(shop, "PerformTransaction", {"id": "63a1f0c2e1b8c20001a7b001"})
    assert repeated["result"] == performed["result"]

    mine = await customer.get(f"/api/orders/{order['order_number']}")
    assert mine.body["payment_status"] == "paid"
    assert (mine.body["payment"]["state"], mine.body["payment"]["payable"]) == ("paid", False)
    events = [r["event"] for r in await shop.pool.fetch(
        "SELECT event FROM payment_events WHERE order_id = $1 ORDER BY id", order["id"])]
    assert events == ["started", "transaction_created", "paid"]
    # a paid order takes no other transaction
    other = await _create(shop, order, "63a1f0c2e1b8c20001a7b002")
    assert other["error"]["code"] == -31051
    check = await payme(shop, "CheckPerformTransaction", {"amount": tiyin(order), "account": _account(order)})
    assert check["error"]["code"] == -31051


async def test_one_active_transaction_per_order(shop: Shop) -> None:
    order = await place(shop, shop.customer(), "payme")
    assert "result" in await _create(shop, order, "tx-first")
    second = await _create(shop, order, "tx-second")
    assert second["error"]["code"] == -31052 and second["error"]["data"] == "order_id"
    check = await payme(shop, "CheckPerformTransaction", {"amount": tiyin(order), "account": _account(order)})
    assert check["error"]["code"] == -31052
    wrong_amount = await _create(shop, order, "tx-third", amount=tiyin(order) - 100)
    assert wrong_amount["error"]["code"] == -31001


async def test_cancel_before_perform_leaves_the_order_payable_by_a_new_transaction(shop: Shop) -> None:
    order = await place(shop, shop.customer(), "payme")
    await _create(shop, order, "tx-a")
    cancelled = await payme(shop, "CancelTransaction", {"id": "tx-a", "reason": 3})
    assert cancelled["result"]["state"] == -1 and cancelled["result"]["cancel_time"] > 0
    again = await payme(shop, "CancelTransaction", {"id": "tx-a", "reason": 3})
    assert again["result"] == cancelled["result"]
    assert (await payme(shop, "PerformTransaction", {"id": "tx-a"}))["error"]["code"] == -31008
    assert (await _create(shop, order, "tx-a"))["error"]["code"] == -31008  # a cancelled id is not reused
    check = await payme(shop, "CheckTransaction", {"id": "tx-a"})
    assert (check["result"]["state"], check["result"]["reason"], check["result"]["perform_time"]) == (-1, 3, 0)
    assert "result" in await _create(shop, order, "tx-b")
    assert (await payme(shop, "PerformTransaction", {"id": "tx-b"}))["result"]["state"] == 2


async def test_cancel_after_perform_refunds_cancels_the_order_and_returns_stock(shop: Shop) -> None:
    before = await stock_of(shop, "AS-TEA-GRN")
    order = await place(shop, shop.customer(), "payme")
    assert await stock_of(shop, "AS-TEA-GRN") == before - 2
    await _create(shop, order, "tx-r")
    await payme(shop, "PerformTransaction", {"id": "tx-r"})
    refunded = await payme(shop, "CancelTransaction", {"id": "tx-r", "reason": 5})
    assert refunded["result"]["state"] == -2
    again = await payme(shop, "CancelTransaction", {"id": "tx-r", "reason": 5})
    assert again["result"] == refunded["result"]
    row = await shop.pool.fetchrow("SELECT status, payment_status FROM orders WHERE id = $1", order["id"])
    assert row is not None and (row["status"], row["payment_status"]) == ("cancelled", "refunded")
    assert await stock_of(shop, "AS-TEA-GRN") == before  # returned once, not twice
    check = await payme(shop, "CheckTransaction", {"id": "tx-r"})
    assert (check["result"]["state"], check["result"]["reason"]) == (-2, 5)
    assert check["result"]["perform_time"] > 0 and check["result"]["cancel_time"] > 0


async def test_a_delivered_order_cannot_be_cancelled_by_payme(shop: Shop) -> None:
    order = await place(shop, shop.customer(), "payme")
    await _create(shop, order, "tx-d")
    await payme(shop, "PerformTransaction", {"id": "tx-d"})
    await shop.pool.execute("UPDATE orders SET status = 'delivered' WHERE id = $1", order["id"])
    answer = await payme(shop, "CancelTransaction", {"id": "tx-d", "reason": 5})
    assert answer["error"]["code"] == -31007
    assert (await payme(shop, "CheckTransaction", {"id": "tx-d"}))["result"]["state"] == 2


async def test_a_transaction_older_than_twelve_hours_is_cancelled_with_reason_4(shop: Shop) -> None:
    order = await place(shop, shop.customer(), "payme")
    await _create(shop, order, "tx-old")
    await shop.pool.execute(
        "UPDATE payment_transactions SET create_time = create_time - $1 WHERE provider_transaction_id = 'tx-old'",
        PAYME_TIMEOUT_MS + 1)
    answer = await payme(shop, "PerformTransaction", {"id": "tx-old"})
    assert answer["error"]["code"] == -31008
    check = await payme(shop, "CheckTransaction", {"id": "tx-old"})
    assert (check["result"]["state"], check["result"]["reason"]) == (-1, 4)
    assert await shop.pool.fetchval("SELECT payment_status FROM orders WHERE id = $1", order["id"]) == "unpaid"


async def test_unknown_transactions_and_malformed_calls(shop: Shop) -> None:
    for method in ("PerformTransaction", "CancelTransaction", "CheckTransaction"):
        answer = await payme(shop, method, {"id": "no-such-tx", "reason": 1})
        assert answer["error"]["code"] == -31003, method
    assert (await payme(shop, "ChargeEverything", {}))["error"]["code"] == -32601
    assert (await payme(shop, "CheckPerformTransaction", {"amount": "100", "account": {}}))["error"]["code"] == -32600
    headers = {"Authorization": basic("Paycom", PAYME_KEY), "Content-Type": "application/json"}
    async with shop.client.post("/payments/payme", data=b"{not json", headers=headers) as response:
        assert (await response.json())["error"]["code"] == -32700
    async with shop.client.get("/payments/payme", headers=headers) as response:
        assert (await response.json())["error"]["code"] == -32300


async def test_get_statement_lists_the_transactions_of_the_period(shop: Shop) -> None:
    first = await place(shop, shop.customer(700000011), "payme")
    second = await place(shop, shop.customer(700000012), "payme")
    t0 = _ms()
    await payme(shop, "CreateTransaction", {"id": "s-1", "time": t0, "amount": tiyin(first),
                                            "account": _account(first)})
    await payme(shop, "PerformTransaction", {"id": "s-1"})
    await payme(shop, "CreateTransaction", {"id": "s-2", "time": t0 + 10_000, "amount": tiyin(second),
                                            "account": _account(second)})
    statement = await payme(shop, "GetStatement", {"from": t0 - 1, "to": t0 + 20_000})
    rows = statement["result"]["transactions"]
    assert [(r["id"], r["state"], r["amount"], r["account"]) for r in rows] == [
        ("s-1", 2, tiyin(first), _account(first)), ("s-2", 1, tiyin(second), _account(second))]
    assert rows[0]["time"] == t0 and rows[0]["perform_time"] > 0 and rows[1]["perform_time"] == 0
    narrow = await payme(shop, "GetStatement", {"from": t0 + 1, "to": t0 + 20_000})
    assert [r["id"] for r in narrow["result"]["transactions"]] == ["s-2"]


async def test_the_checkout_link_is_paymes_base64_form(shop: Shop) -> None:
    order = await place(shop, shop.customer(), "payme")
    url = order["payment"]["url"]
    assert url.startswith("https://checkout.paycom.uz/")
    decoded = base64.b64decode(url.rsplit("/", 1)[1]).decode()
    back = f"{shop.client.make_url('/')}".rstrip("/") + f"/#/orders/{order['order_number']}"
    assert decoded == f"m={PAYME_MERCHANT_ID};ac.order_id={order['order_number']};a={tiyin(order)};c={back}"
