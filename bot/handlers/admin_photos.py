"""Admins: product photos from the phone.

A photo (or an image sent as a file) with the product's SKU as its caption, or sent as a reply to a
/product card, becomes the product's photo: the largest size Telegram offers is downloaded, checked
and stored by `store.services.media` (a web copy and a thumbnail under DATA_DIR/media), and the
answer is the product card with the photo. `/photo SKU` shows it. Registered before the CSV import
router, which takes every other document.
"""

from __future__ import annotations

import io
import re

import asyncpg
from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import FSInputFile, Message
from arq.connections import ArqRedis

from bot import render
from bot.filters import IsAdmin
from bot.handlers.admin_products import product_text
from db.repos import products
from store.errors import NotFound
from store.i18n import t
from store.services import media
from store.settings import Settings

CAPTION_LIMIT = 1024  # Telegram's limit for a photo caption
_CARD_SKU = re.compile(r"^SKU: (?:<code>)?([^\s<]+)", re.MULTILINE)  # Telegram gives the card's text plain


def _sku_of(message: Message) -> str | None:
    """The caption's first word, else the SKU line of the /product card this message answers."""
    words = (message.caption or "").split()
    if words:
        return words[0][:100]
    replied = message.reply_to_message
    if replied is not None:
        found = _CARD_SKU.search(replied.text or replied.caption or "")
        if found:
            return found.group(1)[:100]
    return None


async def _send_card(message: Message, db: asyncpg.Pool, settings: Settings, sku: str, lang: str) -> None:
    product = await products.get_by_sku(db, sku)
    if product is None:
        raise NotFound("admin.error.product_not_found", sku=sku)
    card = await product_text(db, sku, lang)
    path = None
    if product.image_url and media.thumb_url(product.image_url):
        candidate = media.media_dir(settings.data_dir) / product.image_url.removeprefix(media.MEDIA_URL)
        path = candidate if candidate.is_file() else None
    if path is None:
        await message.answer(card + "\n\n" + t("bot.photo.none", lang, sku=render.esc(sku)))
        return
    if len(card) > CAPTION_LIMIT:
        card = card[: CAPTION_LIMIT - 1] + "…"
    await message.answer_photo(FSInputFile(path), caption=card)


async def receive_photo(message: Message, bot: Bot, db: asyncpg.Pool, redis: ArqRedis, settings: Settings,
                        lang: str) -> None:
    sku = _sku_of(message)
    if sku is None:
        await message.answer(t("bot.photo.no_sku", lang))
        return
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        file_id, size = largest.file_id, largest.file_size
    else:
        assert message.document is not None
        file_id, size = message.document.file_id, message.document.file_size
    if size is not None and size > media.MAX_BYTES:
        raise media.ImageRejected("media.error.too_large", max_mb=media.MAX_BYTES // (1024 * 1024))
    buffer = io.BytesIO()
    await bot.download(file_id, destination=buffer)
    _, stored = await media.set_product_image(db, media.media_dir(settings.data_dir), sku, buffer.getvalue())
    await message.answer(t("bot.photo.set", lang, width=stored.width, height=stored.height))
    await _send_card(message, db, settings, sku, lang)


async def show_photo(message: Message, command: CommandObject, db: asyncpg.Pool, settings: Settings,
                     lang: str) -> None:
    args = (command.args or "").split()
    if len(args) != 1:
        await message.answer(t("bot.photo.usage", lang))
        return
    await _send_card(message, db, settings, args[0][:100], lang)


def create_router() -> Router:
    """A new router per dispatcher (an aiogram router can belong to one dispatcher only)."""
    router = Router(name=__name__)
    router.message.filter(IsAdmin())
    router.message.register(receive_photo, F.photo)
    router.message.register(receive_photo, F.document.mime_type.startswith("image/"))
    router.message.register(show_photo, Command("photo"))
    return router
