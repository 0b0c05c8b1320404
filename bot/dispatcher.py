"""The Dispatcher and its routers; dependencies reach handlers as workflow data, by name.

Order matters: customers' commands first, then the admin routers (each filtered to ADMIN_IDS, so
for anyone else their commands fall through), and last the fallback that answers whatever is
left ("unknown command").
"""

from __future__ import annotations

from aiogram import Dispatcher
from aiohttp import web

from bot import payments
from bot.handlers import (
    admin_catalog,
    admin_orders,
    admin_payments,
    admin_photos,
    admin_products,
    admin_reports,
    fallback,
    start,
)
from bot.middleware import ContextMiddleware
from store import keys


def create_dispatcher(app: web.Application) -> Dispatcher:
    dp = Dispatcher(
        db=app[keys.DB],
        settings=app[keys.SETTINGS],
        redis=app[keys.REDIS],
    )
    dp.update.outer_middleware(ContextMiddleware(app[keys.DB], app[keys.SETTINGS]))
    dp.include_routers(
        start.create_router(),
        payments.create_router(),
        admin_orders.create_router(),
        admin_payments.create_router(),
        admin_products.create_router(),
        admin_reports.create_router(),
        admin_photos.create_router(),  # before the CSV import, which takes every other document
        admin_catalog.create_router(),
        fallback.create_router(),
    )
    return dp
