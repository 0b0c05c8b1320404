"""What customers browse: the home page, categories, search, a product, their favorites."""

from __future__ import annotations

import math
from dataclasses import dataclass

from db.models import Banner, Category, Product
from db.pool import Executor
from db.repos import banners, cart, categories, favorites, products
from store.errors import NotFound, ValidationFailed
from store.validation import InvalidInput, ascii_int, has_forbidden_chars

SORTS = tuple(products.SEARCH_ORDER)
DEFAULT_SORT = "popular"
PER_PAGE = 20
MAX_PER_PAGE = 50
MAX_QUERY_LENGTH = 100
HOME_SHELF_SIZE = 10
# Every kind of apostrophe people type in Uzbek Latin (o'zbek, oʻzbek, o‘zbek, o`zbek).
_APOSTROPHES = "'ʻʼ‘’`´"


@dataclass(frozen=True, slots=True)
class Home:
    banners: list[Banner]
    categories: list[Category]
    popular: list[Product]
    on_sale: list[Product]


@dataclass(frozen=True, slots=True)
class ProductPage:
    items: list[Product]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


@dataclass(frozen=True, slots=True)
class CategoryView:
    category: Category
    parent: Category | None
    children: list[Category]


async def home(db: Executor) -> Home:
    popular, _ = await products.search(db, sort="popular", limit=HOME_SHELF_SIZE)
    on_sale, _ = await products.search(db, on_sale=True, sort="popular", limit=HOME_SHELF_SIZE)
    return Home(await banners.list_active(db), await categories.children(db, None), popular, on_sale)


async def category_view(db: Executor, category_id: int) -> CategoryView:
    category = await categories.get(db, category_id)
    if category is None or category.is_active is False:
        raise NotFound("error.category_not_found")
    parent = await categories.get(db, category.parent_id) if category.parent_id is not None else None
    return CategoryView(category, parent, await categories.children(db, category.id))


# Brands as Russian speakers spell them in Cyrillic where the folding alone (store_search_fold,
# migration 0009) does not reach the Latin name ("самсунг" and "хонор" fold to samsung and honor).
BRAND_NAMES = {
    "айфон": "iphone", "айфоны": "iphone", "эпл": "apple", "эппл": "apple", "сяоми": "xiaomi",
    "ксиоми": "xiaomi", "ксяоми": "xiaomi", "техно": "tecno", "аирподс": "airpods", "эйрподс": "airpods",
    "джибиэль": "jbl", "джбл": "jbl", "филипс": "philips", "анкер": "anker", "редми": "redmi",
}


def with_brand_names(query: str) -> str:
    """The query with Cyrillic brand spellings replaced by the brands' own Latin names."""
    return " ".join(BRAND_NAMES.get(word.lower().replace("ё", "е"), word) for word in query.split())


def like_pattern(query: str) -> str:
    """A customer's words as an ILIKE pattern: LIKE's own wildcards are taken literally, any kind of
    apostrophe matches any other, and the words must appear in the given order."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    for mark in _APOSTROPHES:
        escaped = escaped.replace(mark, "_")
    return "%" + "%".join(escaped.split()) + "%"


def parse_search(
    *, category: str | None, q: str | None, sort: str | None, page: str | None, per_page: str | None,
) -> tuple[int | None, str | None, str, int, int]:
    """Query-string parameters to (category_id, query, sort, page, per_page); 400 per field."""
    problems: dict[str, str] = {}
    category_id = None
    if category not in (None, ""):
        try:
            category_id = ascii_int(category, minimum=1)
        except InvalidInput:
            problems["category"] = "error.category_invalid"
    query = None
    if q and len(q) > MAX_QUERY_LENGTH * 4:
        problems["q"] = "error.query_too_long"
    elif q and has_forbidden_chars(q, multiline=False):
        problems["q"] = "error.bad_text"
    else:
        query = " ".join((q or "").split()) or None
        if query is not None and len(query) > MAX_QUERY_LENGTH:
            problems["q"] = "error.query_too_long"
    # No sort chosen: the best matches first when there are words, the most popular otherwise.
    chosen_sort = sort or ("relevance" if query else DEFAULT_SORT)
    if chosen_sort not in SORTS:
        problems["sort"] = "error.sort_invalid"
    page_number = 1
    if page not in (None, ""):
        try:
            page_number = ascii_int(page, minimum=1, maximum=10_000)
        except InvalidInput:
            problems["page"] = "error.page_invalid"
    size = PER_PAGE
    if per_page not in (None, ""):
        try:
            size = ascii_int(per_page, minimum=1, maximum=MAX_PER_PAGE)
        except InvalidInput:
            problems["per_page"] = "error.per_page_invalid"
    if problems:
        raise ValidationFailed("error.validation", fields=problems)
    return category_id, query, chosen_sort, page_number, size


@dataclass(frozen=True)
class Filters:
    """What a list may be narrowed to: in stock only, a range of the price paid today (whole so'm)."""

    in_stock: bool = False
    price_min: int | None = None
    price_max: int | None = None


MAX_PRICE = 10**12


def parse_filters(*, in_stock: str | None, price_min: str | None, price_max: str | None) -> Filters:
    """Query-string filters; 400 per field."""
    problems: dict[str, str] = {}
    bounds: dict[str, int | None] = {}
    for name, raw in (("price_min", price_min), ("price_max", price_max)):
        bounds[name] = None
        if raw not in (None, ""):
            if not raw.isdigit() or int(raw) > MAX_PRICE:
                problems[name] = "error.price_invalid"
            else:
                bounds[name] = int(raw)
    low, high = bounds["price_min"], bounds["price_max"]
    if low is not None and high is not None and low > high:
        problems["price_min"] = "error.price_range_invalid"
    if problems:
        raise ValidationFailed("error.validation", fields=problems)
    return Filters(in_stock=in_stock in ("1", "true"), price_min=low, price_max=high)


async def search_products(
    db: Executor, *, category_id: int | None = None, query: str | None = None, sort: str = DEFAULT_SORT,
    page: int = 1, per_page: int = PER_PAGE, on_sale: bool = False, filters: Filters | None = None,
) -> ProductPage:
    """Active products in a category (with its subcategories) and/or matching a query: names in both
    languages, SKU, barcode. 404 for an unknown or switched-off category."""
    category_ids = None
    if category_id is not None:
        category_ids = await categories.subtree_ids(db, category_id)
        if not category_ids:
            raise NotFound("error.category_not_found")
    items, total = await products.search(
        db, category_ids=category_ids, name_pattern=like_pattern(query) if query else None,
        code=query, on_sale=on_sale, sort=sort, limit=per_page, offset=(page - 1) * per_page,
        query=with_brand_names(query) if query else None, filters=filters,
    )
    return ProductPage(items, total, page, per_page)


async def product_card(db: Executor, product_id: int) -> tuple[Product, Category | None]:
    """One active product and its category: what every customer sees alike (cacheable)."""
    product = await products.get(db, product_id)
    if product is None or not product.is_active:
        raise NotFound("error.product_not_found")
    category = await categories.get(db, product.category_id) if product.category_id is not None else None
    return product, category


async def customer_product_state(db: Executor, product_id: int, user_id: int) -> tuple[int, bool]:
    """(units in the customer's cart, is it a favorite) for a product they open. Views are counted
    apart, in memory (webapp.views)."""
    return await cart.product_state(db, user_id, product_id)


async def favorite_products(db: Executor, user_id: int) -> list[Product]:
    """The customer's favorites, newest first (switched-off products are left out)."""
    ids = await favorites.product_ids(db, user_id)
    by_id = {p.id: p for p in await products.get_many(db, ids) if p.is_active}
    return [by_id[i] for i in ids if i in by_id]


async def set_favorite(db: Executor, user_id: int, product_id: int, favorite: bool) -> None:
    """Add or remove a favorite; both are idempotent. 404 for an unknown product when adding."""
    if favorite:
        product = await products.get(db, product_id)
        if product is None or not product.is_active:
            raise NotFound("error.product_not_found")
        await favorites.add(db, user_id, product_id)
    else:
        await favorites.remove(db, user_id, product_id)
