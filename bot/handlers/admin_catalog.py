"""Admins: the catalog as a CSV file. Sending a file shows a preview (what would be created and
updated, every wrong row with its column and reason); nothing is written until the admin presses
"Apply", and then every row is applied in one transaction. /export sends the catalog back in the
same format.

The file waits for the decision in Redis for an hour, under a random token only its sender can use;
the decision takes it out atomically (GETDEL), so a double press applies it once.
"""

from __future__ import annotations

import io
import logging
import secrets
from datetime import UTC, datetime

import asyncpg
from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from arq.connections import ArqRedis

from bot import render
from bot.callbacks import ImportDecision
from bot.filters import IsAdmin
from bot.messaging import answer, edit
from store.errors import StoreError
from store.i18n import t
from store.services import catalog_import, media
from store.services.catalog_import import ImportPlan, ImportRejected
from store.settings import Settings

log = logging.getLogger(__name__)

PENDING_TTL = 3600
MAX_ERROR_LINES = 300  # every row problem is a line; the preview spans several messages if need be
CSV_TYPES = {"text/csv", "text/comma-separated-values", "application/csv", "text/plain", "application/vnd.ms-excel"}


def _pending_key(admin_id: int, token: str) -> str:
    return f"bot:import:{admin_id}:{token}"


def preview_text(plan: ImportPlan, file_name: str, lang: str) -> str:
    parts = [t("bot.import.preview", lang, file=render.esc(file_name), creates=len(plan.creates),
               updates=len(plan.updates), unchanged=len(plan.unchanged))]
    if plan.new_categories:
        parts.append(t("bot.import.new_categories", lang,
                       paths=render.esc(", ".join(plan.new_categories[:10]))
                       + ("…" if len(plan.new_categories) > 10 else "")))
    if plan.errors:
        lines = [t("bot.import.errors", lang, count=len(plan.errors))]
        for error in plan.errors[:MAX_ERROR_LINES]:
            params = {k: render.esc(v) for k, v in error.params.items()}
            lines.append(t("bot.import.error_line", lang, row=error.row, column=render.esc(error.column),
                           reason=t(error.reason, lang, **params)))
        if len(plan.errors) > MAX_ERROR_LINES:
            lines.append(t("bot.import.more_errors", lang, count=len(plan.errors) - MAX_ERROR_LINES))
        parts.append("\n".join(lines))
        parts.append(t("bot.import.fix_and_resend", lang))
    elif plan.creates or plan.updates:
        parts.append(t("bot.import.confirm", lang))
    else:
        parts.append(t("bot.import.nothing", lang))
    return "\n\n".join(parts)


async def receive_file(message: Message, bot: Bot, db: asyncpg.Pool, redis: ArqRedis, lang: str) -> None:
    document = message.document
    assert document is not None and message.from_user is not None
    name = document.file_name or "catalog.csv"
    if not name.lower().endswith(".csv") and (document.mime_type or "") not in CSV_TYPES:
        await message.answer(t("bot.import.not_csv", lang))
        return
    if document.file_size is not None and document.file_size > catalog_import.MAX_BYTES:
        await message.answer(t("catalog_import.error.too_large", lang,
                               max_mb=catalog_import.MAX_BYTES // (1024 * 1024)))
        return
    buffer = io.BytesIO()
    await bot.download(document, destination=buffer)
    data = buffer.getvalue()
    plan = await catalog_import.preview(db, data)  # a problem with the whole file: the middleware replies
    markup = None
    if plan.ok and (plan.creates or plan.updates):
        token = secrets.token_urlsafe(9)
        await redis.set(_pending_key(message.from_user.id, token), data, ex=PENDING_TTL)
        markup = InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text=t("bot.import.apply", lang),
                                 callback_data=ImportDecision(token=token, apply=True).pack()),
            InlineKeyboardButton(text=t("bot.import.cancel", lang),
                                 callback_data=ImportDecision(token=token, apply=False).pack()),
        ]])
    await answer(message, preview_text(plan, name, lang), markup)


async def decide(callback: CallbackQuery, callback_data: ImportDecision, db: asyncpg.Pool, redis: ArqRedis,
                 settings: Settings, lang: str) -> None:
    data = await redis.getdel(_pending_key(callback.from_user.id, callback_data.token))
    if data is None:
        await edit(callback, t("bot.import.expired", lang), None)
        await callback.answer()
        return
    if not callback_data.apply:
        await edit(callback, t("bot.import.cancelled", lang), None)
        await callback.answer()
        return
    try:
        result = await catalog_import.apply(db, data, media_dir=media.media_dir(settings.data_dir), redis=redis,
                                            allow_private_images=settings.image_fetch_allow_private)
    except ImportRejected as exc:
        await edit(callback, preview_text(exc.plan, "CSV", lang), None)
        if isinstance(callback.message, Message):
            for part in render.report_parts(preview_text(exc.plan, "CSV", lang))[1:]:
                await callback.message.answer(part)
        await callback.answer()
        return
    except Exception as exc:
        # Nothing was written (one transaction); keep the file so pressing Apply again can work,
        # and say so: the admin must never be left without an answer.
        await redis.set(_pending_key(callback.from_user.id, callback_data.token), data, ex=PENDING_TTL)
        if isinstance(exc, StoreError):
            raise  # its own text, by the middleware
        log.exception("catalog import: apply failed")
        await callback.answer(t("bot.import.failed", lang)[:200], show_alert=True)
        if isinstance(callback.message, Message):
            await callback.message.answer(t("bot.import.failed", lang))
        return
    text = t("bot.import.applied", lang, created=result.created, updated=result.updated,
             unchanged=result.unchanged, categories=result.categories_created)
    if result.images_failed:
        lines = [t("bot.import.images_failed", lang, count=len(result.images_failed))]
        for row, key, params in result.images_failed[:MAX_ERROR_LINES]:
            lines.append(t("bot.import.image_line", lang, row=row, reason=t(key, lang, **params)))
        text += "\n\n" + "\n".join(lines)
    await edit(callback, render.truncate(text), None)
    await callback.answer()


async def export(message: Message, db: asyncpg.Pool, lang: str) -> None:
    data, count = await catalog_import.export_csv(db)
    name = f"catalog-{datetime.now(UTC).astimezone(render.TASHKENT):%Y-%m-%d}.csv"
    await message.answer_document(BufferedInputFile(data, filename=name), caption=t("bot.export.caption", lang,
                                                                                    count=count))


def create_router() -> Router:
    """A new router per dispatcher (an aiogram router can belong to one dispatcher only)."""
    router = Router(name=__name__)
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())
    router.message.register(receive_file, F.document)
    router.callback_query.register(decide, ImportDecision.filter())
    router.message.register(export, Command("export"))
    return router
