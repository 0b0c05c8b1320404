"""The owner's control panel, over real HTTP against the fake Bot API: every admin command, its
answer in the admin's language, and what it changed (database, jobs for the marketplaces)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import asyncpg
from arq.connections import ArqRedis

from db.repos import marketplace_products, marketplaces, products, sync_logs, users
from store.services import marketplace_sync
from tests.bot_helpers import ADMIN_ID, JobLog, customer, order, pending_push, product
from tests.conftest import Client
from tests.fake_telegram import Call, FakeTelegram, user

pytest_plugins = ["tests.bot_support"]

ADMIN = user(ADMIN_ID, "uz", "Owner")


async def ask(telegram: FakeTelegram, text: str, contains: str = "", who: dict[str, Any] = ADMIN) -> Call:
    mark = telegram.mark()
    await telegram.send_text(who, text)
    return await telegram.wait_sent(who["id"], contains, after=mark)


async def test_orders_list_filters_and_pages(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    await marketplaces.create(pool, name="Uzum Market", slug="uzum", api_base_url=None)
    phone = await product(pool, stock=100)
    for n in range(12):
        await order(pool, items=[(phone, 1)], number=f"AS-2026-{n:06d}")
    await order(pool, items=[(phone, 1)], number="UZ-1", source="uzum", status="confirmed")

    first = await ask(telegram, "/orders", "Buyurtmalar")
    assert "13 ta" in first.text and "sahifa 1/2" in first.text
    assert "UZ-1" in first.text  # newest first
    assert first.button("Keyingi")["callback_data"] == "ol:::1"
    assert sum(1 for b in first.buttons if b["text"].startswith("№")) == 10

    mark = telegram.mark()
    await telegram.click(ADMIN, first, "ol:::1")
    second = await telegram.wait_for(lambda c: c.method == "editMessageText" and telegram.calls.index(c) >= mark,
                                     what="page 2")
    assert "sahifa 2/2" in second.text and "AS-2026-000000" in second.text and second.button("Oldingi")

    filtered = await ask(telegram, "/orders uzum confirmed", "Buyurtmalar")
    assert "1 ta" in filtered.text and "UZ-1" in filtered.text and "AS-2026" not in filtered.text
    assert "(Tasdiqlandi · Uzum Market)" in filtered.text
    empty = await ask(telegram, "/orders delivered", "Buyurtmalar")
    assert "Buyurtmalar yo'q" in empty.text

    wrong = await ask(telegram, "/orders shipped nowhere", "Noma'lum filtr")
    assert "nowhere" in wrong.text and "pending, confirmed" in wrong.text and "app, uzum" in wrong.text

    # Pressing an order in the list opens its card as a new message.
    mark = telegram.mark()
    await telegram.click(ADMIN, first, first.button("UZ-1")["callback_data"])
    card = await telegram.wait_sent(ADMIN_ID, "Buyurtma № UZ-1", after=mark)
    assert [b["text"] for b in card.buttons] == ["🚚 Jo'natildi", "❌ Bekor qilish"]


async def test_order_card_in_the_admins_language(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    buyer = await customer(pool, 700_020, "uz")
    phone = await product(pool, stock=5)
    placed = await order(pool, items=[(phone, 2)], user=buyer, number="AS-2026-000777")
    admin = await customer(pool, ADMIN_ID, "uz", "Owner")
    await users.set_language(pool, admin.id, "ru")  # the admin chose Russian

    # The admin's Telegram says "uz", but their own choice (users.language) is Russian.
    card = await ask(telegram, "/order AS-2026-000777", "Заказ № AS-2026-000777")
    assert "Статус: <b>Ожидает</b>" in card.text and "Aziz Karimov, +998901234567" in card.text
    assert "Toshkent, Chilonzor 5" in card.text and "PHN-A15" in card.text and "4 380 000 сум" in card.text
    assert [b["callback_data"] for b in card.buttons] == [f"os:{placed.id}:confirmed", f"os:{placed.id}:cancelled"]

    missing = await ask(telegram, "/order AS-0000", "не найден")
    assert "AS-0000" in missing.text
    usage = await ask(telegram, "/order", "/order")
    assert "Использование" in usage.text


async def test_product_stock_and_price_go_through_the_services(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    phone = await product(pool, "PHN-A15", price="2190000", stock=14)
    uzum = await marketplaces.create(pool, name="Uzum Market", slug="uzum", api_base_url=None)
    await marketplace_products.upsert(pool, product_id=phone.id, marketplace_id=uzum.id, marketplace_sku="UZ-PHN")

    card = await ask(telegram, "/product PHN-A15", "Samsung Galaxy A15")
    assert "2 190 000 so'm" in card.text and "Qoldiq: 14 dona" in card.text and "Uzum Market: UZ-PHN" in card.text

    done = await ask(telegram, "/stock PHN-A15 7", "PHN-A15")
    assert "14 → 7" in done.text
    assert (await products.get(pool, phone.id)).stock_quantity == 7  # type: ignore[union-attr]
    assert await pending_push(pool, "stock", phone.id)

    priced = await ask(telegram, "/price PHN-A15 2 250 000", "")  # spaces split the args: refused
    assert "Foydalanish" in priced.text
    priced = await ask(telegram, "/price PHN-A15 2250000 1999000,50", "PHN-A15")
    assert "2 190 000 so'm → 2 250 000 so'm" in priced.text and "1 999 001 so'm" in priced.text
    changed = await products.get(pool, phone.id)
    assert changed is not None and changed.price == Decimal("2250000") and changed.sale_price == Decimal("1999000.50")
    assert await pending_push(pool, "price", phone.id)

    refused = await ask(telegram, "/price PHN-A15 100000 200000", "Chegirma narxi narxdan past")
    assert refused.buttons == []
    assert (await products.get(pool, phone.id)).price == Decimal("2250000")  # type: ignore[union-attr]
    await ask(telegram, "/stock PHN-A15 -3", "butun son")
    await ask(telegram, "/stock PHN-A15 lots", "butun son")
    await ask(telegram, "/price PHN-A15 abc", "narx emas")
    await ask(telegram, "/stock NOPE 3", "NOPE SKU li mahsulot topilmadi")
    await ask(telegram, "/product NOPE", "topilmadi")
    await ask(telegram, "/product", "Foydalanish: /product SKU")


async def test_lowstock_and_stats(bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool) -> None:
    cable = await product(pool, "ACC-CBL", price="45000", stock=3, name_uz="USB-C kabel")
    phone = await product(pool, "PHN-A15", price="2190000", stock=8)
    await order(pool, items=[(cable, 2), (phone, 1)])
    await order(pool, items=[(phone, 2)], source="uzum", number="UZ-5")
    await order(pool, items=[(cable, 1)], source="ozon", number="OZ-5", status="cancelled")

    low = await ask(telegram, "/lowstock", "Kam qolgan")
    assert "≤ 5 dona" in low.text and "USB-C kabel: 0 dona" in low.text  # 3 - 2 - 1
    assert "Samsung Galaxy A15: 5 dona" in low.text  # 8 - 3 = 5: at the threshold counts
    low = await ask(telegram, "/lowstock 4", "Kam qolgan")
    assert "ACC-CBL" in low.text and "PHN-A15" not in low.text
    await ask(telegram, "/lowstock many", "butun son")

    today = await ask(telegram, "/stats", "Bugun")
    assert "Mini App: 1 ta buyurtma, 2 280 000 so'm" in today.text  # 2 × 45 000 + 2 190 000
    assert "Uzum Market: 1 ta buyurtma, 4 380 000 so'm" in today.text
    assert "Ozon: 0 ta buyurtma, 0 so'm (bekor qilingan: 1)" in today.text
    assert "Jami: 2 ta buyurtma, 6 660 000 so'm" in today.text
    assert "1. Samsung Galaxy A15 (<code>PHN-A15</code>) — 3 dona" in today.text
    month = await ask(telegram, "/stats month", "Shu oy")
    assert "Jami: 2 ta buyurtma" in month.text
    await ask(telegram, "/stats week", "Shu hafta")
    await ask(telegram, "/stats year", "today | week | month")


async def test_sync_now_and_sync_status(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool, arq_redis: ArqRedis,
) -> None:
    uzum = await marketplaces.create(pool, name="Uzum Market", slug="uzum", api_base_url=None)
    ozon = await marketplaces.create(pool, name="Ozon", slug="ozon", api_base_url=None)
    wb = await marketplaces.create(pool, name="Wildberries", slug="wildberries", api_base_url=None)
    await marketplaces.set_active(pool, wb.id, False)

    queued = await ask(telegram, "/sync uzum", "navbatga qo'yildi")
    assert "Uzum Market" in queued.text
    assert await worker.wait_for("sync_marketplace") == ("uzum", None, False)
    everything = await ask(telegram, "/sync", "navbatga qo'yildi")
    assert "Uzum Market" in everything.text and "Ozon" in everything.text and "Wildberries" not in everything.text
    await worker.wait_for("sync_marketplace", lambda args: args == ("ozon", None, False))
    await ask(telegram, "/sync ozon stock", "Ozon")
    await worker.wait_for("sync_marketplace", lambda args: args == ("ozon", "stock", False))
    await ask(telegram, "/sync wildberries", "o'chirilgan")
    await ask(telegram, "/sync amazon", "amazon marketpleysi topilmadi")
    await ask(telegram, "/sync ozon everything", "Noma'lum sinxronlash turi")
    # asked again while the first is still there: says when it runs, or when it ran
    done = await ask(telegram, "/sync uzum", "Uzum Market")
    assert "hozirgina (" in done.text and "/syncstatus" in done.text and "soniyadan keyin" in done.text
    await arq_redis.enqueue_job("sync_marketplace", "ozon", "price", False, _job_id="sync-now:ozon:price",
                                _defer_by=300)
    later = await ask(telegram, "/sync ozon price", "Ozon")
    assert "allaqachon navbatda" in later.text and "da boshlanadi (" in later.text
    assert any(f"({n} soniyadan keyin)" in later.text for n in range(295, 301))

    ok = await sync_logs.start(pool, uzum.id, "stock")
    await sync_logs.finish(pool, ok, status="success", items_processed=120, items_failed=0, error_message=None)
    bad = await sync_logs.start(pool, uzum.id, "price")
    await sync_logs.finish(pool, bad, status="partial", items_processed=118, items_failed=2,
                           error_message="2 items rejected: price below minimum")
    dead = await sync_logs.start(pool, uzum.id, "orders")  # its process died: nobody holds its lock
    async with marketplace_sync.sync_lock(arq_redis, "ozon", "orders") as held:
        assert held
        await sync_logs.start(pool, ozon.id, "orders")  # really running: its lock is held
        status = await ask(telegram, "/syncstatus", "Sinxronlash holati")
    assert "<b>Uzum Market</b> (uzum) — yoqilgan" in status.text
    assert "Qoldiq: ✅ muvaffaqiyatli" in status.text and "120 ta, xato 0" in status.text
    assert "Narxlar: ⚠️ qisman" in status.text and "price below minimum" in status.text
    assert "Buyurtmalar: ⏹ to'xtab qolgan (jarayon to'xtadi)" in status.text  # uzum's, closed honestly
    assert "Buyurtmalar: ⏳ bajarilmoqda" in status.text  # ozon's
    closed = await sync_logs.find(pool, dead)
    assert closed is not None and closed.completed_at is not None
    assert (closed.status, closed.error_message) == ("error", "interrupted (the process stopped)")
    assert "<b>Wildberries</b> (wildberries) — o'chirilgan" in status.text and "hali sinxronlanmagan" in status.text


async def test_export_sends_the_catalog_as_csv(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    await product(pool, "PHN-A15", price="2190000", sale_price="1990000", stock=14)
    await product(pool, "ACC-CBL", price="45000.50", stock=100, name_uz="USB-C kabel", name_ru="Кабель USB-C")
    mark = telegram.mark()
    await telegram.send_text(ADMIN, "/export")
    sent = await telegram.wait_sent(ADMIN_ID, "Katalog: 2 ta mahsulot", method="sendDocument", after=mark)
    name, content = next(iter(sent.files.values()))
    assert name.startswith("catalog-") and name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [r["sku"] for r in rows] == ["ACC-CBL", "PHN-A15"]
    assert rows[0]["price"] == "45000.50" and rows[0]["name_ru"] == "Кабель USB-C" and rows[0]["is_active"] == "1"
    assert rows[1]["sale_price"] == "1990000" and rows[1]["stock"] == "14"
