"""Bench data: 10,000 products in 200 categories (uz/ru names), 3 marketplaces with every product
mapped, 100,000 past orders. Loaded with COPY in one transaction, on an empty database.

The marketplaces are set up the way `amazing-store marketplace add / set-key / map` leaves them:
their settings (shop_id, warehouse_id, client_id), their API keys stored encrypted (with the keybox
given, the one the store under test gets as SECRET_KEYS), `api_base_url` pointing at the sandboxes,
and every product mapped with the marketplace's keys (`marketplace_keys`, see `sandbox_keys`). Each
mapping says the marketplace last accepted our current price and stock: a store that has been
syncing, where a delta run finds nothing to send until something changes.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from store.crypto import KeyBox
from store.seed import ean13
from store.services import marketplace_admin
from sync.sandbox.ozon import DEFAULT_API_KEY as OZON_KEY
from sync.sandbox.ozon import DEFAULT_CLIENT_ID as OZON_CLIENT
from sync.sandbox.ozon import DEFAULT_WAREHOUSE_ID as OZON_WAREHOUSE
from sync.sandbox.uzum import DEFAULT_AUTHORIZATION as UZUM_TOKEN
from sync.sandbox.uzum import DEFAULT_SHOP_ID as UZUM_SHOP
from sync.sandbox.wildberries import DEFAULT_AUTHORIZATION as WB_TOKEN
from sync.sandbox.wildberries import DEFAULT_WAREHOUSE_ID as WB_WAREHOUSE

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
# slug -> (settings, the API key as `marketplace set-key` takes it): the sandboxes' own accounts
ACCOUNTS: dict[str, tuple[dict[str, Any], str]] = {
    "uzum": ({"shop_id": UZUM_SHOP}, UZUM_TOKEN),
    "wildberries": ({"warehouse_id": WB_WAREHOUSE}, WB_TOKEN),
    "ozon": ({"warehouse_id": OZON_WAREHOUSE}, f"{OZON_CLIENT}:{OZON_KEY}"),
}


def sandbox_keys(slug: str, product_id: int, sku: str, barcode: str) -> dict[str, Any]:
    """The marketplace's ids of our product (what `marketplace map` stores), stable per product:
    Uzum product/SKU ids and the barcode, WB card (nmID) and size (chrtID) with the barcode, Ozon
    our SKU as offer_id plus its product id and Ozon SKU. The sandboxes are seeded with the same."""
    if slug == "uzum":
        raw: dict[str, Any] = {"product_id": 100_000 + product_id, "sku_id": 1_000_000 + product_id,
                               "barcode": barcode, "seller_sku": sku}
    elif slug == "wildberries":
        raw = {"nm_id": 200_000 + product_id, "chrt_id": 2_000_000 + product_id, "barcodes": [barcode],
               "vendor_code": sku}
    else:
        raw = {"offer_id": sku, "product_id": 300_000 + product_id, "sku": 3_000_000 + product_id}
    return marketplace_admin.normalize_keys(marketplace_admin.spec_for(slug), raw)


async def load(pool: asyncpg.Pool, *, products: int = PRODUCTS, orders: int = ORDERS,
               marketplace_urls: dict[str, str] | None = None, keybox: KeyBox | None = None,
               seed: int = 7) -> dict[str, int]:
    """Fill an empty database. `marketplace_urls` (slug -> the API root an adapter calls) and
    `keybox` (encrypts the sandboxes' API keys) make the marketplaces syncable; without them they
    exist and are mapped but cannot be called."""
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
        by_id = {row[0]: row for row in rows}
        await conn.copy_records_to_table("products", records=rows, columns=[
            "id", "sku", "barcode", "name_uz", "name_ru", "description_uz", "description_ru", "category_id",
            "price", "sale_price", "stock_quantity", "is_active", "view_count", "order_count"])

        urls = marketplace_urls or {}
        # Auto sync off: the benchmarks start every run themselves (the store's worker would
        # otherwise run the same syncs on its schedule); the propagation benchmark turns it on.
        synced_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
        mappings = []
        for mid, (name, slug) in enumerate(MARKETPLACES, start=1):
            await conn.execute(
                """INSERT INTO marketplaces (id, name, slug, api_base_url, auto_sync_enabled, settings)
                   VALUES ($1, $2, $3, $4, false, $5)""",
                mid, name, slug, urls.get(slug), ACCOUNTS[slug][0])
            spec = marketplace_admin.spec_for(slug)
            for pid in range(1, products + 1):
                row = by_id[pid]
                keys = sandbox_keys(slug, pid, row[1], row[2])
                item, card = marketplace_admin.identity(spec, keys)
                price, sale, stock = row[8], row[9], row[10]
                mappings.append((pid, mid, item, card, json.dumps(keys), sale if sale is not None else price, price,
                                 stock, synced_at, synced_at))
        # COPY has no binary encoder for jsonb here (the pool's JSON codec is a text one): the keys go
        # through a temporary table as text.
        columns = ["product_id", "marketplace_id", "marketplace_sku", "marketplace_product_id", "marketplace_keys",
                   "marketplace_price", "marketplace_full_price", "marketplace_stock", "last_price_sync_at",
                   "last_stock_sync_at"]
        await conn.execute(
            """CREATE TEMP TABLE bench_mappings (product_id int, marketplace_id int, marketplace_sku text,
                   marketplace_product_id text, marketplace_keys text, marketplace_price numeric,
                   marketplace_full_price numeric, marketplace_stock int, last_price_sync_at timestamp,
                   last_stock_sync_at timestamp) ON COMMIT DROP""")
        await conn.copy_records_to_table("bench_mappings", records=mappings, columns=columns)
        await conn.execute(
            f"""INSERT INTO marketplace_products ({", ".join(columns)})
                SELECT {", ".join(c + "::jsonb" if c == "marketplace_keys" else c for c in columns)}
                FROM bench_mappings""")

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
    if keybox is not None:
        for slug, (_, secret) in ACCOUNTS.items():
            await marketplace_admin.set_api_key(pool, keybox, slug, secret)
    async with pool.acquire() as conn:
        await conn.execute("ANALYZE")
    return {"categories": len(categories), "products": products, "mappings": len(mappings),
            "orders": orders, "order_items": len(item_rows), "users": USERS}
