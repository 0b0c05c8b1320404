"""The Mini App's scripts, styles and texts as content-hashed assets, built once at start-up.

No build step: at start-up every module under static/js is read, its imports of sibling modules are
rewritten to their hashed names (leaves first, so a change anywhere changes the name of everything
that imports it), and each file is kept in memory with a gzip copy. `/assets/<name>.<hash>.<ext>`
never changes, so it is served with `Cache-Control: immutable` for a year: a repeat visit asks the
server only for the page itself. The texts are one JSON asset per language, so a customer downloads
only their own language.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from store.i18n import LANGUAGES, catalog_for

STATIC = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
# Texts the page needs: everything but the bot's own.
PAGE_TEXT_PREFIXES = ("app.", "error.", "order.", "currency", "store.", "payment.")
_IMPORT = re.compile(r"""(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(["'])\./([\w-]+\.js)\2""")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    gzipped: bytes
    content_type: str
    etag: str


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:12]


def _asset(stem: str, suffix: str, body: bytes) -> Asset:
    digest = _digest(body)
    return Asset(f"{stem}.{digest}{suffix}", body, gzip.compress(body, compresslevel=9, mtime=0),
                 _TYPES[suffix] + ("; charset=utf-8" if suffix != ".json" else ""), f'"{digest}"')


class Assets:
    """Every asset by its hashed name, and the hashed name of each source file ("js/app.js")."""

    def __init__(self, static: Path = STATIC) -> None:
        self.by_name: dict[str, Asset] = {}
        self.urls: dict[str, str] = {}
        js_dir = static / "js"
        sources = {path.name: path.read_text(encoding="utf-8") for path in sorted(js_dir.glob("*.js"))}
        hashed: dict[str, str] = {}

        def build(name: str, seen: tuple[str, ...] = ()) -> str:
            if name in hashed:
                return hashed[name]
            if name in seen:
                raise RuntimeError(f"import cycle through {name}: hashed names need an acyclic module graph")
            if name not in sources:
                raise RuntimeError(f"static/js imports ./{name}, which does not exist")

            def swap(match: re.Match[str]) -> str:
                return f"{match.group(1)}{match.group(2)}./{build(match.group(3), (*seen, name))}{match.group(2)}"

            text = _IMPORT.sub(swap, sources[name])
            asset = self._add(name.removesuffix(".js"), ".js", text.encode())
            hashed[name] = asset.name
            return asset.name

        for name in sources:
            self.urls[f"js/{name}"] = f"/assets/{build(name)}"
        css = self._add("app", ".css", (static / "css" / "app.css").read_bytes())
        self.urls["css/app.css"] = f"/assets/{css.name}"
        vendor = self._add("telegram-web-app", ".js", (static / "vendor" / "telegram-web-app.js").read_bytes())
        self.urls["vendor/telegram-web-app.js"] = f"/assets/{vendor.name}"
        for lang in LANGUAGES:
            texts = {k: v for k, v in catalog_for(lang).items() if k.startswith(PAGE_TEXT_PREFIXES)}
            asset = self._add(f"texts-{lang}", ".json", orjson.dumps(texts, option=orjson.OPT_SORT_KEYS))
            self.urls[f"texts/{lang}"] = f"/assets/{asset.name}"

    def _add(self, stem: str, suffix: str, body: bytes) -> Asset:
        asset = _asset(stem, suffix, body)
        self.by_name[asset.name] = asset
        return asset

    def url(self, source: str) -> str:
        return self.urls[source]


ASSETS = web.AppKey("assets", Assets)


def accepts_gzip(request: web.Request) -> bool:
    return any(part.split(";")[0].strip() == "gzip" for part in request.headers.get("Accept-Encoding", "").split(","))


async def serve_asset(request: web.Request) -> web.Response:
    asset = request.app[ASSETS].by_name.get(request.match_info["name"])
    if asset is None:
        raise web.HTTPNotFound()
    headers = {"Cache-Control": IMMUTABLE, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    if accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        body = asset.gzipped
    else:
        body = asset.body
    headers["Content-Type"] = asset.content_type
    return web.Response(body=body, headers=headers)


_COMPRESSIBLE = ("text/html", "application/json", "text/css", "text/javascript", "application/javascript",
                 "image/svg+xml")


@web.middleware
async def compression_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """gzip the pages and the API's JSON (not the assets: they carry their own gzip copy)."""
    response = await handler(request)
    if not isinstance(response, web.Response) or response.compression or "Content-Encoding" in response.headers:
        return response
    body = response.body
    if not isinstance(body, bytes | bytearray) or len(body) < 1024:
        return response
    if response.content_type not in _COMPRESSIBLE or not accepts_gzip(request):
        return response
    response.headers.add("Vary", "Accept-Encoding")
    response.enable_compression(web.ContentCoding.gzip)
    return response
