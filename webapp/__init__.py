"""The Mini App: Jinja2 pages and the JSON API under /api/, on the store's aiohttp server."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from webapp import health, media, pages, payments
from webapp.assets import compression_middleware
from webapp.middleware import error_middleware

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def setup_webapp(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
    )
    app.middlewares.append(compression_middleware)  # outermost: error answers are compressed too
    app.middlewares.append(error_middleware)
    app.router.add_get("/healthz", health.healthz)
    pages.setup_routes(app)
    media.setup_routes(app)
    payments.setup_payment_routes(app)
    app.router.add_static("/static/", STATIC, name="static", append_version=True)
