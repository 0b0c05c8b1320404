"""Telegram initData authentication of /api/: what Telegram signed is accepted, everything else is
401 with a JSON error; blocked customers get 403; pages themselves are public."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl, urlencode

import asyncpg
import pytest

from store.settings import Settings
from tests.conftest import Client, MakeClient
from tests.tma import Shop, auth, init_data, start_shop

OTHER_BOT = "7000000001:AAHfakeOtherBotTokenForTestsOnly12345"
FORGED_USER = '{"id":1,"first_name":"Admin"}'


@pytest.fixture
async def shop(settings: Settings, pool: asyncpg.Pool, make_client: MakeClient) -> Shop:
    return await start_shop(settings, pool, make_client, seed=False)


async def _me(client: Client, authorization: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with client.get("/api/me", headers=headers) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


def _edit(raw: str, **changes: str) -> str:
    """Change fields of signed initData without re-signing it (an attacker's edit)."""
    fields = dict(parse_qsl(raw, keep_blank_values=True))
    fields.update(changes)
    return urlencode(fields)


def _drop(raw: str, name: str) -> str:
    return urlencode([(k, v) for k, v in parse_qsl(raw, keep_blank_values=True) if k != name])


async def test_valid_init_data_is_accepted_and_the_customer_is_registered(shop: Shop) -> None:
    raw = init_data(shop.token, telegram_id=555000111, first_name="Dilnoza", last_name="Rahimova",
                    username="dilnoza_r", language_code="ru")
    status, body = await _me(shop.client, f"tma {raw}")
    assert status == 200, body
    assert (body["telegram_id"], body["first_name"], body["language"]) == (555000111, "Dilnoza", "ru")
    row = await shop.pool.fetchrow("SELECT * FROM users WHERE telegram_id = 555000111")
    assert (row["last_name"], row["username"], row["language"]) == ("Rahimova", "dilnoza_r", "ru")
    assert row["last_login_at"] is not None


async def test_day_old_init_data_from_telegram_desktop_is_still_accepted(shop: Shop) -> None:
    raw = init_data(shop.token, auth_date=int(time.time()) - 20 * 3600)
    assert (await _me(shop.client, f"tma {raw}"))[0] == 200


@pytest.mark.parametrize("case", [
    "tampered_user", "tampered_auth_date", "wrong_bot_token", "expired", "from_the_future", "missing_hash",
    "signed_without_signature", "signature_removed", "not_tma_scheme", "no_header", "empty", "garbage",
    "no_user", "hash_not_hex",
])
async def test_anything_but_genuine_fresh_init_data_is_401(shop: Shop, case: str) -> None:
    token = shop.token
    good = init_data(token, telegram_id=555000222)
    now = int(time.time())
    headers: dict[str, str | None] = {
        "tampered_user": "tma " + _edit(good, user=FORGED_USER),
        "tampered_auth_date": f"tma {_edit(good, auth_date=str(now - 10))}",
        "wrong_bot_token": f"tma {init_data(OTHER_BOT, telegram_id=555000222)}",
        "expired": f"tma {init_data(token, auth_date=now - 86400 - 120)}",
        "from_the_future": f"tma {init_data(token, auth_date=now + 3600)}",
        "missing_hash": f"tma {_drop(good, 'hash')}",
        # Telegram sends `signature`; the HMAC covers it. Data signed without it, with it added later:
        "signed_without_signature": "tma " + init_data(token, with_signature=False) + "&signature=c2lnbmF0dXJl",
        "signature_removed": f"tma {_drop(good, 'signature')}",
        "not_tma_scheme": f"Bearer {good}",
        "no_header": None,
        "empty": "tma ",
        "garbage": "tma %%%&&&===",
        "no_user": f"tma {_drop(init_data(token), 'user')}",
        "hash_not_hex": f"tma {_edit(good, hash='zz' * 32)}",
    }
    status, body = await _me(shop.client, headers[case])
    assert status == 401, (case, body)
    error = body["error"]
    assert isinstance(error, dict) and error["code"] == "unauthorized" and error["message"]
    assert await shop.pool.fetchval("SELECT count(*) FROM users") == 0  # nobody was registered


async def test_the_401_message_follows_accept_language(shop: Shop) -> None:
    async with shop.client.get("/api/me", headers={"Accept-Language": "ru-RU,ru;q=0.9"}) as response:
        assert response.status == 401
        assert "Откройте" in (await response.json())["error"]["message"]


@pytest.mark.parametrize(("language_code", "expected"), [("ru", "ru"), ("uz", "uz"), ("en", "uz"), (None, "uz")])
async def test_the_language_comes_from_telegram(shop: Shop, language_code: str | None, expected: str) -> None:
    status, body = await _me(shop.client, f"tma {init_data(shop.token, language_code=language_code)}")
    assert (status, body["language"]) == (200, expected)


async def test_telegrams_language_is_followed_until_the_customer_chooses(shop: Shop) -> None:
    client = shop.client
    assert (await _me(client, f"tma {init_data(shop.token, telegram_id=9, language_code='en')}"))[1]["language"] == "uz"
    # Telegram's language changed and the customer has not chosen: follow it.
    assert (await _me(client, f"tma {init_data(shop.token, telegram_id=9, language_code='ru')}"))[1]["language"] == "ru"
    async with client.put("/api/me/language", json={"language": "uz"},
                          headers=auth(shop.token, telegram_id=9, language_code="ru")) as response:
        assert response.status == 200 and (await response.json())["language"] == "uz"
    # Their choice now wins over Telegram's.
    assert (await _me(client, f"tma {init_data(shop.token, telegram_id=9, language_code='ru')}"))[1]["language"] == "uz"


async def test_a_blocked_customer_gets_403_everywhere(shop: Shop) -> None:
    header = auth(shop.token, telegram_id=555000333)
    await shop.pool.execute(
        "INSERT INTO users (telegram_id, first_name, is_active) VALUES (555000333, 'Blocked', FALSE)")
    for method, path in [("GET", "/api/me"), ("GET", "/api/home"), ("GET", "/api/cart"), ("GET", "/api/orders"),
                         ("PUT", "/api/cart/items/1"), ("POST", "/api/orders"), ("PUT", "/api/me/language")]:
        async with shop.client.request(method, path, headers=header, json={}) as response:
            assert response.status == 403, (method, path)
            assert (await response.json())["error"]["code"] == "forbidden"


async def test_pages_are_public_and_the_api_is_not(shop: Shop) -> None:
    async with shop.client.get("/") as response:
        assert response.status == 200
        html = await response.text()
    assert "https://telegram.org/js/telegram-web-app.js" in html
    assert re.search(r'data-tg-fallback="/assets/telegram-web-app\.[0-9a-f]{12}\.js"', html)  # the local copy
    module = re.search(r'src="(/assets/app\.[0-9a-f]{12}\.js)"', html)
    assert module, "the app's entry module is named by its content"
    async with shop.client.get(module.group(1)) as response:
        assert response.status == 200 and "immutable" in response.headers["Cache-Control"]
    async with shop.client.get("/api/openapi.json") as response:
        assert response.status == 200
    for path in ("/api/home", "/api/products", "/api/cart", "/api/orders"):
        async with shop.client.get(path) as response:
            assert response.status == 401, path
