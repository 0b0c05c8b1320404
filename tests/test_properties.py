"""Property tests (Hypothesis): generated ids, query strings, headers and bodies thrown at every API
route (the list comes from the app's router, the same table the OpenAPI document is checked against),
and generated arguments to every admin command through the fake Bot API. What must hold: no 5xx,
always the API's JSON error shape; every command gets an answer, and Telegram would accept it (the
`telegram` fixture fails the test on anything the fake refused).

Bounded so the suite stays fast: a modest `max_examples`, no deadline (the machine may be slow),
`derandomize` so every run throws the same inputs (a failure reproduces)."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import quote

import asyncpg
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.profile import ADMIN_COMMANDS, CUSTOMER_COMMANDS
from store.settings import Settings
from store.telegram_auth import sign_init_data
from tests.bot_helpers import ADMIN_ID, product
from tests.conftest import Client, MakeClient
from tests.fake_telegram import FakeTelegram, user
from tests.tma import Shop, auth, start_shop
from webapp.ratelimit import WriteRateLimit

pytest_plugins = ["tests.bot_support"]

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text as people and attackers type it (no lone surrogates here: they cannot be put in a URL or an
# HTTP header at all; the JSON bodies below carry them escaped).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
TRICKY = st.sampled_from([
    "", "0", "1", "-1", "²", "١٢", "１", "2147483647", "2147483648", "9" * 5000, "1e9", " 1", "1 ", "0x1",
    "\x00", "a\x00b", "\n", "%00", "%0A", "<b>", "&lt;", "'; DROP TABLE orders; --", "AS-2026-000001",
    "../../etc/passwd", "😀", "a" * 300,
])
VALUE = st.one_of(TRICKY, TEXT, st.integers(-(2**70), 2**70).map(str))
RAW_SEGMENTS = st.sampled_from(["%C2%B2", "%00", "%0A", "%ED%A0%80", "%FF", "%25", "%2F", "."])
JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**80), 2**80), st.floats(allow_nan=False), TEXT,
              st.sampled_from(["\ud800", "\x00", "²"])),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=12,
)
FIELDS = ["quantity", "language", "customer_name", "customer_phone", "delivery_address", "delivery_notes"]
FORM = st.fixed_dictionaries({}, optional={name: JSON_VALUE for name in FIELDS})
BODY = st.one_of(
    FORM.map(lambda v: json.dumps(v).encode()),
    JSON_VALUE.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from([b"[" * 50_000, b'{"quantity": ' + b"9" * 5000 + b"}", b"", b"null", b'{"quantity": 1}',
                     b'{"quantity": 1e999}', b"\xff\xfe"]),
)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
QUERY_KEYS = st.one_of(st.sampled_from(["q", "page", "per_page", "category", "sort", "on_sale"]), TEXT)


def api_routes(app: web.Application) -> list[tuple[str, str]]:
    routes = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path and path.startswith("/api/") and route.method not in ("HEAD", "OPTIONS"):
            routes.append((route.method, path))
    return sorted(routes)


@pytest.fixture
async def shop(settings: Settings, pool: asyncpg.Pool, make_client: MakeClient) -> Shop:
    # Writes are limited per customer; lift the limit so generated writes reach validation.
    return await start_shop(settings, pool, make_client, rate_limit=WriteRateLimit(limit=1_000_000, window=1))


@st.composite
def authorization(draw: st.DrawFn, token: str) -> dict[str, str]:
    kind = draw(st.sampled_from(["customer", "customer", "customer", "generated", "junk", "none"]))
    if kind == "customer":
        return auth(token, language_code=draw(st.sampled_from(["uz", "ru", None])))
    if kind == "generated":
        fields = {"user": {"id": draw(st.integers(-(2**70), 2**70)), "first_name": draw(TEXT),
                           "language_code": draw(st.one_of(TEXT, st.none()))},
                  "auth_date": draw(st.integers(0, 2**40))}
        if fields["auth_date"] % 2:
            fields["auth_date"] = int(time.time())
        return {"Authorization": "tma " + sign_init_data(token, fields)}
    if kind == "junk":
        return {"Authorization": draw(HEADER_TEXT)}
    return {}


@PROPERTY_SETTINGS
@given(data=st.data())
async def test_no_api_route_answers_5xx_whatever_it_is_sent(shop: Shop, data: st.DataObject) -> None:
    method, template = data.draw(st.sampled_from(api_routes(shop.app)), label="route")

    def fill(match: re.Match[str]) -> str:
        return data.draw(st.one_of(VALUE.map(lambda v: quote(v, safe="")), RAW_SEGMENTS), label=match.group(1))

    path = re.sub(r"\{(\w+)\}", fill, template)
    query = data.draw(st.dictionaries(QUERY_KEYS, VALUE, max_size=4), label="query")
    headers = {**data.draw(authorization(shop.token), label="authorization"),
               "Accept-Language": data.draw(HEADER_TEXT, label="lang"),
               "Idempotency-Key": data.draw(HEADER_TEXT, label="key"),
               "Content-Type": "application/json"}
    body = data.draw(BODY, label="body") if method in ("POST", "PUT", "DELETE") else None
    async with shop.client.request(method, path, params=query, data=body, headers=headers) as response:
        text = await response.text()
        assert response.status < 500, (method, path, query, response.status, text[:300])
        assert response.content_type == "application/json", (method, path, response.status, text[:200])
        reply = json.loads(text)
        if response.status >= 400:
            assert reply["error"]["code"] and reply["error"]["message"], reply
        assert response.headers["Cache-Control"] == "no-store"


SKU = st.sampled_from(["PHN-A15", "NOPE", "pending", "app", "today", "uzum", "stock", "AS-2026-000001"])
ARGS = st.one_of(
    VALUE,
    st.tuples(SKU, VALUE).map(" ".join),
    st.tuples(SKU, VALUE, VALUE).map(" ".join),
    st.lists(st.one_of(VALUE, SKU), max_size=4).map(" ".join),
)


@settings(PROPERTY_SETTINGS, max_examples=80)
@given(data=st.data())
async def test_every_admin_command_gets_an_answer_whatever_its_arguments(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool, data: st.DataObject,
) -> None:
    if await pool.fetchval("SELECT count(*) FROM products") == 0:
        await product(pool, "PHN-A15", stock=3)
    command = data.draw(st.sampled_from(sorted({*ADMIN_COMMANDS, *CUSTOMER_COMMANDS, "refund"})), label="command")
    args = data.draw(ARGS, label="args")
    admin = user(ADMIN_ID, data.draw(st.sampled_from(["uz", "ru"]), label="lang"), "Owner")
    mark = telegram.mark()
    await telegram.send_text(admin, f"/{command} {args}".rstrip())
    reply = await telegram.wait_for(
        lambda c: c.method in ("sendMessage", "sendDocument") and c.chat_id == ADMIN_ID
        and telegram.calls.index(c) >= mark, what=f"an answer to /{command} {args!r}", timeout=20)
    assert reply.status == 200, (command, args, reply.refusal)
