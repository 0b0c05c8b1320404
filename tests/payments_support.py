"""Helpers for the payment tests: a shop with Payme and Click enabled, and callers that speak to
its endpoints exactly as Payme's and Click's servers do (docs/payments.md)."""

from __future__ import annotations

import base64
import hashlib
import itertools
from typing import Any

import asyncpg

from store.settings import Settings
from tests.conftest import MakeClient
from tests.tma import Customer, Shop, start_shop

PAYME_MERCHANT_ID = "5e730e8e0b852a417aa49ceb"
PAYME_KEY = "ZPDODSiTYKuX0jyO7Kl2to4rQbNwG08jbghj"
CLICK_SERVICE_ID = 27350
CLICK_MERCHANT_ID = 19430
CLICK_SECRET_KEY = "kc9ZKA1mcpLrNmf3"
_ids = itertools.count(1)


def payment_settings(settings: Settings, **extra: Any) -> Settings:
    return settings.model_copy(update={
        "payme_merchant_id": PAYME_MERCHANT_ID, "payme_key": _secret(PAYME_KEY),
        "click_service_id": CLICK_SERVICE_ID, "click_merchant_id": CLICK_MERCHANT_ID,
        "click_secret_key": _secret(CLICK_SECRET_KEY), "click_merchant_user_id": 40001, **extra,
    })


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


async def start_pay_shop(settings: Settings, pool: asyncpg.Pool, make_client: MakeClient, **extra: Any) -> Shop:
    return await start_shop(payment_settings(settings, **extra), pool, make_client)


async def place(shop: Shop, customer: Customer, method: str | None, sku: str = "AS-TEA-GRN", quantity: int = 2,
                ) -> dict[str, Any]:
    """An order of `quantity` × `sku` paid by `method` (None: the field left out)."""
    product = await shop.product(sku)
    assert (await customer.put_cart(product.id, quantity)).status == 200
    form = {"customer_name": "Aziz Karimov", "customer_phone": "+998901234567",
            "delivery_address": "Toshkent, Chilonzor 9, 12-uy"}
    if method is not None:
        form["payment_method"] = method
    reply = await customer.checkout(form=form)
    assert reply.status == 201, reply.body
    body: dict[str, Any] = reply.body
    return body


def tiyin(order: dict[str, Any]) -> int:
    amount: int = order["payment"]["amount_tiyin"]
    return amount


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


async def payme(shop: Shop, method: str, params: dict[str, Any], *,
                authorization: str | None = basic("Paycom", PAYME_KEY)) -> dict[str, Any]:
    """One JSON-RPC call as Payme makes it; returns the whole answer (`result` or `error`)."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    request_id = next(_ids)
    async with shop.client.post("/payments/payme", json={"jsonrpc": "2.0", "id": request_id, "method": method,
                                                           "params": params}, headers=headers) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
    assert body["id"] == request_id or "error" in body
    return body


def click_params(order_number: str, amount: str, *, action: int, click_trans_id: int, prepare_id: int | None = None,
                 error: int = 0, secret: str = CLICK_SECRET_KEY, sign_time: str = "2026-12-01 12:00:00",
                 service_id: int = CLICK_SERVICE_ID) -> dict[str, str]:
    """The form Click posts, signed as Click signs it."""
    p = {"click_trans_id": str(click_trans_id), "service_id": str(service_id),
         "click_paydoc_id": str(click_trans_id + 7), "merchant_trans_id": order_number, "amount": amount,
         "action": str(action), "error": str(error),
         "error_note": "Success" if error == 0 else "Failed", "sign_time": sign_time}
    if prepare_id is not None:
        p["merchant_prepare_id"] = str(prepare_id)
    parts = [p["click_trans_id"], p["service_id"], secret, p["merchant_trans_id"]]
    if prepare_id is not None:
        parts.append(p["merchant_prepare_id"])
    parts += [p["amount"], p["action"], p["sign_time"]]
    p["sign_string"] = hashlib.md5("".join(parts).encode()).hexdigest()  # noqa: S324 - Click's signature
    return p


async def click(shop: Shop, stage: str, params: dict[str, str]) -> dict[str, Any]:
    async with shop.client.post(f"/payments/click/{stage}", data=params) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
    return body


async def stock_of(shop: Shop, sku: str) -> int:
    return (await shop.product(sku)).stock_quantity

