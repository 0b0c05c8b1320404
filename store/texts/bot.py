"""Texts of the bot (customers and admins) and of the admin services it calls (products, CSV import).

Messages are sent with Telegram's HTML parse mode: values are escaped by the caller (bot.render).
"""

TEXTS: dict[str, dict[str, str]] = {
    # --- customers ---
    "bot.welcome": {
        "uz": "Assalomu alaykum, {name}! Amazing Store do'koniga xush kelibsiz.",
        "ru": "Здравствуйте, {name}! Добро пожаловать в Amazing Store.",
    },
    "bot.open_store": {"uz": "🛍 Do'konni ochish", "ru": "🛍 Открыть магазин"},
    "bot.open_product": {"uz": "🛍 Mahsulotni ochish", "ru": "🛍 Открыть товар"},
    "bot.open_category": {"uz": "🛍 Bo'limni ochish", "ru": "🛍 Открыть раздел"},
    "bot.deep_link.product": {
        "uz": "Siz so'ragan mahsulot: <b>{name}</b>",
        "ru": "Товар, который вы искали: <b>{name}</b>",
    },
    "bot.deep_link.category": {"uz": "Bo'lim: <b>{name}</b>", "ru": "Раздел: <b>{name}</b>"},
    "bot.menu_button": {"uz": "Do'kon", "ru": "Магазин"},
    "bot.choose_language": {"uz": "Tilni tanlang:", "ru": "Выберите язык:"},
    "bot.language_saved": {"uz": "Til saqlandi: o'zbekcha", "ru": "Язык сохранён: русский"},
    "bot.language.uz": {"uz": "🇺🇿 O'zbekcha", "ru": "🇺🇿 O'zbekcha"},
    "bot.language.ru": {"uz": "🇷🇺 Русский", "ru": "🇷🇺 Русский"},
    "bot.help.customer": {
        "uz": "Xarid qilish uchun do'konni oching: mahsulotlarni tanlang, savatga qo'shing va buyurtma bering. "
              "Buyurtmangiz holati o'zgarganda shu yerda xabar beramiz.\n\n"
              "/start — bosh menyu\n/language — tilni o'zgartirish",
        "ru": "Чтобы сделать покупку, откройте магазин: выберите товары, добавьте в корзину и оформите заказ. "
              "Когда статус заказа изменится, мы напишем здесь.\n\n"
              "/start — главное меню\n/language — сменить язык",
    },
    "bot.help.admin": {
        "uz": "<b>Administrator buyruqlari</b>\n"
              "/orders [holat] [manba] [paid|unpaid|refunded] — buyurtmalar ro'yxati\n"
              "/order RAQAM — buyurtma kartasi\n"
              "/product SKU — mahsulot\n"
              "/photo SKU — mahsulot rasmi (yangi rasm: izohiga SKU yozib yuboring)\n"
              "/stock SKU SONI — qoldiqni o'rnatish\n"
              "/price SKU NARX [CHEGIRMA_NARXI] — narxni o'rnatish\n"
              "/lowstock [N] — kam qolgan mahsulotlar\n"
              "/stats [today|week|month] — statistika\n"
              "/sync [marketpleys] [stock|price|orders] — hozir sinxronlash\n"
              "/syncstatus — sinxronlash holati\n"
              "/export — katalogni CSV qilib olish\n"
              "CSV fayl yuboring — katalogni import qilish",
        "ru": "<b>Команды администратора</b>\n"
              "/orders [статус] [источник] [paid|unpaid|refunded] — список заказов\n"
              "/order НОМЕР — карточка заказа\n"
              "/product SKU — товар\n"
              "/photo SKU — фото товара (новое фото: отправьте его с SKU в подписи)\n"
              "/stock SKU КОЛ-ВО — задать остаток\n"
              "/price SKU ЦЕНА [ЦЕНА_СО_СКИДКОЙ] — задать цену\n"
              "/lowstock [N] — заканчивающиеся товары\n"
              "/stats [today|week|month] — статистика\n"
              "/sync [маркетплейс] [stock|price|orders] — синхронизировать сейчас\n"
              "/syncstatus — состояние синхронизации\n"
              "/export — выгрузить каталог в CSV\n"
              "Отправьте CSV-файл — импорт каталога",
    },
    "bot.unknown_command": {
        "uz": "Bunday buyruq yo'q. Bosh menyu: /start, yordam: /help.",
        "ru": "Такой команды нет. Главное меню: /start, помощь: /help.",
    },
    "bot.fallback": {
        "uz": "Xarid qilish uchun do'konni oching 👇",
        "ru": "Чтобы сделать покупку, откройте магазин 👇",
    },
    "bot.unknown_button": {
        "uz": "Bu tugma endi ishlamaydi.",
        "ru": "Эта кнопка больше не работает.",
    },
    "bot.command.start": {"uz": "Bosh menyu", "ru": "Главное меню"},
    "bot.command.language": {"uz": "Tilni o'zgartirish", "ru": "Сменить язык"},
    "bot.command.help": {"uz": "Yordam", "ru": "Помощь"},
    "bot.command.orders": {"uz": "Buyurtmalar", "ru": "Заказы"},
    "bot.command.order": {"uz": "Buyurtma raqam bo'yicha", "ru": "Заказ по номеру"},
    "bot.command.product": {"uz": "Mahsulot SKU bo'yicha", "ru": "Товар по SKU"},
    "bot.command.photo": {"uz": "Mahsulot rasmi", "ru": "Фото товара"},
    "bot.command.stock": {"uz": "Qoldiqni o'rnatish", "ru": "Задать остаток"},
    "bot.command.price": {"uz": "Narxni o'rnatish", "ru": "Задать цену"},
    "bot.command.lowstock": {"uz": "Kam qolgan mahsulotlar", "ru": "Заканчивающиеся товары"},
    "bot.command.stats": {"uz": "Statistika", "ru": "Статистика"},
    "bot.command.sync": {"uz": "Hozir sinxronlash", "ru": "Синхронизировать сейчас"},
    "bot.command.syncstatus": {"uz": "Sinxronlash holati", "ru": "Состояние синхронизации"},
    "bot.command.export": {"uz": "Katalog CSV", "ru": "Каталог в CSV"},

    # --- notifications to customers ---
    "bot.notify.order_placed": {
        "uz": "✅ Buyurtmangiz qabul qilindi!\n\n<b>Buyurtma № {number}</b>\n{items}\n\nJami: <b>{total}</b>\n\n"
              "Buyurtmani tasdiqlaganimizda shu yerda xabar beramiz.",
        "ru": "✅ Ваш заказ принят!\n\n<b>Заказ № {number}</b>\n{items}\n\nИтого: <b>{total}</b>\n\n"
              "Когда мы подтвердим заказ, напишем здесь.",
    },
    "bot.notify.status.confirmed": {
        "uz": "👍 Buyurtma № {number} tasdiqlandi. Tez orada jo'natamiz.",
        "ru": "👍 Заказ № {number} подтверждён. Скоро отправим.",
    },
    "bot.notify.status.shipped": {
        "uz": "🚚 Buyurtma № {number} jo'natildi va yo'lda.",
        "ru": "🚚 Заказ № {number} отправлен и уже в пути.",
    },
    "bot.notify.status.delivered": {
        "uz": "📦 Buyurtma № {number} yetkazildi. Xaridingiz uchun rahmat!",
        "ru": "📦 Заказ № {number} доставлен. Спасибо за покупку!",
    },
    "bot.notify.status.cancelled": {
        "uz": "❌ Buyurtma № {number} bekor qilindi. Savollar bo'lsa, shu yerga yozing.",
        "ru": "❌ Заказ № {number} отменён. Если есть вопросы, напишите сюда.",
    },
    "bot.notify.admin_customer_cancelled": {
        "uz": "🚫 <b>Mijoz buyurtmani bekor qildi</b> (avvalgi holati: {was})",
        "ru": "🚫 <b>Покупатель отменил заказ</b> (был: {was})",
    },
    "bot.reconcile.summary": {
        "uz": "🔎 {name}: {stocks} ta qoldiq va {prices} ta narx farq qildi; {outcome}",
        "ru": "🔎 {name}: расходились остатки ({stocks}) и цены ({prices}); {outcome}",
    },
    "bot.reconcile.fixed": {"uz": "tuzatildi", "ru": "исправлено"},
    "bot.reconcile.not_fixed": {
        "uz": "{count} tasi tuzatilmadi (/syncstatus)",
        "ru": "не исправлено: {count} (/syncstatus)",
    },
    "bot.reconcile.failed": {
        "uz": "🔎 {name}: solishtirib bo'lmadi, batafsil: /syncstatus",
        "ru": "🔎 {name}: сверка не удалась, подробнее: /syncstatus",
    },
    "bot.notify.admin_new_order": {
        "uz": "🆕 <b>Yangi buyurtma</b> · {source}",
        "ru": "🆕 <b>Новый заказ</b> · {source}",
    },
    "bot.notify.admin_new_orders": {
        "uz": "🆕 <b>{count} ta yangi buyurtma</b> · jami {total}\n{lines}\n\nBatafsil: /orders",
        "ru": "🆕 <b>Новых заказов: {count}</b> · на {total}\n{lines}\n\nПодробнее: /orders",
    },
    "bot.notify.admin_new_orders_more": {"uz": "… va yana {count} ta", "ru": "… и ещё {count}"},
    "bot.notify.undelivered": {
        "uz": "⚠️ Xabar yetkazilmadi: {what}, buyurtma {number}, chat {chat}. Sabab: {reason}",
        "ru": "⚠️ Сообщение не доставлено: {what}, заказ {number}, чат {chat}. Причина: {reason}",
    },

    # --- orders (admins) ---
    "bot.source.app": {"uz": "Mini App", "ru": "Mini App"},
    "bot.source.uzum": {"uz": "Uzum Market", "ru": "Uzum Market"},
    "bot.source.wildberries": {"uz": "Wildberries", "ru": "Wildberries"},
    "bot.source.ozon": {"uz": "Ozon", "ru": "Ozon"},
    "bot.order.title": {"uz": "<b>Buyurtma № {number}</b>", "ru": "<b>Заказ № {number}</b>"},
    "bot.order.meta": {
        "uz": "Manba: {source} · Holati: <b>{status}</b>\nSana: {date}",
        "ru": "Источник: {source} · Статус: <b>{status}</b>\nДата: {date}",
    },
    "bot.order.marketplace_id": {"uz": "Marketpleysdagi raqami: {id}", "ru": "Номер на маркетплейсе: {id}"},
    "bot.order.customer": {"uz": "Mijoz: {name}, {phone}", "ru": "Покупатель: {name}, {phone}"},
    "bot.order.address": {"uz": "Manzil: {address}", "ru": "Адрес: {address}"},
    "bot.order.notes": {"uz": "Izoh: {notes}", "ru": "Комментарий: {notes}"},
    "bot.order.item": {
        "uz": "• {name}{sku} × {quantity} — {subtotal}",
        "ru": "• {name}{sku} × {quantity} — {subtotal}",
    },
    "bot.order.more_items": {"uz": "… yana {count} ta mahsulot", "ru": "… и ещё товаров: {count}"},
    "bot.order.delivery": {"uz": "Yetkazib berish: {amount}", "ru": "Доставка: {amount}"},
    "bot.order.total": {"uz": "Jami: <b>{amount}</b>", "ru": "Итого: <b>{amount}</b>"},
    "bot.order.stamp": {"uz": "{status}: {date}", "ru": "{status}: {date}"},
    "bot.order.usage": {"uz": "Foydalanish: /order RAQAM, masalan /order AS-2026-000123",
                        "ru": "Использование: /order НОМЕР, например /order AS-2026-000123"},
    "bot.order.not_found": {"uz": "{number} raqamli buyurtma topilmadi.", "ru": "Заказ с номером {number} не найден."},
    "bot.action.confirmed": {"uz": "✅ Tasdiqlash", "ru": "✅ Подтвердить"},
    "bot.action.shipped": {"uz": "🚚 Jo'natildi", "ru": "🚚 Отправлен"},
    "bot.action.delivered": {"uz": "📦 Yetkazildi", "ru": "📦 Доставлен"},
    "bot.action.cancelled": {"uz": "❌ Bekor qilish", "ru": "❌ Отменить"},
    "bot.cancel.question": {
        "uz": "Buyurtma № {number} bekor qilinsinmi? Mahsulotlar omborga qaytariladi, mijozga xabar boradi.",
        "ru": "Отменить заказ № {number}? Товары вернутся на склад, покупатель получит уведомление.",
    },
    "bot.cancel.yes": {"uz": "Ha, bekor qilish", "ru": "Да, отменить"},
    "bot.cancel.no": {"uz": "Yo'q", "ru": "Нет"},
    "bot.status_changed": {"uz": "№ {number}: {status}", "ru": "№ {number}: {status}"},
    "bot.orders.title": {
        "uz": "<b>Buyurtmalar</b>{filters}: {total} ta · sahifa {page}/{pages}",
        "ru": "<b>Заказы</b>{filters}: {total} · страница {page}/{pages}",
    },
    "bot.orders.empty": {"uz": "Buyurtmalar yo'q.", "ru": "Заказов нет."},
    "bot.orders.line": {"uz": "№ {number} · {status} · {source} · {total} · {date}",
                        "ru": "№ {number} · {status} · {source} · {total} · {date}"},
    "bot.orders.bad_filter": {
        "uz": "Noma'lum filtr: {value}. Holatlar: {statuses}. Manbalar: {sources}.",
        "ru": "Неизвестный фильтр: {value}. Статусы: {statuses}. Источники: {sources}.",
    },
    "bot.page.prev": {"uz": "◀️ Oldingi", "ru": "◀️ Назад"},
    "bot.page.next": {"uz": "Keyingi ▶️", "ru": "Далее ▶️"},

    # --- products (admins) ---
    "bot.product.usage": {"uz": "Foydalanish: /product SKU", "ru": "Использование: /product SKU"},
    "bot.photo.usage": {
        "uz": "Foydalanish: /photo SKU. Yangi rasm: rasmni izohiga mahsulot SKU sini yozib yuboring "
              "(yoki /product kartasiga javob qilib).",
        "ru": "Использование: /photo SKU. Новое фото: отправьте фото с SKU товара в подписи "
              "(или ответом на карточку /product).",
    },
    "bot.photo.no_sku": {
        "uz": "Rasm qaysi mahsulotniki? Izohiga SKU ni yozing yoki /product kartasiga javob qilib yuboring.",
        "ru": "Чьё это фото? Укажите SKU в подписи или отправьте ответом на карточку /product.",
    },
    "bot.photo.none": {"uz": "{sku} mahsulotining rasmi yo'q.", "ru": "У товара {sku} нет фото."},
    "bot.photo.set": {"uz": "✅ Rasm saqlandi ({width}×{height}).", "ru": "✅ Фото сохранено ({width}×{height})."},
    "media.error.not_image": {
        "uz": "Bu rasm emas (JPEG, PNG, WebP yoki GIF yuboring).",
        "ru": "Это не изображение (отправьте JPEG, PNG, WebP или GIF).",
    },
    "media.error.broken": {"uz": "Rasm buzilgan yoki to'liq emas.", "ru": "Изображение повреждено или неполное."},
    "media.error.format": {
        "uz": "{format} formatidagi rasm qabul qilinmaydi (JPEG, PNG, WebP yoki GIF yuboring).",
        "ru": "Формат {format} не принимается (отправьте JPEG, PNG, WebP или GIF).",
    },
    "media.error.too_large": {
        "uz": "Rasm juda katta (ko'pi bilan {max_mb} MB).",
        "ru": "Изображение слишком большое (не больше {max_mb} МБ).",
    },
    "media.error.too_many_pixels": {
        "uz": "Rasm o'lchami juda katta (50 megapikseldan ko'p).",
        "ru": "Слишком большое разрешение (больше 50 мегапикселей).",
    },
    "media.error.too_small": {
        "uz": "Rasm juda kichik (kamida {min}×{min} piksel).",
        "ru": "Изображение слишком маленькое (минимум {min}×{min} пикселей).",
    },
    "media.error.bad_url": {"uz": "Rasm manzili http(s):// bilan boshlanishi kerak.",
                            "ru": "Адрес изображения должен начинаться с http(s)://."},
    "media.error.fetch_status": {"uz": "Rasmni yuklab bo'lmadi (HTTP {status}).",
                                 "ru": "Не удалось скачать изображение (HTTP {status})."},
    "media.error.fetch_timeout": {"uz": "Rasm {seconds} soniyada yuklanmadi.",
                                  "ru": "Изображение не скачалось за {seconds} с."},
    "media.error.fetch_failed": {"uz": "Rasmni yuklab bo'lmadi ({reason}).",
                                 "ru": "Не удалось скачать изображение ({reason})."},
    "media.error.private_address": {
        "uz": "Rasm manzili do'kon serveri yoki ichki tarmoqqa olib boradi: faqat ochiq internet manzillari olinadi.",
        "ru": ("Адрес изображения ведёт на сервер магазина или во внутреннюю сеть: "
               "берутся только адреса в открытом интернете."),
    },
    "bot.product.sku": {"uz": "SKU: <code>{sku}</code>", "ru": "SKU: <code>{sku}</code>"},
    "bot.product.barcode": {"uz": "Shtrix-kod: {barcode}", "ru": "Штрихкод: {barcode}"},
    "bot.product.category": {"uz": "Bo'lim: {path}", "ru": "Раздел: {path}"},
    "bot.product.price": {"uz": "Narx: {price}", "ru": "Цена: {price}"},
    "bot.product.sale_price": {"uz": "Chegirma narxi: {price}", "ru": "Цена со скидкой: {price}"},
    "bot.product.stock": {"uz": "Qoldiq: {stock} dona", "ru": "Остаток: {stock} шт."},
    "bot.product.active": {"uz": "Sotuvda", "ru": "В продаже"},
    "bot.product.inactive": {"uz": "Sotuvda emas (yashirilgan)", "ru": "Не продаётся (скрыт)"},
    "bot.product.marketplaces": {"uz": "Marketpleyslarda:", "ru": "На маркетплейсах:"},
    "bot.product.marketplace": {
        "uz": "• {name}: {sku} · narx {price} · qoldiq {stock}",
        "ru": "• {name}: {sku} · цена {price} · остаток {stock}",
    },
    "bot.stock.usage": {"uz": "Foydalanish: /stock SKU SONI, masalan /stock PHN-A15 12",
                        "ru": "Использование: /stock SKU КОЛ-ВО, например /stock PHN-A15 12"},
    "bot.stock.done": {
        "uz": "✅ {sku}: qoldiq {old} → {new} dona. Marketpleyslar yangilanadi.",
        "ru": "✅ {sku}: остаток {old} → {new} шт. Маркетплейсы будут обновлены.",
    },
    "bot.price.usage": {
        "uz": "Foydalanish: /price SKU NARX [CHEGIRMA_NARXI], masalan /price PHN-A15 2190000 1990000. "
              "Chegirma narxi ko'rsatilmasa, chegirma olib tashlanadi.",
        "ru": "Использование: /price SKU ЦЕНА [ЦЕНА_СО_СКИДКОЙ], например /price PHN-A15 2190000 1990000. "
              "Без цены со скидкой скидка снимается.",
    },
    "bot.price.done": {
        "uz": "✅ {sku}: narx {old} → {new}; chegirma narxi: {sale}. Marketpleyslar yangilanadi.",
        "ru": "✅ {sku}: цена {old} → {new}; цена со скидкой: {sale}. Маркетплейсы будут обновлены.",
    },
    "bot.price.no_sale": {"uz": "yo'q", "ru": "нет"},
    "bot.lowstock.usage": {"uz": "Foydalanish: /lowstock [N]", "ru": "Использование: /lowstock [N]"},
    "bot.lowstock.title": {
        "uz": "<b>Kam qolgan mahsulotlar</b> (≤ {threshold} dona): {count} ta",
        "ru": "<b>Заканчивающиеся товары</b> (≤ {threshold} шт.): {count}",
    },
    "bot.lowstock.digest_title": {
        "uz": "🌅 <b>Kunlik hisobot: kam qolgan mahsulotlar</b> (≤ {threshold} dona): {count} ta",
        "ru": "🌅 <b>Ежедневная сводка: заканчивающиеся товары</b> (≤ {threshold} шт.): {count}",
    },
    "bot.lowstock.line": {
        "uz": "• <code>{sku}</code> {name}: {stock} dona",
        "ru": "• <code>{sku}</code> {name}: {stock} шт.",
    },
    "bot.lowstock.more": {"uz": "… yana {count} ta", "ru": "… и ещё {count}"},
    "bot.lowstock.none": {"uz": "Hammasi yetarli.", "ru": "Всего достаточно."},

    # --- statistics ---
    "bot.stats.title.today": {"uz": "📊 <b>Bugun</b> ({since})", "ru": "📊 <b>Сегодня</b> ({since})"},
    "bot.stats.title.week": {"uz": "📊 <b>Shu hafta</b> ({since} dan)", "ru": "📊 <b>Эта неделя</b> (с {since})"},
    "bot.stats.title.month": {"uz": "📊 <b>Shu oy</b> ({since} dan)", "ru": "📊 <b>Этот месяц</b> (с {since})"},
    "bot.stats.none": {"uz": "Bu davrda buyurtmalar yo'q.", "ru": "За этот период заказов нет."},
    "bot.stats.source": {
        "uz": "• {source}: {orders} ta buyurtma, {revenue} (bekor qilingan: {cancelled})",
        "ru": "• {source}: заказов {orders}, {revenue} (отменено: {cancelled})",
    },
    "bot.stats.total": {
        "uz": "<b>Jami: {orders} ta buyurtma, {revenue}</b> (bekor qilingan: {cancelled})",
        "ru": "<b>Всего: заказов {orders}, {revenue}</b> (отменено: {cancelled})",
    },
    "bot.stats.top": {"uz": "<b>Eng ko'p sotilganlar</b>", "ru": "<b>Самые продаваемые</b>"},
    "bot.stats.top_line": {
        "uz": "{place}. {name} (<code>{sku}</code>) — {quantity} dona, {revenue}",
        "ru": "{place}. {name} (<code>{sku}</code>) — {quantity} шт., {revenue}",
    },

    # --- marketplace sync ---
    "bot.sync_type.stock": {"uz": "Qoldiq", "ru": "Остатки"},
    "bot.sync_type.price": {"uz": "Narxlar", "ru": "Цены"},
    "bot.sync_type.orders": {"uz": "Buyurtmalar", "ru": "Заказы"},
    "bot.sync_type.reconcile": {"uz": "Solishtirish", "ru": "Сверка"},
    "bot.syncstatus.quota": {
        "uz": "  • Kunlik so'rovlar limiti: {remaining}{limit} qoldi ({date})",
        "ru": "  • Дневной лимит запросов: осталось {remaining}{limit} ({date})",
    },
    "bot.syncstatus.quota_limit": {"uz": " / {limit}", "ru": " из {limit}"},
    "bot.syncstatus.quota_out": {
        "uz": "  ⛔ Kunlik so'rovlar limiti tugadi ({date}): yangilanganda davom etadi",
        "ru": "  ⛔ Дневной лимит запросов исчерпан ({date}): продолжим, когда он обновится",
    },
    "bot.sync_status.success": {"uz": "muvaffaqiyatli", "ru": "успешно"},
    "bot.sync_status.partial": {"uz": "qisman", "ru": "частично"},
    "bot.sync_status.error": {"uz": "xato", "ru": "ошибка"},
    "bot.sync_status.running": {"uz": "bajarilmoqda", "ru": "выполняется"},
    "bot.sync_status.interrupted": {
        "uz": "to'xtab qolgan (jarayon to'xtadi)", "ru": "прервана (процесс остановился)",
    },
    "bot.syncstatus.title": {"uz": "🔄 <b>Sinxronlash holati</b>", "ru": "🔄 <b>Состояние синхронизации</b>"},
    "bot.syncstatus.no_marketplaces": {"uz": "Marketpleyslar ulanmagan.", "ru": "Маркетплейсы не подключены."},
    "bot.syncstatus.marketplace": {"uz": "<b>{name}</b> ({slug}) — {state}", "ru": "<b>{name}</b> ({slug}) — {state}"},
    "bot.syncstatus.active": {"uz": "yoqilgan", "ru": "включён"},
    "bot.syncstatus.inactive": {"uz": "o'chirilgan", "ru": "выключен"},
    "bot.syncstatus.never": {"uz": "  hali sinxronlanmagan", "ru": "  ещё не синхронизировался"},
    "bot.syncstatus.run": {
        "uz": "  • {type}: {status} · {date} · {processed} ta, xato {failed}",
        "ru": "  • {type}: {status} · {date} · обработано {processed}, ошибок {failed}",
    },
    "bot.sync_alert": {
        "uz": "⚠️ <b>{name}</b>: sinxronlash ({type}) — {status}\nBoshlangan: {date}\n"
              "Qayta ishlangan: {processed}, xato: {failed}\nBatafsil: /syncstatus",
        "ru": "⚠️ <b>{name}</b>: синхронизация ({type}) — {status}\nНачало: {date}\n"
              "Обработано: {processed}, ошибок: {failed}\nПодробнее: /syncstatus",
    },
    "bot.sync_alert.error": {"uz": "Xato: <i>{error}</i>", "ru": "Ошибка: <i>{error}</i>"},
    "bot.sync.usage": {
        "uz": "Foydalanish: /sync [marketpleys] [turi]. Marketpleyslar: {slugs}. Turlari: {types}.",
        "ru": "Использование: /sync [маркетплейс] [тип]. Маркетплейсы: {slugs}. Типы: {types}.",
    },
    "bot.sync.unknown": {
        "uz": "{slug} marketpleysi topilmadi. Mavjudlari: {slugs}.",
        "ru": "Маркетплейс {slug} не найден. Есть: {slugs}.",
    },
    "bot.sync.inactive": {
        "uz": "{slug} marketpleysi o'chirilgan.",
        "ru": "Маркетплейс {slug} выключен.",
    },
    "bot.sync.bad_type": {
        "uz": "Noma'lum sinxronlash turi: {value}. Turlari: {types}.",
        "ru": "Неизвестный тип синхронизации: {value}. Типы: {types}.",
    },
    "bot.sync.none_active": {"uz": "Yoqilgan marketpleys yo'q.", "ru": "Нет включённых маркетплейсов."},
    "bot.sync.queued": {
        "uz": "🔄 Sinxronlash navbatga qo'yildi: {names}. Natija: /syncstatus",
        "ru": "🔄 Синхронизация поставлена в очередь: {names}. Результат: /syncstatus",
    },
    "bot.sync.already_running": {
        "uz": "⏳ {name}: sinxronlash hozir bajarilmoqda. Natija: /syncstatus",
        "ru": "⏳ {name}: синхронизация идёт прямо сейчас. Результат: /syncstatus",
    },
    "bot.sync.already_next": {
        "uz": "⏳ {name}: allaqachon navbatda, bo'sh ishchi uni darhol boshlaydi.",
        "ru": "⏳ {name}: уже в очереди, свободный обработчик начнёт сейчас же.",
    },
    "bot.sync.already_at": {
        "uz": "⏳ {name}: allaqachon navbatda, {time} da boshlanadi ({seconds} soniyadan keyin).",
        "ru": "⏳ {name}: уже в очереди, начнётся в {time} (через {seconds} с).",
    },
    "bot.sync.already_done": {
        "uz": "⏳ {name}: hozirgina ({time}) bajarildi, natija: /syncstatus. "
              "Yana {seconds} soniyadan keyin so'rash mumkin.",
        "ru": "⏳ {name}: только что выполнена ({time}), результат: /syncstatus. Снова — через {seconds} с.",
    },
    "bot.sync.already": {
        "uz": "⏳ Allaqachon navbatda yoki hozirgina bajarildi: {names}.",
        "ru": "⏳ Уже в очереди или только что выполнена: {names}.",
    },

    # --- catalog import / export ---
    "bot.import.not_csv": {
        "uz": "Katalog importi uchun .csv fayl yuboring (ustunlar README da).",
        "ru": "Для импорта каталога отправьте файл .csv (столбцы описаны в README).",
    },
    "bot.import.preview": {
        "uz": "📄 <b>{file}</b>\nYangi mahsulotlar: {creates}\nO'zgaradi: {updates}\nO'zgarishsiz: {unchanged}",
        "ru": "📄 <b>{file}</b>\nНовых товаров: {creates}\nИзменятся: {updates}\nБез изменений: {unchanged}",
    },
    "bot.import.new_categories": {"uz": "Yangi bo'limlar: {paths}", "ru": "Новые разделы: {paths}"},
    "bot.import.errors": {"uz": "<b>Xatolar: {count}</b>", "ru": "<b>Ошибок: {count}</b>"},
    "bot.import.error_line": {"uz": "{row}-qator, {column}: {reason}", "ru": "строка {row}, {column}: {reason}"},
    "bot.import.more_errors": {"uz": "… yana {count} ta xato", "ru": "… и ещё ошибок: {count}"},
    "bot.import.fix_and_resend": {
        "uz": "Hech narsa yozilmadi. Faylni tuzatib, qaytadan yuboring.",
        "ru": "Ничего не записано. Исправьте файл и отправьте его снова.",
    },
    "bot.import.confirm": {
        "uz": "Hali hech narsa yozilmadi. Qo'llaysizmi?",
        "ru": "Пока ничего не записано. Применить?",
    },
    "bot.import.nothing": {"uz": "Faylda o'zgarish yo'q.", "ru": "В файле нет изменений."},
    "bot.import.apply": {"uz": "✅ Qo'llash", "ru": "✅ Применить"},
    "bot.import.cancel": {"uz": "✖️ Bekor qilish", "ru": "✖️ Отмена"},
    "bot.import.images_failed": {
        "uz": "⚠️ {count} ta rasm olinmadi (bu mahsulotlarning rasmi o'zgarmadi):",
        "ru": "⚠️ Не удалось получить {count} изображ. (фото этих товаров не изменилось):",
    },
    "bot.import.image_line": {"uz": "  {row}-qator: {reason}", "ru": "  строка {row}: {reason}"},
    "bot.import.applied": {
        "uz": "✅ Import bajarildi: {created} ta yaratildi, {updated} ta yangilandi, {unchanged} ta o'zgarishsiz, "
              "{categories} ta yangi bo'lim.",
        "ru": "✅ Импорт выполнен: создано {created}, обновлено {updated}, без изменений {unchanged}, "
              "новых разделов {categories}.",
    },
    "bot.import.failed": {
        "uz": "Importni qo'llab bo'lmadi, hech narsa yozilmadi. Fayl saqlandi: «Qo'llash»ni qayta bosing.",
        "ru": "Импорт не удалось применить, ничего не записано. Файл сохранён: нажмите «Применить» ещё раз.",
    },
    "bot.import.cancelled": {"uz": "Import bekor qilindi. Hech narsa yozilmadi.",
                             "ru": "Импорт отменён. Ничего не записано."},
    "bot.import.expired": {
        "uz": "Bu ko'rib chiqish eskirgan yoki allaqachon ishlatilgan. Faylni qaytadan yuboring.",
        "ru": "Этот предпросмотр устарел или уже использован. Отправьте файл снова.",
    },
    "bot.export.caption": {"uz": "Katalog: {count} ta mahsulot", "ru": "Каталог: товаров {count}"},
    "catalog_import.error.empty": {"uz": "Fayl bo'sh.", "ru": "Файл пустой."},
    "catalog_import.error.too_large": {
        "uz": "Fayl juda katta (ko'pi bilan {max_mb} MB).",
        "ru": "Файл слишком большой (не больше {max_mb} МБ).",
    },
    "catalog_import.error.not_text": {
        "uz": "Bu CSV matn fayli emas (Excel'da «CSV UTF-8» sifatida saqlang).",
        "ru": "Это не текстовый CSV-файл (в Excel сохраните как «CSV UTF-8»).",
    },
    "catalog_import.error.malformed": {
        "uz": "CSV faylni o'qib bo'lmadi ({row}-qator atrofida): {detail}",
        "ru": "Не удалось прочитать CSV (около строки {row}): {detail}",
    },
    "catalog_import.error.no_sku_column": {
        "uz": "Birinchi qatorda ustun nomlari bo'lishi kerak, kamida «sku». Ustunlar: {columns}.",
        "ru": "В первой строке должны быть названия столбцов, как минимум «sku». Столбцы: {columns}.",
    },
    "catalog_import.error.unknown_columns": {
        "uz": "Noma'lum ustun(lar): {unknown}. Mumkin bo'lganlari: {columns}.",
        "ru": "Неизвестные столбцы: {unknown}. Допустимые: {columns}.",
    },
    "catalog_import.error.duplicate_columns": {
        "uz": "Ustun ikki marta berilgan: {columns}.",
        "ru": "Столбец указан дважды: {columns}.",
    },
    "catalog_import.error.too_many_rows": {
        "uz": "Juda ko'p qator (ko'pi bilan {max}). Faylni bo'lib yuboring.",
        "ru": "Слишком много строк (не больше {max}). Разделите файл.",
    },
    "catalog_import.error.no_rows": {"uz": "Faylda mahsulot qatorlari yo'q.", "ru": "В файле нет строк с товарами."},
    "catalog_import.error.rows": {
        "uz": "Faylda {count} ta xato bor; hech narsa yozilmadi.",
        "ru": "В файле ошибок: {count}; ничего не записано.",
    },
    "catalog_import.error.changed_meanwhile": {
        "uz": "Katalog shu paytda o'zgardi; hech narsa yozilmadi. Faylni qaytadan yuboring.",
        "ru": "Каталог изменился в это же время; ничего не записано. Отправьте файл снова.",
    },
    "catalog_import.reason.required": {"uz": "bo'sh bo'lmasligi kerak", "ru": "не может быть пустым"},
    "catalog_import.reason.required_new": {
        "uz": "yangi mahsulot uchun majburiy",
        "ru": "обязателен для нового товара",
    },
    "catalog_import.reason.too_long": {
        "uz": "juda uzun (ko'pi bilan {max} belgi)",
        "ru": "слишком длинно (не больше {max} символов)",
    },
    "catalog_import.reason.bad_text": {
        "uz": "boshqaruv belgilari bo'lmasligi kerak", "ru": "не должно быть управляющих символов",
    },
    "catalog_import.reason.spaces": {"uz": "bo'sh joy bo'lmasligi kerak", "ru": "не должно быть пробелов"},
    "catalog_import.reason.duplicate_sku": {
        "uz": "bu SKU {row}-qatorda ham bor",
        "ru": "этот SKU уже есть в строке {row}",
    },
    "catalog_import.reason.money": {
        "uz": "«{value}» summa emas (masalan: 125000 yoki 125000.50)",
        "ru": "«{value}» — не сумма (например: 125000 или 125000.50)",
    },
    "catalog_import.reason.sale_not_lower": {
        "uz": "chegirma narxi narxdan ({price}) past bo'lishi kerak",
        "ru": "цена со скидкой должна быть ниже цены ({price})",
    },
    "catalog_import.reason.quantity": {
        "uz": "0 dan {max} gacha butun son bo'lishi kerak",
        "ru": "должно быть целым числом от 0 до {max}",
    },
    "catalog_import.reason.url": {
        "uz": "http:// yoki https:// bilan boshlanadigan manzil bo'lishi kerak",
        "ru": "должен быть адрес, начинающийся с http:// или https://",
    },
    "catalog_import.reason.boolean": {
        "uz": "1 yoki 0 (true/false, ha/yo'q) bo'lishi kerak",
        "ru": "должно быть 1 или 0 (true/false, да/нет)",
    },
    "catalog_import.reason.category_empty_level": {
        "uz": "bo'lim yo'lida bo'sh daraja bor (masalan: Elektronika / Smartfonlar)",
        "ru": "в пути раздела пустой уровень (например: Elektronika / Smartfonlar)",
    },
    "catalog_import.reason.category_depth": {
        "uz": "ko'pi bilan {max} daraja",
        "ru": "не больше {max} уровней",
    },
    "catalog_import.reason.cells": {
        "uz": "qatorda {count} ta katak, sarlavhada {expected} ta",
        "ru": "в строке ячеек: {count}, в заголовке: {expected}",
    },

    # --- admin services' errors ---
    "admin.error.product_not_found": {
        "uz": "{sku} SKU li mahsulot topilmadi.",
        "ru": "Товар с SKU {sku} не найден.",
    },
    "admin.error.money": {
        "uz": "«{value}» narx emas. So'mda yozing, masalan: 125000 yoki 125000.50.",
        "ru": "«{value}» — не цена. Укажите в сумах, например: 125000 или 125000.50.",
    },
    "admin.error.sku": {
        "uz": "«{value}»: SKU bir qatorli matn bo'lishi kerak (ko'pi bilan 100 belgi).",
        "ru": "«{value}»: SKU должен быть одной строкой текста (не больше 100 символов).",
    },
    "bot.error.internal": {
        "uz": "Buyruqni bajarib bo'lmadi. Birozdan so'ng qayta urinib ko'ring.",
        "ru": "Не удалось выполнить команду. Попробуйте ещё раз чуть позже.",
    },
    "bot.error.unavailable": {
        "uz": "Do'kon bazasi vaqtincha ishlamayapti. Bir necha soniyadan so'ng qayta urinib ko'ring.",
        "ru": "База магазина временно недоступна. Попробуйте ещё раз через несколько секунд.",
    },
    "admin.error.quantity": {
        "uz": "«{value}»: miqdor 0 dan {max} gacha butun son bo'lishi kerak.",
        "ru": "«{value}»: количество должно быть целым числом от 0 до {max}.",
    },
    "admin.error.sale_not_lower": {
        "uz": "Chegirma narxi narxdan past bo'lishi kerak.",
        "ru": "Цена со скидкой должна быть ниже обычной цены.",
    },
    "admin.error.period": {
        "uz": "Davr: {periods}.",
        "ru": "Период: {periods}.",
    },
}
