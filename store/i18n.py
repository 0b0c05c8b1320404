"""The one translation catalog: every string a customer or an admin reads, in Uzbek and Russian.

The Mini App gets the same catalog as JSON (see webapp), the bot calls `t()`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from store.texts import bot, common, payments, webapp

LANGUAGES = ("uz", "ru")
DEFAULT_LANGUAGE = "uz"

def _merge(*parts: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for part in parts:
        for key, entry in part.items():
            if key in merged:
                raise ValueError(f"translation key {key!r} is defined twice")
            if set(entry) != set(LANGUAGES):
                raise ValueError(f"translation key {key!r} must have exactly {LANGUAGES}")
            merged[key] = entry
    return merged


CATALOG: dict[str, dict[str, str]] = _merge(common.TEXTS, webapp.TEXTS, bot.TEXTS, payments.TEXTS)


def normalize_language(code: str | None) -> str:
    """Telegram's language_code to ours: `ru` stays `ru`, everything else is `uz`."""
    if code and code.lower().split("-")[0] == "ru":
        return "ru"
    return DEFAULT_LANGUAGE


def t(key: str, lang: str | None, **params: Any) -> str:
    entry = CATALOG[key]
    text = entry.get(lang or DEFAULT_LANGUAGE) or entry[DEFAULT_LANGUAGE]
    return text.format(**params) if params else text


def catalog_for(lang: str) -> dict[str, str]:
    return {key: entry.get(lang) or entry[DEFAULT_LANGUAGE] for key, entry in CATALOG.items()}


def format_money(amount: Decimal, lang: str | None = DEFAULT_LANGUAGE) -> str:
    """Prices the Uzbek way: whole so'm, thousands separated by spaces: `125 000 so'm`."""
    whole = int(amount.quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    digits = f"{abs(whole):,}".replace(",", " ")
    sign = "-" if whole < 0 else ""
    return f"{sign}{digits} {t('currency', lang)}"
