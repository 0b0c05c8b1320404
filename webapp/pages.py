"""Pages are public HTML; customer data only comes through the authenticated /api/.

The Mini App is one page: the browser-side router (webapp/static/js) draws every screen from the
JSON API, in the language and theme Telegram gives it.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from store import keys
from store.i18n import LANGUAGES, catalog_for
from webapp import api, openapi
from webapp.cache import CATALOG_CACHE, CatalogCache, catalog_cache_ctx
from webapp.middleware import SESSIONS, SessionCache, auth_middleware
from webapp.ratelimit import WRITE_RATE_LIMIT, WriteRateLimit
from webapp.security import csp_nonce

# Texts the page needs: everything but the bot's own.
_PAGE_TEXT_PREFIXES = ("app.", "error.", "order.", "currency", "store.", "payment.")


def _static_url(request: web.Request, path: str) -> str:
    # Versioned (?v=<hash>) by the static route, so Telegram's web view never runs a stale copy.
    return str(request.app.router["static"].url_for(filename=path))


@aiohttp_jinja2.template("index.html")
async def index(request: web.Request) -> dict[str, object]:
    catalogs = {
        lang: {k: v for k, v in catalog_for(lang).items() if k.startswith(_PAGE_TEXT_PREFIXES)}
        for lang in LANGUAGES
    }
    return {
        "catalogs": catalogs,
        "css_url": _static_url(request, "css/app.css"),
        "app_url": _static_url(request, "js/app.js"),
        "vendor_url": _static_url(request, "vendor/telegram-web-app.js"),
        "csp_nonce": csp_nonce(request),
    }


async def _revalidate_static(request: web.Request, response: web.StreamResponse) -> None:
    """The app's modules import each other by plain URL (no build step, so no hashed names): make
    the web view revalidate them (a cheap 304) instead of running yesterday's copy."""
    if request.path.startswith(("/static/js/", "/static/css/")):
        response.headers["Cache-Control"] = "no-cache"


def setup_routes(app: web.Application) -> None:
    app[SESSIONS] = SessionCache()
    app[CATALOG_CACHE] = CatalogCache()
    app.cleanup_ctx.append(catalog_cache_ctx)
    limit, window = app[keys.SETTINGS].write_rate_limit
    app[WRITE_RATE_LIMIT] = WriteRateLimit(limit=limit, window=window)
    app.middlewares.append(auth_middleware)
    app.on_response_prepare.append(_revalidate_static)
    app.router.add_get("/", index, name="index")
    app.router.add_get("/api/openapi.json", openapi.openapi_json, name="api.openapi")
    api.setup_api_routes(app)
