"""Rows and service results to the JSON the Mini App reads. Money travels as decimal strings
("1990000.00"), never floats; names come in the customer's language."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from db.models import Banner, Category, Order, OrderItem, Product, User
from store.i18n import format_money, t
from store.services import media
from store.services.catalog import CategoryView, Home, ProductPage
from store.services.checkout import CartLine, CartView
from store.services.orders import Actor, allowed_next
from store.services.payments import PaymentInfo

PLACEHOLDER_IMAGE = "/static/img/placeholder.svg"
LOW_STOCK = 5


def money(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01")))


def timestamp(value: datetime | None) -> str | None:
    """The schema stores UTC without a zone; say so explicitly."""
    return value.isoformat(timespec="seconds") + "Z" if value else None


def user(row: User, *, cart_count: int = 0) -> dict[str, Any]:
    return {
        "id": row.id, "telegram_id": row.telegram_id, "first_name": row.first_name,
        "last_name": row.last_name, "username": row.username, "phone": row.phone,
        "language": row.language or "uz", "cart_count": cart_count,
    }


def category(row: Category, lang: str) -> dict[str, Any]:
    return {"id": row.id, "name": row.name(lang), "parent_id": row.parent_id, "icon": row.icon,
            "image_url": row.image_url}


def product(row: Product, lang: str) -> dict[str, Any]:
    on_sale = row.sale_price is not None and row.sale_price < row.price
    discount = int(((row.price - row.current_price) * 100 / row.price).to_integral_value()) if on_sale else 0
    if row.stock_quantity <= 0:
        stock_state = "out_of_stock"
    elif row.stock_quantity <= LOW_STOCK:
        stock_state = "low"
    else:
        stock_state = "in_stock"
    return {
        "id": row.id, "sku": row.sku, "barcode": row.barcode, "name": row.name(lang),
        "category_id": row.category_id, "price": money(row.price),
        "sale_price": money(row.sale_price) if row.sale_price is not None else None,
        "current_price": money(row.current_price), "price_text": format_money(row.current_price, lang),
        "old_price_text": format_money(row.price, lang) if on_sale else None, "discount_percent": discount,
        "image_url": row.image_url or PLACEHOLDER_IMAGE, "has_image": bool(row.image_url),
        "thumb_url": media.thumb_url(row.image_url) or row.image_url or PLACEHOLDER_IMAGE,
        "stock_quantity": row.stock_quantity, "stock_state": stock_state, "order_count": row.order_count,
    }


def product_card(row: Product, category_row: Category | None, lang: str) -> dict[str, Any]:
    """The product page as every customer sees it; `customer_state` adds what is theirs."""
    body = product(row, lang)
    body.update({
        "description": row.description(lang),
        "category": category(category_row, lang) if category_row else None,
        "view_count": row.view_count,
    })
    return body


def customer_state(in_cart: int, is_favorite: bool) -> dict[str, Any]:
    return {"is_favorite": is_favorite, "in_cart": in_cart}


def product_page(page: ProductPage, lang: str) -> dict[str, Any]:
    return {"items": [product(p, lang) for p in page.items], "total": page.total, "page": page.page,
            "per_page": page.per_page, "pages": page.pages}


def banner(row: Banner, lang: str) -> dict[str, Any]:
    return {"id": row.id, "title": row.title(lang), "image_url": row.image(lang), "link_type": row.link_type,
            "link_id": row.link_id, "link_url": row.link_url}


def home(view: Home, lang: str) -> dict[str, Any]:
    return {
        "banners": [banner(b, lang) for b in view.banners],
        "categories": [category(c, lang) for c in view.categories],
        "popular": [product(p, lang) for p in view.popular],
        "on_sale": [product(p, lang) for p in view.on_sale],
    }


def category_view(view: CategoryView, lang: str) -> dict[str, Any]:
    return {"category": category(view.category, lang),
            "parent": category(view.parent, lang) if view.parent else None,
            "children": [category(c, lang) for c in view.children]}


def cart_line(line: CartLine, lang: str) -> dict[str, Any]:
    return {
        "product": product(line.product, lang), "quantity": line.quantity,
        "price_snapshot": money(line.price_snapshot), "price": money(line.product.current_price),
        "line_total": money(line.line_total), "line_total_text": format_money(line.line_total, lang),
        "unavailable": line.unavailable, "insufficient": line.insufficient, "price_changed": line.price_changed,
        "available": max(0, line.product.stock_quantity) if line.product.is_active else 0,
        "old_price_text": format_money(line.price_snapshot, lang) if line.price_changed else None,
    }


def cart(view: CartView, lang: str) -> dict[str, Any]:
    return {
        "lines": [cart_line(line, lang) for line in view.lines], "item_count": view.item_count,
        "subtotal": money(view.subtotal), "delivery_fee": money(view.delivery_fee), "total": money(view.total),
        "subtotal_text": format_money(view.subtotal, lang), "delivery_fee_text": format_money(view.delivery_fee, lang),
        "total_text": format_money(view.total, lang), "free_delivery_from": money(view.free_delivery_from),
        "free_delivery_from_text": format_money(view.free_delivery_from, lang), "can_checkout": view.can_checkout,
    }


def order_item(row: OrderItem, lang: str, found: Product | None = None) -> dict[str, Any]:
    """A line as it was ordered; `product` (its photo, for a thumbnail) while the product exists."""
    picture = None
    if found is not None:
        picture = {"id": found.id, "has_image": bool(found.image_url),
                   "image_url": found.image_url or PLACEHOLDER_IMAGE,
                   "thumb_url": media.thumb_url(found.image_url) or found.image_url or PLACEHOLDER_IMAGE}
    return {"product_id": row.product_id, "name": row.product_name, "sku": row.product_sku,
            "price": money(row.price), "quantity": row.quantity, "subtotal": money(row.subtotal),
            "subtotal_text": format_money(row.subtotal, lang), "product": picture}


def order(row: Order, items: list[OrderItem], lang: str, customer_id: int,
          products: dict[int, Product] | None = None) -> dict[str, Any]:
    return {
        "id": row.id, "order_number": row.order_number, "source": row.source,
        "status": row.status, "status_text": t(f"order.status.{row.status}", lang),
        "payment_status": row.payment_status, "payment_status_text": t(f"order.payment.{row.payment_status}", lang),
        "customer_name": row.customer_name, "customer_phone": row.customer_phone,
        "delivery_address": row.delivery_address, "delivery_notes": row.delivery_notes,
        "subtotal": money(row.subtotal), "delivery_fee": money(row.delivery_fee), "total": money(row.total),
        "subtotal_text": format_money(row.subtotal, lang), "delivery_fee_text": format_money(row.delivery_fee, lang),
        "total_text": format_money(row.total, lang),
        "created_at": timestamp(row.created_at), "confirmed_at": timestamp(row.confirmed_at),
        "delivered_at": timestamp(row.delivered_at), "cancelled_at": timestamp(row.cancelled_at),
        "items": [order_item(i, lang, (products or {}).get(i.product_id or 0)) for i in items],
 "item_count": sum(i.quantity for i in items),
        "can_cancel": "cancelled" in allowed_next(row, Actor.customer(customer_id)),
    }


def payment(info: PaymentInfo | None, lang: str, url: str | None = None) -> dict[str, Any] | None:
    """How the order is paid: method, state (cash, awaiting, paid, refunded, expired, unpaid), and while it
    can be paid online, until when (and `url` where, when the caller made one)."""
    if info is None:
        return None
    if info.method == "cash":
        state = "cash"
    elif info.refusal in ("paid", "refunded", "expired"):
        state = info.refusal
    elif info.refusal == "cancelled":
        state = "unpaid"  # cancelled before it was paid
    else:
        state = "awaiting"
    return {
        "method": info.method, "method_text": t(f"payment.method.{info.method}", lang),
        "state": state, "state_text": t(f"payment.state.{state}", lang),
        "amount_tiyin": info.amount_tiyin, "expires_at": timestamp(info.expires_at), "payable": info.payable,
        "url": url,
    }
