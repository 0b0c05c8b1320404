"""The Mini App in real headless Chromium, from checkout to "paid" through local mode's payment
sandbox (webapp/payment_sandbox.py), which calls the store's Payme and Click endpoints exactly as
those systems do. A plain browser (no Telegram client): the payment page opens in the same tab
and sends the customer back to the order screen."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_browser import browser, chromium, mini_app_url, new_page, shop, shot  # noqa: F401 - fixtures
from tests.tma import Shop

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("method", ["payme", "click"])
async def test_checkout_to_paid_through_the_local_sandbox(browser: Any, shop: Shop, method: str) -> None:  # noqa: F811
    tea = await shop.product("AS-TEA-GRN")
    customer = shop.customer(800000010, language_code="uz")
    await customer.put_cart(tea.id, 2)
    page = await new_page(browser, fake_client=False)
    await page.goto(mini_app_url(shop, theme="light", language_code="uz", telegram_id=800000010))
    await page.wait_for_selector("[data-category]")
    await page.evaluate("location.hash = '#/checkout'")
    await page.wait_for_selector(".payment-method[data-method=cash][aria-pressed=true]")
    assert "Naqd pul" in await page.inner_text(".payment-methods")
    await page.fill("input[name=customer_phone]", "+998 93 555 12 34")
    await page.fill("textarea[name=delivery_address]", "Toshkent, Mirobod 12, 5-uy")
    await page.click(f".payment-method[data-method={method}]")
    assert await page.get_attribute(f".payment-method[data-method={method}]", "aria-pressed") == "true"
    await shot(page, f"uz-light-390-checkout-{method}")
    await page.click("#main-button-fallback button")

    await page.wait_for_url(f"**/sandbox/{method}/**" if method == "payme" else "**/sandbox/click/pay?**")
    number = await page.inner_text(".order")
    assert "56 000" in await page.inner_text(".amount")  # two teas and the delivery fee
    assert await shop.pool.fetchval("SELECT payment_status FROM orders WHERE order_number = $1", number) == "unpaid"
    await page.click("button.pay")

    # Back in the Mini App, on the order screen, which says it is paid.
    await page.wait_for_selector(".order-page .payment-state.state-paid")
    assert number in await page.inner_text(".order-page")
    assert "To'langan" in await page.inner_text(".payment-state")
    assert await page.query_selector(".pay-order") is None and await page.query_selector(".cancel-order") is None
    await shot(page, f"uz-light-390-paid-{method}")
    row = await shop.pool.fetchrow("SELECT payment_status, status FROM orders WHERE order_number = $1", number)
    assert row is not None and (row["payment_status"], row["status"]) == ("paid", "pending")
    assert (await shop.product("AS-TEA-GRN")).stock_quantity == tea.stock_quantity - 2
    assert page.errors == []


async def test_an_unpaid_order_can_be_paid_again_from_its_screen(browser: Any, shop: Shop) -> None:  # noqa: F811
    tea = await shop.product("AS-TEA-GRN")
    customer = shop.customer(800000011, language_code="ru")
    await customer.put_cart(tea.id, 1)
    placed = await customer.checkout(form={"customer_name": "Aziz Karimov", "customer_phone": "+998901234567",
                                           "delivery_address": "Toshkent, Chilonzor 9", "payment_method": "payme"})
    number = placed.body["order_number"]
    page = await new_page(browser, fake_client=False)
    await page.goto(mini_app_url(shop, theme="dark", language_code="ru", telegram_id=800000011))
    await page.wait_for_selector("[data-category]")
    await page.evaluate(f"location.hash = '#/orders/{number}'")
    await page.wait_for_selector(".payment-state.state-awaiting")
    assert "Ожидает оплаты" in await page.inner_text(".payment-state")
    await shot(page, "ru-dark-390-awaiting-payment")
    await page.click(".pay-order")
    await page.wait_for_url("**/sandbox/payme/**")
    await page.click("button.pay")
    await page.wait_for_selector(".payment-state.state-paid")
    assert "Оплачен" in await page.inner_text(".payment-state")
    assert page.errors == []
