"""Constants, data builders and small helpers shared by the bot's tests (fixtures: tests/bot_support.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from db.models import Order, Product, User
from db.repos import orders, products
from store.services import customers

ADMIN_ID = 900_001
WEBAPP_URL = "https://shop.example.com/app"
OTHER_JOBS = ("sync_marketplace",)


@dataclass
class JobLog:
    """The jobs of other parts that reached the worker: (name, args)."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [args for job, args in self.calls if job == name]

    async def wait_for(self, name: str, predicate: Callable[[tuple[Any, ...]], bool] = lambda a: True,
                       timeout: float = 20.0) -> tuple[Any, ...]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for args in self.of(name):
                if predicate(args):
                    return args
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"job {name} never ran; ran: {self.calls}")
            await asyncio.sleep(0.02)


async def pending_push(db: asyncpg.Pool, sync_type: str, product_id: int) -> bool:
    """Is a marketplace push of this product's stock or price waiting (written with the change)?"""
    found: bool = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pending_pushes WHERE sync_type = $1 AND product_id = $2)", sync_type, product_id)
    return found


# --- data -------------------------------------------------------------------------------------------


async def customer(db: asyncpg.Pool, telegram_id: int, language: str = "uz", name: str = "Aziz") -> User:
    return await customers.register(db, telegram_id=telegram_id, first_name=name, last_name=None, username=None,
                                    language_code=language)


async def product(db: asyncpg.Pool, sku: str = "PHN-A15", *, price: str = "2190000", stock: int = 10,
                  name_uz: str = "Samsung Galaxy A15", name_ru: str = "Самсунг Галакси A15",
                  sale_price: str | None = None) -> Product:
    return await products.create(db, sku=sku, name_uz=name_uz, name_ru=name_ru, price=Decimal(price),
                                 sale_price=Decimal(sale_price) if sale_price else None, stock_quantity=stock)


async def order(db: asyncpg.Pool, *, items: list[tuple[Product, int]], source: str = "app",
                user: User | None = None, number: str | None = None, status: str | None = None) -> Order:
    """An order as checkout or a marketplace import would write it (stock taken, items snapshotted)."""
    from store.services import orders as order_service
    from store.services import stock

    async with db.acquire() as conn, conn.transaction():
        subtotal = sum((p.current_price * q for p, q in items), Decimal(0))
        for p, q in items:
            await stock.take(conn, p.id, q)
        created = await orders.create(
            conn, order_number=number or await orders.next_order_number(conn), source=source,
            user_id=user.id if user else None, customer_name="Aziz Karimov", customer_phone="+998901234567",
            subtotal=subtotal, delivery_fee=Decimal(0), total=subtotal, delivery_address="Toshkent, Chilonzor 5",
            delivery_notes=None, marketplace_order_id=f"{source}-1" if source != "app" else None,
        )
        await orders.add_items(conn, created.id, [
            orders.NewOrderItem(p.id, p.name_uz, p.sku, p.current_price, q) for p, q in items])
        if status is not None and status != "pending":
            assert status in order_service.STATUSES
            created = await orders.set_status(conn, created.id, status)
    return created
