"""Bad input from outside is a clear 4xx with the API's JSON error (in the customer's language),
never a 500: each case here answered 500 with a traceback before store/validation.py (issue 14).
Also: the security headers on every answer, and untrusted values logged quoted."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import asyncpg
import pytest

from store.logs import quoted
from store.settings import Settings
from store.validation import INT4_MAX, InvalidInput, ascii_int, clean_text, parse_json
from tests.conftest import MakeClient
from tests.tma import CHECKOUT_FORM, Shop, auth, start_shop


@pytest.fixture
async def shop(settings: Settings, pool: asyncpg.Pool, make_client: MakeClient) -> Shop:
    return await start_shop(settings, pool, make_client)


async def _raw(shop: Shop, method: str, path: str, body: bytes | None = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    """A request with a raw body (what a client library would not let us build as JSON)."""
    all_headers = {**auth(shop.token), "Content-Type": "application/json", **(headers or {})}
    async with shop.client.request(method, path, data=body, headers=all_headers) as response:
        text = await response.text()
        assert response.content_type == "application/json", (response.status, text[:200])
        return response.status, json.loads(text), dict(response.headers)


# --- the validator itself ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["²", "١٢", "1²", "-1", "+1", "1.0", "", " ", "1e3", "0x10", "2147483648",
                                 "9" * 5000, "1\x00", "１"])
def test_ascii_int_refuses_what_is_not_ascii_digits_in_range(raw: str) -> None:
    with pytest.raises(InvalidInput):
        ascii_int(raw)


def test_ascii_int_takes_ascii_digits_up_to_int4() -> None:
    assert ascii_int("0") == 0 and ascii_int(" 42 ") == 42 and ascii_int(str(INT4_MAX)) == INT4_MAX
    assert ascii_int("0007", maximum=10) == 7


@pytest.mark.parametrize("raw", ["a\x00b", "a\x1bb", "\ud800", "x\udfffy", "a\x7fb", "a\x85b"])
def test_clean_text_refuses_control_characters_and_lone_surrogates(raw: str) -> None:
    with pytest.raises(InvalidInput):
        clean_text(raw)


def test_clean_text_keeps_ordinary_text_and_newlines_where_allowed() -> None:
    assert clean_text("O'zbekiston, Тошкент 😀\n2-uy\tA") == "O'zbekiston, Тошкент 😀\n2-uy\tA"
    with pytest.raises(InvalidInput):
        clean_text("two\nlines", multiline=False)


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"quantity": ' + b"9" * 5000 + b"}",
                                  b'"\\ud800"', b'{"a\\udc00": 1}', b"NaN", b"\xff\xfe", b"{", b'{"a":' * 40 + b"1"])
def test_parse_json_refuses_deep_huge_and_broken_bodies_with_a_validation_error(body: bytes) -> None:
    from store.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        parse_json(body)


def test_quoted_escapes_what_would_forge_a_log_line() -> None:
    assert quoted("/api/x\x00\nFAKE 200 admin logged in") == "'/api/x\\x00\\nFAKE 200 admin logged in'"
    assert "\n" not in quoted("a\r\nb") and quoted("\ud800") == "'\\ud800'"
    assert len(quoted("x" * 10_000)) < 300


# --- every route: a 4xx with the JSON error, never a 500 ---------------------------------------------


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/api/products?q=%00", 400),
    ("GET", "/api/products?q=a%1Bb", 400),
    ("GET", "/api/products/%C2%B2", 404),
    ("GET", "/api/products/2147483648", 404),
    ("GET", "/api/products?page=%C2%B2", 400),
    ("GET", "/api/products?per_page=%C2%B2", 400),
    ("GET", "/api/products?category=%C2%B2", 400),
    ("GET", "/api/products?category=2147483648", 400),
    ("GET", "/api/products?category=%D9%A3", 400),
    ("GET", "/api/categories/%C2%B2", 404),
    ("GET", "/api/orders?page=%C2%B2", 400),
    ("GET", "/api/orders/AS%00X", 404),
    ("POST", "/api/orders/AS%00X/cancel", 404),
    ("GET", "/api/orders/" + "A" * 60, 404),
    ("PUT", "/api/favorites/%C2%B2", 404),
    ("PUT", "/api/cart/items/%C2%B2", 404),
])
async def test_bad_ids_pages_and_text_in_the_url_are_4xx_json(shop: Shop, method: str, path: str, status: int) -> None:
    code, body, _ = await _raw(shop, method, path, b'{"quantity": 1}' if method == "PUT" else None)
    assert code == status, body
    assert body["error"]["code"] in ("validation_failed", "not_found")
    assert body["error"]["message"]


async def test_a_bad_search_query_names_the_field_in_the_customers_language(shop: Shop) -> None:
    code, body, _ = await _raw(shop, "GET", "/api/products?q=%00&category=%C2%B2",
                               headers=auth(shop.token, language_code="ru", telegram_id=700_000_077))
    assert code == 400
    assert set(body["error"]["fields"]) == {"q", "category"}
    assert body["error"]["fields"]["category"] == "Неверный номер категории."


async def test_a_10000_character_query_gets_the_api_json_error_not_aiohttps_text(shop: Shop) -> None:
    code, body, _ = await _raw(shop, "GET", "/api/products?q=" + "a" * 10_000)
    assert code == 400
    assert body["error"]["fields"] == {"q": "Qidiruv so'rovi juda uzun."}


@pytest.mark.parametrize("body", [
    b'{"quantity": ' + b"9" * 5000 + b"}",
    b'{"quantity": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b"[" * 100_000,
    b'{"quantity": 1e400}',
    b'{"quantity": "\\ud800"}',
])
async def test_hostile_cart_bodies_are_400(shop: Shop, body: bytes) -> None:
    product = await shop.product("AS-KIT-BLN")
    code, reply, _ = await _raw(shop, "PUT", f"/api/cart/items/{product.id}", body)
    assert code == 400, reply
    assert reply["error"]["code"] == "validation_failed"


@pytest.mark.parametrize(("field", "value"), [
    ("customer_name", "Aziz\x00Karimov"),
    ("delivery_address", "Toshkent\x00, Chilonzor 9"),
    ("delivery_notes", "a\x1b[31m"),
    ("customer_name", "\ud800\ud800 Aziz"),
])
async def test_control_characters_and_lone_surrogates_in_checkout_are_a_field_error(
    shop: Shop, field: str, value: str,
) -> None:
    customer = shop.customer()
    product = await shop.product("AS-KIT-BLN")
    assert (await customer.put_cart(product.id, 1)).status == 200
    body = json.dumps({**CHECKOUT_FORM, field: value}).encode()  # ensure_ascii: "\ud800" travels escaped
    code, reply, _ = await _raw(shop, "POST", "/api/orders", body, headers={"Idempotency-Key": "k-" + field})
    assert code == 400, reply
    if "\ud800" in value:
        assert reply["error"]["code"] == "validation_failed"
    else:
        assert reply["error"]["fields"] == {field: "Matnda ruxsat etilmagan belgilar bor (boshqaruv belgilari)."}
    assert await shop.pool.fetchval("SELECT count(*) FROM orders") == 0


async def test_deeply_nested_checkout_body_is_400(shop: Shop) -> None:
    code, reply, _ = await _raw(shop, "POST", "/api/orders", b'{"customer_name":' + b"[" * 100_000,
                                headers={"Idempotency-Key": "deep"})
    assert code == 400 and reply["error"]["code"] == "validation_failed"


async def test_signed_init_data_with_an_out_of_range_id_is_401_and_a_nul_in_the_name_is_cleaned(shop: Shop) -> None:
    code, reply, _ = await _raw(shop, "GET", "/api/me", headers=auth(shop.token, telegram_id=2**63))
    assert code == 401 and "out of range" in reply["error"]["reason"]
    code, reply, _ = await _raw(shop, "GET", "/api/me", headers=auth(shop.token, telegram_id=700_000_090,
                                                                    first_name="Az\x00iz", last_name="K\x00"))
    assert code == 200, reply
    assert "\x00" not in reply["first_name"] and reply["first_name"].startswith("Az")


# --- headers -----------------------------------------------------------------------------------------


async def test_the_mini_app_page_has_a_csp_that_telegram_can_frame_and_no_inline_script(
    shop: Shop,
) -> None:
    async with shop.client.get("/") as response:
        assert response.status == 200
        page = await response.text()
        headers = response.headers
    csp = headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce is not None
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts and all(" src=" in tag for tag in scripts), scripts  # nothing inline to allow
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert "https://telegram.org" in directives["script-src"] and "'unsafe-inline'" not in directives["script-src"]
    assert "https://web.telegram.org" in directives["frame-ancestors"]
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    async with shop.client.get("/") as again:
        assert again.headers["Content-Security-Policy"] != csp  # a fresh nonce per page


@pytest.mark.parametrize("path", ["/api/home", "/api/me", "/api/products/999999", "/healthz", "/",
                                  "/static/css/app.css", "/nowhere"])
async def test_no_answer_gives_the_server_version_away_and_api_answers_are_never_cached(
    shop: Shop, path: str,
) -> None:
    async with shop.client.get(path, headers=auth(shop.token)) as response:
        server = response.headers.get("Server", "")
        assert not re.search(r"\d", server) and "aiohttp" not in server.lower() and "python" not in server.lower()
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        if path.startswith("/api/"):
            assert response.headers["Cache-Control"] == "no-store"
    async with shop.client.get("/api/home") as unauthorized:  # errors too
        assert unauthorized.status == 401 and unauthorized.headers["Cache-Control"] == "no-store"


# --- logs --------------------------------------------------------------------------------------------


async def test_a_path_with_nul_and_newline_forges_no_log_line(shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        for method in ("GET", "POST"):
            suffix = "/cancel" if method == "POST" else ""
            code, _, _ = await _raw(shop, method, f"/api/orders/X%00%0A2026-12-01 INFO store: forged{suffix}")
            assert code == 404
    for record in caplog.records:
        assert "\nforged" not in record.getMessage() and "\n2026-12-01 INFO" not in record.getMessage()


async def test_payme_answers_a_hostile_body_with_its_parse_error_not_a_500(
    settings: Settings, pool: asyncpg.Pool, make_client: MakeClient,
) -> None:
    from tests.payments_support import start_pay_shop

    shop = await start_pay_shop(settings, pool, make_client)
    for body in (b"[" * 60_000, b'{"id": ' + b"9" * 5000 + b"}", b'{"method": "\\ud800"}'):
        async with shop.client.post("/payments/payme", data=body) as response:
            assert response.status == 200  # JSON-RPC: errors travel in the body
            answer = await response.json()
        assert answer["error"]["code"] in (-32504, -32700), answer  # no credentials / parse error
