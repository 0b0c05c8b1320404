"""Admins: /stats [today|week|month], /sync [SLUG] [TYPE], /syncstatus.

/sync does not run the sync inside the bot: it enqueues the sync side's arq job
`sync_marketplace(ctx, slug, sync_type, full)` (sync_type None: every type), one per marketplace,
with a job id so pressing it twice queues one run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from arq.connections import ArqRedis
from arq.jobs import Job, JobStatus

from bot import render, reports
from bot.filters import IsAdmin
from db.repos import marketplaces
from store.errors import ValidationFailed
from store.i18n import t
from store.services import marketplace_sync
from store.services.stats import PERIODS

JOB_SYNC_MARKETPLACE = "sync_marketplace"
SYNC_TYPES = ("stock", "price", "orders", "reconcile")


async def stats(message: Message, command: CommandObject, db: asyncpg.Pool, lang: str) -> None:
    args = (command.args or "today").lower().split()
    if len(args) != 1 or args[0] not in PERIODS:
        raise ValidationFailed("admin.error.period", periods=" | ".join(PERIODS))
    await message.answer(await reports.stats_text(db, args[0], lang))


async def sync_status(message: Message, db: asyncpg.Pool, redis: ArqRedis, lang: str) -> None:
    # A run left open by a process that died is closed first: "running" then means running.
    await marketplace_sync.close_dead_runs(db, redis)
    await message.answer(await reports.sync_status_text(db, lang))


async def sync_now(message: Message, command: CommandObject, db: asyncpg.Pool, redis: ArqRedis,
                   lang: str) -> None:
    args = (command.args or "").lower().split()
    known = await marketplaces.list_all(db)
    slugs = ", ".join(m.slug for m in known) or "—"
    if len(args) > 2:
        await message.answer(t("bot.sync.usage", lang, slugs=slugs, types=", ".join(SYNC_TYPES)))
        return
    sync_type = args[1] if len(args) == 2 else None
    if sync_type is not None and sync_type not in SYNC_TYPES:
        raise ValidationFailed("bot.sync.bad_type", value=sync_type[:20], types=", ".join(SYNC_TYPES))
    if args:
        targets = [m for m in known if m.slug == args[0]]
        if not targets:
            raise ValidationFailed("bot.sync.unknown", slug=args[0][:50], slugs=slugs)
        if not targets[0].is_active:
            raise ValidationFailed("bot.sync.inactive", slug=targets[0].slug)
    else:
        targets = [m for m in known if m.is_active]
        if not targets:
            await message.answer(t("bot.sync.none_active", lang))
            return
    queued: list[str] = []
    waiting: list[str] = []
    for marketplace in targets:
        job_id = f"sync-now:{marketplace.slug}:{sync_type or 'all'}"
        job = await redis.enqueue_job(JOB_SYNC_MARKETPLACE, marketplace.slug, sync_type, False, _job_id=job_id)
        if job is not None:
            queued.append(render.esc(marketplace.name))
        else:
            waiting.append(await _already(redis, job_id, render.esc(marketplace.name), lang))
    lines = []
    if queued:
        lines.append(t("bot.sync.queued", lang, names=", ".join(queued)))
    lines.extend(waiting)
    await message.answer("\n".join(lines))


async def _already(redis: ArqRedis, job_id: str, name: str, lang: str) -> str:
    """Why a second /sync queued nothing, and when the one already there runs (or ran)."""
    job = Job(job_id, redis)
    status = await job.status()
    if status == JobStatus.in_progress:
        return t("bot.sync.already_running", lang, name=name)
    if status in (JobStatus.queued, JobStatus.deferred):
        info = await job.info()
        if info is not None:
            at = datetime.fromtimestamp(info.score / 1000, tz=UTC) if info.score else datetime.now(UTC)
            seconds = max(0, int((at - datetime.now(UTC)).total_seconds()))
            if seconds <= 1:
                return t("bot.sync.already_next", lang, name=name)
            return t("bot.sync.already_at", lang, name=name, time=render.local_time(at)[-5:], seconds=seconds)
    if status == JobStatus.complete:
        result = await job.result_info()
        ttl = await redis.pttl(f"arq:result:{job_id}")
        if result is not None:
            again = max(1, int(ttl / 1000)) if ttl and ttl > 0 else 1
            return t("bot.sync.already_done", lang, name=name, time=render.local_time(result.finish_time)[-5:],
                     seconds=again)
    return t("bot.sync.already", lang, names=name)


def create_router() -> Router:
    """A new router per dispatcher (an aiogram router can belong to one dispatcher only)."""
    router = Router(name=__name__)
    router.message.filter(IsAdmin())
    router.message.register(stats, Command("stats"))
    router.message.register(sync_status, Command("syncstatus"))
    router.message.register(sync_now, Command("sync"))
    return router
