"""The catalog CSV import through the bot (preview, nothing written until "Apply", one transaction)
and the import service's reading rules (delimiters, encodings, money, every kind of row error)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from arq.connections import ArqRedis
from PIL import Image

from db.repos import categories, products
from store.errors import ValidationFailed
from store.services import catalog_import
from tests.bot_helpers import ADMIN_ID, JobLog, pending_push, product
from tests.conftest import Client
from tests.fake_telegram import FakeTelegram, user

pytest_plugins = ["tests.bot_support"]

ADMIN = user(ADMIN_ID, "uz", "Owner")

GOOD = (
    "sku,barcode,name_uz,name_ru,description_uz,description_ru,category_path,price,sale_price,stock,image_url,is_active\n"
    "PHN-NEW,4800000000001,Yangi telefon,Новый телефон,Zo'r,Отличный,Elektronika / Smartfonlar,1500000,,7,"
    "{images}/p.png,1\n"
    "ACC-NEW,,Yangi g'ilof,,,,Elektronika / Aksessuarlar,59000,49000,20,{images}/gone.png,true\n"
    "PHN-A15,,Samsung Galaxy A15,Самсунг Галакси A15,,,,2190000,1990000,3,,1\n"
)


@pytest.fixture
async def images() -> AsyncIterator[str]:
    """A web server with one picture (/p.png, 1600x1200), a missing one and one over the size bound."""
    out = io.BytesIO()
    Image.new("RGB", (1600, 1200), (10, 120, 200)).save(out, "PNG")
    picture = out.getvalue()

    async def serve(request: web.Request) -> web.StreamResponse:
        if request.path == "/p.png":
            return web.Response(body=picture, content_type="image/png")
        if request.path == "/huge.png":
            return web.Response(body=b"\0" * (16 * 1024 * 1024), content_type="image/png")
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/{name}", serve)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()

BAD = (
    "sku;name_uz;price;sale_price;stock;image_url;is_active\n"
    "OK-1;Yaxshi;100000;;5;;1\n"
    ";Nomsiz;100;;1;;1\n"
    "BAD-2;Narxsiz;;;1;;1\n"
    "BAD-3;Arzon;abc;;1;;1\n"
    "BAD-4;Chegirma;1000;2000;1;;1\n"
    "BAD-5;Qoldiq;1000;;-4;ftp://x;maybe\n"
    "OK-1;Takror;1000;;1;;1\n"
    "BAD-6;Kam katak\n"
)


async def _catalog(pool: asyncpg.Pool) -> list[tuple[object, ...]]:
    return [(p.sku, p.name_uz, p.price, p.sale_price, p.stock_quantity, p.category_id, p.is_active)
            for p in await products.list_all(pool)]


async def test_good_file_previews_then_applies_in_one_go(
    bot_app: Client, worker: JobLog, telegram: FakeTelegram, pool: asyncpg.Pool, images: str,
) -> None:
    existing = await product(pool, "PHN-A15", price="2190000", stock=14)
    before = await _catalog(pool)

    mark = telegram.mark()
    await telegram.send_document(ADMIN, GOOD.format(images=images).encode(), "catalog.csv")
    preview = await telegram.wait_sent(ADMIN_ID, "catalog.csv", after=mark)
    assert "Yangi mahsulotlar: 2" in preview.text and "O'zgaradi: 1" in preview.text
    assert "Elektronika / Smartfonlar" in preview.text and "Qo'llaysizmi" in preview.text
    assert await _catalog(pool) == before  # nothing written yet
    assert await categories.count(pool) == 0

    mark = telegram.mark()
    await telegram.click(ADMIN, preview, preview.button("Qo'llash")["callback_data"])
    done = await telegram.wait_for(lambda c: c.method == "editMessageText" and telegram.calls.index(c) >= mark,
                                   what="the import result")
    assert "2 ta yaratildi, 1 ta yangilandi" in done.text and "3 ta yangi bo'lim" in done.text
    assert "1 ta rasm olinmadi" in done.text and "3-qator: Rasmni yuklab bo'lmadi (HTTP 404)" in done.text

    new_phone = await products.get_by_sku(pool, "PHN-NEW")
    assert new_phone is not None and new_phone.price == Decimal("1500000") and new_phone.stock_quantity == 7
    assert new_phone.barcode == "4800000000001" and new_phone.name_ru == "Новый телефон"
    # the address was fetched once and the photo is the store's own: the Mini App never hotlinks
    assert new_phone.image_url is not None and new_phone.image_url.startswith("/media/")
    served = await bot_app.get(new_phone.image_url)
    assert served.status == 200 and Image.open(io.BytesIO(await served.read())).size == (1200, 900)
    case = await products.get_by_sku(pool, "ACC-NEW")
    assert case is not None and case.sale_price == Decimal("49000") and case.name_ru is None
    assert case.image_url is None  # its image could not be fetched: no photo rather than a hotlink
    assert case.category_id != new_phone.category_id  # Smartfonlar and Aksessuarlar under one Elektronika
    updated = await products.get(pool, existing.id)
    assert updated is not None and updated.stock_quantity == 3 and updated.sale_price == Decimal("1990000")
    assert updated.category_id is None  # an empty category_path clears it
    assert await pending_push(pool, "stock", existing.id)
    assert await pending_push(pool, "price", existing.id)
    # a new product's first stock goes through the stock service and is propagated like any change
    assert await pending_push(pool, "stock", new_phone.id)
    assert await pending_push(pool, "stock", case.id)

    # The same decision pressed again: the preview is used up.
    mark = telegram.mark()
    await telegram.click(ADMIN, preview, preview.button("Qo'llash")["callback_data"])
    again = await telegram.wait_for(lambda c: c.method == "editMessageText" and telegram.calls.index(c) >= mark,
                                    what="the expired answer")
    assert "eskirgan yoki allaqachon ishlatilgan" in again.text


async def test_bad_rows_are_listed_and_nothing_can_be_applied(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    await product(pool, "EXISTING", stock=1)
    before = await _catalog(pool)
    mark = telegram.mark()
    await telegram.send_document(ADMIN, BAD.encode(), "narxlar.csv")
    preview = await telegram.wait_sent(ADMIN_ID, "narxlar.csv", after=mark)
    text = preview.text
    assert "Xatolar: 9" in text
    for line in ("3-qator, sku: bo'sh bo'lmasligi kerak",
                 "4-qator, price: bo'sh bo'lmasligi kerak",
                 "5-qator, price: «abc» summa emas",
                 "6-qator, sale_price: chegirma narxi narxdan (1000) past bo'lishi kerak",
                 "7-qator, stock: 0 dan 1000000 gacha butun son",
                 "7-qator, image_url: http:// yoki https://",
                 "7-qator, is_active: 1 yoki 0",
                 "8-qator, sku: bu SKU 2-qatorda ham bor",
                 "9-qator, -: qatorda 2 ta katak, sarlavhada 7 ta"):
        assert line in text, line
    assert "Hech narsa yozilmadi" in text and preview.buttons == []
    assert await _catalog(pool) == before


async def test_cancel_writes_nothing_and_export_reimports_as_no_change(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool, arq_redis: ArqRedis,
) -> None:
    await product(pool, "PHN-A15", stock=14)
    mark = telegram.mark()
    good = GOOD.format(images="https://img.example.com").encode()
    await telegram.send_document(ADMIN, good, "catalog.csv")
    preview = await telegram.wait_sent(ADMIN_ID, "catalog.csv", after=mark)
    mark = telegram.mark()
    await telegram.click(ADMIN, preview, preview.button("Bekor qilish")["callback_data"])
    await telegram.wait_for(lambda c: c.method == "editMessageText" and "Import bekor qilindi" in c.text,
                            what="the cancellation")
    assert await products.get_by_sku(pool, "PHN-NEW") is None

    # What /export sends, sent back unchanged, changes nothing.
    await catalog_import.apply(pool, good)
    exported, count = await catalog_import.export_csv(pool)
    assert count == 3
    mark = telegram.mark()
    await telegram.send_document(ADMIN, exported, "catalog-export.csv")
    again = await telegram.wait_sent(ADMIN_ID, "catalog-export.csv", after=mark)
    assert "Yangi mahsulotlar: 0" in again.text and "O'zgaradi: 0" in again.text and "O'zgarishsiz: 3" in again.text
    assert "Faylda o'zgarish yo'q" in again.text and again.buttons == []


async def test_a_file_that_is_not_a_catalog_is_refused_in_the_admins_words(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool,
) -> None:
    mark = telegram.mark()
    await telegram.send_document(ADMIN, b"name,cost\nx,1\n", "prices.csv")
    await telegram.wait_sent(ADMIN_ID, "kamida «sku»", after=mark)
    mark = telegram.mark()
    await telegram.send_document(ADMIN, b"%PDF-1.4\x00\x00", "catalog.pdf", "application/pdf")
    await telegram.wait_sent(ADMIN_ID, ".csv fayl yuboring", after=mark)


# --- the service's reading rules ------------------------------------------------------------------------------


def test_semicolons_windows_1251_and_comma_decimals_are_read() -> None:
    data = "sku;name_uz;name_ru;price\r\nKBL-1;Kabel;Кабель;45 000,50\r\n".encode("cp1251")
    parsed = catalog_import.parse_csv(data)
    assert parsed.errors == []
    assert parsed.rows[0].values == {"name_uz": "Kabel", "name_ru": "Кабель", "price": Decimal("45000.50")}


def test_the_stores_own_photo_paths_round_trip_and_nothing_else_local() -> None:
    own = "/media/" + "ab" * 16 + ".jpg"
    parsed = catalog_import.parse_csv(f"sku,image_url\nA,{own}\nB,/media/../../etc/passwd\nC,/etc/x.jpg\n".encode())
    assert parsed.rows[0].values == {"image_url": own}
    assert [(e.row, e.column) for e in parsed.errors] == [(3, "image_url"), (4, "image_url")]


def test_file_level_problems_are_refused_whole() -> None:
    for data, key in ((b"", "catalog_import.error.empty"),
                      (b"sku,colour\nA,red\n", "catalog_import.error.unknown_columns"),
                      (b"sku,price,price\nA,1,2\n", "catalog_import.error.duplicate_columns"),
                      (b"sku,price\n\n\n", "catalog_import.error.no_rows"),
                      (b"sku\n" + b"A\n" * (catalog_import.MAX_ROWS + 1), "catalog_import.error.too_many_rows")):
        with pytest.raises(ValidationFailed) as caught:
            catalog_import.parse_csv(data)
        assert caught.value.message_key == key


async def test_a_new_product_needs_a_name_and_a_price(pool: asyncpg.Pool) -> None:
    await product(pool, "OLD", stock=1)
    plan = await catalog_import.preview(pool, b"sku,stock\nOLD,4\nNEW,4\n")
    assert plan.updates == ["OLD"] and plan.creates == ["NEW"]
    assert [(e.row, e.column, e.reason) for e in plan.errors] == [
        (3, "name_uz", "catalog_import.reason.required_new"), (3, "price", "catalog_import.reason.required_new")]
