"""The one translation catalog: every string a customer or an admin reads, in Uzbek and Russian.

The Mini App gets the same catalog as JSON (see webapp), the bot calls `t()`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

LANGUAGES = ("uz", "ru")
DEFAULT_LANGUAGE = "uz"

CATALOG: dict[str, dict[str, str]] = {
    "store.name": {"uz": "Amazing Store", "ru": "Amazing Store"},
    "currency": {"uz": "so'm", "ru": "сум"},
    "bot.welcome": {
        "uz": "Assalomu alaykum, {name}! Amazing Store do'koniga xush kelibsiz.",
        "ru": "Здравствуйте, {name}! Добро пожаловать в Amazing Store.",
    },
    "bot.open_store": {"uz": "🛍 Do'konni ochish", "ru": "🛍 Открыть магазин"},
    "bot.choose_language": {"uz": "Tilni tanlang:", "ru": "Выберите язык:"},
    "bot.language_saved": {"uz": "Til saqlandi: o'zbekcha", "ru": "Язык сохранён: русский"},
    "error.unauthorized": {
        "uz": "Kirish ma'lumotlari noto'g'ri yoki eskirgan. Ilovani qayta oching.",
        "ru": "Данные входа неверны или устарели. Откройте приложение заново.",
    },
    "error.forbidden": {"uz": "Hisobingiz bloklangan.", "ru": "Ваша учётная запись заблокирована."},
    "error.not_found": {"uz": "Topilmadi.", "ru": "Не найдено."},
    "error.internal": {
        "uz": "Kutilmagan xatolik. Birozdan so'ng qayta urinib ko'ring.",
        "ru": "Непредвиденная ошибка. Попробуйте ещё раз чуть позже.",
    },
    "error.bad_json": {"uz": "So'rov tanasi JSON emas.", "ru": "Тело запроса не является JSON."},
}


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
