"""Admin notices beyond bot.delivery's (registered in sync.worker with the other jobs); each decides
who gets what and enqueues bot.delivery's `send_message`, one per admin, with a job id per (event,
admin) so running a notice twice sends nothing twice.

* `notify_customer_cancelled(ctx, order_id, old_status)`: enqueued by
  `store.services.orders.change_status` when a customer cancels an order in the Mini App; every
  admin gets the order card headed "cancelled by the customer".
* `notify_reconcile(ctx, sync_log_id)`: enqueued by `marketplace_sync.run_sync` after a drift
  reconcile run; when anything differed or failed, every admin gets one line
  ("Ozon: 12 stocks and 3 prices differed; fixed") in their language. A run that found nothing
  says nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from arq import func

from bot import render
from bot.delivery import MAX_NOTIFY_TRIES, tell_admins
from db.repos import marketplaces, orders, sync_logs
from store.i18n import t
from store.services.orders import JOB_CUSTOMER_CANCELLED
from store.services.reconcile import JOB_NOTIFY
from store.settings import Settings

log = logging.getLogger(__name__)


async def notify_customer_cancelled(ctx: dict[str, Any], order_id: int, old_status: str) -> None:
    settings: Settings = ctx["settings"]
    if settings.bot_token is None:
        log.debug("local mode (no BOT_TOKEN): no notice of order id %s cancelled by its customer", order_id)
        return
    db: asyncpg.Pool = ctx["db"]
    order = await orders.get(db, order_id)
    if order is None:
        log.error("order id %s cancelled by its customer: no such order, admins not told", order_id)
        return
    items = await orders.items(db, order.id)

    def card(lang: str) -> str:
        headline = t("bot.notify.admin_customer_cancelled", lang, was=render.status_name(old_status, lang))
        return render.order_card(order, items, lang, headline=headline)

    await tell_admins(ctx, f"customer-cancelled:{order.id}", card, order_number=order.order_number,
                      purpose="cancelled by customer notice")


async def notify_reconcile(ctx: dict[str, Any], sync_log_id: int) -> None:
    settings: Settings = ctx["settings"]
    if settings.bot_token is None:
        log.debug("local mode (no BOT_TOKEN): no reconcile summary for sync run %s", sync_log_id)
        return
    db: asyncpg.Pool = ctx["db"]
    run = await sync_logs.find(db, sync_log_id)
    if run is None or run.sync_type != "reconcile":
        return
    marketplace = await marketplaces.get(db, run.marketplace_id)
    if marketplace is None:
        return
    items = await sync_logs.differences(db, sync_log_id)
    stocks = sum(1 for _, message, _, _ in items if message == "stock differed")
    prices = sum(1 for _, message, _, _ in items if message == "price differed")
    unfixed = sum(1 for _, message, _, _ in items if " not fixed" in message or " not read back" in message)
    if not stocks and not prices and not unfixed and run.status == "success":
        return

    def summary(lang: str) -> str:
        if run.status == "error":
            return t("bot.reconcile.failed", lang, name=render.esc(marketplace.name))
        outcome = (t("bot.reconcile.fixed", lang) if not unfixed
                   else t("bot.reconcile.not_fixed", lang, count=unfixed))
        return t("bot.reconcile.summary", lang, name=render.esc(marketplace.name), stocks=stocks, prices=prices,
                 outcome=outcome)

    await tell_admins(ctx, f"reconcile:{sync_log_id}", summary, purpose="reconcile summary")


FUNCTIONS: list[Any] = [
    func(notify_customer_cancelled, name=JOB_CUSTOMER_CANCELLED, max_tries=MAX_NOTIFY_TRIES),
    func(notify_reconcile, name=JOB_NOTIFY, max_tries=MAX_NOTIFY_TRIES),
]
