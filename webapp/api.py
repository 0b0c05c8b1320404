"""The Mini App's JSON API under /api/: thin handlers that parse, call a service, serialize.

Every route here sits behind `auth_middleware` (Telegram initData) and, for writes, the per-customer
rate limit. Errors are StoreErrors, turned into `{"error": {...}}` by `error_middleware`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from db.models import Order, OrderItem, OrderPayment, Product
from db.repos import cart, orders, payments, products, users
from store import keys
from store.errors import NotFound, ValidationFailed
from store.i18n import LANGUAGES, t
from store.services import catalog, checkout, customers
from store.services import orders as order_service
from store.services import payments as payment_service
from store.validation import INT4_MAX, InvalidInput, ascii_int, clean_text, read_json
from webapp import serialize
from webapp.cache import CATALOG_CACHE
from webapp.middleware import INIT_DATA, SESSIONS, USER, Session, raw_init_data
from webapp.views import VIEWS

log = logging.getLogger(__name__)

MAX_ID = INT4_MAX  # the schema's SERIAL ids are int4
ORDERS_PER_PAGE = 20
MAX_ORDER_NUMBER = 50  # orders.order_number is VARCHAR(50)


async def _pictures(request: web.Request, items: list[OrderItem]) -> dict[int, Product]:
    """The products of these order lines that still exist (for their thumbnails), by id."""
    ids = sorted({i.product_id for i in items if i.product_id is not None})
    return {p.id: p for p in await products.get_many(request.app[keys.DB], ids)} if ids else {}


def _lang(request: web.Request) -> str:
    return request[USER].language or "uz"


def _path_id(request: web.Request, name: str) -> int:
    try:
        return ascii_int(request.match_info[name], maximum=MAX_ID)
    except InvalidInput:
        raise NotFound("error.not_found") from None


def _order_number(request: web.Request) -> str:
    """The order number of the path: one line of printable text; anything else is no order of theirs."""
    try:
        return clean_text(request.match_info["order_number"], max_length=MAX_ORDER_NUMBER, multiline=False)
    except InvalidInput:
        raise NotFound("error.order_not_found") from None


async def _json_body(request: web.Request) -> Any:
    return await read_json(request)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers, content_type="application/json")


async def _cached_json(request: web.Request, build: Callable[[], Awaitable[Any]]) -> web.Response:
    """A catalog read served from the process's catalog cache (see webapp.cache), keyed by the
    path, the query and the customer's language; `build` runs only on a miss."""
    key = f"{request.path_qs}|{_lang(request)}"

    async def render() -> bytes:
        return orjson.dumps(await build())

    body = await request.app[CATALOG_CACHE].fetch(key, render)
    return web.Response(body=body, content_type="application/json")


# --- the customer ---------------------------------------------------------------------------------


async def get_me(request: web.Request) -> web.Response:
    db = request.app[keys.DB]
    current = await users.get(db, request[USER].id) or request[USER]
    body = serialize.user(current, cart_count=await cart.count_lines(db, current.id))
    settings = request.app[keys.SETTINGS]
    body["payment_methods"] = list(settings.payment_methods)
    contact = {"telegram": settings.shop_telegram, "phone": settings.shop_phone}
    body["shop_contact"] = contact if any(contact.values()) else None
    # Where a shared product link points (…?startapp=p_<id>), once the bot's username is known.
    bot = request.app[keys.TELEGRAM].bot_username if keys.TELEGRAM in request.app else None
    short = settings.webapp_short_name
    body["share_base"] = (f"https://t.me/{bot}/{short}" if short else f"https://t.me/{bot}") if bot else None
    return _json(body)


async def put_language(request: web.Request) -> web.Response:
    body = await _json_body(request)
    language = body.get("language") if isinstance(body, dict) else None
    if language not in LANGUAGES:
        raise ValidationFailed("error.validation", fields={"language": "error.language_invalid"})
    db = request.app[keys.DB]
    await customers.choose_language(db, request[USER].id, language)
    updated = await users.get(db, request[USER].id)
    assert updated is not None
    # The session cache holds the customer as they were; the next request must speak the new language.
    request.app[SESSIONS].put(raw_init_data(request), Session(request[INIT_DATA], updated))
    request[USER] = updated
    return _json(serialize.user(updated, cart_count=await cart.count_lines(db, updated.id)))


# --- the catalog ----------------------------------------------------------------------------------


async def get_home(request: web.Request) -> web.Response:
    async def build() -> Any:
        return serialize.home(await catalog.home(request.app[keys.DB]), _lang(request))

    return await _cached_json(request, build)


async def get_category(request: web.Request) -> web.Response:
    category_id = _path_id(request, "id")

    async def build() -> Any:
        return serialize.category_view(await catalog.category_view(request.app[keys.DB], category_id),
                                       _lang(request))

    return await _cached_json(request, build)


async def list_products(request: web.Request) -> web.Response:
    query = request.query
    category_id, q, sort, page, per_page = catalog.parse_search(
        category=query.get("category"), q=query.get("q"), sort=query.get("sort"), page=query.get("page"),
        per_page=query.get("per_page"),
    )
    on_sale = query.get("on_sale") in ("1", "true")
    filters = catalog.parse_filters(in_stock=query.get("in_stock"), price_min=query.get("price_min"),
                                    price_max=query.get("price_max"))

    async def build() -> Any:
        result = await catalog.search_products(request.app[keys.DB], category_id=category_id, query=q, sort=sort,
                                               page=page, per_page=per_page, on_sale=on_sale, filters=filters)
        return serialize.product_page(result, _lang(request))

    return await _cached_json(request, build)


async def get_product(request: web.Request) -> web.Response:
    """The product card every customer sees alike, from the catalog cache as bytes; the view is
    counted in memory (webapp.views). What is the customer's own (in their cart, a favourite) the
    Mini App already holds; `?include=state` adds it here for other clients (one cheap query)."""
    product_id, db, lang = _path_id(request, "id"), request.app[keys.DB], _lang(request)

    async def build() -> bytes:
        return orjson.dumps(serialize.product_card(*await catalog.product_card(db, product_id), lang))

    card = await request.app[CATALOG_CACHE].fetch(f"/api/products/{product_id}|{lang}", build)
    user_id, include = request[USER].id, request.query.get("include")
    if include is not None and include != "state":
        raise ValidationFailed("error.validation", fields={"include": "error.include_invalid"})
    request.app[VIEWS].record(user_id, product_id)
    if include is None:
        return web.Response(body=card, content_type="application/json")
    state = await catalog.customer_product_state(db, product_id, user_id)
    return _json({**orjson.loads(card), **serialize.customer_state(*state)})


# --- favorites ------------------------------------------------------------------------------------


async def list_favorites(request: web.Request) -> web.Response:
    items = await catalog.favorite_products(request.app[keys.DB], request[USER].id)
    return _json({"items": [serialize.product(p, _lang(request)) for p in items]})


async def put_favorite(request: web.Request) -> web.Response:
    product_id = _path_id(request, "product_id")
    await catalog.set_favorite(request.app[keys.DB], request[USER].id, product_id, True)
    return _json({"product_id": product_id, "is_favorite": True})


async def delete_favorite(request: web.Request) -> web.Response:
    product_id = _path_id(request, "product_id")
    await catalog.set_favorite(request.app[keys.DB], request[USER].id, product_id, False)
    return _json({"product_id": product_id, "is_favorite": False})


# --- the cart -------------------------------------------------------------------------------------


async def get_cart(request: web.Request) -> web.Response:
    view = await checkout.cart_view(request.app[keys.DB], request[USER].id, request.app[keys.SETTINGS])
    return _json(serialize.cart(view, _lang(request)))


async def put_cart_item(request: web.Request) -> web.Response:
    product_id = _path_id(request, "product_id")
    body = await _json_body(request)
    if not isinstance(body, dict) or "quantity" not in body:
        raise ValidationFailed("error.validation", fields={"quantity": "error.field_required"})
    quantity = checkout.parse_quantity(body["quantity"])
    view = await checkout.set_cart_quantity(request.app[keys.DB], request[USER].id, product_id, quantity,
                                            request.app[keys.SETTINGS], _lang(request))
    return _json(serialize.cart(view, _lang(request)))


# --- orders ---------------------------------------------------------------------------------------


def _base_url(request: web.Request) -> str:
    settings = request.app[keys.SETTINGS]
    return settings.webapp_url or str(request.url.origin())


async def _payment_url(request: web.Request, order: Order, items: list[OrderItem], method: str,
                       amount_tiyin: int) -> str | None:
    """Where the customer pays this order now: the Payme checkout link, the Click pay link, or a
    Telegram invoice link (createInvoiceLink); None for cash."""
    settings = request.app[keys.SETTINGS]
    base = _base_url(request)
    back = payment_service.return_url(base, order.order_number)
    if method in ("payme", "click"):
        link = payment_service.payme_link if method == "payme" else payment_service.click_link
        url = link(settings, order.order_number, amount_tiyin, back)
        # local mode's sandbox (webapp.payment_sandbox) pays on this server: its links are paths
        return base.rstrip("/") + url if url.startswith("/") else url
    if method == "telegram":
        from aiogram.exceptions import TelegramAPIError

        from bot.payments import invoice_link

        try:
            return await invoice_link(request.app, settings, order, items, amount_tiyin, _lang(request))
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            raise payment_service.NotPayable("error.payment_link_failed") from exc
    return None


async def _order_body(request: web.Request, order: Order, items: list[OrderItem], *,
                      with_link: bool = False, link_may_fail: bool = False,
                      payment: OrderPayment | None = None, pictures: dict[int, Product] | None = None,
                      ) -> dict[str, Any]:
    """The order as the customer sees it, with how it is paid; `with_link` adds where to pay.
    `link_may_fail`: an order already placed is answered even when Telegram could not make its
    invoice link (the order screen's pay button asks again). `payment` and `pictures` (the
    products of its lines, by id) when the caller has them already; read otherwise."""
    user, lang = request[USER], _lang(request)
    if pictures is None:
        pictures = await _pictures(request, items)
    body = serialize.order(order, items, lang, user.id, pictures)
    if payment is None:
        payment = await payments.get(request.app[keys.DB], order.id)
    info = payment_service.info(order, payment)
    url = None
    if with_link and info is not None and info.payable:
        try:
            url = await _payment_url(request, order, items, info.method, info.amount_tiyin)
        except payment_service.NotPayable:
            if not link_may_fail:
                raise
            log.warning("order %s: no payment link for now (Telegram unreachable)", order.order_number)
    body["payment"] = serialize.payment(info, lang, url)
    return body


async def create_order(request: web.Request) -> web.Response:
    key = checkout.check_idempotency_key(request.headers.get("Idempotency-Key"))
    form = checkout.parse_checkout_form(await _json_body(request), request.app[keys.SETTINGS])
    user = request[USER]
    try:
        placed = await checkout.place_order(request.app[keys.DB], request.app[keys.SETTINGS], user, form, key)
    except checkout.CartConflict as exc:
        exc.details["cart"] = serialize.cart(exc.cart, _lang(request))
        raise
    body = await _order_body(request, placed.order, placed.items, with_link=True, link_may_fail=True,
                             payment=placed.payment, pictures=placed.products or None)
    headers = {"Idempotent-Replayed": "true"} if placed.replayed else None
    return _json(body, status=201, headers=headers)


async def list_orders(request: web.Request) -> web.Response:
    try:
        page = ascii_int(request.query.get("page", "1"), minimum=1, maximum=10_000)
    except InvalidInput:
        raise ValidationFailed("error.validation", fields={"page": "error.page_invalid"}) from None
    db, user = request.app[keys.DB], request[USER]
    rows = await orders.list_for_user(db, user.id, limit=ORDERS_PER_PAGE, offset=(page - 1) * ORDERS_PER_PAGE)
    items = await orders.items_for_orders(db, [o.id for o in rows])
    paid_how = await payments.for_orders(db, [o.id for o in rows])
    total = await orders.count_for_user(db, user.id)
    pictures = await _pictures(request, [i for o in rows for i in items[o.id]])
    bodies = []
    for o in rows:
        body = serialize.order(o, items[o.id], _lang(request), user.id, pictures)
        body["payment"] = serialize.payment(payment_service.info(o, paid_how.get(o.id)), _lang(request))
        bodies.append(body)
    return _json({
        "items": bodies,
        "total": total, "page": page, "per_page": ORDERS_PER_PAGE,
        "pages": max(1, -(-total // ORDERS_PER_PAGE)),
    })


async def get_order(request: web.Request) -> web.Response:
    db, user = request.app[keys.DB], request[USER]
    order = await orders.get_by_number(db, _order_number(request))
    if order is None or order.user_id != user.id:
        raise NotFound("error.order_not_found")
    return _json(await _order_body(request, order, await orders.items(db, order.id)))


async def pay_order(request: web.Request) -> web.Response:
    """POST /api/orders/{number}/pay: where to pay an unpaid online order now (pay again), optionally
    with another enabled online method (`{"payment_method": "click"}`); 409 when it cannot be paid."""
    db, user, settings = request.app[keys.DB], request[USER], request.app[keys.SETTINGS]
    body = await _json_body(request) if request.can_read_body else {}
    if not isinstance(body, dict):
        raise ValidationFailed("error.bad_json")
    order = await orders.get_by_number(db, _order_number(request))
    if order is None or order.user_id != user.id:
        raise NotFound("error.order_not_found")
    method = body.get("payment_method")
    if method is not None:
        method = payment_service.parse_method(method, settings)
        if method == "cash":
            raise ValidationFailed("error.validation", fields={"payment_method": "error.payment_method_unavailable"})
    info = payment_service.info(order, await payments.get(db, order.id))
    if info is None or not info.payable:
        reason = t(f"payment.refusal.{info.refusal if info else 'not_online'}", _lang(request))
        raise payment_service.NotPayable("error.order_not_payable", reason=reason)
    if method is not None and method != info.method:
        await payment_service.switch_method(db, order.order_number, method, user.id)
    return _json(await _order_body(request, order, await orders.items(db, order.id), with_link=True))


async def cancel_order(request: web.Request) -> web.Response:
    user = request[USER]
    change = await order_service.change_status(
        request.app[keys.DB], _order_number(request), "cancelled",
        order_service.Actor.customer(user.id),
    )
    return _json(await _order_body(request, change.order, change.items))


def setup_api_routes(app: web.Application) -> None:
    """Every /api/ route; the OpenAPI document (webapp.openapi) is checked against this table."""
    router = app.router
    router.add_get("/api/me", get_me, name="api.me")
    router.add_put("/api/me/language", put_language, name="api.me.language")
    router.add_get("/api/home", get_home, name="api.home")
    router.add_get("/api/categories/{id}", get_category, name="api.category")
    router.add_get("/api/products", list_products, name="api.products")
    router.add_get("/api/products/{id}", get_product, name="api.product")
    router.add_get("/api/favorites", list_favorites, name="api.favorites")
    router.add_put("/api/favorites/{product_id}", put_favorite, name="api.favorite.put")
    router.add_delete("/api/favorites/{product_id}", delete_favorite, name="api.favorite.delete")
    router.add_get("/api/cart", get_cart, name="api.cart")
    router.add_put("/api/cart/items/{product_id}", put_cart_item, name="api.cart.item")
    router.add_post("/api/orders", create_order, name="api.orders.create")
    router.add_get("/api/orders", list_orders, name="api.orders")
    router.add_get("/api/orders/{order_number}", get_order, name="api.order")
    router.add_post("/api/orders/{order_number}/cancel", cancel_order, name="api.order.cancel")
    router.add_post("/api/orders/{order_number}/pay", pay_order, name="api.order.pay")
