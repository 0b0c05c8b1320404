"""The OpenAPI 3 document of /api/, served at /api/openapi.json.

Written by hand next to the routes (webapp.api.setup_api_routes); tests/test_storefront_api.py
checks that both list exactly the same operations.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
}
_WRITE_ERRORS = {**_ERRORS, "400": {"$ref": "#/components/responses/BadRequest"},
                 "429": {"$ref": "#/components/responses/RateLimited"}}
_NOT_FOUND = {"404": {"$ref": "#/components/responses/NotFound"}}
_CONFLICT = {"409": {"$ref": "#/components/responses/Conflict"}}
_BAD_REQUEST = {"400": {"$ref": "#/components/responses/BadRequest"}}


def _path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_ID = {"type": "integer", "minimum": 1}
_MONEY = {"type": "string", "pattern": r"^\d+\.\d{2}$", "description": "so'm, as a decimal string"}
_TEXT = {"type": "string"}
_NULLABLE_TEXT = {"type": "string", "nullable": True}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, for programs"},
                "message": {"type": "string", "description": "for people, in the customer's language"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"},
                           "description": "per-field problems (400)"},
                "available": {"type": "object", "additionalProperties": {"type": "integer"},
                              "description": "product id -> units available now (409)"},
                "cart": _ref("Cart"),
                "retry_after": {"type": "integer", "description": "seconds (429)"},
            },
        }},
    },
    "User": {"type": "object", "properties": {
        "id": _ID, "telegram_id": {"type": "integer"}, "first_name": _TEXT, "last_name": _NULLABLE_TEXT,
        "username": _NULLABLE_TEXT, "phone": _NULLABLE_TEXT, "language": {"type": "string", "enum": ["uz", "ru"]},
        "cart_count": {"type": "integer"},
        "payment_methods": {"type": "array",
                            "items": {"type": "string", "enum": ["cash", "payme", "click", "telegram"]},
                            "description": "what checkout offers (GET /api/me only)"},
    }},
    "Category": {"type": "object", "properties": {
        "id": _ID, "name": _TEXT, "parent_id": {"type": "integer", "nullable": True}, "icon": _NULLABLE_TEXT,
        "image_url": _NULLABLE_TEXT,
    }},
    "Banner": {"type": "object", "properties": {
        "id": _ID, "title": _NULLABLE_TEXT, "image_url": _TEXT,
        "link_type": {"type": "string", "enum": ["product", "category", "url"], "nullable": True},
        "link_id": {"type": "integer", "nullable": True}, "link_url": _NULLABLE_TEXT,
    }},
    "Product": {"type": "object", "properties": {
        "id": _ID, "sku": _TEXT, "barcode": _NULLABLE_TEXT, "name": _TEXT,
        "category_id": {"type": "integer", "nullable": True}, "price": _MONEY,
        "sale_price": {**_MONEY, "nullable": True}, "current_price": _MONEY, "price_text": _TEXT,
        "old_price_text": _NULLABLE_TEXT, "discount_percent": {"type": "integer"}, "image_url": _TEXT,
        "thumb_url": _TEXT, "has_image": {"type": "boolean"}, "stock_quantity": {"type": "integer"},
        "stock_state": {"type": "string", "enum": ["in_stock", "low", "out_of_stock"]},
        "order_count": {"type": "integer"},
    }},
    "ProductDetail": {"allOf": [_ref("Product"), {"type": "object", "properties": {
        "description": _NULLABLE_TEXT, "category": {**_ref("Category"), "nullable": True},
        "is_favorite": {"type": "boolean", "description": "only with include=state"},
        "in_cart": {"type": "integer", "description": "only with include=state"}, "view_count": {"type": "integer"},
    }}]},
    "ProductPage": {"type": "object", "properties": {
        "items": {"type": "array", "items": _ref("Product")}, "total": {"type": "integer"},
        "page": {"type": "integer"}, "per_page": {"type": "integer"}, "pages": {"type": "integer"},
    }},
    "Home": {"type": "object", "properties": {
        "banners": {"type": "array", "items": _ref("Banner")},
        "categories": {"type": "array", "items": _ref("Category")},
        "popular": {"type": "array", "items": _ref("Product")},
        "on_sale": {"type": "array", "items": _ref("Product")},
    }},
    "CategoryView": {"type": "object", "properties": {
        "category": _ref("Category"), "parent": {**_ref("Category"), "nullable": True},
        "children": {"type": "array", "items": _ref("Category")},
    }},
    "CartLine": {"type": "object", "properties": {
        "product": _ref("Product"), "quantity": {"type": "integer"}, "price_snapshot": _MONEY, "price": _MONEY,
        "line_total": _MONEY, "line_total_text": _TEXT, "unavailable": {"type": "boolean"},
        "insufficient": {"type": "boolean"}, "price_changed": {"type": "boolean"},
        "available": {"type": "integer"}, "old_price_text": _NULLABLE_TEXT,
    }},
    "Cart": {"type": "object", "properties": {
        "lines": {"type": "array", "items": _ref("CartLine")}, "item_count": {"type": "integer"},
        "subtotal": _MONEY, "delivery_fee": _MONEY, "total": _MONEY, "subtotal_text": _TEXT,
        "delivery_fee_text": _TEXT, "total_text": _TEXT, "free_delivery_from": _MONEY,
        "free_delivery_from_text": _TEXT, "can_checkout": {"type": "boolean"},
    }},
    "OrderItem": {"type": "object", "properties": {
        "product_id": {"type": "integer", "nullable": True}, "name": _TEXT, "sku": _TEXT, "price": _MONEY,
        "quantity": {"type": "integer"}, "subtotal": _MONEY, "subtotal_text": _TEXT,
    }},
    "Order": {"type": "object", "properties": {
        "id": _ID, "order_number": {"type": "string", "example": "AS-2026-000123"}, "source": _TEXT,
        "status": {"type": "string", "enum": ["pending", "confirmed", "shipped", "delivered", "cancelled"]},
        "status_text": _TEXT,
        "payment_status": {"type": "string", "enum": ["unpaid", "paid", "refunded"]}, "payment_status_text": _TEXT,
        "customer_name": _TEXT, "customer_phone": _TEXT, "delivery_address": _NULLABLE_TEXT,
        "delivery_notes": _NULLABLE_TEXT, "subtotal": _MONEY, "delivery_fee": _MONEY, "total": _MONEY,
        "subtotal_text": _TEXT, "delivery_fee_text": _TEXT, "total_text": _TEXT,
        "created_at": {"type": "string", "format": "date-time"},
        "confirmed_at": {"type": "string", "format": "date-time", "nullable": True},
        "delivered_at": {"type": "string", "format": "date-time", "nullable": True},
        "cancelled_at": {"type": "string", "format": "date-time", "nullable": True},
        "items": {"type": "array", "items": _ref("OrderItem")}, "item_count": {"type": "integer"},
        "can_cancel": {"type": "boolean"},
        "payment": {"allOf": [_ref("Payment")], "nullable": True,
                    "description": "how the order is paid; null for a marketplace order"},
    }},
    "Payment": {"type": "object", "properties": {
        "method": {"type": "string", "enum": ["cash", "payme", "click", "telegram"]}, "method_text": _TEXT,
        "state": {"type": "string", "enum": ["cash", "awaiting", "paid", "refunded", "expired", "unpaid"]},
        "state_text": _TEXT,
        "amount_tiyin": {"type": "integer", "description": "what the order owes, in tiyin (1 so'm = 100 tiyin)"},
        "expires_at": {"type": "string", "format": "date-time", "nullable": True,
                       "description": "an unpaid online order is cancelled at this moment (UTC)"},
        "payable": {"type": "boolean", "description": "whether it can be paid online now"},
        "url": {"type": "string", "nullable": True,
                "description": "where to pay (Payme checkout, Click pay link, Telegram invoice link): only in "
                               "the answers of POST /api/orders and POST /api/orders/{order_number}/pay"},
    }},
    "OrderPage": {"type": "object", "properties": {
        "items": {"type": "array", "items": _ref("Order")}, "total": {"type": "integer"},
        "page": {"type": "integer"}, "per_page": {"type": "integer"}, "pages": {"type": "integer"},
    }},
    "CheckoutForm": {"type": "object", "required": ["customer_name", "customer_phone", "delivery_address"],
                     "properties": {
        "customer_name": {"type": "string", "minLength": 2, "maxLength": 255},
        "customer_phone": {"type": "string", "description": "an Uzbek number; stored as +998NNNNNNNNN",
                           "example": "+998 90 123 45 67"},
        "delivery_address": {"type": "string", "minLength": 5, "maxLength": 500},
        "delivery_notes": {"type": "string", "maxLength": 500, "nullable": True},
        "payment_method": {"type": "string", "enum": ["cash", "payme", "click", "telegram"], "default": "cash",
                           "description": "one of the methods in GET /api/me `payment_methods`; others get 400"},
    }},
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


PATHS: dict[str, Any] = {
    "/api/openapi.json": {"get": {
        "summary": "This document", "security": [], "operationId": "openapi",
        "responses": {"200": {"description": "OpenAPI 3 document"}},
    }},
    "/api/me": {"get": {
        "summary": "The customer (from initData), with how many lines their cart holds", "operationId": "getMe",
        "responses": {"200": _ok(_ref("User")), **_ERRORS},
    }},
    "/api/me/language": {"put": {
        "summary": "Choose the language (kept from now on, in the Mini App and the bot)",
        "operationId": "putLanguage",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["language"],
            "properties": {"language": {"type": "string", "enum": ["uz", "ru"]}}}}}},
        "responses": {"200": _ok(_ref("User")), **_WRITE_ERRORS},
    }},
    "/api/home": {"get": {
        "summary": "Banners, top-level categories, popular products, products on sale", "operationId": "getHome",
        "responses": {"200": _ok(_ref("Home")), **_ERRORS},
    }},
    "/api/categories/{id}": {"get": {
        "summary": "A category with its parent and subcategories", "operationId": "getCategory",
        "parameters": [_path_param("id", _ID)],
        "responses": {"200": _ok(_ref("CategoryView")), **_ERRORS, **_NOT_FOUND},
    }},
    "/api/products": {"get": {
        "summary": "Search and browse active products", "operationId": "listProducts",
        "parameters": [
            _query("category", _ID, "a category id; its subcategories are included"),
            _query("q", {"type": "string", "maxLength": 100},
                   "words of the name (uz or ru), part of the SKU, or the exact barcode"),
            _query("sort", {"type": "string", "enum": ["relevance", "popular", "price_asc", "price_desc", "newest"]},
                   "order; unset: relevance when `q` is given (best matches first), popular otherwise"),
            _query("page", {"type": "integer", "minimum": 1, "default": 1}, "page number"),
            _query("per_page", {"type": "integer", "minimum": 1, "maximum": 50, "default": 20}, "page size"),
            _query("on_sale", {"type": "string", "enum": ["1", "true"]}, "only products with a sale price"),
            _query("in_stock", {"type": "string", "enum": ["1", "true"]}, "only products in stock"),
            _query("price_min", {"type": "integer", "minimum": 0}, "the price paid today, at least (so'm)"),
            _query("price_max", {"type": "integer", "minimum": 0}, "the price paid today, at most (so'm)"),
        ],
        "responses": {"200": _ok(_ref("ProductPage")), **_ERRORS, **_BAD_REQUEST, **_NOT_FOUND},
    }},
    "/api/products/{id}": {"get": {
        "summary": "One product, the same for every customer (counts a view; views reach view_count within "
                   "seconds). in_cart and is_favorite only with include=state", "operationId": "getProduct",
        "parameters": [_path_param("id", _ID),
                       _query("include", {"type": "string", "enum": ["state"]},
                              "state: add the customer's in_cart and is_favorite")],
        "responses": {"200": _ok(_ref("ProductDetail")), **_ERRORS, **_BAD_REQUEST, **_NOT_FOUND},
    }},
    "/api/favorites": {"get": {
        "summary": "The customer's favorites, newest first", "operationId": "listFavorites",
        "responses": {"200": _ok({"type": "object", "properties": {
            "items": {"type": "array", "items": _ref("Product")}}}), **_ERRORS},
    }},
    "/api/favorites/{product_id}": {
        "put": {
            "summary": "Add a favorite (idempotent)", "operationId": "putFavorite",
            "parameters": [_path_param("product_id", _ID)],
            "responses": {"200": _ok({"type": "object"}), **_WRITE_ERRORS, **_NOT_FOUND},
        },
        "delete": {
            "summary": "Remove a favorite (idempotent)", "operationId": "deleteFavorite",
            "parameters": [_path_param("product_id", _ID)],
            "responses": {"200": _ok({"type": "object"}), **_WRITE_ERRORS},
        },
    },
    "/api/cart": {"get": {
        "summary": "The cart at today's prices; unavailable, short and re-priced lines are flagged",
        "operationId": "getCart",
        "responses": {"200": _ok(_ref("Cart")), **_ERRORS},
    }},
    "/api/cart/items/{product_id}": {"put": {
        "summary": "Set a line's quantity (0 removes it); the price is snapshotted", "operationId": "putCartItem",
        "parameters": [_path_param("product_id", _ID)],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["quantity"],
            "properties": {"quantity": {"type": "integer", "minimum": 0, "maximum": 999}}}}}},
        "responses": {"200": _ok(_ref("Cart")), **_WRITE_ERRORS, **_NOT_FOUND, **_CONFLICT},
    }},
    "/api/orders": {
        "post": {
            "summary": "Turn the cart into an order (one transaction; idempotent per key)",
            "operationId": "createOrder",
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": True,
                            "schema": {"type": "string", "maxLength": 255},
                            "description": "a new random value per order; resending it returns the same order"}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CheckoutForm")}}},
            "responses": {
                "201": {**_ok(_ref("Order"), "The order (also for a replayed key, with Idempotent-Replayed: true)")},
                **_WRITE_ERRORS, **_CONFLICT,
                "422": _error_response("The Idempotency-Key was used with a different body"),
            },
        },
        "get": {
            "summary": "The customer's orders, newest first", "operationId": "listOrders",
            "parameters": [_query("page", {"type": "integer", "minimum": 1, "default": 1}, "page number")],
            "responses": {"200": _ok(_ref("OrderPage")), **_ERRORS, **_BAD_REQUEST},
        },
    },
    "/api/orders/{order_number}": {"get": {
        "summary": "One of the customer's orders", "operationId": "getOrder",
        "parameters": [_path_param("order_number", {"type": "string"})],
        "responses": {"200": _ok(_ref("Order")), **_ERRORS, **_NOT_FOUND},
    }},
    "/api/orders/{order_number}/cancel": {"post": {
        "summary": "Cancel the customer's own pending, unpaid order (stock is returned)", "operationId": "cancelOrder",
        "parameters": [_path_param("order_number", {"type": "string"})],
        "responses": {"200": _ok(_ref("Order")), **_WRITE_ERRORS, **_NOT_FOUND, **_CONFLICT},
    }},
    "/api/orders/{order_number}/pay": {"post": {
        "summary": "Where to pay an unpaid online order now (pay again), optionally by another method",
        "operationId": "payOrder",
        "parameters": [_path_param("order_number", {"type": "string"})],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "properties": {
                "payment_method": {"type": "string", "enum": ["payme", "click", "telegram"]}}}}}},
        "responses": {"200": _ok(_ref("Order"), "The order, its `payment.url` set"), **_WRITE_ERRORS,
                      **_NOT_FOUND,
                      **_CONFLICT},
    }},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Amazing Store Mini App API",
        "version": "1.0.0",
        "description": (
            "The storefront's JSON API. Every request except this document carries the Mini App's raw "
            "initData: `Authorization: tma <initData>`. Errors are `{\"error\": {\"code\", \"message\", "
            "\"fields\"?}}`; messages are in the customer's language (uz or ru). Writes are rate limited "
            "per customer (429 with Retry-After)."
        ),
    },
    "servers": [{"url": "/"}],
    "security": [{"telegramInitData": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {"telegramInitData": {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`tma ` followed by Telegram.WebApp.initData, validated with the bot token",
        }},
        "schemas": SCHEMAS,
        "responses": {
            "BadRequest": _error_response("Bad input; `fields` says what is wrong with each field"),
            "Unauthorized": _error_response("initData missing, malformed, forged, expired or of another bot"),
            "Forbidden": _error_response("The customer is blocked"),
            "NotFound": _error_response("No such thing (or not the customer's)"),
            "Conflict": _error_response(
                "Stock or price conflict: `available` per product and the refreshed `cart`"),
            "RateLimited": _error_response("Too many writes; see Retry-After"),
        },
    },
}


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)
