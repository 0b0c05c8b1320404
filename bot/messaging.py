"""Small helpers for answering: in place, or as several messages when a report is long.

Every text the bot sends passes through `bot.render`'s splitter/truncator, which measures the
rendered text (tags parsed, entities decoded) and never cuts inside a tag or an entity.
"""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot import render


async def edit(callback: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Replace the pressed message; a message too old to edit gets a fresh one instead."""
    text = render.truncate(text)
    message = callback.message
    if isinstance(message, Message):
        try:
            await message.edit_text(text, reply_markup=markup)
            return
        except TelegramBadRequest as exc:
            if "not modified" in exc.message:
                return
    if message is not None and callback.bot is not None:
        await callback.bot.send_message(message.chat.id, text, reply_markup=markup)


async def answer(message: Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Answer with `text`; a long one goes out as several messages (the buttons on the last)."""
    parts = render.report_parts(text)
    for number, part in enumerate(parts, start=1):
        await message.answer(part, reply_markup=markup if number == len(parts) else None)
