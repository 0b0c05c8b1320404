"""`GET /media/{name}`: the product photos the store keeps (store.services.media). A name is the
content's hash, so the content behind it never changes: browsers and Telegram's web view may keep
it for a year without asking again."""

from __future__ import annotations

from aiohttp import web

from store import keys
from store.services import media

CACHE_FOREVER = "public, max-age=31536000, immutable"


async def media_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if not media.is_media_name(name):
        raise web.HTTPNotFound()
    path = media.media_dir(request.app[keys.SETTINGS].data_dir) / name
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": CACHE_FOREVER, "Content-Type": "image/jpeg"})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/media/{name}", media_file, name="media")
