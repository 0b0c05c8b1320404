"""Order status changes, the one set of rules for the Mini App (customers) and the bot (admins).

    pending -> confirmed -> shipped -> delivered
    pending | confirmed -> cancelled   (an admin)
    pending -> cancelled               (the customer, their own order only, and not once it is paid)
    pending | confirmed | shipped -> cancelled   (the store itself: an online payment that expired
                                                  or was refunded, see store.services.payments)

Entering confirmed / delivered / cancelled stamps confirmed_at / delivered_at / cancelled_at.
A cancellation returns the order's units to stock through `store.services.stock`. After the
change, in the same transaction, writes `events.order_status_changed` (and `events.stock_changed`
for a cancellation). Asking for the status an order already has changes nothing (safe to run twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import asyncpg

from db.models import Order, OrderItem
from db.pool import Executor
from db.repos import orders
from store.errors import Conflict, NotFound, ValidationFailed
from store.services import events, stock
from store.services.checkout import retry_transient

STATUSES = ("pending", "confirmed", "shipped", "delivered", "cancelled")
# new status -> the statuses an admin may move an order from
_ADMIN_FROM: dict[str, frozenset[str]] = {
    "confirmed": frozenset({"pending"}),
    "shipped": frozenset({"confirmed"}),
    "delivered": frozenset({"shipped"}),
    "cancelled": frozenset({"pending", "confirmed"}),
}
_CUSTOMER_FROM: dict[str, frozenset[str]] = {"cancelled": frozenset({"pending"})}
_SYSTEM_FROM: dict[str, frozenset[str]] = {"cancelled": frozenset({"pending", "confirmed", "shipped"})}


JOB_CUSTOMER_CANCELLED = "notify_customer_cancelled"  # bot.notices: the admins hear a customer cancelled


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for the change: an admin (by Telegram id) or a customer (by users.id)."""

    kind: Literal["admin", "customer", "system"]
    id: int

    @classmethod
    def admin(cls, telegram_id: int) -> Actor:
        return cls("admin", telegram_id)

    @classmethod
    def customer(cls, user_id: int) -> Actor:
        return cls("customer", user_id)

    @classmethod
    def system(cls) -> Actor:
        """The store itself (the payment rules: an expired or refunded online payment)."""
        return cls("system", 0)


@dataclass(frozen=True, slots=True)
class StatusChange:
    order: Order  # as it is after the change
    items: list[OrderItem]
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


class TransitionNotAllowed(Conflict):
    code = "status_transition_not_allowed"


def _rules(actor: Actor) -> dict[str, frozenset[str]]:
    return {"admin": _ADMIN_FROM, "customer": _CUSTOMER_FROM, "system": _SYSTEM_FROM}[actor.kind]


def allowed_next(order: Order, actor: Actor) -> list[str]:
    """The statuses this actor may move the order to now (for buttons in the bot and the app)."""
    if actor.kind == "customer" and (order.user_id != actor.id or order.payment_status != "unpaid"):
        return []  # a paid order is cancelled (and refunded) by the shop, not by the customer
    return [new for new, sources in _rules(actor).items() if order.status in sources]


async def apply_status(conn: Executor, order: Order, new_status: str, actor: Actor) -> tuple[StatusChange, list[int]]:
    """Move the locked `order` to `new_status` inside the caller's transaction (the caller holds the
    order row lock, `orders.lock`). Returns the change and the product ids whose stock came back;
    the events (notification, stock push) are written in the same transaction. Raises
    TransitionNotAllowed."""
    old = order.status
    items = await orders.items(conn, order.id)
    if old == new_status:
        return StatusChange(order, items, old, new_status), []
    if old not in _rules(actor).get(new_status, frozenset()):
        raise TransitionNotAllowed("error.status_transition", old=old, new=new_status)
    if actor.kind == "customer" and new_status == "cancelled" and order.payment_status != "unpaid":
        raise TransitionNotAllowed("error.order_paid_no_cancel")
    returned: list[int] = []
    if new_status == "cancelled":
        quantities: dict[int, int] = {}
        for item in items:
            if item.product_id is not None:
                quantities[item.product_id] = quantities.get(item.product_id, 0) + item.quantity
        for product_id in sorted(quantities):
            if await stock.give_back(conn, product_id, quantities[product_id]) is not None:
                returned.append(product_id)
    updated = await orders.set_status(conn, order.id, new_status)
    await events.order_status_changed(conn, order.id, old, new_status)
    if returned:
        await events.stock_changed(conn, returned)
    if actor.kind == "customer" and new_status == "cancelled":  # the admins hear of it (bot.notices)
        await events.job(conn, JOB_CUSTOMER_CANCELLED, order.id, old, job_id=f"customer-cancelled:{order.id}",
                         queue=events.QUEUE_NOTIFICATIONS)
    return StatusChange(updated, items, old, new_status), returned


async def change_status(
    pool: asyncpg.Pool, order_number_or_id: str | int, new_status: str, actor: Actor,
) -> StatusChange:
    """Move an order to `new_status` if the rules allow it for this actor.

    Raises ValidationFailed for an unknown status, NotFound for an unknown order (and for another
    customer's order: a customer cannot learn it exists), TransitionNotAllowed otherwise. Runs its
    own transaction (the order row is locked first, then the products in id order).
    """
    if new_status not in STATUSES:
        raise ValidationFailed("error.validation", fields={"status": "error.status_unknown"})

    async def attempt() -> tuple[StatusChange, list[int]]:
        async with pool.acquire() as conn, conn.transaction():
            if isinstance(order_number_or_id, int):
                order = await orders.lock(conn, order_number_or_id)
            else:
                order = await orders.lock_by_number(conn, order_number_or_id)
            if order is None or (actor.kind == "customer" and order.user_id != actor.id):
                raise NotFound("error.order_not_found")
            return await apply_status(conn, order, new_status, actor)

    change, _ = await retry_transient(attempt, "order status change")
    return change

