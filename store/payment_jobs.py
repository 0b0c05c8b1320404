"""Worker jobs of online payment (issue #10), registered in sync.worker:

* `expire_unpaid_payments(ctx)` — cron, every minute: online orders still unpaid after
  PAYMENT_TIMEOUT_MINUTES are cancelled and their stock returned (store.services.payments.expire_unpaid).
* `notify_payment(ctx, order_id, kind)` — enqueued by store.services.payments after a payment landed
  (`paid`) or went back (`refunded`): the customer and every admin hear of it, through
  bot.delivery's send jobs (one job id per event and recipient, so a re-run sends nothing twice).
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from arq import cron, func
from arq.connections import ArqRedis

from db.repos import orders, payments, users
from store.i18n import format_money, t
from store.services import payments as payment_service
from store.settings import Settings

log = logging.getLogger(__name__)


async def expire_unpaid_payments(ctx: dict[str, Any]) -> list[str]:
    return await payment_service.expire_unpaid(ctx["db"])


async def notify_payment(ctx: dict[str, Any], order_id: int, kind: str) -> None:
    from bot.delivery import enqueue_send, tell_admins
    from bot.render import esc

    settings: Settings = ctx["settings"]
    if settings.bot_token is None:
        log.debug("local mode (no BOT_TOKEN): no payment notification for order id %s", order_id)
        return
    db: asyncpg.Pool = ctx["db"]
    redis: ArqRedis = ctx["redis"]
    order = await orders.get(db, order_id)
    if order is None or kind not in ("paid", "refunded"):
        return
    payment = await payments.get(db, order_id)
    method = payment.method if payment else "cash"
    if order.user_id is not None:
        customer = await users.get(db, order.user_id)
        if customer is not None:
            lang = customer.language or "uz"
            text = t(f"payment.notify.customer_{kind}", lang, number=esc(order.order_number),
                     total=format_money(order.total, lang))
            await enqueue_send(redis, f"payment-{kind}:{order.id}", customer.telegram_id, text,
                               order_number=order.order_number, purpose=f"payment {kind}")
    await tell_admins(
        ctx, f"payment-{kind}-admin:{order.id}",
        lambda lang: t(f"payment.notify.admin_{kind}", lang, number=esc(order.order_number),
                       method=t(f"payment.method.{method}", lang), total=format_money(order.total, lang)),
        order_number=order.order_number, purpose=f"payment {kind} alert")


# On the sync queue (arq's default) and on the notifications queue respectively.
FUNCTIONS: list[Any] = [
    func(expire_unpaid_payments, name="expire_unpaid_payments", max_tries=1),
]
NOTIFICATION_FUNCTIONS: list[Any] = [
    func(notify_payment, name=payment_service.JOB_PAYMENT_NOTIFY, max_tries=3),
]
CRON_JOBS: list[Any] = [
    cron(expire_unpaid_payments, name="cron:expire_unpaid_payments", second=30, unique=True,
         run_at_startup=True),
]
