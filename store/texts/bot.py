"""Texts of the bot (customers and admins)."""

TEXTS: dict[str, dict[str, str]] = {
    "bot.welcome": {
        "uz": "Assalomu alaykum, {name}! Amazing Store do'koniga xush kelibsiz.",
        "ru": "Здравствуйте, {name}! Добро пожаловать в Amazing Store.",
    },
    "bot.open_store": {"uz": "🛍 Do'konni ochish", "ru": "🛍 Открыть магазин"},
    "bot.choose_language": {"uz": "Tilni tanlang:", "ru": "Выберите язык:"},
    "bot.language_saved": {"uz": "Til saqlandi: o'zbekcha", "ru": "Язык сохранён: русский"},
}
