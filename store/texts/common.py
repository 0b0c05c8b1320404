"""Texts shared by every part of the store."""

TEXTS: dict[str, dict[str, str]] = {
    "store.name": {"uz": "Amazing Store", "ru": "Amazing Store"},
    "currency": {"uz": "so'm", "ru": "сум"},
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
    "error.json_too_deep": {
        "uz": "So'rov tanasi juda chuqur (ko'pi bilan {max} daraja).",
        "ru": "Тело запроса вложено слишком глубоко (не больше {max} уровней).",
    },
    "error.json_too_large": {
        "uz": "So'rov tanasi juda katta (ko'pi bilan {max_kb} KB).",
        "ru": "Тело запроса слишком большое (не больше {max_kb} КБ).",
    },
    "error.bad_text": {
        "uz": "Matnda ruxsat etilmagan belgilar bor (boshqaruv belgilari).",
        "ru": "В тексте есть недопустимые символы (управляющие символы).",
    },
    "error.bad_request": {"uz": "So'rov noto'g'ri.", "ru": "Неверный запрос."},
    "error.unavailable": {
        "uz": "Do'kon vaqtincha ishlamayapti. Bir necha soniyadan so'ng qayta urinib ko'ring.",
        "ru": "Магазин временно недоступен. Попробуйте ещё раз через несколько секунд.",
    },
    "error.id_invalid": {"uz": "Raqam noto'g'ri.", "ru": "Неверный номер."},
    "error.out_of_stock": {
        "uz": "{sku}: omborda faqat {available} dona qoldi (so'ralgan: {requested}).",
        "ru": "{sku}: на складе осталось только {available} шт. (запрошено: {requested}).",
    },
}
