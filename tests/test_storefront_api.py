"""The storefront's JSON API on the real database with the demo catalog: browsing, search, the
product page, favorites, the cart, the language, errors, the rate limit, and the OpenAPI document."""

from __future__ import annotations

import re
from decimal import Decimal

import asyncpg
import pytest

from store.settings import Settings
from tests.conftest import MakeClient
from tests.tma import Shop, start_shop
from webapp.cache import CATALOG_CACHE
from webapp.ratelimit import WriteRateLimit
from webapp.views import VIEWS


@pytest.fixture
async def shop(settings: Settings, pool: asyncpg.Pool, make_client: MakeClient) -> Shop:
    return await start_shop(settings, pool, make_client)


def _names(reply_body: dict[str, object]) -> list[str]:
    items = reply_body["items"]
    assert isinstance(items, list)
    return [p["name"] for p in items]


# --- the OpenAPI document --------------------------------------------------------------------------


async def test_the_openapi_document_lists_exactly_the_api_routes(shop: Shop) -> None:
    async with shop.client.get("/api/openapi.json") as response:
        assert response.status == 200
        document = await response.json()
    assert document["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    served = set()
    for route in shop.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path and path.startswith("/api/") and route.method not in ("HEAD", "OPTIONS"):
            served.add((route.method, path))
    assert documented == served
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (method, path)
            for name in re.findall(r"\{(\w+)\}", path):
                assert any(p["name"] == name and p["in"] == "path" for p in op.get("parameters", [])), (path, name)
    refs = re.findall(r'"#/components/(\w+)/(\w+)"', str(document).replace("'", '"'))
    for section, name in refs:
        assert name in document["components"][section], name


# --- browsing ---------------------------------------------------------------------------------------


async def test_home_has_banners_top_categories_popular_and_sale_products(shop: Shop) -> None:
    await shop.pool.execute("UPDATE products SET order_count = 50 WHERE sku = 'AS-KIT-BLN'")
    home = await shop.customer().get("/api/home")
    assert home.status == 200
    body = home.body
    assert [b["link_type"] for b in body["banners"]] == ["category", "category", "product"]
    assert [c["name"] for c in body["categories"]][:2] == ["Elektronika", "Kiyim"]
    assert all(c["parent_id"] is None for c in body["categories"])
    assert body["popular"][0]["sku"] == "AS-KIT-BLN"
    assert body["on_sale"] and all(p["sale_price"] and Decimal(p["sale_price"]) < Decimal(p["price"])
                                   for p in body["on_sale"])
    assert body["on_sale"][0]["price_text"].endswith(" so'm")


async def test_a_category_shows_its_subcategories_and_their_products(shop: Shop) -> None:
    customer = shop.customer(language_code="ru")
    top = await shop.pool.fetchval("SELECT id FROM categories WHERE name_uz = 'Elektronika'")
    view = await customer.get(f"/api/categories/{top}")
    assert view.status == 200
    assert [c["name"] for c in view.body["children"]] == ["Смартфоны", "Наушники", "Аксессуары"]
    listed = await customer.get(f"/api/products?category={top}&per_page=50")
    assert listed.body["total"] == 13  # every product of the three subcategories
    sub = view.body["children"][0]["id"]
    phones = await customer.get(f"/api/products?category={sub}")
    assert phones.body["total"] == 5 and "Xiaomi Redmi Note 13 256 ГБ" in _names(phones.body)
    assert (await customer.get(f"/api/categories/{sub}")).body["parent"]["name"] == "Электроника"
    assert (await customer.get("/api/categories/99999")).status == 404
    assert (await customer.get("/api/products?category=99999")).status == 404


@pytest.mark.parametrize(("query", "expected_sku"), [
    ("choy", "AS-TEA-GRN"),               # a word of the Uzbek name
    ("ЧАЙ", "AS-TEA-BLK"),                # Russian, any case
    ("ko‘k choy", "AS-TEA-GRN"),          # another apostrophe than the one stored
    ("galaxy a15", "AS-PHN-A15"),         # several words
    ("as-fit-rpe", "AS-FIT-RPE"),         # the SKU
    ("", None),                           # the exact barcode (looked up below)
])
async def test_search_finds_by_either_name_sku_and_barcode(shop: Shop, query: str, expected_sku: str | None) -> None:
    if expected_sku is None:
        row = await shop.pool.fetchrow("SELECT sku, barcode FROM products WHERE sku = 'AS-HAR-OIL'")
        query, expected_sku = row["barcode"], row["sku"]
    found = await shop.customer().get(f"/api/products?q={query}")
    assert found.status == 200
    assert expected_sku in [p["sku"] for p in found.body["items"]], found.body


async def test_search_takes_like_wildcards_literally(shop: Shop) -> None:
    customer = shop.customer()
    assert (await customer.get("/api/products?q=%25")).body["total"] == 0
    assert (await customer.get("/api/products?q=_")).body["total"] == 0


async def test_search_sorts_and_pages(shop: Shop) -> None:
    customer = shop.customer()

    async def prices(sort: str) -> list[Decimal]:
        body = (await customer.get(f"/api/products?sort={sort}&per_page=50")).body
        return [Decimal(p["current_price"]) for p in body["items"]]

    ascending = await prices("price_asc")
    assert ascending == sorted(ascending) and len(ascending) == 50
    descending = await prices("price_desc")
    assert descending == sorted(descending, reverse=True)
    await shop.pool.execute("UPDATE products SET created_at = now() + interval '1 day' WHERE sku = 'AS-SWT-NVT'")
    assert (await customer.get("/api/products?sort=newest")).body["items"][0]["sku"] == "AS-SWT-NVT"

    first = (await customer.get("/api/products?per_page=20&page=1")).body
    third = (await customer.get("/api/products?per_page=20&page=3")).body
    assert (first["total"], first["pages"], len(third["items"])) == (57, 3, 17)
    second = (await customer.get("/api/products?per_page=20&page=2")).body
    everything = first["items"] + second["items"] + third["items"]
    assert len({p["id"] for p in everything}) == 57  # no product twice, none lost between pages
    past_the_end = (await customer.get("/api/products?per_page=20&page=4")).body
    assert (past_the_end["items"], past_the_end["total"]) == ([], 57)


async def test_switched_off_products_are_not_sold_or_shown(shop: Shop) -> None:
    honey = await shop.product("AS-SWT-HNY")
    await shop.pool.execute("UPDATE products SET is_active = FALSE WHERE id = $1", honey.id)
    customer = shop.customer()
    assert (await customer.get(f"/api/products/{honey.id}")).status == 404
    assert "AS-SWT-HNY" not in [p["sku"] for p in (await customer.get("/api/products?q=asal")).body["items"]]


@pytest.mark.parametrize(("query", "field"), [
    ("sort=cheapest", "sort"), ("page=0", "page"), ("page=x", "page"), ("per_page=500", "per_page"),
    ("category=abc", "category"), ("q=" + "x" * 101, "q"),
])
async def test_bad_search_parameters_get_400_per_field(shop: Shop, query: str, field: str) -> None:
    reply = await shop.customer(language_code="ru").get(f"/api/products?{query}")
    assert reply.status == 400
    assert reply.error["code"] == "validation_failed" and field in reply.error["fields"]


async def test_the_product_page_counts_one_view_per_customer_and_shows_their_state(shop: Shop) -> None:
    kettle = await shop.product("AS-KIT-KTL")
    customer, other = shop.customer(1001), shop.customer(1002, language_code="ru")
    first = await customer.get(f"/api/products/{kettle.id}")
    await customer.get(f"/api/products/{kettle.id}")  # a reload is not a new view
    await other.get(f"/api/products/{kettle.id}")
    assert await shop.app[VIEWS].flush(shop.pool) == 2  # what the periodic write does every 2 s
    assert (await shop.product("AS-KIT-KTL")).view_count == 2
    body = first.body
    assert (body["name"], body["price_text"], body["old_price_text"]) == (
        "Elektr choynak 1,7 l", "199 000 so'm", "239 000 so'm")
    assert body["discount_percent"] == 17 and body["stock_state"] == "in_stock"
    assert body["image_url"] == "/static/img/placeholder.svg" and body["has_image"] is False
    assert body["category"]["name"] == "Oshxona jihozlari"
    # The card is everyone's (cached as bytes); the customer's own state only when asked for.
    assert "is_favorite" not in body and "in_cart" not in body
    assert (await customer.call("PUT", f"/api/cart/items/{kettle.id}", {"quantity": 2})).status == 200
    mine = (await customer.get(f"/api/products/{kettle.id}?include=state")).body
    assert (mine["is_favorite"], mine["in_cart"], mine["name"]) == (False, 2, body["name"])
    bad = await customer.get(f"/api/products/{kettle.id}?include=everything")
    assert bad.status == 400 and "include" in bad.error["fields"]
    ru = (await other.get(f"/api/products/{kettle.id}")).body
    assert (ru["name"], ru["price_text"]) == ("Электрочайник 1,7 л", "199 000 сум")


@pytest.mark.parametrize("path", ["/api/products/abc", "/api/products/99999", "/api/products/99999999999999",
                                  "/api/orders/AS-2026-999999", "/api/no-such-route"])
async def test_unknown_things_are_404_with_a_json_error(shop: Shop, path: str) -> None:
    reply = await shop.customer(language_code="ru").get(path)
    assert reply.status == 404 and reply.error["code"] == "not_found"
    assert "найден" in reply.error["message"]  # in the customer's language


# --- favorites --------------------------------------------------------------------------------------


async def test_favorites_toggle_idempotently(shop: Shop) -> None:
    customer = shop.customer()
    bag, tent = await shop.product("AS-TRV-BAG"), await shop.product("AS-TRV-TNT")
    for product_id in (bag.id, tent.id, bag.id):
        assert (await customer.call("PUT", f"/api/favorites/{product_id}")).status == 200
    assert [p["id"] for p in (await customer.get("/api/favorites")).body["items"]] == [tent.id, bag.id]
    assert (await customer.get(f"/api/products/{tent.id}?include=state")).body["is_favorite"] is True
    for _ in range(2):
        assert (await customer.call("DELETE", f"/api/favorites/{tent.id}")).status == 200
    assert [p["id"] for p in (await customer.get("/api/favorites")).body["items"]] == [bag.id]
    assert (await customer.call("PUT", "/api/favorites/99999")).status == 404
    assert (await shop.customer(2002).get("/api/favorites")).body["items"] == []  # my favorites are mine


# --- the cart ---------------------------------------------------------------------------------------


async def test_the_cart_holds_quantities_snapshots_and_sums(shop: Shop) -> None:
    customer = shop.customer()
    buds, tea = await shop.product("AS-AUD-BUDS"), await shop.product("AS-TEA-GRN")
    await customer.put_cart(buds.id, 1)
    cart = (await customer.put_cart(tea.id, 3)).body
    assert [(ln["product"]["sku"], ln["quantity"]) for ln in cart["lines"]] == [("AS-AUD-BUDS", 1), ("AS-TEA-GRN", 3)]
    assert [Decimal(ln["price_snapshot"]) for ln in cart["lines"]] == [Decimal("850000"), Decimal("18000")]
    assert cart["lines"][1]["line_total_text"] == "54 000 so'm"
    assert (Decimal(cart["subtotal"]), Decimal(cart["delivery_fee"])) == (Decimal("904000"), Decimal("0"))
    assert cart["can_checkout"] is True
    cart = (await customer.put_cart(buds.id, 0)).body  # 0 removes
    assert [ln["product"]["sku"] for ln in cart["lines"]] == ["AS-TEA-GRN"]
    assert (Decimal(cart["delivery_fee"]), cart["total_text"]) == (Decimal("20000"), "74 000 so'm")
    assert (await customer.get("/api/me")).body["cart_count"] == 1
    assert (await shop.customer(3003).get("/api/cart")).body["lines"] == []  # my cart is mine


async def test_the_cart_flags_lines_that_became_unavailable_short_or_repriced(shop: Shop) -> None:
    customer = shop.customer()
    a, b, c = [await shop.product(s) for s in ("AS-FIT-MAT", "AS-FIT-DMB", "AS-FIT-RPE")]
    for product, quantity in ((a, 2), (b, 4), (c, 1)):
        await customer.put_cart(product.id, quantity)
    await shop.pool.execute("UPDATE products SET is_active = FALSE WHERE id = $1", a.id)
    await shop.pool.execute("UPDATE products SET stock_quantity = 2 WHERE id = $1", b.id)
    await shop.pool.execute("UPDATE products SET price = 40000 WHERE id = $1", c.id)
    cart = (await customer.get("/api/cart")).body
    flags = {ln["product"]["sku"]: (ln["unavailable"], ln["insufficient"], ln["price_changed"], ln["available"])
             for ln in cart["lines"]}
    assert flags == {"AS-FIT-MAT": (True, False, False, 0), "AS-FIT-DMB": (False, True, False, 2),
                     "AS-FIT-RPE": (False, False, True, 44)}
    assert cart["can_checkout"] is False
    assert Decimal(cart["subtotal"]) == 4 * Decimal("330000") + Decimal("40000")  # the unavailable line is left out


async def test_the_cart_refuses_what_cannot_be_bought(shop: Shop) -> None:
    customer = shop.customer(language_code="ru")
    iphone = await shop.product("AS-PHN-IP15")  # 3 left
    too_many = await customer.put_cart(iphone.id, 4)
    assert too_many.status == 409 and too_many.error["code"] == "out_of_stock"
    assert too_many.error["available"] == {str(iphone.id): 3}
    assert "3" in too_many.error["message"] and "осталось" in too_many.error["message"]
    sold_out = await customer.put_cart((await shop.product("AS-PHN-C65")).id, 1)
    assert (sold_out.status, sold_out.error["code"]) == (409, "out_of_stock")
    bag = await shop.product("AS-TRV-BAG")
    await shop.pool.execute("UPDATE products SET is_active = FALSE WHERE id = $1", bag.id)
    switched_off = await customer.put_cart(bag.id, 1)
    assert (switched_off.status, switched_off.error["code"]) == (409, "product_unavailable")
    assert (await customer.put_cart(99999, 1)).status == 404
    assert (await customer.get("/api/cart")).body["lines"] == []


@pytest.mark.parametrize("body", [{"quantity": -1}, {"quantity": 1000}, {"quantity": "2"}, {"quantity": True},
                                  {"quantity": 1.5}, {}, [], None])
async def test_bad_cart_input_is_400_with_the_field(shop: Shop, body: object) -> None:
    tea = await shop.product("AS-TEA-GRN")
    reply = await shop.customer().call("PUT", f"/api/cart/items/{tea.id}", body)
    assert reply.status == 400
    assert reply.error["code"] in ("validation_failed", "bad_request")


async def test_a_body_that_is_not_json_is_400(shop: Shop) -> None:
    tea = await shop.product("AS-TEA-GRN")
    customer = shop.customer()
    async with shop.client.put(f"/api/cart/items/{tea.id}", data=b"{not json",
                               headers={**customer.header, "Content-Type": "application/json"}) as response:
        assert response.status == 400
        assert (await response.json())["error"]["message"]


# --- language ---------------------------------------------------------------------------------------


async def test_choosing_a_language_changes_names_and_messages_at_once(shop: Shop) -> None:
    customer = shop.customer(language_code="uz")
    tea = await shop.product("AS-TEA-GRN")
    assert (await customer.get(f"/api/products/{tea.id}")).body["name"] == "Ko'k choy №95, 100 g"
    chosen = await customer.call("PUT", "/api/me/language", {"language": "ru"})
    assert chosen.status == 200 and chosen.body["language"] == "ru"
    assert (await customer.get(f"/api/products/{tea.id}")).body["name"] == "Зелёный чай №95, 100 г"
    assert "Товар не найден" in (await customer.get("/api/products/99999")).error["message"]
    bad = await customer.call("PUT", "/api/me/language", {"language": "en"})
    assert bad.status == 400 and "language" in bad.error["fields"]


# --- the write rate limit ---------------------------------------------------------------------------


async def test_too_many_writes_by_one_customer_get_429_others_and_reads_do_not(
    settings: Settings, pool: asyncpg.Pool, make_client: MakeClient,
) -> None:
    shop = await start_shop(settings, pool, make_client, rate_limit=WriteRateLimit(limit=5, window=60))
    tea = await shop.product("AS-TEA-GRN")
    hasty, calm = shop.customer(4004), shop.customer(5005)
    statuses = [(await hasty.put_cart(tea.id, n + 1)).status for n in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    limited = await hasty.put_cart(tea.id, 1)
    assert limited.status == 429 and limited.error["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert (await hasty.get("/api/cart")).status == 200  # reading is not limited
    assert (await hasty.get("/api/cart")).body["lines"][0]["quantity"] == 5  # the refused writes wrote nothing
    assert (await calm.put_cart(tea.id, 1)).status == 200  # another customer has their own budget


async def test_banners_artwork_follows_the_language_with_a_fallback(shop: Shop) -> None:
    uz = (await shop.customer(700000201, language_code="uz").get("/api/home")).body["banners"]
    ru = (await shop.customer(700000202, language_code="ru").get("/api/home")).body["banners"]
    assert uz[0]["image_url"] == "/static/img/banner-sale.svg"
    assert ru[0]["image_url"] == "/static/img/banner-sale-ru.svg"
    await shop.pool.execute("UPDATE banners SET image_url_ru = NULL")  # no Russian artwork: the one there is
    shop.app[CATALOG_CACHE].invalidate()
    ru = (await shop.customer(700000203, language_code="ru").get("/api/home")).body["banners"]
    assert ru[0]["image_url"] == "/static/img/banner-sale.svg"


async def test_filters_in_stock_and_price_range(shop: Shop) -> None:
    customer = shop.customer(700000204)
    body = (await customer.get("/api/products?in_stock=1&per_page=50&page=1")).body
    assert body["items"] and all(p["stock_quantity"] > 0 for p in body["items"])
    body = (await customer.get("/api/products?price_min=100000&price_max=200000&per_page=50")).body
    prices = [Decimal(p["current_price"]) for p in body["items"]]
    assert prices and all(100_000 <= p <= 200_000 for p in prices)
    # the price paid today counts: a sale price inside the range, the list price outside it
    cheap = (await customer.get("/api/products?price_max=99000&per_page=50")).body["items"]
    assert "AS-FIT-MAT" in [p["sku"] for p in cheap]
    reply = await customer.get("/api/products?price_min=300&price_max=200")
    assert reply.status == 400 and "price_min" in reply.error["fields"]
    reply = await customer.get("/api/products?price_min=abc")
    assert reply.status == 400 and "price_min" in reply.error["fields"]
