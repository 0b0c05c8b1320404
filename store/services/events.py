"""What happened, told to the background, written in the same transaction as the change.

A service that changes something calls these with the connection of its own transaction. Each call
writes a row (a transactional outbox, db/migrations/0005_outbox.sql): the event exists exactly when
the change does, whatever happens to Redis, the worker or the process right after the commit.

* `order_created`, `order_status_changed`, `job`: an `outbox_events` row naming an arq job, its
  arguments and its job id. The relay (sync/relay.py, in every worker) enqueues it within
  milliseconds of the commit (woken by NOTIFY) and marks it delivered; the job id makes a second
  delivery of the same row harmless.
* `stock_changed`, `price_changed`: a `pending_pushes` row per product, debounced by
  PUSH_DEBOUNCE_SECONDS (a burst of sales is one push), drained by any worker until every
  marketplace has the value (sync/relay.py PushDrainer), and the catalog cache is dropped.
* `catalog_changed`: NOTIFY on commit; every store process drops its catalog read cache (webapp.cache).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from db.pool import Executor
from db.repos import outbox

PUSH_DEBOUNCE_SECONDS = 1.0

# Job names, implemented in bot.delivery (notifications) and sync.jobs.
JOB_ORDER_CREATED = "notify_order_created"
JOB_ORDER_STATUS = "notify_order_status"

# arq queues. Notifications have their own, so Telegram's one message a second per chat never waits
# in line with marketplace syncs (and a killed worker holds a notification for seconds, not minutes).
QUEUE_SYNC = "arq:queue"  # arq's default queue name: marketplace runs and everything else
QUEUE_NOTIFICATIONS = "amazing-store:notifications"


async def job(db: Executor, job_name: str, *args: Any, job_id: str, queue: str = QUEUE_SYNC,
              defer_seconds: float = 0.0) -> None:
    """Run arq job `job_name(*args)` after this transaction commits (never if it rolls back).
    Arguments must be JSON values. `job_id` names the event: the same id is one job."""
    await outbox.add_event(db, job_name, args, job_id, queue, defer_seconds)


async def catalog_changed(db: Executor) -> None:
    """What customers browse changed (names, categories, activation, banners): every store process
    drops its cached catalog pages when this transaction commits. Stock and price changes call it."""
    await outbox.notify_catalog(db)


async def order_created(db: Executor, order_id: int) -> None:
    """A new order (any source): the customer (if known) and the admins hear of it."""
    await job(db, JOB_ORDER_CREATED, order_id, job_id=f"order-created:{order_id}", queue=QUEUE_NOTIFICATIONS)


async def order_status_changed(db: Executor, order_id: int, old: str, new: str) -> None:
    await job(db, JOB_ORDER_STATUS, order_id, old, new, job_id=f"order-status:{order_id}:{new}",
              queue=QUEUE_NOTIFICATIONS)


async def stock_changed(db: Executor, product_ids: Iterable[int]) -> None:
    """Master stock moved: push it to every other active marketplace mapping, debounced."""
    await outbox.request_pushes(db, "stock", product_ids, PUSH_DEBOUNCE_SECONDS)
    await catalog_changed(db)


async def price_changed(db: Executor, product_ids: Iterable[int]) -> None:
    """A product's price or sale price changed: push it to its marketplace mappings, debounced."""
    await outbox.request_pushes(db, "price", product_ids, PUSH_DEBOUNCE_SECONDS)
    await catalog_changed(db)
