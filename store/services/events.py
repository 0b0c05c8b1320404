"""What happened, told to the background: after a transaction commits, the service that made the
change calls one of these, and the work (notifications, marketplace stock pushes) runs as arq jobs,
never inside the request that caused it.

Job ids make the enqueue idempotent; the stock push is debounced per product (a burst of sales in
the same second makes one push).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable

from arq.connections import ArqRedis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

STOCK_DEBOUNCE_SECONDS = 1.0

# Job names, implemented in bot.delivery (notifications) and sync.jobs (marketplace pushes).
JOB_ORDER_CREATED = "notify_order_created"
JOB_ORDER_STATUS = "notify_order_status"
JOB_PROPAGATE_STOCK = "propagate_stock"
JOB_PROPAGATE_PRICE = "propagate_price"


# Pub/sub channel: every store process drops its catalog read cache on a message (webapp.cache).
CATALOG_CHANNEL = "amazing-store:catalog-changed"


async def catalog_changed(redis: ArqRedis) -> None:
    """What customers browse changed (stock, prices, names, categories, activation): every store
    process drops its cached catalog pages now. Stock and price changes call this themselves."""
    await redis.publish(CATALOG_CHANNEL, b"1")


async def order_created(redis: ArqRedis, order_id: int) -> None:
    """A new order (any source): the customer (if known) and the admins hear of it."""
    await redis.enqueue_job(JOB_ORDER_CREATED, order_id, _job_id=f"order-created:{order_id}")


async def order_status_changed(redis: ArqRedis, order_id: int, old: str, new: str) -> None:
    await redis.enqueue_job(JOB_ORDER_STATUS, order_id, old, new, _job_id=f"order-status:{order_id}:{new}")


async def stock_changed(redis: ArqRedis, product_ids: Iterable[int]) -> None:
    """Master stock moved: push it to every other active marketplace mapping, debounced."""
    await catalog_changed(redis)
    await _enqueue_pushes(redis, JOB_PROPAGATE_STOCK, "propagate-stock", product_ids)


async def _enqueue_pushes(redis: ArqRedis, job: str, id_prefix: str, product_ids: Iterable[int]) -> None:
    """One push job per product, debounced: while one is queued for a product, another is not."""
    for product_id in sorted(set(product_ids)):
        queued = await redis.enqueue_job(job, product_id, _job_id=f"{id_prefix}:{product_id}",
                                         _defer_by=STOCK_DEBOUNCE_SECONDS)
        if queued is None:
            log.debug("%s for product %s already queued (debounced)", job, product_id)


async def price_changed(redis: ArqRedis, product_ids: Iterable[int]) -> None:
    """A product's price or sale price changed: push it to its marketplace mappings, debounced
    like the stock push (job `propagate_price(ctx, product_id)`, implemented in sync.jobs)."""
    await catalog_changed(redis)
    await _enqueue_pushes(redis, JOB_PROPAGATE_PRICE, "propagate-price", product_ids)


async def announce(*sends: Awaitable[None]) -> None:
    """Send events after a commit. What they tell of is already committed, so a Redis failure here
    must not turn into an error for the caller: it is logged loudly (notifications and the
    marketplace pushes are then late until the next sync)."""
    for send in sends:
        try:
            await send
        except (RedisError, OSError):
            log.exception("could not enqueue an event after commit")
