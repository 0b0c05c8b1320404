"""Product photos from the bot, over real HTTP against the fake Bot API: a photo with the SKU as its
caption (or as a reply to a /product card) becomes the product's photo, served back by the store with
a year-long immutable cache; anything that is not an image is refused; a new photo replaces the old
one, whose files go once nothing uses them."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import asyncpg
from PIL import Image

from db.repos import products
from store.services import media
from store.settings import Settings
from tests.bot_helpers import ADMIN_ID, product
from tests.conftest import Client
from tests.fake_telegram import Call, FakeTelegram, user

pytest_plugins = ["tests.bot_support"]

ADMIN = user(ADMIN_ID, "uz", "Owner")


def picture(width: int, height: int, color: tuple[int, int, int], fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, fmt)
    return out.getvalue()


async def send(telegram: FakeTelegram, sizes: list[tuple[bytes, int, int]], caption: str | None,
               contains: str, reply_to: Call | None = None, who: dict[str, Any] = ADMIN) -> Call:
    mark = telegram.mark()
    await telegram.send_photo(who, sizes, caption, reply_to=reply_to)
    return await telegram.wait_sent(who["id"], contains, after=mark)


async def served(client: Client, url: str) -> tuple[Image.Image, str]:
    response = await client.get(url)
    assert response.status == 200, url
    image = Image.open(io.BytesIO(await response.read()))
    image.load()
    return image, response.headers["Cache-Control"]


def files(data_dir: Path) -> set[str]:
    directory = media.media_dir(data_dir)
    return {p.name for p in directory.iterdir()} if directory.exists() else set()


async def test_a_photo_with_the_sku_as_caption_becomes_the_product_photo(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool, bot_settings: Settings,
) -> None:
    phone = await product(pool, "PHN-A15")
    small, large = picture(160, 120, (200, 30, 30)), picture(2000, 1500, (200, 30, 30), "PNG")
    await send(telegram, [(small, 160, 120), (large, 2000, 1500)], "PHN-A15", "Rasm saqlandi (1200×900)")
    card = await telegram.wait_sent(ADMIN_ID, "PHN-A15", method="sendPhoto")
    assert "Samsung Galaxy A15" in card.text  # the product card is the photo's caption

    stored = await products.get(pool, phone.id)
    assert stored is not None and stored.image_url is not None and stored.image_url.startswith("/media/")
    web, cache = await served(bot_app, stored.image_url)
    assert (web.format, web.size) == ("JPEG", (1200, 900))  # the largest size, web-sized
    assert cache == "public, max-age=31536000, immutable"
    thumb, _ = await served(bot_app, media.thumb_url(stored.image_url) or "")
    assert thumb.size == (320, 240)
    assert web.getpixel((600, 450))[0] > 150  # it is the picture that was sent (red), not another

    mark = telegram.mark()
    await telegram.send_text(ADMIN, "/photo PHN-A15")
    shown = await telegram.wait_sent(ADMIN_ID, "PHN-A15", method="sendPhoto", after=mark)
    assert "Samsung" in shown.text
    assert (await bot_app.get("/media/../../etc/passwd")).status == 404
    assert (await bot_app.get("/media/" + "0" * 32 + ".jpg")).status == 404


async def test_anything_but_an_image_is_refused_and_nothing_changes(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool, bot_settings: Settings,
) -> None:
    phone = await product(pool, "PHN-A15")
    await send(telegram, [(b"%PDF-1.4 not a picture", 100, 100)], "PHN-A15", "Bu rasm emas")
    truncated = picture(800, 600, (0, 0, 200))[:400]
    await send(telegram, [(truncated, 800, 600)], "PHN-A15", "buzilgan")
    mark = telegram.mark()
    await telegram.send_document(ADMIN, b"GIF89a-but-not-really", "photo.png", mime_type="image/png")
    await telegram.wait_sent(ADMIN_ID, "", after=mark)  # the caption is missing: asks which product
    await send(telegram, [(picture(800, 600, (0, 0, 200)), 800, 600)], None, "Rasm qaysi mahsulotniki")
    await send(telegram, [(picture(800, 600, (0, 0, 200)), 800, 600)], "NO-SUCH", "NO-SUCH SKU li mahsulot topilmadi")
    stored = await products.get(pool, phone.id)
    assert stored is not None and stored.image_url is None
    assert files(bot_settings.data_dir) == set()  # a refused picture leaves no file behind


async def test_a_new_photo_replaces_the_old_whose_files_go_when_nothing_uses_them(
    bot_app: Client, telegram: FakeTelegram, pool: asyncpg.Pool, bot_settings: Settings,
) -> None:
    first, second = await product(pool, "PHN-A15"), await product(pool, "PHN-A25", name_uz="Galaxy A25")
    red, green = picture(900, 900, (220, 0, 0)), picture(900, 900, (0, 220, 0))
    await send(telegram, [(red, 900, 900)], "PHN-A15", "Rasm saqlandi")
    await send(telegram, [(red, 900, 900)], "PHN-A25", "Rasm saqlandi")  # the same picture: the same files
    red_url = (await products.get(pool, first.id)).image_url  # type: ignore[union-attr]
    assert len(files(bot_settings.data_dir)) == 2

    # an image sent as a file, answering the /product card of the first product
    mark = telegram.mark()
    await telegram.send_text(ADMIN, "/product PHN-A15")
    card = await telegram.wait_sent(ADMIN_ID, "PHN-A15", after=mark)
    await send(telegram, [(green, 900, 900)], None, "Rasm saqlandi", reply_to=card)
    green_url = (await products.get(pool, first.id)).image_url  # type: ignore[union-attr]
    assert green_url != red_url and (await products.get(pool, second.id)).image_url == red_url  # type: ignore[union-attr]
    assert len(files(bot_settings.data_dir)) == 4  # the red pair is still used by the second product
    image, _ = await served(bot_app, green_url or "")
    assert image.getpixel((10, 10))[1] > 150

    await send(telegram, [(green, 900, 900)], "PHN-A25", "Rasm saqlandi")
    assert len(files(bot_settings.data_dir)) == 2  # nothing uses the red pair now: removed
    assert (await bot_app.get(red_url or "")).status == 404


async def test_fetching_an_image_address_is_bounded_in_size_and_time() -> None:
    import asyncio

    import aiohttp
    import pytest
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    async def serve(request: web.Request) -> web.StreamResponse:
        if request.path == "/huge":  # no Content-Length: the bound is counted while reading
            response = web.StreamResponse()
            await response.prepare(request)
            for _ in range(40):
                await response.write(b"\0" * 65536)
            return response
        await asyncio.sleep(1.5)
        return web.Response(body=b"late")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(media.ImageRejected) as huge:
                await media.fetch(session, str(server.make_url("/huge")), max_bytes=1024 * 1024)
            with pytest.raises(media.ImageRejected) as slow:
                await media.fetch(session, str(server.make_url("/slow")), timeout=0.3)
            with pytest.raises(media.ImageRejected) as scheme:
                await media.fetch(session, "file:///etc/passwd")
    finally:
        await server.close()
    assert huge.value.message_key == "media.error.too_large"
    assert slow.value.message_key == "media.error.fetch_timeout"
    assert scheme.value.message_key == "media.error.bad_url"


async def test_an_image_address_into_the_shops_own_network_is_refused(tmp_path: Path) -> None:
    """A CSV image_url is fetched by the store: without the guard an address (or a redirect) could
    make it read its own machine or network (a metadata service, a router, PostgreSQL's port).
    Refused by default, for literal addresses, names that resolve inside, and redirect hops; the
    same server is reachable when IMAGE_FETCH_ALLOW_PRIVATE allows it."""
    import pytest
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    async def serve(request: web.Request) -> web.StreamResponse:
        if request.path == "/hop":
            raise web.HTTPFound(f"http://127.0.0.1:{request.url.port}/red.png")
        return web.Response(body=picture(400, 400, (220, 0, 0)), content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    port = server.port
    try:
        async with media.public_session() as session:
            for address in (f"http://127.0.0.1:{port}/red.png", f"http://localhost:{port}/red.png",
                            f"http://[::1]:{port}/red.png", "http://169.254.169.254/latest/meta-data/",
                            "http://10.1.2.3/x.jpg", "http://192.168.1.1/x.jpg", "http://[::ffff:127.0.0.1]/x.jpg"):
                with pytest.raises(media.ImageRejected) as refused:
                    await media.fetch(session, address, timeout=5)
                assert refused.value.message_key == "media.error.private_address", address
        found = await media.localize(None, tmp_path, [f"http://127.0.0.1:{port}/hop"])
        assert isinstance(found[f"http://127.0.0.1:{port}/hop"], media.ImageRejected)
        allowed = await media.localize(None, tmp_path, [f"http://127.0.0.1:{port}/hop"], allow_private=True)
        assert isinstance(allowed[f"http://127.0.0.1:{port}/hop"], media.StoredImage)
    finally:
        await server.close()
    # public addresses pass the guard (no network needed to say so)
    assert all(media.is_public(a) for a in ("1.1.1.1", "185.8.212.10", "2a00:1450:4001:80b::200e"))
    assert not any(media.is_public(a) for a in ("100.64.0.1", "172.16.0.1", "fe80::1", "0.0.0.0"))


async def test_the_demo_seed_draws_a_picture_for_every_product(pool: asyncpg.Pool, tmp_path: Path) -> None:
    from store.seed import seed_demo
    from webapp import serialize

    directory = tmp_path / "media"
    created = await seed_demo(pool, directory)
    every = await products.list_all(pool)
    assert created["products"] == len(every) > 50
    urls = {p.image_url for p in every}
    assert None not in urls and len(urls) > len(every) * 3 // 4  # coloured per product (a few look alike)
    phone = next(p for p in every if p.sku == "AS-PHN-A15")
    assert phone.image_url is not None
    web = Image.open(directory / phone.image_url.removeprefix("/media/"))
    assert (web.format, web.size) == ("JPEG", (800, 800))
    assert len(list(directory.iterdir())) == 2 * len(urls)  # web copy + thumbnail each
    assert serialize.product(phone, "uz")["thumb_url"] == media.thumb_url(phone.image_url)
    assert await seed_demo(pool, directory) == {"categories": 0, "products": 0, "banners": 0}
