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
    "error.out_of_stock": {
        "uz": "{sku}: omborda faqat {available} dona qoldi (so'ralgan: {requested}).",
        "ru": "{sku}: на складе осталось только {available} шт. (запрошено: {requested}).",
    },
}
