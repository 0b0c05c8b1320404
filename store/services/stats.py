"""Sales figures for the owner (the bot's /stats): orders and revenue by source, top products.

Periods are calendar periods in Tashkent time (UTC+5, no daylight saving): `today` since
midnight, `week` since Monday, `month` since the 1st. Revenue counts every order not cancelled,
whatever its payment status (most orders are paid on delivery).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from db.models import ProductSales, SourceSales
from db.pool import Executor
from db.repos import orders
from store.errors import ValidationFailed

PERIODS = ("today", "week", "month")
TASHKENT = timezone(timedelta(hours=5))
TOP_PRODUCTS = 5


@dataclass(frozen=True, slots=True)
class Stats:
    period: str
    since: datetime  # aware, Tashkent time
    by_source: list[SourceSales]
    top: list[ProductSales]

    @property
    def orders(self) -> int:
        return sum(s.orders for s in self.by_source)

    @property
    def cancelled(self) -> int:
        return sum(s.cancelled for s in self.by_source)

    @property
    def revenue(self) -> Decimal:
        return sum((s.revenue for s in self.by_source), Decimal(0))


def period_start(period: str, now: datetime | None = None) -> datetime:
    """The start of the period in Tashkent time (aware). Raises ValidationFailed for an unknown period."""
    if period not in PERIODS:
        raise ValidationFailed("admin.error.period", periods=", ".join(PERIODS))
    local = (now or datetime.now(UTC)).astimezone(TASHKENT)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        return midnight - timedelta(days=midnight.weekday())
    if period == "month":
        return midnight.replace(day=1)
    return midnight


async def summary(db: Executor, period: str = "today", now: datetime | None = None) -> Stats:
    since = period_start(period, now)
    since_utc = since.astimezone(UTC).replace(tzinfo=None)  # the schema stores naive UTC
    return Stats(period, since, await orders.sales_by_source(db, since_utc),
                 await orders.top_products(db, since_utc, TOP_PRODUCTS))
