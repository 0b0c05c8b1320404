"""The Mini App: Jinja2 pages and the JSON API under /api/, on the store's aiohttp server."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from webapp import health, media, pages, payments
from webapp.assets import compression_middleware
from webapp.middleware import error_middleware
from webapp.security import security_headers

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
MAX_REQUEST_LINE = 32 * 1024


def setup_webapp(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
    )
    app.middlewares.append(compression_middleware)  # outermost: error answers are compressed too
    app.middlewares.append(error_middleware)
    app.on_response_prepare.append(security_headers)
    # aiohttp refuses a request line over 8,190 bytes with a plain-text 400 before any handler or
    # middleware runs (and before it knows the path). Let lines up to MAX_REQUEST_LINE through, so
    # the API itself answers a long query (`q` of 10,000 characters) with its JSON error; beyond this
    # bound aiohttp still refuses the request as text (see docs/input-validation.md).
    app._handler_args = {**(app._handler_args or {}), "max_line_size": MAX_REQUEST_LINE,
                         "max_field_size": MAX_REQUEST_LINE}
    app.router.add_get("/healthz", health.healthz)
    pages.setup_routes(app)
    media.setup_routes(app)
    payments.setup_payment_routes(app)
    app.router.add_static("/static/", STATIC, name="static", append_version=True)
