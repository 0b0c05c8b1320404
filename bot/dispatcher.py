"""The Dispatcher and its routers; dependencies reach handlers as workflow data, by name."""

from __future__ import annotations

from aiogram import Dispatcher
from aiohttp import web

from bot.handlers import start
from store import keys


def create_dispatcher(app: web.Application) -> Dispatcher:
    dp = Dispatcher(
        db=app[keys.DB],
        settings=app[keys.SETTINGS],
        redis=app[keys.REDIS],
    )
    dp.include_router(start.router)
    return dp
