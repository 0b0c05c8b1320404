"""The bot as customers meet it, over real HTTP against the fake Bot API: /start in both languages,
the language choice, deep links into the Mini App, the menu button and command menus, and what
anyone who is not an admin gets for the admin commands."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from db.repos import bot_chats, categories, products, users
from tests.bot_helpers import ADMIN_ID, WEBAPP_URL, product
from tests.conftest import Client
from tests.fake_telegram import BOT_ID, FakeTelegram, user

pytest_plugins = ["tests.bot_support"]


async def test_start_in_uzbek_registers_greets_and_offers_the_mini_app(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    await telegram.send_text(user(700_001, "uz", "Aziz"), "/start")

    sent = await telegram.wait_sent(700_001, "Assalomu alaykum, Aziz")
    assert "Tilni tanlang" in sent.text
    open_store = sent.button("Do'konni ochish")
    assert open_store["web_app"] == {"url": WEBAPP_URL}
    assert [b["callback_data"] for b in sent.buttons if "callback_data" in b] == ["lang:uz", "lang:ru"]
    menu = await telegram.wait_for(lambda c: c.method == "setChatMenuButton" and c.chat_id == 700_001,
                                   what="the customer's menu button")
    assert menu.params["menu_button"] == {"type": "web_app", "text": "Do'kon", "web_app": {"url": WEBAPP_URL}}

    customer = await users.get_by_telegram_id(pool, 700_001)
    assert customer is not None and customer.first_name == "Aziz" and customer.language == "uz"


async def test_start_in_russian_then_the_chosen_language_sticks(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    ivan = user(700_002, "ru", "Иван")
    await telegram.send_text(ivan, "/start")
    greeting = await telegram.wait_sent(700_002, "Здравствуйте, Иван")
    assert greeting.button("Открыть магазин")["web_app"]["url"] == WEBAPP_URL

    await telegram.click(ivan, greeting, "lang:uz")
    edited = await telegram.wait_for(lambda c: c.method == "editMessageText" and c.chat_id == 700_002,
                                     what="the greeting in Uzbek")
    assert "Til saqlandi" in edited.text and edited.button("Do'konni ochish")
    await telegram.wait_for(lambda c: c.method == "answerCallbackQuery" and "Til saqlandi" in c.params.get("text", ""),
                            what="the language confirmation")
    customer = await users.get_by_telegram_id(pool, 700_002)
    assert customer is not None and customer.language == "uz"

    # Telegram still says "ru", but the customer chose Uzbek: /start and everything after is Uzbek.
    mark = telegram.mark()
    await telegram.send_text(ivan, "/start")
    await telegram.wait_sent(700_002, "Assalomu alaykum", after=mark)


async def test_deep_link_opens_the_mini_app_on_the_product(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    phone = await product(pool)
    await telegram.send_text(user(700_003, "ru", "Олег"), f"/start p_{phone.id}")
    sent = await telegram.wait_sent(700_003, "Самсунг Галакси A15")
    assert sent.button("Открыть товар")["web_app"]["url"] == f"{WEBAPP_URL}?startapp=p_{phone.id}"

    phones = await categories.create(pool, name_uz="Smartfonlar", name_ru="Смартфоны")
    mark = telegram.mark()
    await telegram.send_text(user(700_003, "ru", "Олег"), f"/start c_{phones.id}")
    sent = await telegram.wait_sent(700_003, "Раздел: <b>Смартфоны</b>", after=mark)
    assert sent.button("Открыть раздел")["web_app"]["url"] == f"{WEBAPP_URL}?startapp=c_{phones.id}"

    # An unknown or inactive target is ignored: the plain greeting, the plain store button.
    await products.update_details(pool, phone.id, {"is_active": False})
    mark = telegram.mark()
    await telegram.send_text(user(700_003, "ru", "Олег"), f"/start p_{phone.id}")
    plain = await telegram.wait_sent(700_003, "Здравствуйте", after=mark)
    assert plain.button("Открыть магазин")["web_app"]["url"] == WEBAPP_URL


async def test_blocking_and_unblocking_the_bot_is_noted_from_telegrams_update(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    who = user(700_005, "uz")
    bot_user = {"id": BOT_ID, "is_bot": True, "first_name": "Amazing Store"}

    def member(status: str) -> dict[str, Any]:
        return {"status": status, "user": bot_user, **({"until_date": 0} if status == "kicked" else {})}

    def member_update(old: str, new: str) -> dict[str, Any]:
        return {"my_chat_member": {"chat": {"id": 700_005, "type": "private", "first_name": "Aziz"}, "from": who,
                                   "date": int(time.time()), "old_chat_member": member(old),
                                   "new_chat_member": member(new)}}

    await telegram.feed(member_update("member", "kicked"))
    await _eventually(lambda: bot_chats.is_blocked(pool, 700_005), True)
    await telegram.feed(member_update("kicked", "member"))
    await _eventually(lambda: bot_chats.is_blocked(pool, 700_005), False)
    updates = next(c for c in telegram.calls if c.method == "getUpdates")
    assert "my_chat_member" in updates.params["allowed_updates"]


async def _eventually(check: Callable[[], Awaitable[bool]], want: bool) -> None:
    for _ in range(500):
        if await check() == want:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never became {want}")


async def test_connecting_sets_the_command_menus_and_the_menu_button(bot_app: Client, telegram: FakeTelegram) -> None:
    commands = telegram.sent("setMyCommands")
    default_uz = next(c for c in commands
                      if c.params["scope"] == {"type": "default"} and "language_code" not in c.params)
    assert [x["command"] for x in default_uz.params["commands"]] == ["start", "language", "help"]
    default_ru = next(c for c in commands if c.params["scope"] == {"type": "default"}
                      and c.params.get("language_code") == "ru")
    assert default_ru.params["commands"][0]["description"] == "Главное меню"
    admin = next(c for c in commands if c.params["scope"] == {"type": "chat", "chat_id": ADMIN_ID})
    assert {"orders", "stock", "price", "sync", "export"} <= {x["command"] for x in admin.params["commands"]}
    menu = next(c for c in telegram.sent("setChatMenuButton") if "chat_id" not in c.params)
    assert menu.params["menu_button"]["web_app"] == {"url": WEBAPP_URL}
    # Polling starts after any webhook left from an earlier run is removed.
    names = [c.method for c in telegram.calls]
    assert names.index("deleteWebhook") < names.index("getUpdates")


async def test_admin_commands_are_unknown_to_everyone_else(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    phone = await product(pool, stock=10)
    stranger = user(700_004, "uz", "Begona")
    for text in ("/orders", "/order AS-1", f"/product {phone.sku}", f"/stock {phone.sku} 0", f"/price {phone.sku} 1",
                 "/lowstock", "/stats", "/sync", "/syncstatus", "/export"):
        mark = telegram.mark()
        await telegram.send_text(stranger, text)
        answer = await telegram.wait_sent(700_004, "Bunday buyruq yo'q", after=mark)
        assert answer.buttons == []
    mark = telegram.mark()
    await telegram.send_document(stranger, b"sku,price\nPHN-A15,1\n", "catalog.csv")
    await telegram.wait_sent(700_004, "do'konni oching", after=mark)

    unchanged = await products.get(pool, phone.id)
    assert unchanged is not None and unchanged.stock_quantity == 10 and unchanged.price == phone.price
    assert not telegram.sent("sendDocument") and not telegram.sent("getFile")
    # A forged admin button press from a stranger does nothing either.
    mark = telegram.mark()
    greeting_like = telegram.sent(chat_id=700_004)[-1]
    await telegram.click(stranger, greeting_like, "os:1:cancelled")
    await telegram.wait_for(lambda c: c.method == "answerCallbackQuery" and telegram.calls.index(c) >= mark,
                            what="the stale-button answer")
    assert not [c for c in telegram.calls[mark:] if c.method == "editMessageText"]
