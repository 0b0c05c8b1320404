"""Inline button payloads (Telegram allows 64 bytes); parsed and validated by aiogram's CallbackData."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ChooseLanguage(CallbackData, prefix="lang"):
    code: str


class OrdersPage(CallbackData, prefix="ol"):
    status: str | None = None
    source: str | None = None
    page: int = 0


class OpenOrder(CallbackData, prefix="oc"):
    """The order's card: a new message (from the list), or in place (back from "cancel?")."""

    order_id: int
    in_place: bool = False


class SetStatus(CallbackData, prefix="os"):
    """A status button; `cancelled` first asks for confirmation (see ConfirmCancel)."""

    order_id: int
    status: str


class ConfirmCancel(CallbackData, prefix="ox"):
    order_id: int


class ImportDecision(CallbackData, prefix="imp"):
    token: str
    apply: bool
