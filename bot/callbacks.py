"""Inline button payloads (Telegram allows 64 bytes); parsed and validated by aiogram's CallbackData.

A payload that does not validate (a forged or stale button: an id beyond int4, a status with odd
characters) matches no handler and gets the fallback's "unknown button" answer."""

from __future__ import annotations

from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

from store.validation import INT4_MAX

RowId = Annotated[int, Field(ge=1, le=INT4_MAX)]
Word = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,50}$")]


class ChooseLanguage(CallbackData, prefix="lang"):
    code: str


class OrdersPage(CallbackData, prefix="ol"):
    status: Word | None = None
    source: Word | None = None
    page: Annotated[int, Field(ge=0, le=10_000)] = 0


class OpenOrder(CallbackData, prefix="oc"):
    """The order's card: a new message (from the list), or in place (back from "cancel?")."""

    order_id: RowId
    in_place: bool = False


class SetStatus(CallbackData, prefix="os"):
    """A status button; `cancelled` first asks for confirmation (see ConfirmCancel)."""

    order_id: RowId
    status: Word


class ConfirmCancel(CallbackData, prefix="ox"):
    order_id: RowId


class ImportDecision(CallbackData, prefix="imp"):
    token: str
    apply: bool
