"""Online payment: the one place the payment rules live (issue #10). See docs/payments.md for the
protocols' facts and their sources.

Rules every provider (Payme, Click, Telegram Payments) goes through:

* Money is integer tiyin (1 so'm = 100 tiyin); an amount is compared with what the order owes
  exactly, never as a float.
* Whatever changes an order's payment runs in one transaction that first locks the order row
  (`orders.lock`); the transaction rows are read again under that lock. Two callbacks for the same
  order therefore run one after the other, and a customer's cancel (which takes the same lock) is
  either before a payment (the payment is refused) or after it (the cancel is refused).
* Every callback is idempotent: a transaction is found by its unique (provider, provider id) and a
  repeated call answers what the first one did.
* An order is paid once: never twice, never after it was cancelled, never after it expired.
* Every money change writes a `payment_events` row in the same transaction.
* The events are written in the same transaction (`store.services.events`, the outbox): the
  customer and the admins hear of a payment or a refund, and an order cancelled by a refund or an
  expiry gives its stock back through `store.services.orders` (so the marketplaces hear of it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urlencode

import asyncpg

from db.models import Order, OrderPayment, PaymentTransaction
from db.pool import Executor
from db.repos import orders, payments
from store.errors import Conflict, NotFound, ValidationFailed
from store.services import events
from store.services import orders as order_service
from store.services.checkout import retry_transient
from store.settings import Settings
from store.validation import BIGINT_MAX, INT4_MAX, is_ascii_int

log = logging.getLogger(__name__)

METHODS = ("cash", "payme", "click", "telegram")
ONLINE = frozenset({"payme", "click", "telegram"})
# Payme: a created transaction not performed within 12 hours is cancelled with reason 4.
PAYME_TIMEOUT_MS = 43_200_000
# Payme's cancel reasons (docs/payments.md).
REASON_RECEIVERS_NOT_FOUND = 1
REASON_DEBIT_ERROR = 2
REASON_EXECUTION_ERROR = 3
REASON_TIMEOUT = 4
REASON_REFUND = 5
REASON_UNKNOWN = 10
PAYME_REASONS = frozenset({1, 2, 3, 4, 5, 10})
# Transaction states (Payme's, used for every provider).
CREATED, PERFORMED, CANCELLED, CANCELLED_AFTER_PERFORM = 1, 2, -1, -2
JOB_PAYMENT_NOTIFY = "notify_payment"

T = TypeVar("T")


def now_ms() -> int:
    return int(time.time() * 1000)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def to_tiyin(amount: Decimal) -> int:
    """So'm (Decimal) to tiyin (int), exactly; an amount with a fraction of a tiyin is a bug."""
    tiyin = amount * 100
    if tiyin != tiyin.to_integral_value():
        raise ValueError(f"{amount} so'm is not a whole number of tiyin")
    return int(tiyin)


def tiyin_to_som_text(tiyin: int) -> str:
    """Tiyin as Click writes amounts: so'm with two decimals (`125000.00`)."""
    return f"{tiyin // 100}.{tiyin % 100:02d}"


# --- checkout: the customer's choice ------------------------------------------------------------


class MethodUnavailable(ValidationFailed):
    code = "payment_method_unavailable"


def parse_method(value: object, settings: Settings) -> str:
    """`payment_method` from the checkout body: absent means cash; otherwise one of the enabled
    methods, or a 400 naming the field."""
    if value is None:
        return "cash"
    if not isinstance(value, str) or value not in METHODS:
        raise ValidationFailed("error.validation", fields={"payment_method": "error.payment_method_unknown"})
    if value not in settings.payment_methods:
        raise MethodUnavailable("error.validation", fields={"payment_method": "error.payment_method_unavailable"})
    return value


def terms(method: str, total: Decimal, settings: Settings) -> tuple[int, datetime | None]:
    """What a new order owes (its total in tiyin) and, paid online, when it expires unpaid."""
    expires = _utcnow() + timedelta(minutes=settings.payment_timeout_minutes) if method in ONLINE else None
    return to_tiyin(total), expires


async def start(conn: Executor, order: Order, method: str, settings: Settings) -> OrderPayment:
    """Inside checkout's transaction: record how the new order is paid. An online order owes its
    total in tiyin and expires after PAYMENT_TIMEOUT_MINUTES."""
    amount, expires = terms(method, order.total, settings)
    payment = await payments.create(conn, order.id, method, amount, expires)
    await payments.add_event(conn, order_id=order.id, event="started", actor="customer", provider=method,
                             amount_tiyin=payment.amount_tiyin, new_payment_status=order.payment_status)
    return payment


def payable_refusal(order: Order, payment: OrderPayment | None, now: datetime | None = None) -> str | None:
    """Why this order cannot be paid online now (a short code), or None when it can."""
    if payment is None or payment.method not in ONLINE:
        return "not_online"
    if order.payment_status == "paid":
        return "paid"
    if order.payment_status == "refunded":
        return "refunded"
    if order.status == "cancelled":
        # cancelled by the expiry job (at or after the deadline), or before it by someone
        expired = payment.expires_at is not None and order.cancelled_at is not None \
            and order.cancelled_at >= payment.expires_at
        return "expired" if expired else "cancelled"
    if payment.expires_at is not None and (now or _utcnow()) >= payment.expires_at:
        return "expired"
    return None


# --- links the customer opens -----------------------------------------------------------------


def return_url(base_url: str, order_number: str) -> str:
    """Where the payment page sends the customer back: the Mini App's order screen."""
    return f"{base_url.rstrip('/')}/#/orders/{order_number}"


def payme_link(settings: Settings, order_number: str, amount_tiyin: int, back_url: str) -> str:
    """Payme's checkout link: GET {PAYME_CHECKOUT_URL}/base64("m=…;ac.order_id=…;a=…;c=…")."""
    assert settings.payme_merchant_id
    params = f"m={settings.payme_merchant_id};ac.order_id={order_number};a={amount_tiyin};c={back_url}"
    return f"{settings.payme_checkout_url.rstrip('/')}/{base64.b64encode(params.encode()).decode()}"


def click_link(settings: Settings, order_number: str, amount_tiyin: int, back_url: str) -> str:
    """Click's pay link: my.click.uz/services/pay?service_id&merchant_id&amount&transaction_param&return_url."""
    query = urlencode({
        "service_id": settings.click_service_id, "merchant_id": settings.click_merchant_id,
        "amount": tiyin_to_som_text(amount_tiyin), "transaction_param": order_number, "return_url": back_url,
    })
    return f"{settings.click_pay_url}?{query}"


@dataclass(frozen=True, slots=True)
class PaymentInfo:
    """What the customer's order screen needs: how it is paid and, while payable, where to pay."""

    method: str
    amount_tiyin: int
    expires_at: datetime | None
    payable: bool
    refusal: str | None


def info(order: Order, payment: OrderPayment | None) -> PaymentInfo | None:
    if payment is None:
        return None
    refusal = payable_refusal(order, payment)
    return PaymentInfo(payment.method, payment.amount_tiyin, payment.expires_at, refusal is None, refusal)


def telegram_payload(order_number: str) -> str:
    """The invoice payload (1-128 bytes, never shown to the user): the order number."""
    return f"order:{order_number}"


# --- the shared core: every provider pays, cancels and refunds through these ----------------------


@dataclass
class Outcome:
    """What a payment transaction changed."""

    order: Order | None = None
    paid: bool = False
    refunded: bool = False


async def _in_transaction(pool: asyncpg.Pool, work: Callable[[Executor], Awaitable[T]], what: str) -> T:
    async def attempt() -> T:
        async with pool.acquire() as conn, conn.transaction():
            return await work(conn)

    return await retry_transient(attempt, what)


async def _mark_paid(conn: Executor, order: Order, tx: PaymentTransaction, actor: str, outcome: Outcome) -> None:
    updated = await orders.set_payment_status(conn, order.id, "paid")
    await payments.mark_paid(conn, order.id, tx.provider)
    await payments.add_event(conn, order_id=order.id, transaction_id=tx.id, event="paid", actor=actor,
                             provider=tx.provider, amount_tiyin=tx.amount_tiyin,
                             old_payment_status=order.payment_status, new_payment_status="paid")
    await payment_changed(conn, order.id, "paid")
    outcome.order, outcome.paid = updated, True


async def _refund(conn: Executor, order: Order, tx: PaymentTransaction | None, actor: str, provider: str,
                  outcome: Outcome, note: str | None = None) -> None:
    """The money went back: payment_status refunded and, unless the goods were delivered, the order
    cancelled with its stock returned (through the order status rules)."""
    updated = await orders.set_payment_status(conn, order.id, "refunded")
    await payments.mark_refunded(conn, order.id)
    await payments.add_event(conn, order_id=order.id, transaction_id=tx.id if tx else None, event="refunded",
                             actor=actor, provider=provider, amount_tiyin=tx.amount_tiyin if tx else None,
                             old_payment_status=order.payment_status, new_payment_status="refunded", note=note)
    await payment_changed(conn, order.id, "refunded")
    outcome.order, outcome.refunded = updated, True
    if updated.status not in ("delivered", "cancelled"):
        change, _ = await order_service.apply_status(conn, updated, "cancelled", order_service.Actor.system())
        outcome.order = change.order


async def payment_changed(conn: Executor, order_id: int, kind: str) -> None:
    """The one payment event (kind: paid, refunded), in the caller's transaction: job
    `notify_payment(ctx, order_id, kind)` on the notifications queue (store.payment_jobs)."""
    await events.job(conn, JOB_PAYMENT_NOTIFY, order_id, kind, job_id=f"payment:{order_id}:{kind}",
                     queue=events.QUEUE_NOTIFICATIONS)


# --- Payme Merchant API (JSON-RPC), see docs/payments.md ------------------------------------------

PAYME_MESSAGES: dict[int, dict[str, str]] = {
    -32300: {"uz": "So'rov usuli POST emas", "ru": "Метод запроса не POST", "en": "Request method is not POST"},
    -32700: {"uz": "JSON tahlil qilishda xatolik", "ru": "Ошибка разбора JSON", "en": "JSON parse error"},
    -32600: {
        "uz": "RPC so'rovida majburiy maydonlar yo'q yoki ularning turi spetsifikatsiyaga mos emas",
        "ru": "Отсутствуют обязательные поля в RPC-запросе или тип полей не соответствует спецификации",
        "en": "Required fields are missing from the RPC request or their types do not match the specification",
    },
    -32601: {"uz": "So'ralgan metod topilmadi", "ru": "Запрашиваемый метод не найден", "en": "Method not found"},
    -32504: {
        "uz": "Metodni bajarish uchun huquqlar yetarli emas",
        "ru": "Недостаточно привилегий для выполнения метода",
        "en": "Insufficient privilege to perform this method",
    },
    -32400: {"uz": "Tizim xatosi", "ru": "Системная ошибка", "en": "System error"},
    -31001: {"uz": "Noto'g'ri summa", "ru": "Неверная сумма", "en": "Incorrect amount"},
    -31003: {"uz": "Tranzaksiya topilmadi", "ru": "Транзакция не найдена", "en": "Transaction not found"},
    -31007: {
        "uz": "Tranzaksiyani bekor qilib bo'lmaydi: buyurtma xaridorga to'liq yetkazib berilgan",
        "ru": "Невозможно отменить транзакцию: товар полностью доставлен покупателю",
        "en": "Unable to cancel the transaction: the goods have been delivered to the customer",
    },
    -31008: {"uz": "Bu amalni bajarib bo'lmaydi", "ru": "Невозможно выполнить данную операцию",
             "en": "Unable to perform this operation"},
    -31050: {"uz": "Buyurtma topilmadi", "ru": "Заказ не найден", "en": "Order not found"},
    -31051: {
        "uz": "Buyurtma to'lovni kutmayapti (to'langan, bekor qilingan yoki muddati o'tgan)",
        "ru": "Заказ не ожидает оплаты (оплачен, отменён или просрочен)",
        "en": "The order is not awaiting payment (paid, cancelled or expired)",
    },
    -31052: {
        "uz": "Buyurtma boshqa tranzaksiya orqali to'lanmoqda",
        "ru": "Заказ уже оплачивается другой транзакцией",
        "en": "The order is being paid by another transaction",
    },
}


class PaymeError(Exception):
    """A JSON-RPC error answer: `code` from Payme's list, its uz/ru/en message, and `data` (for an
    account error, the name of the account field at fault)."""

    def __init__(self, code: int, data: Any = None) -> None:
        super().__init__(code)
        self.code, self.data = code, data

    def as_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": PAYME_MESSAGES[self.code]}
        if self.data is not None:
            error["data"] = self.data
        return error


ACCOUNT_FIELD = "order_id"


def _payme_int(params: Mapping[str, Any], name: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PaymeError(-32600, name)
    return value


def _payme_id(params: Mapping[str, Any]) -> str:
    value = params.get("id")
    if not isinstance(value, str) or not value or len(value) > 255:
        raise PaymeError(-32600, "id")
    return value


def _payme_account(params: Mapping[str, Any]) -> str:
    account = params.get("account")
    if not isinstance(account, dict):
        raise PaymeError(-32600, "account")
    number = account.get(ACCOUNT_FIELD)
    if not isinstance(number, str | int) or isinstance(number, bool) or not str(number).strip():
        raise PaymeError(-31050, ACCOUNT_FIELD)
    return str(number).strip()[:50]


async def _payme_order_for(conn: Executor, order_number: str, amount: int) -> tuple[Order, OrderPayment]:
    """The locked order an account names, checked as CheckPerformTransaction does."""
    order = await orders.lock_by_number(conn, order_number)
    if order is None:
        raise PaymeError(-31050, ACCOUNT_FIELD)
    payment = await payments.get(conn, order.id)
    refusal = payable_refusal(order, payment)
    if refusal == "not_online":
        raise PaymeError(-31050, ACCOUNT_FIELD)
    if refusal is not None:
        raise PaymeError(-31051, ACCOUNT_FIELD)
    assert payment is not None
    if amount != payment.amount_tiyin:
        raise PaymeError(-31001, "amount")
    return order, payment


async def _cancel_created(conn: Executor, order: Order, tx: PaymentTransaction, reason: int,
                          actor: str) -> PaymentTransaction:
    """A created (state 1) transaction is cancelled (state -1) with `reason`; the order stays unpaid."""
    cancelled = await payments.cancel_transaction(conn, tx.id, CANCELLED, reason, now_ms())
    await payments.add_event(conn, order_id=order.id, transaction_id=tx.id, event="transaction_cancelled",
                             actor=actor, provider=tx.provider, amount_tiyin=tx.amount_tiyin,
                             old_payment_status=order.payment_status, new_payment_status=order.payment_status,
                             note=f"reason {reason}")
    return cancelled


def _tx_result(tx: PaymentTransaction) -> dict[str, Any]:
    return {"transaction": str(tx.id), "state": tx.state}


def payme_check_auth(settings: Settings, authorization: str | None) -> bool:
    """HTTP Basic `Paycom:<PAYME_KEY>`, compared in constant time."""
    if settings.payme_key is None or not authorization:
        return False
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except ValueError:
        return False
    expected = b"Paycom:" + settings.payme_key.get_secret_value().encode()
    return hmac.compare_digest(decoded, expected)


class Payme:
    """The Merchant API methods Payme calls; each returns the JSON-RPC `result` or raises PaymeError."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def dispatch(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        handler = {
            "CheckPerformTransaction": self.check_perform, "CreateTransaction": self.create,
            "PerformTransaction": self.perform, "CancelTransaction": self.cancel,
            "CheckTransaction": self.check, "GetStatement": self.statement,
        }.get(method)
        if handler is None:
            raise PaymeError(-32601, method)
        return await handler(params)

    async def check_perform(self, params: Mapping[str, Any]) -> dict[str, Any]:
        amount, number = _payme_int(params, "amount"), _payme_account(params)

        async def work(conn: Executor) -> dict[str, Any]:
            order, _ = await _payme_order_for(conn, number, amount)
            if await payments.active_transaction(conn, order.id, "payme") is not None:
                raise PaymeError(-31052, ACCOUNT_FIELD)
            return {"allow": True}

        return await _in_transaction(self.pool, work, "Payme CheckPerformTransaction")

    async def create(self, params: Mapping[str, Any]) -> dict[str, Any]:
        tx_id, payme_time = _payme_id(params), _payme_int(params, "time")
        amount, number = _payme_int(params, "amount"), _payme_account(params)

        async def work(conn: Executor) -> dict[str, Any] | PaymeError:
            order = await orders.lock_by_number(conn, number)
            if order is None:
                raise PaymeError(-31050, ACCOUNT_FIELD)
            tx = await payments.find_transaction(conn, "payme", tx_id)
            if tx is not None:
                if tx.state != CREATED:
                    raise PaymeError(-31008)
                if now_ms() - tx.create_time > PAYME_TIMEOUT_MS:
                    await _cancel_created(conn, order, tx, REASON_TIMEOUT, "payme")
                    return PaymeError(-31008)
                return {"create_time": tx.create_time, **_tx_result(tx)}
            order, _ = await _payme_order_for(conn, number, amount)
            if await payments.active_transaction(conn, order.id, "payme") is not None:
                raise PaymeError(-31052, ACCOUNT_FIELD)
            tx = await payments.insert_transaction(
                conn, order_id=order.id, provider="payme", provider_transaction_id=tx_id, amount_tiyin=amount,
                state=CREATED, create_time=now_ms(), provider_time=payme_time,
            )
            await payments.add_event(conn, order_id=order.id, transaction_id=tx.id, event="transaction_created",
                                     actor="payme", provider="payme", amount_tiyin=amount,
                                     old_payment_status=order.payment_status,
                                     new_payment_status=order.payment_status)
            return {"create_time": tx.create_time, **_tx_result(tx)}

        return await _answer(self.pool, work, "Payme CreateTransaction")

    async def _locked(self, conn: Executor, tx_id: str) -> tuple[Order, PaymentTransaction]:
        """The transaction and its order, the order row locked and the transaction read under it."""
        found = await payments.find_transaction(conn, "payme", tx_id)
        if found is None:
            raise PaymeError(-31003)
        order = await orders.lock(conn, found.order_id)
        tx = await payments.get_transaction(conn, found.id)
        assert order is not None and tx is not None
        return order, tx

    async def perform(self, params: Mapping[str, Any]) -> dict[str, Any]:
        tx_id = _payme_id(params)
        outcome = Outcome()

        async def work(conn: Executor) -> dict[str, Any] | PaymeError:
            order, tx = await self._locked(conn, tx_id)
            if tx.state == PERFORMED:
                return {"perform_time": tx.perform_time, **_tx_result(tx)}
            if tx.state != CREATED:
                raise PaymeError(-31008)
            if now_ms() - tx.create_time > PAYME_TIMEOUT_MS:
                await _cancel_created(conn, order, tx, REASON_TIMEOUT, "payme")
                return PaymeError(-31008)
            # Paid by another provider meanwhile, or cancelled: the money must not be taken.
            if order.payment_status != "unpaid" or order.status == "cancelled":
                raise PaymeError(-31008)
            payment = await payments.get(conn, order.id)
            if payment is None or tx.amount_tiyin != payment.amount_tiyin:
                raise PaymeError(-31008)  # what the order owes is what the transaction holds, exactly
            performed = await payments.perform_transaction(conn, tx.id, now_ms())
            await _mark_paid(conn, order, performed, "payme", outcome)
            return {"perform_time": performed.perform_time, **_tx_result(performed)}

        return await _answer(self.pool, work, "Payme PerformTransaction")

    async def cancel(self, params: Mapping[str, Any]) -> dict[str, Any]:
        tx_id, reason = _payme_id(params), _payme_int(params, "reason")
        if reason not in PAYME_REASONS:
            raise PaymeError(-32600, "reason")
        outcome = Outcome()

        async def work(conn: Executor) -> dict[str, Any] | PaymeError:
            order, tx = await self._locked(conn, tx_id)
            if tx.state == CREATED:
                tx = await _cancel_created(conn, order, tx, reason, "payme")
            elif tx.state == PERFORMED:
                if order.status == "delivered":
                    raise PaymeError(-31007)
                tx = await payments.cancel_transaction(conn, tx.id, CANCELLED_AFTER_PERFORM, reason, now_ms())
                await _refund(conn, order, tx, "payme", "payme", outcome, note=f"reason {reason}")
            return {"cancel_time": tx.cancel_time, **_tx_result(tx)}

        return await _answer(self.pool, work, "Payme CancelTransaction")

    async def check(self, params: Mapping[str, Any]) -> dict[str, Any]:
        tx = await payments.find_transaction(self.pool, "payme", _payme_id(params))
        if tx is None:
            raise PaymeError(-31003)
        return {"create_time": tx.create_time, "perform_time": tx.perform_time, "cancel_time": tx.cancel_time,
                **_tx_result(tx), "reason": tx.reason}

    async def statement(self, params: Mapping[str, Any]) -> dict[str, Any]:
        time_from, time_to = _payme_int(params, "from"), _payme_int(params, "to")
        rows = await payments.statement(self.pool, "payme", time_from, time_to)
        return {"transactions": [
            {"id": tx.provider_transaction_id, "time": tx.provider_time, "amount": tx.amount_tiyin,
             "account": {ACCOUNT_FIELD: number}, "create_time": tx.create_time, "perform_time": tx.perform_time,
             "cancel_time": tx.cancel_time, "transaction": str(tx.id), "state": tx.state, "reason": tx.reason,
             "receivers": None}
            for tx, number in rows
        ]}


async def _answer(pool: asyncpg.Pool, work: Callable[[Executor], Awaitable[dict[str, Any] | PaymeError]],
                  what: str) -> dict[str, Any]:
    """Run a Payme method's transaction. `work` raises a PaymeError to answer it with nothing
    written, or returns one to answer it after committing what it wrote (a transaction cancelled
    for its timeout)."""
    result = await _in_transaction(pool, work, what)
    if isinstance(result, PaymeError):
        raise result
    return result


# --- Click SHOP API (prepare / complete), see docs/payments.md ----------------------------------

CLICK_ERRORS: dict[int, str] = {
    0: "Success",
    -1: "SIGN CHECK FAILED!",
    -2: "Incorrect parameter amount",
    -3: "Action not found",
    -4: "Already paid",
    -5: "User does not exist",
    -6: "Transaction does not exist",
    -7: "Failed to update user",
    -8: "Error in request from click",
    -9: "Transaction cancelled",
}
_CLICK_REQUIRED = ("click_trans_id", "service_id", "click_paydoc_id", "merchant_trans_id", "amount", "action",
                   "error", "sign_time", "sign_string")


def click_sign(secret: str, p: Mapping[str, str], *, complete: bool) -> str:
    """md5(click_trans_id + service_id + SECRET_KEY + merchant_trans_id [+ merchant_prepare_id]
    + amount + action + sign_time), of the values exactly as Click sent them."""
    parts = [p["click_trans_id"], p["service_id"], secret, p["merchant_trans_id"]]
    if complete:
        parts.append(p["merchant_prepare_id"])
    parts += [p["amount"], p["action"], p["sign_time"]]
    return hashlib.md5("".join(parts).encode()).hexdigest()  # noqa: S324 - Click's documented signature


def _click_answer(p: Mapping[str, str], error: int, **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {"click_trans_id": p.get("click_trans_id"),
                              "merchant_trans_id": p.get("merchant_trans_id")}
    answer.update(extra)
    answer.update({"error": error, "error_note": CLICK_ERRORS[error]})
    return answer


def _click_amount(raw: str) -> int | None:
    """Click's `amount` (so'm, e.g. `125000` or `125000.00`) in tiyin, or None when it is not one."""
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0:
        return None
    try:
        return to_tiyin(value)
    except ValueError:
        return None


class Click:
    """Click's two calls; each returns the JSON answer (error 0 or a documented negative code)."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool, self.settings = pool, settings

    def _check(self, p: Mapping[str, str], *, complete: bool) -> int | None:
        """The common checks: every field there, the signature, the action, our service."""
        required = _CLICK_REQUIRED + (("merchant_prepare_id",) if complete else ())
        if any(not p.get(name) for name in required):
            return -8
        secret = self.settings.click_secret_key
        assert secret is not None
        if not hmac.compare_digest(click_sign(secret.get_secret_value(), p, complete=complete),
                                   p["sign_string"].lower()):
            return -1
        if p["action"] != ("1" if complete else "0"):
            return -3
        if p["service_id"] != str(self.settings.click_service_id):
            return -8
        if not is_ascii_int(p["click_trans_id"], maximum=BIGINT_MAX) or _click_amount(p["amount"]) is None:
            return -8
        return None

    async def prepare(self, p: Mapping[str, str]) -> dict[str, Any]:
        problem = self._check(p, complete=False)
        if problem is not None:
            return _click_answer(p, problem)
        amount = _click_amount(p["amount"])
        assert amount is not None

        async def work(conn: Executor) -> dict[str, Any]:
            order = await orders.lock_by_number(conn, p["merchant_trans_id"])
            if order is None:
                return _click_answer(p, -5)
            tx = await payments.find_transaction(conn, "click", p["click_trans_id"])
            if tx is not None:  # Click repeated its prepare: the same answer
                if tx.state == PERFORMED:
                    return _click_answer(p, -4)
                if tx.state != CREATED:
                    return _click_answer(p, -9)
                return _click_answer(p, 0, merchant_prepare_id=tx.id)
            payment = await payments.get(conn, order.id)
            refusal = payable_refusal(order, payment)
            if refusal in ("paid", "refunded"):
                return _click_answer(p, -4)
            if refusal in ("cancelled", "expired"):
                return _click_answer(p, -9)
            if refusal is not None or payment is None:
                return _click_answer(p, -5)
            if amount != payment.amount_tiyin:
                return _click_answer(p, -2)
            older = await payments.active_transaction(conn, order.id, "click")
            if older is not None:  # an abandoned earlier attempt: this one replaces it
                await payments.cancel_transaction(conn, older.id, CANCELLED, REASON_EXECUTION_ERROR, now_ms())
            tx = await payments.insert_transaction(
                conn, order_id=order.id, provider="click", provider_transaction_id=p["click_trans_id"],
                amount_tiyin=amount, state=CREATED, create_time=now_ms(),
                details={"click_paydoc_id": p["click_paydoc_id"], "sign_time": p["sign_time"]},
            )
            await payments.add_event(conn, order_id=order.id, transaction_id=tx.id, event="transaction_created",
                                     actor="click", provider="click", amount_tiyin=amount,
                                     old_payment_status=order.payment_status,
                                     new_payment_status=order.payment_status)
            return _click_answer(p, 0, merchant_prepare_id=tx.id)

        return await _in_transaction(self.pool, work, "Click prepare")

    async def complete(self, p: Mapping[str, str]) -> dict[str, Any]:
        problem = self._check(p, complete=True)
        if problem is not None:
            return _click_answer(p, problem)
        amount = _click_amount(p["amount"])
        prepare_id = p["merchant_prepare_id"]
        outcome = Outcome()

        async def work(conn: Executor) -> dict[str, Any]:
            found = (await payments.get_transaction(conn, int(prepare_id))
                     if is_ascii_int(prepare_id, maximum=INT4_MAX) else None)
            if (found is None or found.provider != "click"
                    or found.provider_transaction_id != p["click_trans_id"]):
                return _click_answer(p, -6)
            order = await orders.lock(conn, found.order_id)
            tx = await payments.get_transaction(conn, found.id)
            assert order is not None and tx is not None
            if order.order_number != p["merchant_trans_id"]:
                return _click_answer(p, -5)
            if tx.state == PERFORMED:
                return _click_answer(p, -4)
            if tx.state != CREATED:
                return _click_answer(p, -9)
            if amount != tx.amount_tiyin:
                return _click_answer(p, -2)
            click_error = p["error"]
            if click_error.startswith("-") and is_ascii_int(click_error[1:]) and int(click_error) < 0:
                # Click reports the payment failed: cancel it here and answer -9, as documented.
                await _cancel_created(conn, order, tx, REASON_DEBIT_ERROR, "click")
                return _click_answer(p, -9)
            if order.payment_status != "unpaid":
                return _click_answer(p, -4)
            if order.status == "cancelled":
                await _cancel_created(conn, order, tx, REASON_EXECUTION_ERROR, "click")
                return _click_answer(p, -9)
            performed = await payments.perform_transaction(conn, tx.id, now_ms())
            await _mark_paid(conn, order, performed, "click", outcome)
            return _click_answer(p, 0, merchant_confirm_id=tx.id)

        return await _in_transaction(self.pool, work, "Click complete")


# --- Telegram Payments ------------------------------------------------------------------------


class NotPayable(Conflict):
    code = "not_payable"


async def telegram_check(pool: asyncpg.Pool, payload: str, currency: str, total_amount: int) -> str | None:
    """pre_checkout_query: None when the order may be paid now, else the refusal's message key."""
    number = payload.removeprefix("order:")
    order = await orders.get_by_number(pool, number)
    if order is None or not payload.startswith("order:"):
        return "payment.refusal.not_found"
    payment = await payments.get(pool, order.id)
    refusal = payable_refusal(order, payment)
    if refusal is not None:
        return f"payment.refusal.{refusal}"
    assert payment is not None
    if currency != "UZS" or total_amount != payment.amount_tiyin:
        return "payment.refusal.amount"
    return None


async def telegram_paid(pool: asyncpg.Pool, payload: str, currency: str, total_amount: int,
                        telegram_charge_id: str, provider_charge_id: str) -> Order | None:
    """successful_payment: mark the order paid, storing both charge ids; idempotent per charge id.
    Returns the order, or None when the payment cannot be matched (logged loudly: the money was
    taken and must be refunded by hand)."""
    number = payload.removeprefix("order:")
    outcome = Outcome()

    async def work(conn: Executor) -> Order | None:
        order = await orders.lock_by_number(conn, number)
        if order is None:
            log.error("Telegram payment %s for unknown order %r: refund it in the provider's cabinet",
                      telegram_charge_id, number)
            return None
        if await payments.find_transaction(conn, "telegram", telegram_charge_id) is not None:
            return order  # Telegram repeated the update
        payment = await payments.get(conn, order.id)
        paid_before = order.payment_status == "paid"
        state = PERFORMED
        if currency != "UZS" or payment is None or total_amount != payment.amount_tiyin or paid_before \
                or order.status == "cancelled":
            log.error("Telegram payment %s for order %s cannot be taken (status %s, payment %s, amount %s %s): "
                      "refund it with /refund after refunding in the provider's cabinet", telegram_charge_id,
                      number, order.status, order.payment_status, total_amount, currency)
            state = CANCELLED
        tx = await payments.insert_transaction(
            conn, order_id=order.id, provider="telegram", provider_transaction_id=telegram_charge_id,
            amount_tiyin=total_amount, state=state, create_time=now_ms(),
            perform_time=now_ms() if state == PERFORMED else 0,
            details={"telegram_payment_charge_id": telegram_charge_id,
                     "provider_payment_charge_id": provider_charge_id, "currency": currency},
        )
        if state == PERFORMED:
            await _mark_paid(conn, order, tx, "telegram", outcome)
        else:
            await payments.add_event(conn, order_id=order.id, transaction_id=tx.id, event="unmatched_payment",
                                     actor="telegram", provider="telegram", amount_tiyin=total_amount,
                                     old_payment_status=order.payment_status,
                                     new_payment_status=order.payment_status, note="needs a manual refund")
        return outcome.order or order

    return await _in_transaction(pool, work, "Telegram successful_payment")


# --- the owner: refunds, history; the worker: expiry ---------------------------------------------


class RefundNotAllowed(Conflict):
    code = "refund_not_allowed"


async def refund(pool: asyncpg.Pool, order_number: str, admin_id: int) -> Order:
    """/refund ORDER: the owner refunded a Click or Telegram payment in that system's cabinet; mark
    it refunded here (the order cancelled with its stock back unless delivered). Payme refunds come
    from Payme itself (CancelTransaction), so they are refused here."""
    outcome = Outcome()

    async def work(conn: Executor) -> Order:
        order = await orders.lock_by_number(conn, order_number)
        if order is None:
            raise NotFound("error.order_not_found")
        if order.payment_status != "paid":
            raise RefundNotAllowed("bot.refund.not_paid", number=order.order_number)
        performed = [tx for tx in await payments.transactions_for_order(conn, order.id) if tx.state == PERFORMED]
        tx = performed[-1] if performed else None
        if tx is not None and tx.provider == "payme":
            raise RefundNotAllowed("bot.refund.payme", number=order.order_number)
        if tx is not None:
            tx = await payments.cancel_transaction(conn, tx.id, CANCELLED_AFTER_PERFORM, REASON_REFUND, now_ms())
        payment = await payments.get(conn, order.id)
        provider = tx.provider if tx else (payment.method if payment else "cash")
        await _refund(conn, order, tx, f"admin:{admin_id}", provider, outcome)
        assert outcome.order is not None
        return outcome.order

    return await _in_transaction(pool, work, "refund")


async def expire_unpaid(pool: asyncpg.Pool, now: datetime | None = None) -> list[str]:
    """Cancel every online order still unpaid after its PAYMENT_TIMEOUT_MINUTES, its stock returned
    (through store.services.orders) and its open transactions cancelled; returns the order numbers."""
    moment = now or _utcnow()
    expired: list[str] = []
    for order_id in await payments.expired_unpaid(pool, moment):

        async def work(conn: Executor, order_id: int = order_id) -> bool:
            order = await orders.lock(conn, order_id)
            payment = await payments.get(conn, order_id)
            if order is None or payment is None or payment.method not in ONLINE or payment.expires_at is None \
                    or payment.expires_at > moment:
                return False
            if order.payment_status != "unpaid" or order.status not in ("pending", "confirmed"):
                return False  # paid, cancelled or shipped while we were looking
            for tx in await payments.transactions_for_order(conn, order_id):
                if tx.state == CREATED:
                    await payments.cancel_transaction(conn, tx.id, CANCELLED, REASON_TIMEOUT, now_ms())
            await payments.add_event(conn, order_id=order_id, event="expired", actor="worker",
                                     provider=payment.method, amount_tiyin=payment.amount_tiyin,
                                     old_payment_status="unpaid", new_payment_status="unpaid")
            await order_service.apply_status(conn, order, "cancelled", order_service.Actor.system())
            expired.append(order.order_number)
            return True

        await _in_transaction(pool, work, "payment expiry")
    if expired:
        log.info("cancelled %d unpaid online order(s) after the payment timeout: %s", len(expired),
                 ", ".join(expired))
    return expired


async def switch_method(pool: asyncpg.Pool, order_number: str, method: str, user_id: int) -> None:
    """The customer pays an unpaid online order with another enabled online method."""
    if method not in ONLINE:
        raise ValueError(method)

    async def work(conn: Executor) -> None:
        order = await orders.lock_by_number(conn, order_number)
        if order is None or order.user_id != user_id:
            raise NotFound("error.order_not_found")
        payment = await payments.get(conn, order.id)
        refusal = payable_refusal(order, payment)
        if refusal is not None or payment is None:
            raise NotPayable("error.order_not_payable", reason=refusal or "")
        if payment.method != method:
            await payments.set_method(conn, order.id, method)
            await payments.add_event(conn, order_id=order.id, event="method_changed", actor="customer",
                                     provider=method, amount_tiyin=payment.amount_tiyin,
                                     old_payment_status=order.payment_status, new_payment_status=order.payment_status,
                                     note=f"{payment.method} -> {method}")

    await _in_transaction(pool, work, "payment method change")
