"""Pages are public HTML; customer data only comes through the authenticated /api/.

The Mini App is one page: the browser-side router (webapp/static/js) draws every screen from the
JSON API, in the language and theme Telegram gives it.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from store import keys
from webapp import api, openapi
from webapp.assets import ASSETS, Assets, serve_asset
from webapp.cache import CATALOG_CACHE, CatalogCache, catalog_cache_ctx
from webapp.middleware import SESSIONS, SessionCache, auth_middleware
from webapp.ratelimit import WRITE_RATE_LIMIT, WriteRateLimit
from webapp.security import csp_nonce
from webapp.views import VIEWS, ViewCounter, views_ctx


@aiohttp_jinja2.template("index.html")
async def index(request: web.Request) -> dict[str, object]:
    """The page names its assets by their hashed names (cached for good) and carries no texts: the
    app fetches the customer's language alone."""
    assets = request.app[ASSETS]
    csp_nonce(request)  # marks this answer as the Mini App page: it gets the page's CSP (webapp.security)
    return {
        "css_url": assets.url("css/app.css"),
        "app_url": assets.url("js/app.js"),
        "vendor_url": assets.url("vendor/telegram-web-app.js"),
        "texts_uz": assets.url("texts/uz"),
        "texts_ru": assets.url("texts/ru"),
    }


async def _revalidate_static(request: web.Request, response: web.StreamResponse) -> None:
    """Files under /static/ (pictures) are versioned by ?v=<hash>; the page itself is revalidated."""
    if request.path == "/":
        response.headers["Cache-Control"] = "no-cache"


def setup_routes(app: web.Application) -> None:
    app[SESSIONS] = SessionCache()
    app[CATALOG_CACHE] = CatalogCache(max_bytes=app[keys.SETTINGS].catalog_cache_mb * 1024 * 1024)
    app.cleanup_ctx.append(catalog_cache_ctx)
    app[VIEWS] = ViewCounter()
    app.cleanup_ctx.append(views_ctx)
    limit, window = app[keys.SETTINGS].write_rate_limit
    app[WRITE_RATE_LIMIT] = WriteRateLimit(limit=limit, window=window)
    app.middlewares.append(auth_middleware)
    app[ASSETS] = Assets()
    app.on_response_prepare.append(_revalidate_static)
    app.router.add_get("/", index, name="index")
    app.router.add_get("/assets/{name}", serve_asset, name="assets")
    app.router.add_get("/api/openapi.json", openapi.openapi_json, name="api.openapi")
    api.setup_api_routes(app)
