"""Telegram Payments (issue #10): the invoice link, pre_checkout_query and successful_payment.

The Mini App opens the link from `createInvoiceLink` (currency UZS, amounts in tiyin) with
`Telegram.WebApp.openInvoice`; Telegram then asks the bot, within 10 seconds, whether the order may
still be paid (pre_checkout_query), and after the charge sends `successful_payment` in a message,
which marks the order paid with both charge ids. The rules are in store.services.payments.
"""

from __future__ import annotations

import logging

import asyncpg
from aiogram import Bot, F, Router
from aiogram.types import LabeledPrice, Message, PreCheckoutQuery
from aiohttp import web

from db.models import Order, OrderItem
from db.repos import users
from store.i18n import normalize_language, t
from store.services import payments
from store.settings import Settings

log = logging.getLogger(__name__)


async def invoice_link(app: web.Application, settings: Settings, order: Order, items: list[OrderItem],
                       amount_tiyin: int, lang: str) -> str:
    """createInvoiceLink for the order: one price line, the order's total in tiyin, UZS."""
    from bot.runner import BOT_RUNTIME, create_bot

    assert settings.telegram_payment_provider_token is not None
    runtime = app.get(BOT_RUNTIME)
    bot = runtime.bot if runtime is not None else create_bot(settings)
    try:
        return await bot.create_invoice_link(
            title=t("payment.invoice_title", lang, number=order.order_number)[:32],
            description=t("payment.invoice_description", lang, count=sum(i.quantity for i in items))[:255],
            payload=payments.telegram_payload(order.order_number),
            provider_token=settings.telegram_payment_provider_token.get_secret_value(),
            currency="UZS",
            prices=[LabeledPrice(label=t("payment.invoice_total", lang), amount=amount_tiyin)],
        )
    finally:
        if runtime is None:
            await bot.session.close()


async def pre_checkout(query: PreCheckoutQuery, bot: Bot, db: asyncpg.Pool) -> None:
    """Answer at once (Telegram waits at most 10 s): yes, or no with the reason in the customer's language."""
    try:
        refusal = await payments.telegram_check(db, query.invoice_payload, query.currency, query.total_amount)
    except Exception:
        log.exception("pre_checkout_query %s: could not check the order", query.id)
        refusal = "error.internal"
    if refusal is None:
        await bot.answer_pre_checkout_query(query.id, ok=True)
        return
    customer = await users.get_by_telegram_id(db, query.from_user.id)
    lang = customer.language if customer and customer.language else normalize_language(query.from_user.language_code)
    log.info("pre_checkout_query for %s refused: %s", query.invoice_payload, refusal)
    await bot.answer_pre_checkout_query(query.id, ok=False, error_message=t(refusal, lang))


async def successful_payment(message: Message, db: asyncpg.Pool) -> None:
    paid = message.successful_payment
    assert paid is not None
    await payments.telegram_paid(
        db, paid.invoice_payload, paid.currency, paid.total_amount,
        paid.telegram_payment_charge_id, paid.provider_payment_charge_id,
    )


def create_router() -> Router:
    router = Router(name=__name__)
    router.pre_checkout_query.register(pre_checkout)
    router.message.register(successful_payment, F.successful_payment)
    return router
