"""Demo data: a small, realistic catalog for local mode and a first look (`amazing-store seed-demo`).

Idempotent: categories are found by name, products by SKU, banners by title; running it twice
changes nothing. With a media directory every new product gets a picture drawn for it
(store.demo_pictures), stored like a photo an admin sent (store.services.media).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import asyncpg

from db.repos import banners, categories, products
from store import demo_pictures
from store.services import media

# (name_uz, name_ru, icon, [(sub_uz, sub_ru, [(sku_stem, name_uz, name_ru, price, sale, stock), ...])])
_TREE: list[tuple[str, str, str, list[tuple[str, str, list[tuple[str, str, str, int, int | None, int]]]]]] = [
    ("Elektronika", "Электроника", "📱", [
        ("Smartfonlar", "Смартфоны", [
            ("PHN-A15", "Samsung Galaxy A15 128 GB", "Samsung Galaxy A15 128 ГБ", 2_190_000, 1_990_000, 14),
            ("PHN-RN13", "Xiaomi Redmi Note 13 256 GB", "Xiaomi Redmi Note 13 256 ГБ", 3_150_000, None, 9),
            ("PHN-IP15", "Apple iPhone 15 128 GB", "Apple iPhone 15 128 ГБ", 11_900_000, None, 3),
            ("PHN-C65", "Tecno Spark 20C", "Tecno Spark 20C", 1_450_000, 1_290_000, 0),
            ("PHN-P60", "Honor X7b 8/128 GB", "Honor X7b 8/128 ГБ", 2_650_000, None, 6),
        ]),
        ("Quloqchinlar", "Наушники", [
            ("AUD-BUDS", "Samsung Galaxy Buds FE", "Samsung Galaxy Buds FE", 990_000, 850_000, 20),
            ("AUD-AIRP", "Apple AirPods 3", "Apple AirPods 3", 2_400_000, None, 5),
            ("AUD-JBL5", "JBL Tune 520BT simsiz quloqchin", "Беспроводные наушники JBL Tune 520BT", 620_000, None, 12),
            ("AUD-QCY", "QCY T13 simsiz quloqchin", "Беспроводные наушники QCY T13", 189_000, 159_000, 40),
        ]),
        ("Aksessuarlar", "Аксессуары", [
            ("ACC-PB10", "Xiaomi Power Bank 10000 mAh", "Внешний аккумулятор Xiaomi 10000 мА·ч", 245_000, None, 30),
            ("ACC-CH65", "Anker 65 W zaryadlovchi", "Зарядное устройство Anker 65 Вт", 410_000, 365_000, 8),
            ("ACC-CBL", "USB-C kabel 1 m", "Кабель USB-C 1 м", 45_000, None, 100),
            ("ACC-CASE", "iPhone 15 uchun silikon g'ilof", "Силиконовый чехол для iPhone 15", 79_000, None, 2),
        ]),
    ]),
    ("Kiyim", "Одежда", "👕", [
        ("Erkaklar kiyimi", "Мужская одежда", [
            ("MEN-TSH", "Paxta futbolka, oq", "Хлопковая футболка, белая", 89_000, None, 50),
            ("MEN-JNS", "Erkaklar jinsi shimi", "Мужские джинсы", 329_000, 279_000, 18),
            ("MEN-JKT", "Kuzgi kurtka", "Осенняя куртка", 690_000, None, 7),
            ("MEN-SHR", "Klassik ko'ylak", "Классическая рубашка", 215_000, None, 0),
        ]),
        ("Ayollar kiyimi", "Женская одежда", [
            ("WMN-DRS", "Yozgi ko'ylak", "Летнее платье", 275_000, 229_000, 11),
            ("WMN-ATL", "Atlas ro'mol", "Атласный платок", 150_000, None, 25),
            ("WMN-CRD", "Jun kardigan", "Шерстяной кардиган", 420_000, None, 4),
            ("WMN-SKR", "Plisse yubka", "Плиссированная юбка", 199_000, None, 9),
        ]),
        ("Bolalar kiyimi", "Детская одежда", [
            ("KID-SET", "Bolalar pijama to'plami", "Детский пижамный комплект", 119_000, 99_000, 16),
            ("KID-JKT", "Bolalar qishki kombinezoni", "Детский зимний комбинезон", 560_000, None, 3),
            ("KID-SCK", "Bolalar paypoqlari, 5 juft", "Детские носки, 5 пар", 49_000, None, 60),
        ]),
    ]),
    ("Uy va oshxona", "Дом и кухня", "🏠", [
        ("Oshxona jihozlari", "Кухонная техника", [
            ("KIT-KTL", "Elektr choynak 1,7 l", "Электрочайник 1,7 л", 239_000, 199_000, 22),
            ("KIT-BLN", "Blender Philips", "Блендер Philips", 720_000, None, 6),
            ("KIT-MWO", "Mikroto'lqinli pech 20 l", "Микроволновая печь 20 л", 1_150_000, None, 4),
            ("KIT-AFR", "Airfryer 4,5 l", "Аэрофритюрница 4,5 л", 980_000, 890_000, 10),
        ]),
        ("Idish-tovoq", "Посуда", [
            ("DSH-KZN", "Cho'yan qozon 8 l", "Чугунный казан 8 л", 450_000, None, 8),
            ("DSH-PIA", "Rishton piyola to'plami, 6 dona", "Набор риштанских пиал, 6 шт.", 180_000, None, 15),
            ("DSH-TEA", "Chinni choynak", "Фарфоровый чайник", 95_000, None, 20),
            ("DSH-PAN", "Yopishmaydigan tova 28 sm", "Антипригарная сковорода 28 см", 210_000, 185_000, 0),
        ]),
        ("Uy tekstili", "Домашний текстиль", [
            ("TXT-BED", "Paxta choyshab to'plami", "Хлопковый комплект постельного белья", 390_000, None, 12),
            ("TXT-TWL", "Sochiq to'plami, 3 dona", "Набор полотенец, 3 шт.", 135_000, 115_000, 25),
            ("TXT-SUZ", "Suzani yostiq jildi", "Наволочка сюзане", 120_000, None, 9),
        ]),
    ]),
    ("Go'zallik va salomatlik", "Красота и здоровье", "💄", [
        ("Teri parvarishi", "Уход за кожей", [
            ("SKN-CRM", "Namlovchi yuz kremi 50 ml", "Увлажняющий крем для лица 50 мл", 145_000, None, 30),
            ("SKN-SPF", "Quyoshdan himoya kremi SPF 50", "Солнцезащитный крем SPF 50", 175_000, 149_000, 14),
            ("SKN-MSK", "Mato niqoblar to'plami, 10 dona", "Набор тканевых масок, 10 шт.", 99_000, None, 40),
        ]),
        ("Soch parvarishi", "Уход за волосами", [
            ("HAR-SHM", "Shampun 400 ml", "Шампунь 400 мл", 69_000, None, 45),
            ("HAR-DRY", "Fen 2000 W", "Фен 2000 Вт", 320_000, 279_000, 7),
            ("HAR-OIL", "Argan moyi 100 ml", "Аргановое масло 100 мл", 115_000, None, 1),
        ]),
    ]),
    ("Oziq-ovqat", "Продукты", "🍯", [
        ("Quruq mevalar", "Сухофрукты", [
            ("FRT-APR", "Quritilgan o'rik 1 kg", "Курага 1 кг", 95_000, None, 35),
            ("FRT-RSN", "Mayiz, qora 1 kg", "Изюм чёрный 1 кг", 70_000, 62_000, 28),
            ("FRT-ALM", "Bodom 500 g", "Миндаль 500 г", 110_000, None, 19),
            ("FRT-MIX", "Quruq mevalar aralashmasi 1 kg", "Ассорти сухофруктов 1 кг", 135_000, None, 0),
        ]),
        ("Choy va qahva", "Чай и кофе", [
            ("TEA-GRN", "Ko'k choy №95, 100 g", "Зелёный чай №95, 100 г", 18_000, None, 120),
            ("TEA-BLK", "Qora choy, 250 g", "Чёрный чай, 250 г", 32_000, None, 80),
            ("COF-BNS", "Qahva donlari 1 kg", "Кофе в зёрнах 1 кг", 260_000, 235_000, 13),
        ]),
        ("Shirinliklar", "Сладости", [
            ("SWT-HLV", "Kunjutli holva 500 g", "Кунжутная халва 500 г", 45_000, None, 50),
            ("SWT-NVT", "Novvot 1 kg", "Нават 1 кг", 38_000, None, 24),
            ("SWT-HNY", "Tog' asali 1 kg", "Горный мёд 1 кг", 150_000, None, 10),
        ]),
    ]),
    ("Sport va dam olish", "Спорт и отдых", "⚽", [
        ("Fitnes", "Фитнес", [
            ("FIT-MAT", "Yoga gilamchasi", "Коврик для йоги", 120_000, 99_000, 17),
            ("FIT-DMB", "Gantel to'plami 2×5 kg", "Набор гантелей 2×5 кг", 330_000, None, 5),
            ("FIT-RPE", "Skakalka", "Скакалка", 35_000, None, 44),
        ]),
        ("Turizm", "Туризм", [
            ("TRV-TNT", "4 kishilik chodir", "Палатка на 4 человека", 890_000, None, 3),
            ("TRV-BAG", "Ryukzak 40 l", "Рюкзак 40 л", 310_000, 265_000, 9),
            ("TRV-FLS", "Termos 1 l", "Термос 1 л", 140_000, None, 0),
        ]),
    ]),
]

_BANNERS = [
    ("Kuzgi chegirmalar: 30% gacha", "Осенние скидки: до 30%", "/static/img/banner-sale.svg",
     "category", "Elektronika"),
    ("Yangi smartfonlar", "Новые смартфоны", "/static/img/banner-phones.svg", "category", "Smartfonlar"),
    ("Rishton piyolalari", "Риштанские пиалы", "/static/img/banner-dishes.svg", "product", "DSH-PIA"),
]


def ean13(seed: int) -> str:
    """A valid EAN-13 in the 478 (Uzbekistan) prefix range."""
    body = f"478{seed:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _picture(directory: Path, stem: str) -> str:
    return media.store_image(directory, demo_pictures.draw(demo_pictures.kind_for(stem), stem)).url


async def seed_demo(pool: asyncpg.Pool, media_dir: Path | None = None) -> dict[str, int]:
    """Fill the catalog with demo data in one transaction; returns how many rows it created. With
    `media_dir`, each new product gets a drawn picture."""
    created = {"categories": 0, "products": 0, "banners": 0}
    async with pool.acquire() as conn, conn.transaction():
        category_ids: dict[str, int] = {}
        number = 0
        for top_index, (top_uz, top_ru, icon, subs) in enumerate(_TREE):
            top = await categories.find_by_name(conn, top_uz, None)
            if top is None:
                top = await categories.create(conn, name_uz=top_uz, name_ru=top_ru, icon=icon, sort_order=top_index)
                created["categories"] += 1
            category_ids[top_uz] = top.id
            for sub_index, (sub_uz, sub_ru, items) in enumerate(subs):
                sub = await categories.find_by_name(conn, sub_uz, top.id)
                if sub is None:
                    sub = await categories.create(conn, name_uz=sub_uz, name_ru=sub_ru, parent_id=top.id,
                                                  sort_order=sub_index)
                    created["categories"] += 1
                category_ids[sub_uz] = sub.id
                for stem, name_uz, name_ru, price, sale, stock in items:
                    number += 1
                    sku = f"AS-{stem}"
                    if await products.get_by_sku(conn, sku) is not None:
                        continue
                    image_url = await asyncio.to_thread(_picture, media_dir, stem) if media_dir else None
                    await products.create(
                        conn, sku=sku, barcode=ean13(number), name_uz=name_uz, name_ru=name_ru,
                        description_uz=f"{name_uz}. Rasmiy kafolat, O'zbekiston bo'ylab yetkazib berish.",
                        description_ru=f"{name_ru}. Официальная гарантия, доставка по всему Узбекистану.",
                        category_id=sub.id, price=Decimal(price),
                        sale_price=Decimal(sale) if sale is not None else None, stock_quantity=stock,
                        image_url=image_url,
                    )
                    created["products"] += 1
        existing = {b.title_uz for b in await banners.list_active(conn)}
        for index, (title_uz, title_ru, image, link_type, target) in enumerate(_BANNERS):
            if title_uz in existing:
                continue
            if link_type == "category":
                link_id = category_ids[target]
            else:
                product = await products.get_by_sku(conn, f"AS-{target}")
                assert product is not None
                link_id = product.id
            await banners.create(conn, title_uz=title_uz, title_ru=title_ru, image_url=image,
                                 image_url_ru=image.replace(".svg", "-ru.svg"),  # the artwork in Russian
                                 link_type=link_type, link_id=link_id, sort_order=index)
            created["banners"] += 1
    return created
