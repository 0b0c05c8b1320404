"""Webhook mode: with WEBHOOK_URL set the bot registers a webhook (with a secret token) instead of
polling, takes updates on the store's own server, and refuses requests without the secret."""

from __future__ import annotations

import asyncio

import asyncpg
from pydantic import SecretStr

from store.app import create_app
from store.settings import Settings
from tests.conftest import MakeClient
from tests.fake_telegram import FakeTelegram, user

pytest_plugins = ["tests.bot_support"]


async def test_webhook_registered_secret_checked_updates_handled(
    clean_bot_tables: asyncpg.Pool, bot_settings: Settings, telegram: FakeTelegram, make_client: MakeClient,
) -> None:
    settings = bot_settings.model_copy(update={"webhook_url": "https://shop.example.com"})
    client = await make_client(create_app(settings))

    registered = await telegram.wait_for(lambda c: c.method == "setWebhook", what="setWebhook")
    assert registered.params["url"] == "https://shop.example.com/telegram/webhook"
    secret = registered.params["secret_token"]
    assert len(secret) >= 32
    assert (settings.data_dir / "webhook-secret").read_text() == secret  # generated once, kept
    assert {"message", "callback_query"} <= set(registered.params["allowed_updates"])
    for _ in range(100):
        health = await (await client.get("/healthz")).json()
        if health["telegram"]["state"] == "webhook":
            break
        await asyncio.sleep(0.02)
    assert health["telegram"]["state"] == "webhook"

    update = telegram.webhook_update(telegram.message_update(user(700_030, "ru", "Ольга"), "/start"))
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        refused = await client.post("/telegram/webhook", json=update, headers=headers)
        assert refused.status == 401
    bad = await client.post("/telegram/webhook", data=b"not json",
                            headers={"X-Telegram-Bot-Api-Secret-Token": secret})
    assert bad.status == 400
    assert not [c for c in telegram.calls if c.method == "sendMessage"]  # none of those was handled

    accepted = await client.post("/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret})
    assert accepted.status == 200
    await telegram.wait_sent(700_030, "Здравствуйте, Ольга")
    assert not [c for c in telegram.calls if c.method == "getUpdates"]


async def test_webhook_secret_from_settings(
    clean_bot_tables: asyncpg.Pool, bot_settings: Settings, telegram: FakeTelegram, make_client: MakeClient,
) -> None:
    settings = bot_settings.model_copy(update={
        "webhook_url": "https://shop.example.com/hooks/tg", "webhook_secret": SecretStr("s3cret-from-env_1")})
    client = await make_client(create_app(settings))
    registered = await telegram.wait_for(lambda c: c.method == "setWebhook", what="setWebhook")
    assert registered.params["url"] == "https://shop.example.com/hooks/tg"
    assert registered.params["secret_token"] == "s3cret-from-env_1"
    update = telegram.webhook_update(telegram.message_update(user(700_031, "uz", "Olim"), "/start"))
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-from-env_1"}
    accepted = await client.post("/hooks/tg", json=update, headers=headers)
    assert accepted.status == 200
    await telegram.wait_sent(700_031, "Assalomu alaykum, Olim")


async def test_a_secret_header_that_is_not_utf8_is_refused_with_401_not_500(
    clean_bot_tables: asyncpg.Pool, bot_settings: Settings, telegram: FakeTelegram, make_client: MakeClient,
) -> None:
    settings = bot_settings.model_copy(update={
        "webhook_url": "https://shop.example.com/hooks/tg", "webhook_secret": SecretStr("s3cret-from-env_1")})
    client = await make_client(create_app(settings))
    await telegram.wait_for(lambda c: c.method == "setWebhook", what="setWebhook")
    body = b"{}"
    for secret in (b"\xff\xfe\xfd", b"s3cret-from-env_1\xff", "s3cret-from-env_1".encode("cp1251") + b"\xe9"):
        # Built by hand: HTTP client libraries will not send header bytes that are not text.
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(b"POST /hooks/tg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"X-Telegram-Bot-Api-Secret-Token: " + secret + b"\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        status_line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        assert status_line.split()[1] == b"401", (secret, status_line)
