"""Product photos stored by the store itself, so the Mini App never hotlinks.

An image (a photo an admin sent to the bot, or a CSV `image_url` fetched once) is decoded with Pillow
to prove it is one (anything else is refused with a clear reason), turned upright (EXIF orientation),
and stored twice under `DATA_DIR/media/`: a web-sized JPEG (longest side WEB_SIDE) and a thumbnail
(THUMB_SIDE). Both names are the SHA-256 of the original bytes, so the same picture is one pair of
files however often it arrives, and a name never changes content: the server sends them with a
year-long `immutable` cache. `products.image_url` holds the web copy's path (`/media/<hash>.jpg`);
the thumbnail is `/media/<hash>-t.jpg`.

Replacing a product's photo removes the old pair once no product and no banner uses it any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import ipaddress
import logging
import os
import re
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from arq.connections import ArqRedis
from PIL import Image, ImageOps, UnidentifiedImageError
from redis.exceptions import RedisError

from db.models import Product
from db.repos import products
from store.errors import NotFound, ValidationFailed
from store.services import events

log = logging.getLogger(__name__)

MEDIA_URL = "/media/"
WEB_SIDE = 1200
THUMB_SIDE = 320
MAX_BYTES = 15 * 1024 * 1024  # what we accept from Telegram or a CSV address
MAX_PIXELS = 50_000_000  # a "decompression bomb" (a tiny file of a huge picture) is refused
MIN_SIDE = 16
FETCH_TIMEOUT = 15.0  # seconds for one CSV image download, in all
JPEG_QUALITY = 85
_NAME = re.compile(r"^[0-9a-f]{32}(-t)?\.jpg$")
FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"})


class ImageRejected(ValidationFailed):
    """Not an image we can use; `message_key` says why (store/texts), in the person's language."""


@dataclass(frozen=True)
class StoredImage:
    url: str  # /media/<hash>.jpg, what products.image_url holds
    thumb_url: str
    width: int  # of the web copy
    height: int
    path: Path  # the web copy's file


def media_dir(data_dir: Path) -> Path:
    return data_dir / "media"


def thumb_url(url: str | None) -> str | None:
    """The thumbnail of a stored web copy; None for anything else (an external address)."""
    if not url or not url.startswith(MEDIA_URL) or not url.endswith(".jpg") or url.endswith("-t.jpg"):
        return None
    return url[: -len(".jpg")] + "-t.jpg"


def is_media_name(name: str) -> bool:
    return bool(_NAME.match(name))


def _decode(data: bytes) -> Image.Image:
    if len(data) > MAX_BYTES:
        raise ImageRejected("media.error.too_large", max_mb=MAX_BYTES // (1024 * 1024))
    if not data:
        raise ImageRejected("media.error.not_image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            if probe.format not in FORMATS:
                raise ImageRejected("media.error.format", format=probe.format or "?")
            if probe.width * probe.height > MAX_PIXELS:
                raise ImageRejected("media.error.too_many_pixels")
            probe.verify()  # structure; the real proof is decoding every pixel below
            image: Image.Image = Image.open(io.BytesIO(data))
            image.load()
    except ImageRejected:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("media.error.not_image") from None
    except (OSError, SyntaxError, ValueError, EOFError):  # truncated or corrupt data
        raise ImageRejected("media.error.broken") from None
    if min(image.size) < MIN_SIDE:
        raise ImageRejected("media.error.too_small", min=MIN_SIDE)
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _jpeg(image: Image.Image, side: int) -> tuple[bytes, tuple[int, int]]:
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue(), copy.size


def _write(path: Path, data: bytes) -> None:
    if path.exists():
        return  # the same name is the same content
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def store_image(directory: Path, data: bytes) -> StoredImage:
    """Decode, check and store the web copy and the thumbnail (blocking: run it in a thread).
    Raises ImageRejected saying what is wrong."""
    image = _decode(data)
    digest = hashlib.sha256(data).hexdigest()[:32]
    web, size = _jpeg(image, WEB_SIDE)
    thumb, _ = _jpeg(image, THUMB_SIDE)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{digest}.jpg"
    _write(directory / f"{digest}-t.jpg", thumb)
    _write(path, web)
    url = f"{MEDIA_URL}{digest}.jpg"
    return StoredImage(url, f"{MEDIA_URL}{digest}-t.jpg", size[0], size[1], path)


async def store(directory: Path, data: bytes) -> StoredImage:
    return await asyncio.to_thread(store_image, directory, data)


class PrivateAddress(OSError):
    """An image address that leads into the store's own network (see `public_session`)."""


def is_public(host: str) -> bool:
    """Is this IP address a public (globally routable) one? IPv4-mapped IPv6 counts as its IPv4."""
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global


class _PublicResolver(AbstractResolver):
    """The default resolver, refusing a name any of whose addresses is not a public one (so a name
    that resolves to both cannot be used to reach inside either)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if any(not is_public(entry["host"]) for entry in found):
            raise PrivateAddress(f"{host} resolves to a private address")
        return found

    async def close(self) -> None:
        await self._inner.close()


async def _refuse_private_literal(session: aiohttp.ClientSession, context: object,
                                  params: aiohttp.TraceRequestStartParams) -> None:
    host = params.url.raw_host or ""
    with contextlib.suppress(ValueError):  # a name, not an address: the resolver checks it
        if not is_public(host.strip("[]")):
            raise PrivateAddress(f"{host} is a private address")


def public_session() -> aiohttp.ClientSession:
    """A client session that reaches public addresses only: an address typed into a CSV file (or a
    redirect it answers with) cannot make the store fetch from its own machine or network (its
    PostgreSQL, Redis, a cloud metadata service at 169.254.169.254, a router's admin page). Every
    request and every redirect hop is checked: a literal address when the request starts, a name
    when it is resolved (every address it resolves to must be public)."""
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_refuse_private_literal)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=_PublicResolver()),
                                 trace_configs=[trace])


async def fetch(session: aiohttp.ClientSession, url: str, *, max_bytes: int = MAX_BYTES,
                timeout: float = FETCH_TIMEOUT) -> bytes:
    """Download an image address (http/https only), at most `max_bytes` within `timeout` seconds in
    all; ImageRejected says why not (a `public_session` refuses private addresses)."""
    if not re.match(r"^https?://[^\s/]+", url):
        raise ImageRejected("media.error.bad_url")
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=True,
                               max_redirects=3) as response:
            if response.status != 200:
                raise ImageRejected("media.error.fetch_status", status=response.status)
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise ImageRejected("media.error.too_large", max_mb=max_bytes // (1024 * 1024))
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data.extend(chunk)
                if len(data) > max_bytes:
                    raise ImageRejected("media.error.too_large", max_mb=max_bytes // (1024 * 1024))
            return bytes(data)
    except TimeoutError:
        raise ImageRejected("media.error.fetch_timeout", seconds=int(timeout)) from None
    except PrivateAddress:
        raise ImageRejected("media.error.private_address") from None
    except aiohttp.ClientError as exc:
        if isinstance(getattr(exc, "os_error", None), PrivateAddress):
            raise ImageRejected("media.error.private_address") from None
        raise ImageRejected("media.error.fetch_failed", reason=type(exc).__name__) from None


SOURCE_KEY = "amazing-store:media-source:"  # + sha256(address) -> the stored web copy's path
SOURCE_TTL = 30 * 86400
FETCH_CONCURRENCY = 4


async def localize(redis: ArqRedis | None, directory: Path, addresses: list[str], *,
                   allow_private: bool = False) -> dict[str, StoredImage | ImageRejected]:
    """Fetch and store every http(s) address once (4 at a time, each bounded in size and time): the
    stored image, or why not. An address fetched before (remembered 30 days, file still there) is
    not fetched again. Private addresses are refused unless `allow_private`
    (IMAGE_FETCH_ALLOW_PRIVATE: images served from the shop's own network)."""
    out: dict[str, StoredImage | ImageRejected] = {}
    semaphore = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(session: aiohttp.ClientSession, address: str) -> None:
        key = SOURCE_KEY + hashlib.sha256(address.encode()).hexdigest()
        known = await _remembered(redis, key)
        if known:
            url = known.decode() if isinstance(known, bytes) else str(known)
            name = url.removeprefix(MEDIA_URL)
            if is_media_name(name) and (directory / name).is_file() and thumb_url(url):
                out[address] = StoredImage(url, thumb_url(url) or "", 0, 0, directory / name)
                return
        async with semaphore:
            try:
                stored = await store(directory, await fetch(session, address))
            except ImageRejected as exc:
                out[address] = exc
                return
        if redis is not None:
            with contextlib.suppress(RedisError, OSError):  # only a cache: a later import fetches again
                await redis.set(key, stored.url, ex=SOURCE_TTL)
        out[address] = stored

    async with (aiohttp.ClientSession() if allow_private else public_session()) as session:
        await asyncio.gather(*(one(session, a) for a in dict.fromkeys(addresses)))
    return out


async def _remembered(redis: ArqRedis | None, key: str) -> bytes | str | None:
    if redis is None:
        return None
    try:
        value: bytes | str | None = await redis.get(key)
    except (RedisError, OSError):
        return None
    return value


async def in_use(db: asyncpg.Pool | asyncpg.Connection, url: str) -> bool:
    value: bool = await db.fetchval(
        """SELECT EXISTS (SELECT 1 FROM products WHERE image_url = $1)
               OR EXISTS (SELECT 1 FROM banners WHERE image_url = $1)""",
        url,
    )
    return value


async def remove_if_unused(db: asyncpg.Pool, directory: Path, url: str | None) -> bool:
    """Delete a stored pair (web copy + thumbnail) that nothing uses any more; True when deleted."""
    thumb = thumb_url(url)
    if url is None or thumb is None or await in_use(db, url):
        return False
    for name in (url[len(MEDIA_URL):], thumb[len(MEDIA_URL):]):
        if is_media_name(name):
            with contextlib.suppress(FileNotFoundError):
                (directory / name).unlink()
    return True


async def set_product_image(pool: asyncpg.Pool, directory: Path, sku: str,
                            data: bytes) -> tuple[Product, StoredImage]:
    """Store the picture and make it the product's photo (one transaction); the old photo's files
    go once nothing uses them. NotFound for an unknown SKU, ImageRejected for a bad picture."""
    if await products.get_by_sku(pool, sku) is None:  # before the work of decoding
        raise NotFound("admin.error.product_not_found", sku=sku)
    stored = await store(directory, data)
    async with pool.acquire() as conn, conn.transaction():
        locked = await products.lock_many_by_sku(conn, [sku])
        if not locked:
            raise NotFound("admin.error.product_not_found", sku=sku)
        old = locked[0].image_url
        await products.update_details(conn, locked[0].id, {"image_url": stored.url})
        updated = await products.get(conn, locked[0].id)
        assert updated is not None
        await events.catalog_changed(conn)
    if old and old != stored.url:
        await remove_if_unused(pool, directory, old)
    return updated, stored
