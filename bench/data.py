"""Bench data: 10,000 products in 200 categories (uz/ru names), 3 marketplaces with every product
mapped, 100,000 past orders. Loaded with COPY in one transaction, on an empty database."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg

from store.seed import ean13

TOP_CATEGORIES = 20
SUB_PER_TOP = 9  # 20 + 180 = 200 categories
PRODUCTS = 10_000
ORDERS = 100_000
USERS = 5_000

_WORDS_UZ = ["Qizil", "Katta", "Yangi", "Klassik", "Sport", "Uy", "Bolalar", "Premium", "Yozgi", "Qishki"]
_WORDS_RU = ["Красный", "Большой", "Новый", "Классический", "Спортивный", "Домашний", "Детский", "Премиум",
             "Летний", "Зимний"]
_NOUNS_UZ = ["choynak", "ko'ylak", "telefon", "sumka", "lampa", "soat", "kitob", "gilam", "piyola", "krossovka"]
_NOUNS_RU = ["чайник", "платье", "телефон", "сумка", "лампа", "часы", "книга", "ковёр", "пиала", "кроссовки"]
MARKETPLACES = [("Uzum Market", "uzum"), ("Wildberries", "wildberries"), ("Ozon", "ozon")]


async def load(pool: asyncpg.Pool, *, products: int = PRODUCTS, orders: int = ORDERS,
               marketplace_urls: dict[str, str] | None = None, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    now = datetime(2026, 11, 1)
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval("SELECT count(*) FROM products") > 0:
            raise RuntimeError("bench data goes into an empty database")
        categories: list[tuple[int, str, str, int | None, int]] = []
        cid = 0
        for top in range(TOP_CATEGORIES):
            cid += 1
            top_id = cid
            categories.append((top_id, f"Bo'lim {top + 1}", f"Раздел {top + 1}", None, top))
            for sub in range(SUB_PER_TOP):
                cid += 1
                categories.append((cid, f"Bo'lim {top + 1}.{sub + 1}", f"Раздел {top + 1}.{sub + 1}", top_id, sub))
        await conn.copy_records_to_table("categories", records=categories,
                                         columns=["id", "name_uz", "name_ru", "parent_id", "sort_order"])
        leaf_ids = [c[0] for c in categories if c[3] is not None]

        rows = []
        for pid in range(1, products + 1):
            i, j = rng.randrange(10), rng.randrange(10)
            price = Decimal(rng.randrange(10, 5000) * 1000)
            sale = (price * Decimal("0.85")).quantize(Decimal("1000")) if rng.random() < 0.2 else None
            rows.append((pid, f"BN-{pid:05d}", ean13(500000 + pid), f"{_WORDS_UZ[i]} {_NOUNS_UZ[j]} {pid}",
                         f"{_WORDS_RU[i]} {_NOUNS_RU[j]} {pid}", f"Tavsif {pid}", f"Описание {pid}",
                         leaf_ids[pid % len(leaf_ids)], price, sale, rng.randrange(0, 200), True,
                         rng.randrange(0, 5000), rng.randrange(0, 500)))
        await conn.copy_records_to_table("products", records=rows, columns=[
            "id", "sku", "barcode", "name_uz", "name_ru", "description_uz", "description_ru", "category_id",
            "price", "sale_price", "stock_quantity", "is_active", "view_count", "order_count"])

        urls = marketplace_urls or {}
        mp_ids = []
        for mid, (name, slug) in enumerate(MARKETPLACES, start=1):
            await conn.execute(
                """INSERT INTO marketplaces (id, name, slug, api_base_url, auto_sync_enabled)
                   VALUES ($1, $2, $3, $4, false)""",
                mid, name, slug, urls.get(slug))
            mp_ids.append(mid)
        mappings = [(pid, mid, f"BN-{pid:05d}", str(mid * 1_000_000 + pid))
                    for mid in mp_ids for pid in range(1, products + 1)]
        await conn.copy_records_to_table("marketplace_products", records=mappings, columns=[
            "product_id", "marketplace_id", "marketplace_sku", "marketplace_product_id"])

        users = [(uid, 900_000_000 + uid, f"Mijoz {uid}", "uz" if uid % 3 else "ru") for uid in range(1, USERS + 1)]
        await conn.copy_records_to_table("users", records=users,
                                         columns=["id", "telegram_id", "first_name", "language"])

        order_rows, item_rows = [], []
        sources = ["app", "app", "uzum", "wildberries", "ozon"]
        statuses = ["delivered", "delivered", "delivered", "shipped", "confirmed", "pending", "cancelled"]
        item_id = 0
        for oid in range(1, orders + 1):
            source = rng.choice(sources)
            created = now - timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
            lines = []
            for _ in range(rng.randrange(1, 4)):
                pid = rng.randrange(1, products + 1)
                price = Decimal(rng.randrange(10, 5000) * 1000)
                qty = rng.randrange(1, 3)
                item_id += 1
                lines.append((item_id, oid, pid, f"Mahsulot {pid}", f"BN-{pid:05d}", price, qty, price * qty, created))
            subtotal = sum((line[7] for line in lines), Decimal(0))
            user_id = rng.randrange(1, USERS + 1) if source == "app" else None
            order_rows.append((oid, f"BN-{created.year}-{oid:07d}", source,
                               None if source == "app" else f"{source}-{oid}", user_id, f"Mijoz {oid}",
                               "+998901234567", subtotal, Decimal(0), subtotal, rng.choice(statuses), created))
            item_rows.extend(lines)
        await conn.copy_records_to_table("orders", records=order_rows, columns=[
            "id", "order_number", "source", "marketplace_order_id", "user_id", "customer_name", "customer_phone",
            "subtotal", "delivery_fee", "total", "status", "created_at"])
        await conn.copy_records_to_table("order_items", records=item_rows, columns=[
            "id", "order_id", "product_id", "product_name", "product_sku", "price", "quantity", "subtotal",
            "created_at"])
        for table in ("categories", "products", "marketplaces", "users", "orders", "order_items"):
            await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    async with pool.acquire() as conn:
        await conn.execute("ANALYZE")
    return {"categories": len(categories), "products": products, "mappings": len(mappings),
            "orders": orders, "order_items": len(item_rows), "users": USERS}
