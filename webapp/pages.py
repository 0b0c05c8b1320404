"""Pages are public HTML; customer data only comes through the authenticated /api/."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from store.i18n import catalog_for
from webapp.middleware import SESSIONS, USER, SessionCache, auth_middleware


@aiohttp_jinja2.template("index.html")
async def index(request: web.Request) -> dict[str, object]:
    return {"catalog_uz": catalog_for("uz"), "catalog_ru": catalog_for("ru")}


async def me(request: web.Request) -> web.Response:
    user = request[USER]
    return web.json_response({
        "id": user.id, "telegram_id": user.telegram_id, "first_name": user.first_name,
        "last_name": user.last_name, "username": user.username, "language": user.language,
    })


def setup_routes(app: web.Application) -> None:
    app[SESSIONS] = SessionCache()
    app.middlewares.append(auth_middleware)
    app.router.add_get("/", index, name="index")
    app.router.add_get("/api/me", me)
