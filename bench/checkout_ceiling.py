"""The checkout ceiling: the database work of a Mini App sale with nothing around it.

The same four requests as bench.checkout_load sends (three cart writes, then the order) against a
bare aiohttp app on one asyncpg pool, run the way the store runs (one process, uvloop): a cart
write is one statement (the line upserted at today's price, the cart read back), the order is the
store's own sale statements (lock the customer, `sales.lock_cart`, `sales.record`: the stock, the
order, its items, its payment, the Idempotency-Key, the outbox job and the stock pushes) in one
transaction. No initData check (the user is looked up once per Authorization header), no
validation, no middleware, no worker, no Redis: what is left is PostgreSQL, asyncpg and aiohttp.
Checkout figures are read against it as catalog figures are read against bench.ceiling.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from db.pool import create_pool
from db.repos import orders, sales
from db.repos.products import COLUMN_NAMES

_USERS: web.AppKey[dict[str, int]] = web.AppKey("users", dict)
_POOL: web.AppKey[asyncpg.Pool] = web.AppKey("pool", asyncpg.Pool)
_CART = f"""WITH put AS (
        INSERT INTO cart_items (user_id, product_id, quantity, price_snapshot)
        SELECT $1, p.id, $3, coalesce(p.sale_price, p.price) FROM products p
        WHERE p.id = $2 AND p.is_active AND p.stock_quantity >= $3
        ON CONFLICT (user_id, product_id) DO UPDATE
        SET quantity = EXCLUDED.quantity, price_snapshot = EXCLUDED.price_snapshot
        RETURNING id, product_id, quantity, price_snapshot)
    SELECT c.id, c.quantity, c.price_snapshot, {", ".join("p." + c for c in COLUMN_NAMES)}
    FROM (SELECT id, product_id, quantity, price_snapshot FROM cart_items WHERE user_id = $1 AND product_id <> $2
          UNION ALL SELECT id, product_id, quantity, price_snapshot FROM put) c
    JOIN products p ON p.id = c.product_id ORDER BY c.id"""


async def _user(request: web.Request) -> int:
    auth = request.headers.get("Authorization", "")
    users = request.app[_USERS]
    user_id = users.get(auth)
    if user_id is None:
        telegram_id = int(hashlib.sha256(auth.encode()).hexdigest()[:12], 16)
        user_id = await request.app[_POOL].fetchval(
            """INSERT INTO users (telegram_id, first_name) VALUES ($1, 'Ceiling')
               ON CONFLICT (telegram_id) DO UPDATE SET first_name = EXCLUDED.first_name RETURNING id""",
            telegram_id)
        users[auth] = user_id
    return user_id


async def put_cart_item(request: web.Request) -> web.Response:
    user_id = await _user(request)
    quantity = int((await request.json())["quantity"])
    rows = await request.app[_POOL].fetch(_CART, user_id, int(request.match_info["product_id"]), quantity)
    lines = [{"product_id": r["id"], "quantity": r["quantity"], "price": str(r["price_snapshot"]),
              "name": r["name_uz"]} for r in rows]
    return web.Response(body=orjson.dumps({"lines": lines}), content_type="application/json")


async def create_order(request: web.Request) -> web.Response:
    user_id = await _user(request)
    body: dict[str, Any] = await request.json()
    key = request.headers["Idempotency-Key"]
    async with request.app[_POOL].acquire() as conn, conn.transaction():
        await conn.fetchval("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE", user_id)
        cart = await sales.lock_cart(conn, user_id)
        if not cart:
            return web.json_response({"error": "empty"}, status=409)
        lines = sorted(cart, key=lambda line: line[1].id)
        subtotal = sum((p.current_price * item.quantity for item, p in lines), Decimal(0))
        sale = await sales.record(conn, sales.NewSale(
            user_id=user_id, customer_name=body["customer_name"], customer_phone=body["customer_phone"],
            delivery_address=body["delivery_address"], delivery_notes=None, subtotal=subtotal,
            delivery_fee=Decimal(0), total=subtotal,
            lines=[orders.NewOrderItem(p.id, p.name_uz, p.sku, p.current_price, item.quantity) for item, p in lines],
            payment_method="cash", amount_tiyin=int(subtotal * 100), payment_expires_at=None,
            idempotency_key=key, fingerprint=hashlib.sha256(json.dumps(body).encode()).hexdigest(),
            order_job="order_created", order_job_queue="arq:notifications", push_debounce_seconds=1.0))
    order = {"order_number": sale.order.order_number, "total": str(sale.order.total),
             "items": [{"product_id": i.product_id, "quantity": i.quantity} for i in sale.items]}
    return web.Response(body=orjson.dumps({"order": order}), status=201, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--pool", type=int, default=20)
    args = parser.parse_args()

    async def start(app: web.Application) -> None:
        app[_POOL] = await create_pool(args.database_url, min_size=2, max_size=args.pool)

    async def stop(app: web.Application) -> None:
        await app[_POOL].close()

    app = web.Application()
    app[_USERS] = {}
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_get("/healthz", healthz)
    app.router.add_put("/api/cart/items/{product_id}", put_cart_item)
    app.router.add_post("/api/orders", create_order)
    import uvloop

    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None,
                loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
