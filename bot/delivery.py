"""Outgoing Telegram messages, sent by arq jobs (registered in sync.worker), never inside the
request that caused them: a slow or failing Telegram never slows a checkout.

Jobs (names are the contract with whoever enqueues them):

* `notify_order_created(ctx, order_id)` — enqueued by `store.services.events.order_created` for
  every new order, any source. The customer (when the order has one) gets "order placed" with the
  number, items and total; every admin gets the order card with buttons for the next allowed status.
* `notify_order_status(ctx, order_id, old, new)` — enqueued by `events.order_status_changed`; the
  order's customer hears of confirmed / shipped / delivered / cancelled.
* `alert_sync_failure(ctx, sync_log_id)` — enqueued by the sync side after a run that ended
  `error` or `partial` (any other status is ignored). The admins get the marketplace, the type, the
  counts and an excerpt of the error, at most once per marketplace and sync type per hour (a Redis
  key with a one-hour TTL), so a broken API key does not flood the chat.
* `low_stock_digest(ctx)` — cron, daily at 09:00 Tashkent time: the products at or under
  LOW_STOCK_THRESHOLD to every admin (nothing when there are none).
* `send_message(ctx, chat_id, text, reply_markup=None, order_number=None, purpose="message")` —
  the one job that talks to Telegram. The jobs above only decide who gets what and enqueue one
  `send_message` per recipient, with a job id per (event, recipient), so running them twice sends
  nothing twice and one recipient's trouble holds up nobody else.
* `flush_admin_alerts(ctx, admin_id)` — new-order alerts to an admin are collected in a Redis set
  and sent when the admin's chat has a free slot: one order as its card with status buttons, a
  burst as one message ("12 new orders"), never a queue of cards minutes long.

All of these run on their own arq queue (`events.QUEUE_NOTIFICATIONS`). `send_message` never waits
inside the job: it reserves its sending time once (the chat's one-a-second slot and the overall
budget, bot.ratelimit) and, when that is later, is re-scheduled for exactly then and sends when it
runs again; after a 429 it waits Telegram's retry_after. Waiting messages hold no worker slot and
a long queue costs no retries. A blocked bot (403) is noted in `bot_blocked_chats` and skipped. A
network error, a 5xx or a 401 is retried with backoff (at most a minute apart) until the message is
MAX_MESSAGE_AGE old (a day); then, and when Telegram refuses the message itself (400), it is
dropped, logged at ERROR with the order number, and the admins get a plain-text alert saying what
was not delivered. Every send records Telegram's state for /healthz (bot.health).

The worker shares one Bot, `ctx["bot"]`: made by `open_bot` in the worker's on_startup (arq gives
each job a copy of ctx, so it must exist before the first job) and closed by `close_bot` in its
on_shutdown. In local mode (no BOT_TOKEN) there is no one to send to: the jobs log that at DEBUG
and return.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import InlineKeyboardMarkup
from arq import cron, func
from arq.connections import ArqRedis
from arq.jobs import Job, JobStatus
from arq.worker import Retry

from bot import health, render, reports
from bot.ratelimit import TelegramRateLimiter
from db.repos import bot_chats, marketplaces, orders, payments, products, sync_logs, users
from store.i18n import t
from store.logs import redact
from store.services import events
from store.settings import Settings

log = logging.getLogger(__name__)

JOB_SEND = "send_message"
JOB_FLUSH_ADMIN_ALERTS = "flush_admin_alerts"
MAX_MESSAGE_AGE = 24 * 3600  # seconds a message is retried before it is given up
SEND_BACKOFF = (2, 5, 15, 30, 60)  # seconds before try 2, 3, ... after an error that is not a 429; then 60
MAX_NOTIFY_TRIES = 3
SYNC_ALERT_TTL = 3600
DIGEST_HOUR_UTC = 4  # 09:00 in Tashkent
SEND_KEEP_RESULT = 3600  # job ids stay taken this long, so a re-run of a notify job sends nothing twice
ADMIN_ALERTS_KEY = "bot:admin-new-orders:{admin_id}"  # sorted set of order ids waiting for the admin's slot
ADMIN_BATCH_LINES = 15
QUEUE = events.QUEUE_NOTIFICATIONS


async def open_bot(ctx: dict[str, Any]) -> None:
    """For the worker's on_startup: the Bot every job shares, as ctx["bot"] (honours
    TELEGRAM_API_URL; no connection until the first send). arq hands each job a copy of ctx, so
    it must exist before the first job; nothing in local mode."""
    from bot.runner import create_bot

    settings: Settings = ctx["settings"]
    if settings.bot_token is not None and ctx.get("bot") is None:
        ctx["bot"] = create_bot(settings)


async def close_bot(ctx: dict[str, Any]) -> None:
    """For the worker's on_shutdown: close the shared Bot's HTTP session if one was opened."""
    bot: Bot | None = ctx.pop("bot", None)
    if bot is not None:
        await bot.session.close()


@contextlib.asynccontextmanager
async def _bot(ctx: dict[str, Any]) -> AsyncIterator[Bot | None]:
    """The worker's shared Bot; without one (a worker that did not call open_bot), a Bot for this
    job only, closed after it. None in local mode."""
    from bot.runner import create_bot

    settings: Settings = ctx["settings"]
    shared: Bot | None = ctx.get("bot")
    if shared is not None or settings.bot_token is None:
        yield shared
        return
    own = create_bot(settings)
    try:
        yield own
    finally:
        await own.session.close()


async def enqueue_send(redis: ArqRedis, job_key: str, chat_id: int, text: str,
                       markup: InlineKeyboardMarkup | None = None, *, order_number: str | None = None,
                       purpose: str = "message", plain: bool = False) -> bool:
    """Queue one message; False when a job with this key already exists (sent or queued)."""
    job = await redis.enqueue_job(
        JOB_SEND, chat_id, text, markup.model_dump(mode="json", exclude_none=True) if markup else None,
        order_number, purpose, time.time(), plain, _job_id=f"send:{job_key}:{chat_id}", _queue_name=QUEUE,
        _expires=MAX_MESSAGE_AGE + 3600,  # arq drops a job a day after enqueue by default: outlive our own bound
    )
    return job is not None


def _about(purpose: str, order_number: str | None) -> str:
    return f"{purpose} for order {order_number}" if order_number else purpose


async def send_message(
    ctx: dict[str, Any], chat_id: int, text: str, reply_markup: dict[str, Any] | None = None,
    order_number: str | None = None, purpose: str = "message", queued_at: float | None = None,
    plain: bool = False,
) -> str:
    """Send one message; returns what happened: sent, blocked, local, failed. See the module doc."""
    about = _about(purpose, order_number)
    if ctx["settings"].bot_token is None:
        log.debug("local mode (no BOT_TOKEN): %s to chat %s not sent", about, chat_id)
        return "local"
    db: asyncpg.Pool = ctx["db"]
    if await bot_chats.is_blocked(db, chat_id):
        log.info("%s: chat %s has blocked the bot; skipped", about, chat_id)
        return "blocked"
    job_try: int = ctx.get("job_try", 1)
    age = time.time() - queued_at if queued_at else 0.0
    limiter = TelegramRateLimiter(ctx["redis"])
    holder = str(ctx.get("job_id") or f"{chat_id}:{uuid.uuid4().hex}")
    wait = await limiter.reserve(chat_id, holder)
    if wait > 0:
        raise Retry(defer=wait)  # its sending time is reserved: come back then, holding no worker slot
    markup = InlineKeyboardMarkup.model_validate(reply_markup) if reply_markup else None
    try:
        async with _bot(ctx) as bot:
            assert bot is not None
            await bot.send_message(chat_id, text, reply_markup=markup, parse_mode=None if plain else ParseMode.HTML)
        await limiter.release(holder)
        await health.record_send(ctx["redis"], ok=True)
        if job_try > 1:
            log.info("%s sent to chat %s after %.0f s", about, chat_id, age)
        return "sent"
    except TelegramRetryAfter as exc:
        await limiter.release(holder)
        await limiter.pause_chat(chat_id, exc.retry_after)
        raise Retry(defer=float(exc.retry_after)) from None
    except TelegramForbiddenError as exc:
        await limiter.release(holder)
        await bot_chats.mark_blocked(db, chat_id, exc.message[:500])
        log.warning("%s: chat %s blocked the bot (%s); noted, not retried", about, chat_id, exc.message)
        return "blocked"
    except TelegramBadRequest as exc:
        await limiter.release(holder)
        reason = redact(exc.message)
        log.error("%s to chat %s dropped: Telegram refused it (%s)", about, chat_id, reason)
        await _undelivered(ctx, chat_id, purpose, order_number, reason, plain)
        return "failed"
    except TelegramAPIError as exc:  # network, 5xx, 401: may pass; keep trying for a day
        await limiter.release(holder)
        reason = f"{type(exc).__name__}: {redact(exc.message)}"
        await health.record_send(ctx["redis"], ok=False, detail=reason)
    if age >= MAX_MESSAGE_AGE:
        log.error("%s to chat %s dropped after %.1f h of tries: %s", about, chat_id, age / 3600, reason)
        await _undelivered(ctx, chat_id, purpose, order_number, reason, plain)
        return "failed"
    delay = float(SEND_BACKOFF[min(job_try - 1, len(SEND_BACKOFF) - 1)])
    log.warning("%s to chat %s: %s; try %d in %.0f s", about, chat_id, reason, job_try + 1, delay)
    raise Retry(defer=delay)


async def _undelivered(ctx: dict[str, Any], chat_id: int, purpose: str, order_number: str | None, reason: str,
                       plain: bool) -> None:
    """A message was given up: the admins get a plain-text alert (no markup that could fail again)
    with the order number. Not for a failed alert of this kind itself (no loop)."""
    if plain and purpose == "undelivered alert":
        return
    await tell_admins(
        ctx, f"undelivered:{purpose}:{order_number}:{chat_id}",
        lambda lang: t("bot.notify.undelivered", lang, what=purpose, number=order_number or "—", chat=chat_id,
                       reason=reason[:300]),
        order_number=order_number, purpose="undelivered alert", plain=True)


async def _language_of_admin(db: asyncpg.Pool, telegram_id: int) -> str:
    user = await users.get_by_telegram_id(db, telegram_id)
    return user.language if user is not None and user.language in ("uz", "ru") else "uz"


async def tell_admins(ctx: dict[str, Any], job_key: str, text_for: Callable[[str], str], *,
                      order_number: str | None = None, purpose: str, plain: bool = False) -> None:
    """Queue one message to every admin (ADMIN_IDS), each in their own language: `text_for(lang)`
    is the text; `job_key` names the event (one job per admin, so a re-run sends nothing twice)."""
    settings: Settings = ctx["settings"]
    for admin_id in sorted(settings.admin_ids):
        text = text_for(await _language_of_admin(ctx["db"], admin_id))
        await enqueue_send(ctx["redis"], job_key, admin_id, text, order_number=order_number, purpose=purpose,
                           plain=plain)


async def _retry_or_log(ctx: dict[str, Any], what: str, exc: Exception) -> None:
    """A notify job failed before it could queue its messages (database or Redis trouble): try
    again a little later, and after the last try say loudly what was lost."""
    job_try: int = ctx.get("job_try", 1)
    if job_try < MAX_NOTIFY_TRIES:
        log.warning("%s failed (%r); try %d of %d in %d s", what, exc, job_try + 1, MAX_NOTIFY_TRIES, 5 * job_try)
        raise Retry(defer=5 * job_try) from exc
    log.error("%s failed after %d tries, notification lost: %r", what, job_try, exc)


async def notify_order_created(ctx: dict[str, Any], order_id: int) -> None:
    settings: Settings = ctx["settings"]
    if settings.bot_token is None:
        log.debug("local mode (no BOT_TOKEN): no notifications for new order id %s", order_id)
        return
    db: asyncpg.Pool = ctx["db"]
    redis: ArqRedis = ctx["redis"]
    number = f"id {order_id}"
    try:
        order = await orders.get(db, order_id)
        if order is None:
            log.error("new order id %s: no such order, nobody notified", order_id)
            return
        number = order.order_number
        items = await orders.items(db, order.id)
        if order.user_id is not None:
            customer = await users.get(db, order.user_id)
            if customer is not None:
                lang = customer.language or "uz"
                await enqueue_send(redis, f"order-created:{order.id}", customer.telegram_id,
                                   render.order_placed_for_customer(order, items, lang,
                                                                    await payments.get(db, order.id)),
                                   order_number=order.order_number, purpose="order placed")
        for admin_id in sorted(settings.admin_ids):
            await redis.zadd(ADMIN_ALERTS_KEY.format(admin_id=admin_id), {str(order.id): order.id})
            await redis.expire(ADMIN_ALERTS_KEY.format(admin_id=admin_id), MAX_MESSAGE_AGE)
            await _ensure_flush(redis, admin_id)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        await _retry_or_log(ctx, f"notifications for new order {number}", exc)


async def _ensure_flush(redis: ArqRedis, admin_id: int) -> None:
    """Make sure a flush job will look at the admin's waiting alerts after now. One queued or
    deferred will; one running might have read the set already, so wait for it to end (it takes
    milliseconds) and queue another."""
    job_id = f"admin-alerts:{admin_id}"
    for _ in range(100):
        if await redis.enqueue_job(JOB_FLUSH_ADMIN_ALERTS, admin_id, _job_id=job_id, _queue_name=QUEUE) is not None:
            return
        status = await Job(job_id, redis, _queue_name=QUEUE).status()
        if status in (JobStatus.queued, JobStatus.deferred):
            return
        await asyncio.sleep(0.05)
    log.warning("new-order alerts for admin %s: the flush job stayed busy; its final check sends them", admin_id)


async def flush_admin_alerts(ctx: dict[str, Any], admin_id: int) -> str:
    """Send the admin the new orders collected for them, once their chat has a free slot: one
    order as its card with status buttons, several as one summary."""
    redis: ArqRedis = ctx["redis"]
    db: asyncpg.Pool = ctx["db"]
    wait = await TelegramRateLimiter(redis).chat_wait(admin_id)
    if wait > 0:
        raise Retry(defer=wait)  # collect what else arrives until the slot frees
    key = ADMIN_ALERTS_KEY.format(admin_id=admin_id)
    ids = [int(member) for member in await redis.zrange(key, 0, -1)]
    if not ids:
        return "nothing waiting"
    lang = await _language_of_admin(db, admin_id)
    if len(ids) == 1:
        order = await orders.get(db, ids[0])
        if order is not None:
            items = await orders.items(db, order.id)
            payment = await payments.get(db, order.id)  # how it is paid (issue #10)
            headline = t("bot.notify.admin_new_order", lang, source=render.source_name(order.source, lang))
            await enqueue_send(redis, f"order-created-admin:{order.id}", admin_id,
                               render.order_card(order, items, lang, headline=headline, payment=payment),
                               render.order_keyboard(order, lang, admin_id),
                               order_number=order.order_number, purpose="new order alert")
    else:
        found = [o for o in [await orders.get(db, order_id) for order_id in ids] if o is not None]
        lines = [f"• {render.esc(o.order_number)} · {render.source_name(o.source, lang)} · "
                 f"{render.money(o.total, lang)}" for o in found[:ADMIN_BATCH_LINES]]
        if len(found) > ADMIN_BATCH_LINES:
            lines.append(t("bot.notify.admin_new_orders_more", lang, count=len(found) - ADMIN_BATCH_LINES))
        total = sum((o.total for o in found), Decimal(0))
        await enqueue_send(redis, f"order-created-admin-batch:{ids[0]}-{ids[-1]}:{len(ids)}", admin_id,
                           t("bot.notify.admin_new_orders", lang, count=len(found), total=render.money(total, lang),
                             lines="\n".join(lines)),
                           purpose=f"{len(found)} new orders alert")
    await redis.zrem(key, *[str(i) for i in ids])
    if await redis.zcard(key):
        raise Retry(defer=1.0)  # more arrived meanwhile: they go in the next message, after this one's slot
    return f"{len(ids)} order(s)"


async def notify_order_status(ctx: dict[str, Any], order_id: int, old: str, new: str) -> None:
    settings: Settings = ctx["settings"]
    if settings.bot_token is None:
        log.debug("local mode (no BOT_TOKEN): no notification for order id %s %s -> %s", order_id, old, new)
        return
    db: asyncpg.Pool = ctx["db"]
    redis: ArqRedis = ctx["redis"]
    number = f"id {order_id}"
    try:
        order = await orders.get(db, order_id)
        if order is None:
            log.error("order id %s (%s -> %s): no such order, nobody notified", order_id, old, new)
            return
        number = order.order_number
        if order.user_id is None:
            return  # a marketplace order: the marketplace tells its customer
        customer = await users.get(db, order.user_id)
        if customer is None:
            return
        text = render.status_for_customer(order, new, customer.language or "uz")
        if text is None:
            return
        await enqueue_send(redis, f"order-status:{order.id}:{new}", customer.telegram_id, text,
                           order_number=order.order_number, purpose=f"status {new}")
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        await _retry_or_log(ctx, f"status notification ({old} -> {new}) for order {number}", exc)


async def alert_sync_failure(ctx: dict[str, Any], sync_log_id: int) -> None:
    """Contract for the sync side: enqueue `alert_sync_failure` with the sync_logs id after a run
    that ended `error` or `partial`, e.g. `await redis.enqueue_job("alert_sync_failure", log.id)`.
    Runs for other statuses are ignored; alerts are throttled to one per marketplace and sync type
    per hour (the first failure of the hour is the one reported; /syncstatus shows the latest)."""
    settings: Settings = ctx["settings"]
    if settings.bot_token is None:
        log.debug("local mode (no BOT_TOKEN): no alert for sync run %s", sync_log_id)
        return
    db: asyncpg.Pool = ctx["db"]
    redis: ArqRedis = ctx["redis"]
    run = await sync_logs.find(db, sync_log_id)
    if run is None or run.status not in ("error", "partial"):
        return
    marketplace = await marketplaces.get(db, run.marketplace_id)
    if marketplace is None:
        return
    throttle = f"bot:sync-alert:{run.marketplace_id}:{run.sync_type}"
    if not await redis.set(throttle, str(sync_log_id), nx=True, ex=SYNC_ALERT_TTL):
        log.info("sync run %s (%s %s, %s): admins already alerted this hour", sync_log_id, marketplace.slug,
                 run.sync_type, run.status)
        return
    await tell_admins(ctx, f"sync-alert:{sync_log_id}", lambda lang: reports.sync_failure_text(marketplace, run, lang),
                      purpose="sync failure alert")


async def low_stock_digest(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    if settings.bot_token is None:
        log.debug("local mode (no BOT_TOKEN): no low-stock digest")
        return
    db: asyncpg.Pool = ctx["db"]
    redis: ArqRedis = ctx["redis"]
    if not await products.low_stock(db, settings.low_stock_threshold):
        return
    day = datetime.now(UTC).astimezone(render.TASHKENT).strftime("%Y-%m-%d")
    for admin_id in sorted(settings.admin_ids):
        lang = await _language_of_admin(db, admin_id)
        text = await reports.low_stock_text(db, settings.low_stock_threshold, lang,
                                            title_key="bot.lowstock.digest_title")
        # A long catalog's digest goes out as several messages, in order (one job id per part).
        for number, part in enumerate(render.report_parts(text), start=1):
            key = f"low-stock:{day}" if number == 1 else f"low-stock:{day}:{number}"
            await enqueue_send(redis, key, admin_id, part, purpose="low-stock digest")


# Timeouts are short: a notification job never waits long (see send_message), and a worker that died
# holding one keeps it "in progress" for only the longest timeout on this queue + 10 s.
FUNCTIONS: list[Any] = [
    func(send_message, name=JOB_SEND, max_tries=100_000, keep_result=SEND_KEEP_RESULT, timeout=30),
    func(flush_admin_alerts, name=JOB_FLUSH_ADMIN_ALERTS, max_tries=100_000, keep_result=0, timeout=30),
    func(notify_order_created, name="notify_order_created", max_tries=MAX_NOTIFY_TRIES, timeout=30),
    func(notify_order_status, name="notify_order_status", max_tries=MAX_NOTIFY_TRIES, timeout=30),
    func(alert_sync_failure, name="alert_sync_failure", max_tries=MAX_NOTIFY_TRIES, timeout=30),
    func(low_stock_digest, name="low_stock_digest", max_tries=1, timeout=60),
]
CRON_JOBS: list[Any] = [
    cron(low_stock_digest, name="cron:low_stock_digest", hour=DIGEST_HOUR_UTC, minute=0, unique=True, timeout=60),
]
