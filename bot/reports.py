"""Admin reports, the same text for a command and for a scheduled or event-driven message:
low stock, sales statistics, marketplace sync status and a failed sync run."""

from __future__ import annotations

from datetime import UTC

from bot import render
from db.models import Marketplace, SyncLog
from db.pool import Executor
from db.repos import marketplace_quotas, marketplaces, payments, products, sync_logs
from store.i18n import CATALOG, t
from store.logs import redact
from store.services import stats as stats_service

LOW_STOCK_LINES = 50
ERROR_EXCERPT = 300
SYNC_STATUS_ICONS = {"success": "✅", "partial": "⚠️", "error": "❌"}


async def low_stock_text(db: Executor, threshold: int, lang: str, *, title_key: str = "bot.lowstock.title") -> str:
    found = await products.low_stock(db, threshold)
    title = t(title_key, lang, threshold=threshold, count=len(found))
    if not found:
        return title + "\n\n" + t("bot.lowstock.none", lang)
    lines = [t("bot.lowstock.line", lang, sku=render.esc(p.sku), name=render.esc(p.name(lang)),
               stock=p.stock_quantity) for p in found[:LOW_STOCK_LINES]]
    if len(found) > LOW_STOCK_LINES:
        lines.append(t("bot.lowstock.more", lang, count=len(found) - LOW_STOCK_LINES))
    return render.truncate(title + "\n\n" + "\n".join(lines))


async def stats_text(db: Executor, period: str, lang: str) -> str:
    summary = await stats_service.summary(db, period)
    parts = [t(f"bot.stats.title.{period}", lang, since=summary.since.strftime("%d.%m.%Y"))]
    if not summary.by_source:
        parts.append(t("bot.stats.none", lang))
        return "\n\n".join(parts)
    lines = [t("bot.stats.source", lang, source=render.source_name(s.source, lang), orders=s.orders,
               revenue=render.money(s.revenue, lang), cancelled=s.cancelled) for s in summary.by_source]
    lines.append(t("bot.stats.total", lang, orders=summary.orders, revenue=render.money(summary.revenue, lang),
                   cancelled=summary.cancelled))
    parts.append("\n".join(lines))
    by_method = await payments.revenue_by_method(db, summary.since.astimezone(UTC).replace(tzinfo=None))
    if by_method:
        rows = [t("bot.stats.method_line", lang, method=t(f"payment.method.{method}", lang), orders=count,
                  revenue=render.money(revenue, lang), paid=render.money(paid, lang))
                for method, count, revenue, paid in by_method]
        parts.append(t("bot.stats.by_method", lang) + "\n" + "\n".join(rows))
    if summary.top:
        top = [t("bot.stats.top_line", lang, place=place, name=render.esc(p.name), sku=render.esc(p.sku),
                 quantity=p.quantity, revenue=render.money(p.revenue, lang))
               for place, p in enumerate(summary.top, start=1)]
        parts.append(t("bot.stats.top", lang) + "\n" + "\n".join(top))
    return render.truncate("\n\n".join(parts))


def sync_type_name(sync_type: str, lang: str) -> str:
    key = f"bot.sync_type.{sync_type}"
    return t(key, lang) if key in CATALOG else render.esc(sync_type)


def sync_status_name(log: SyncLog, lang: str) -> str:
    if log.completed_at is None:
        return "⏳ " + t("bot.sync_status.running", lang)
    if log.error_message == sync_logs.INTERRUPTED:
        return "⏹ " + t("bot.sync_status.interrupted", lang)
    key = f"bot.sync_status.{log.status}"
    name = t(key, lang) if key in CATALOG else render.esc(log.status)
    return f"{SYNC_STATUS_ICONS.get(log.status, '•')} {name}"


def _error_excerpt(message: str | None) -> str:
    if not message:
        return ""
    text = redact(" ".join(message.split()))
    return render.esc(text[:ERROR_EXCERPT] + ("…" if len(text) > ERROR_EXCERPT else ""))


async def sync_status_text(db: Executor, lang: str) -> str:
    """The last run of each sync type per marketplace, with its status and counts."""
    by_marketplace: dict[int, list[SyncLog]] = {}
    for log in await sync_logs.latest_per_type(db):
        by_marketplace.setdefault(log.marketplace_id, []).append(log)
    parts = [t("bot.syncstatus.title", lang)]
    quotas = {q.marketplace_id: q for q in await marketplace_quotas.list_all(db)}
    all_marketplaces = await marketplaces.list_all(db)
    if not all_marketplaces:
        parts.append(t("bot.syncstatus.no_marketplaces", lang))
    for marketplace in all_marketplaces:
        state = t("bot.syncstatus.active" if marketplace.is_active else "bot.syncstatus.inactive", lang)
        block = [t("bot.syncstatus.marketplace", lang, name=render.esc(marketplace.name),
                   slug=render.esc(marketplace.slug), state=state)]
        logs = sorted(by_marketplace.get(marketplace.id, []), key=lambda x: x.sync_type)
        if not logs:
            block.append(t("bot.syncstatus.never", lang))
        for log in logs:
            line = t("bot.syncstatus.run", lang, type=sync_type_name(log.sync_type, lang),
                     status=sync_status_name(log, lang), date=render.local_time(log.started_at),
                     processed=log.items_processed, failed=log.items_failed)
            quiet = log.status == "success" or log.error_message == sync_logs.INTERRUPTED  # said by the status
            excerpt = "" if quiet else _error_excerpt(log.error_message)
            block.append(line + (f"\n    <i>{excerpt}</i>" if excerpt else ""))
        quota = quotas.get(marketplace.id)
        if quota is not None:
            date = render.local_time(quota.observed_at)
            if quota.daily_remaining <= 0:
                block.append(t("bot.syncstatus.quota_out", lang, date=date))
            else:
                limit = "" if quota.daily_limit is None else t("bot.syncstatus.quota_limit", lang,
                                                                 limit=quota.daily_limit)
                block.append(t("bot.syncstatus.quota", lang, remaining=quota.daily_remaining, limit=limit, date=date))
        parts.append("\n".join(block))
    return render.truncate("\n\n".join(parts))


def sync_failure_text(marketplace: Marketplace, log: SyncLog, lang: str) -> str:
    text = t("bot.sync_alert", lang, name=render.esc(marketplace.name), type=sync_type_name(log.sync_type, lang),
             status=sync_status_name(log, lang), processed=log.items_processed, failed=log.items_failed,
             date=render.local_time(log.started_at))
    excerpt = _error_excerpt(log.error_message)
    if excerpt:
        text += "\n" + t("bot.sync_alert.error", lang, error=excerpt)
    return render.truncate(text)
