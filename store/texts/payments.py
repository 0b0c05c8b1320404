"""Texts of online payment (issue #10): what customers and admins read, in Uzbek and Russian."""

TEXTS: dict[str, dict[str, str]] = {
    # how an order is paid (Mini App order screen, notifications, admin cards)
    "payment.method.cash": {"uz": "Naqd pul (yetkazib berishda)", "ru": "Наличными при получении"},
    "payment.method.payme": {"uz": "Payme", "ru": "Payme"},
    "payment.method.click": {"uz": "Click", "ru": "Click"},
    "payment.method.telegram": {"uz": "Telegram orqali karta bilan", "ru": "Картой в Telegram"},
    "payment.state.cash": {"uz": "Naqd pul, yetkazib berishda", "ru": "Оплата наличными при получении"},
    "payment.state.awaiting": {"uz": "To'lov kutilmoqda", "ru": "Ожидает оплаты"},
    "payment.state.paid": {"uz": "To'langan", "ru": "Оплачен"},
    "payment.state.refunded": {"uz": "Pul qaytarilgan", "ru": "Деньги возвращены"},
    "payment.state.expired": {"uz": "To'lov muddati o'tgan", "ru": "Срок оплаты истёк"},
    "payment.state.unpaid": {"uz": "To'lanmagan", "ru": "Не оплачен"},
    "payment.pay": {"uz": "To'lash", "ru": "Оплатить"},
    "payment.pay_again": {"uz": "Qayta to'lash", "ru": "Оплатить снова"},
    "payment.pay_until": {"uz": "{time} gacha to'lang", "ru": "Оплатите до {time}"},
    "payment.choose": {"uz": "To'lov usuli", "ru": "Способ оплаты"},
    "payment.waiting": {"uz": "To'lov tekshirilmoqda…", "ru": "Проверяем оплату…"},
    # pre_checkout_query refusals (Telegram shows them to the customer)
    "payment.refusal.not_found": {"uz": "Buyurtma topilmadi.", "ru": "Заказ не найден."},
    "payment.refusal.not_online": {
        "uz": "Bu buyurtma naqd pul bilan to'lanadi.", "ru": "Этот заказ оплачивается наличными.",
    },
    "payment.refusal.paid": {"uz": "Buyurtma allaqachon to'langan.", "ru": "Заказ уже оплачен."},
    "payment.refusal.refunded": {"uz": "Buyurtma puli qaytarilgan.", "ru": "Деньги за заказ уже возвращены."},
    "payment.refusal.cancelled": {"uz": "Buyurtma bekor qilingan.", "ru": "Заказ отменён."},
    "payment.refusal.expired": {
        "uz": "To'lov muddati o'tdi, buyurtma bekor qilindi.", "ru": "Срок оплаты истёк, заказ отменён.",
    },
    "payment.refusal.amount": {
        "uz": "Buyurtma summasi o'zgardi. Buyurtmani qayta oching.",
        "ru": "Сумма заказа изменилась. Откройте заказ заново.",
    },
    # checkout errors
    "error.payment_method_unknown": {
        "uz": "To'lov usuli cash, payme, click yoki telegram bo'lishi kerak.",
        "ru": "Способ оплаты должен быть cash, payme, click или telegram.",
    },
    "error.payment_method_unavailable": {
        "uz": "Bu to'lov usuli hozir mavjud emas.", "ru": "Этот способ оплаты сейчас недоступен.",
    },
    "error.order_paid_no_cancel": {
        "uz": "To'langan buyurtmani do'kon bekor qiladi: bizga yozing.",
        "ru": "Оплаченный заказ отменяет магазин: напишите нам.",
    },
    "error.order_not_payable": {
        "uz": "Bu buyurtmani hozir to'lab bo'lmaydi: {reason}",
        "ru": "Этот заказ сейчас нельзя оплатить: {reason}",
    },
    "error.payment_link_failed": {
        "uz": "To'lov havolasini yaratib bo'lmadi. Birozdan so'ng qayta urinib ko'ring.",
        "ru": "Не удалось создать ссылку на оплату. Попробуйте чуть позже.",
    },
    # Telegram invoice
    "payment.invoice_title": {"uz": "Buyurtma {number}", "ru": "Заказ {number}"},
    "payment.invoice_description": {
        "uz": "Amazing Store: {count} ta mahsulot", "ru": "Amazing Store: товаров {count} шт.",
    },
    "payment.invoice_total": {"uz": "Jami", "ru": "Итого"},
    # notifications
    "payment.notify.customer_paid": {
        "uz": "✅ {number} buyurtmangiz uchun to'lov qabul qilindi: {total}.",
        "ru": "✅ Оплата заказа {number} получена: {total}.",
    },
    "payment.notify.customer_refunded": {
        "uz": "↩️ {number} buyurtmangiz uchun {total} qaytarildi.",
        "ru": "↩️ За заказ {number} возвращено {total}.",
    },
    "payment.notify.admin_paid": {
        "uz": "💳 {number} buyurtma to'landi ({method}): {total}.",
        "ru": "💳 Заказ {number} оплачен ({method}): {total}.",
    },
    "payment.notify.admin_refunded": {
        "uz": "↩️ {number} buyurtma puli qaytarildi ({method}): {total}.",
        "ru": "↩️ По заказу {number} возврат ({method}): {total}.",
    },
    # the owner
    "bot.refund.usage": {"uz": "Foydalanish: /refund BUYURTMA_RAQAMI", "ru": "Использование: /refund НОМЕР_ЗАКАЗА"},
    "bot.refund.not_paid": {
        "uz": "{number} buyurtma to'lanmagan: qaytaradigan narsa yo'q.",
        "ru": "Заказ {number} не оплачен: возвращать нечего.",
    },
    "bot.refund.payme": {
        "uz": "{number} Payme orqali to'langan: pulni Payme kabinetida qaytaring, Payme bizga o'zi xabar beradi.",
        "ru": "Заказ {number} оплачен через Payme: верните деньги в кабинете Payme, Payme сообщит нам сам.",
    },
    "bot.refund.done": {
        "uz": "{number}: to'lov qaytarilgan deb belgilandi. Buyurtma holati: {status}.",
        "ru": "{number}: оплата отмечена как возвращённая. Статус заказа: {status}.",
    },
    "bot.payment.history": {"uz": "To'lov tarixi:", "ru": "История оплаты:"},
    "bot.payment.line": {"uz": "To'lov: {state}", "ru": "Оплата: {state}"},
    "bot.stats.by_method": {"uz": "<b>To'lov usullari bo'yicha</b>", "ru": "<b>По способам оплаты</b>"},
    "bot.stats.method_line": {
        "uz": "• {method}: {orders} ta buyurtma, {revenue} (onlayn to'langan: {paid})",
        "ru": "• {method}: заказов {orders}, {revenue} (оплачено онлайн: {paid})",
    },
    "payment.method.marketplace": {"uz": "Marketpleys", "ru": "Маркетплейс"},
    "bot.help.refund": {
        "uz": "/refund RAQAM — Click yoki Telegram to'lovi qaytarildi deb belgilash",
        "ru": "/refund НОМЕР — отметить возврат оплаты Click или Telegram",
    },
}
