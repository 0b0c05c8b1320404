"""Messages that always arrive and commands that always get an answer (issue 14), through the fake
Bot API, which refuses what Telegram refuses (tests/fake_telegram.py; the `telegram` fixture fails a
test when the bot sent anything Telegram would have refused)."""

from __future__ import annotations

import asyncio
import csv
import io
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis

from bot import render
from bot.runner import create_bot
from db.repos import orders, products
from store.i18n import t
from store.services import catalog_import, events
from store.services import stock as stock_service
from store.settings import Settings
from tests.bot_helpers import ADMIN_ID, JobLog, product
from tests.conftest import Client
from tests.fake_telegram import EntityParseError, FakeTelegram, parse_telegram_html, user

pytest_plugins = ["tests.bot_support"]

ADMIN = user(ADMIN_ID, "uz", "Owner")


async def ask(telegram: FakeTelegram, text: str, contains: str = "", who: dict[str, Any] = ADMIN) -> Any:
    mark = telegram.mark()
    await telegram.send_text(who, text)
    return await telegram.wait_sent(who["id"], contains, after=mark)


# --- the fake refuses what Telegram refuses ------------------------------------------------------------


@pytest.mark.parametrize(("text", "error"), [
    ("<b>bold", "Can't find end tag corresponding to start tag b"),
    ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ("Toshkent <", "Unclosed start tag at byte offset 9"),
    ("a < b", 'Unsupported start tag "" at byte offset 2'),
    ("<script>x</script>", 'Unsupported start tag "script" at byte offset 0'),
    ("Тошкент <p>", 'Unsupported start tag "p" at byte offset 15'),
    ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler"'),
    ("<a href>x</a>", 'Expected equal sign in declaration of an attribute of the tag "a" at byte offset 0'),
])
def test_the_fake_parses_html_as_telegram_does(text: str, error: str) -> None:
    with pytest.raises(EntityParseError) as caught:
        parse_telegram_html(text)
    assert str(caught.value) == error


def test_the_fake_accepts_telegrams_html_and_counts_after_parsing() -> None:
    assert parse_telegram_html('<b>a</b> <i>b</i> <code>&lt;x&gt;</code> &amp; &quot; &#39; &#x1F600; '
                               '<a href="https://t.me">l</a> <tg-spoiler>s</tg-spoiler> '
                               '<span class="tg-spoiler">s</span> <blockquote expandable>q</blockquote> '
                               "&nbsp; AT&T") == "a b <x> & \" ' \U0001F600 l s s q &nbsp; AT&T"


async def test_the_fake_refuses_long_messages_and_captions_with_telegrams_words(telegram: FakeTelegram) -> None:
    from aiohttp import ClientSession

    base = f"{telegram.url}/bot123:abc"
    async with ClientSession() as session:
        ok = await session.post(f"{base}/sendMessage", json={"chat_id": 1, "text": "&lt;" * 4096, "parse_mode": "HTML"})
        assert ok.status == 200  # 16,384 characters written, 4,096 after parsing
        long = await session.post(f"{base}/sendMessage", json={"chat_id": 1, "text": "x" * 4097})
        assert long.status == 400 and (await long.json())["description"] == "Bad Request: message is too long"
        emoji = await session.post(f"{base}/sendMessage", json={"chat_id": 1, "text": "😀" * 2049})
        assert emoji.status == 400  # UTF-16: 4,098 units
        bad = await session.post(f"{base}/sendMessage", json={"chat_id": 1, "text": "<b>x", "parse_mode": "HTML"})
        assert (await bad.json())["description"] == (
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag b")
        caption = await session.post(f"{base}/sendDocument",
                                     json={"chat_id": 1, "document": "f", "caption": "c" * 1025})
        assert (await caption.json())["description"] == "Bad Request: message caption is too long"
    assert len(telegram.refused()) == 4
    telegram.calls.clear()  # refused on purpose


# --- the one splitter / truncator ------------------------------------------------------------------------


def test_split_never_cuts_inside_a_tag_or_an_entity_and_every_part_is_accepted() -> None:
    text = "<b>Hisobot</b>\n" + "\n".join(
        f"• <code>SKU-{n}</code> <i>{'&lt;&amp;&gt;' * 40}</i> 😀" for n in range(400))
    parts = render.split_html(text)
    assert len(parts) > 1
    shown = [parse_telegram_html(p) for p in parts]  # raises if a part is not valid Telegram HTML
    assert all(render.visible_length(p) <= render.MESSAGE_LIMIT for p in parts)
    assert "\n".join(shown) == parse_telegram_html(text)  # nothing lost, nothing doubled
    one_line = "<b>" + "&lt;" * 10_000 + "</b>"
    pieces = render.split_html(one_line)
    assert [parse_telegram_html(p) for p in pieces] and "".join(parse_telegram_html(p) for p in pieces) == "<" * 10_000
    cut = render.truncate("<i>" + "&amp;" * 5000 + "</i>", 100)
    assert parse_telegram_html(cut) == "&" * 99 + "…"


# --- the order alert with "<" everywhere ----------------------------------------------------------------


async def test_a_new_order_alert_full_of_angle_brackets_reaches_the_admin(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool, bot_settings: Settings,
) -> None:
    phone = await product(pool, "PHN-<A15>", stock=50, name_uz="<b>Telefon" + "<" * 240)
    async with pool.acquire() as conn, conn.transaction():
        await stock_service.take(conn, phone.id, 2)
        order = await orders.create(
            conn, order_number="UZ-<1>", source="uzum", user_id=None, customer_name="<" * 255,
            customer_phone="<" * 20, subtotal=Decimal(2) * phone.price, delivery_fee=Decimal(0),
            total=Decimal(2) * phone.price, delivery_address="<&>" * 2000, delivery_notes="</b>" * 1500,
            marketplace_order_id="<mp>",
        )
        await orders.add_items(conn, order.id, [
            orders.NewOrderItem(phone.id, phone.name_uz, phone.sku, phone.price, 1) for _ in range(30)])
    # The card exactly as the new-order job builds it, sent as the job sends it (through the Bot API).
    items = await orders.items(pool, order.id)
    headline = t("bot.notify.admin_new_order", "uz", source=render.source_name(order.source, "uz"))
    card = render.order_card(order, items, "uz", headline=headline)
    bot = create_bot(bot_settings)
    try:
        await bot.send_message(ADMIN_ID, card, reply_markup=render.order_keyboard(order, "uz", ADMIN_ID))
    finally:
        await bot.session.close()
    alert = await telegram.wait_sent(ADMIN_ID, "UZ-&lt;1&gt;")
    shown = parse_telegram_html(alert.text)
    assert "UZ-<1>" in shown and "Jami:" in shown  # the number and the total always make it
    assert "… yana" in shown  # items that did not fit are counted, not cut mid-line
    assert alert.buttons  # with its status buttons


# --- commands that always get an answer -------------------------------------------------------------


@pytest.mark.parametrize(("command", "answer"), [
    ("/stock PHN-A15 ²", "«²»: miqdor 0 dan 1000000 gacha"),
    ("/stock PHN-A15 ٣", "«٣»: miqdor"),
    ("/stock PHN-A15 " + "9" * 5000, "miqdor 0 dan 1000000"),
    ("/lowstock ²", "«²»: miqdor"),
    ("/lowstock 99999999999999999999", "miqdor"),
    ("/order AS\x00X", "topilmadi"),
    ("/product PHN\x00A15", "SKU bir qatorli matn"),
    ("/stock PHN\x00A15 5", "SKU bir qatorli matn"),
    ("/price PHN-A15 ²", "«²» narx emas"),
    ("/orders \x00", "Noma'lum filtr"),
    ("/sync \x00", ""),
    ("/stats ²", ""),
])
async def test_bad_arguments_to_admin_commands_get_a_reply(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool, command: str, answer: str,
) -> None:
    await product(pool, "PHN-A15", stock=3)
    reply = await ask(telegram, command)
    assert answer in reply.text
    assert (await products.get_by_sku(pool, "PHN-A15")).stock_quantity == 3  # type: ignore[union-attr]


async def _all_parts(telegram: FakeTelegram, mark: int, needles: list[str], *, shown: bool = True,
                     timeout: float = 30.0) -> list[Any]:
    """The messages to the admin from `mark` on, once every needle appears in one of them."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        parts = [c for c in telegram.sent(chat_id=ADMIN_ID) if telegram.calls.index(c) >= mark]
        text = "\n".join(parse_telegram_html(c.text) if shown else c.text for c in parts)
        missing = [n for n in needles if n not in text]
        if not missing:
            return parts
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never sent: {missing[:5]} ({len(missing)} missing)")
        await asyncio.sleep(0.05)


async def test_lowstock_on_a_long_catalog_arrives_as_several_messages(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    await pool.execute(
        """INSERT INTO products (sku, name_uz, name_ru, price, stock_quantity)
           SELECT 'LOW-<' || n, repeat('<&>', 80) || n, repeat('<Я>', 80), 1000, 1 FROM generate_series(1, 120) n""")
    mark = telegram.mark()
    await telegram.send_text(ADMIN, "/lowstock 5")
    parts = await _all_parts(telegram, mark, [f"LOW-<{n} " for n in range(1, 121)])
    assert len(parts) >= 3


async def test_the_daily_digest_of_a_long_catalog_arrives_as_several_messages(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool, arq_redis: ArqRedis,
) -> None:
    await pool.execute(
        """INSERT INTO products (sku, name_uz, price, stock_quantity)
           SELECT 'DIG-' || n, repeat('<&>', 80) || n, 1000, 0 FROM generate_series(1, 40) n""")
    mark = telegram.mark()
    await arq_redis.enqueue_job("low_stock_digest", _queue_name=events.QUEUE_NOTIFICATIONS)
    parts = await _all_parts(telegram, mark, [f"DIG-{n}</code>" for n in range(1, 41)], shown=False)
    assert len(parts) >= 2


# --- catalog files --------------------------------------------------------------------------------------


async def test_a_file_without_name_ru_applies_and_a_bad_stock_digit_is_a_preview_line(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    mark = telegram.mark()
    await telegram.send_document(ADMIN, "sku,name_uz,price,stock\nBAD-1,Yomon,1000,²\n".encode(), "a.csv")
    preview = await telegram.wait_sent(ADMIN_ID, "a.csv", after=mark)
    assert "2-qator, stock: 0 dan 1000000 gacha butun son" in preview.text and preview.buttons == []

    mark = telegram.mark()
    await telegram.send_document(ADMIN, b"sku,name_uz,price,stock\nNEW-1,Yangi,1000,3\n", "b.csv")
    preview = await telegram.wait_sent(ADMIN_ID, "b.csv", after=mark)
    mark = telegram.mark()
    await telegram.click(ADMIN, preview, preview.button("Qo'llash")["callback_data"])
    done = await telegram.wait_for(lambda c: c.method == "editMessageText" and telegram.calls.index(c) >= mark,
                                   what="the import result")
    assert "1 ta yaratildi" in done.text
    created = await products.get_by_sku(pool, "NEW-1")
    assert created is not None and created.name_ru is None and created.stock_quantity == 3


async def test_export_neutralises_formulas_and_reimports_unchanged(pool: asyncpg.Pool, arq_redis: ArqRedis) -> None:
    hostile = {"=HYPERLINK(\"http://evil\")": "+7 cmd|' /C calc'!A0", "-2+3": "@SUM(1)", "'=x": "''=y", "ok": "'plain"}
    for n, (name_uz, name_ru) in enumerate(hostile.items()):
        await products.create(pool, sku=f"F-{n}", name_uz=name_uz, name_ru=name_ru, price=Decimal(1000),
                              description_uz="=1+1\n-\n@x", stock_quantity=n)
    await products.create(pool, sku="-SKU", name_uz="@home", price=Decimal(5), barcode="=123")
    exported, count = await catalog_import.export_csv(pool)
    assert count == 5
    rows = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    before = [(p.sku, p.barcode, p.name_uz, p.name_ru, p.description_uz, p.price, p.stock_quantity)
              for p in await products.list_all(pool)]
    plan = await catalog_import.preview(pool, exported)
    assert plan.errors == [] and plan.creates == [] and plan.updates == [] and len(plan.unchanged) == 5
    result = await catalog_import.apply(pool, exported)
    assert result.updated == 0 and result.created == 0
    after = [(p.sku, p.barcode, p.name_uz, p.name_ru, p.description_uz, p.price, p.stock_quantity)
             for p in await products.list_all(pool)]
    assert after == before


def test_neutralise_and_restore_are_exact_inverses() -> None:
    for value in ["", "=", "'", "''", "'=", "''=", "'a", "a'", "-1", "+", "@@", "\t", "\r\n", "plain", "o'zbek"]:
        assert catalog_import.restore(catalog_import.neutralize(value)) == value, value


async def test_apply_that_fails_unexpectedly_answers_and_keeps_the_file(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    mark = telegram.mark()
    await telegram.send_document(ADMIN, b"sku,name_uz,price\nNEW-2,Yangi,1000\n", "c.csv")
    preview = await telegram.wait_sent(ADMIN_ID, "c.csv", after=mark)
    # Between preview and Apply the products table refuses writes (a fault the preview cannot see).
    await pool.execute("""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
                          $$ BEGIN RAISE EXCEPTION 'disk full'; END $$""")
    await pool.execute("CREATE TRIGGER refuse BEFORE INSERT ON products FOR EACH ROW EXECUTE FUNCTION refuse()")
    try:
        mark = telegram.mark()
        await telegram.click(ADMIN, preview, preview.button("Qo'llash")["callback_data"])
        failed = await telegram.wait_sent(ADMIN_ID, "Importni qo'llab bo'lmadi", after=mark)
        assert "hech narsa yozilmadi" in failed.text
    finally:
        await pool.execute("DROP TRIGGER refuse ON products")
        await pool.execute("DROP FUNCTION refuse()")
    mark = telegram.mark()
    await telegram.click(ADMIN, preview, preview.button("Qo'llash")["callback_data"])  # the file was kept
    await telegram.wait_for(lambda c: c.method == "editMessageText" and telegram.calls.index(c) >= mark
                            and "1 ta yaratildi" in c.text, what="the second try")
    assert await products.get_by_sku(pool, "NEW-2") is not None



@pytest.mark.parametrize("data", ["oc:99999999999:0", "oc:²:0", "os:1:pen\x00ding", "ol:a b::1", "ol:::99999999",
                                  "ox:-1", "imp:x:maybe"])
async def test_a_forged_button_gets_an_answer_not_a_500(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool, data: str,
) -> None:
    sent = await ask(telegram, "/help")
    mark = telegram.mark()
    await telegram.click(ADMIN, sent, data)
    answer = await telegram.wait_for(lambda c: c.method == "answerCallbackQuery" and telegram.calls.index(c) >= mark,
                                     what="the answer to the button")
    assert answer.params.get("text"), answer.params
