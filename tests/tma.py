"""Telegram Mini App initData for tests, signed the way Telegram signs it (store.telegram_auth)."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from db.models import Product
from db.repos import products
from store import keys
from store.seed import seed_demo
from store.settings import Settings
from store.telegram_auth import sign_init_data
from webapp.ratelimit import WRITE_RATE_LIMIT, WriteRateLimit


def init_data(
    token: str, *, telegram_id: int = 700000001, first_name: str = "Aziz", last_name: str | None = "Karimov",
    username: str | None = "aziz_k", language_code: str | None = "uz", auth_date: int | None = None,
    with_signature: bool = True, extra: dict[str, Any] | None = None,
) -> str:
    """Raw initData as Telegram sends it today: query_id, user (JSON), auth_date, signature, hash.

    `signature` is Telegram's Ed25519 signature for third parties; we cannot make a real one, but
    the HMAC `hash` covers it like any other field, which is what matters here."""
    user: dict[str, Any] = {"id": telegram_id, "first_name": first_name, "allows_write_to_pm": True}
    if last_name is not None:
        user["last_name"] = last_name
    if username is not None:
        user["username"] = username
    if language_code is not None:
        user["language_code"] = language_code
    fields: dict[str, Any] = {
        "query_id": "AAH" + secrets.token_urlsafe(12),
        "user": user,
        "auth_date": auth_date if auth_date is not None else int(time.time()),
    }
    if with_signature:
        fields["signature"] = base64.urlsafe_b64encode(secrets.token_bytes(64)).decode().rstrip("=")
    fields.update(extra or {})
    return sign_init_data(token, fields)


def auth(token: str, **kwargs: Any) -> dict[str, str]:
    """The Authorization header the Mini App sends: `tma <initData>`."""
    return {"Authorization": f"tma {init_data(token, **kwargs)}"}


# --- a running store and its customers, for the storefront, checkout and browser tests ---------


@dataclass
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and "error" in self.body, self.body
        error: dict[str, Any] = self.body["error"]
        return error


class Customer:
    """One Telegram user of the Mini App: every call carries their freshly signed initData."""

    def __init__(self, shop: Shop, telegram_id: int, **identity: Any) -> None:
        self.shop, self.telegram_id, self.identity = shop, telegram_id, identity
        self.header = auth(shop.token, telegram_id=telegram_id, **identity)

    async def call(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None,
                   session: aiohttp.ClientSession | None = None) -> Reply:
        all_headers = {**self.header, **(headers or {})}
        if session is not None:
            url = str(self.shop.client.make_url(path))
            async with session.request(method, url, json=json, headers=all_headers) as response:
                return Reply(response.status, await _body(response), response.headers)
        async with self.shop.client.request(method, path, json=json, headers=all_headers) as response:
            return Reply(response.status, await _body(response), response.headers)

    async def get(self, path: str) -> Reply:
        return await self.call("GET", path)

    async def put_cart(self, product_id: int, quantity: int, **kwargs: Any) -> Reply:
        return await self.call("PUT", f"/api/cart/items/{product_id}", {"quantity": quantity}, **kwargs)

    async def checkout(self, key: str | None = None, form: dict[str, Any] | None = None, **kwargs: Any) -> Reply:
        body = form if form is not None else CHECKOUT_FORM
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        return await self.call("POST", "/api/orders", body, headers=headers, **kwargs)


CHECKOUT_FORM = {
    "customer_name": "Aziz Karimov",
    "customer_phone": "+998 90 123-45-67",
    "delivery_address": "Toshkent, Chilonzor 9, 12-uy, 34-xonadon",
    "delivery_notes": "Qo'ng'iroq qiling",
}


async def _body(response: aiohttp.ClientResponse) -> Any:
    if response.content_type == "application/json":
        return await response.json()
    return await response.text()


@dataclass
class Shop:
    app: web.Application
    client: TestClient[web.Request, web.Application]
    pool: asyncpg.Pool

    @property
    def token(self) -> str:
        return self.app[keys.INIT_DATA_TOKEN]

    def customer(self, telegram_id: int = 700000001, **identity: Any) -> Customer:
        return Customer(self, telegram_id, **identity)

    async def product(self, sku: str) -> Product:
        found = await products.get_by_sku(self.pool, sku)
        assert found is not None, sku
        return found


async def start_shop(
    settings: Settings, pool: asyncpg.Pool,
    make_client: Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]],
    *, seed: bool = True, rate_limit: WriteRateLimit | None = None,
) -> Shop:
    """The whole store app (without the bot) on a real server, with the demo catalog."""
    from store.app import create_app

    app = create_app(settings, with_bot=False)
    if rate_limit is not None:
        app[WRITE_RATE_LIMIT] = rate_limit
    client = await make_client(app)
    if seed:
        await seed_demo(pool)
    return Shop(app, client, pool)
