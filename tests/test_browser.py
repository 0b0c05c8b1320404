"""The Mini App in a real headless Chromium, opened the way Telegram opens it: initData and the theme
in the URL fragment, Telegram's own WebApp script (the copy vendored from @twa-dev/sdk, served in
place of telegram.org), and a stand-in for the client's TelegramWebviewProxy that records what the
page asks the client to do (main button, back button, haptics).

Screenshots (uz/ru x light/dark) are saved under test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import asyncpg
import pytest
from playwright import async_api as pw_api

from store.settings import Settings
from tests.conftest import MakeClient
from tests.tma import Shop, init_data, start_shop

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
VENDORED_SCRIPT = ROOT / "webapp" / "static" / "vendor" / "telegram-web-app.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 15_000

THEMES = {
    # Telegram's own default palettes (Android client).
    "light": {"bg_color": "#ffffff", "text_color": "#000000", "hint_color": "#999999", "link_color": "#2481cc",
              "button_color": "#2481cc", "button_text_color": "#ffffff", "secondary_bg_color": "#efeff3",
              "header_bg_color": "#ffffff", "accent_text_color": "#2481cc", "section_bg_color": "#ffffff",
              "section_header_text_color": "#6d6d72", "subtitle_text_color": "#999999",
              "destructive_text_color": "#ff3b30"},
    "dark": {"bg_color": "#212d3b", "text_color": "#ffffff", "hint_color": "#7d8b99", "link_color": "#5eabe1",
             "button_color": "#5eabe1", "button_text_color": "#ffffff", "secondary_bg_color": "#151e27",
             "header_bg_color": "#242d39", "accent_text_color": "#64b5ef", "section_bg_color": "#212d3b",
             "section_header_text_color": "#79c4fc", "subtitle_text_color": "#7b8790",
             "destructive_text_color": "#ee686f"},
}

# What a Telegram client injects: the page's calls to the client land in window.__tg.events.
FAKE_CLIENT = """
window.__tg = {events: []};
window.TelegramWebviewProxy = {
  postEvent(type, data) { window.__tg.events.push([type, data ? JSON.parse(data) : null]); }
};
"""

@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = (
            "\n" + "#" * 78 + "\n# /usr/bin/chromium is missing: the Mini App browser tests are SKIPPED.\n"
            "# Install Debian's chromium (make browser) to run them.\n" + "#" * 78
        )
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and /usr/bin/chromium is missing; browser tests must not be skipped" + message)
        pytest.skip(message)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return CHROMIUM


@pytest.fixture(scope="module")
async def browser(chromium: Path) -> AsyncIterator[Any]:
    async with pw_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def shop(settings: Settings, pool: asyncpg.Pool, make_client: MakeClient) -> Shop:
    return await start_shop(settings, pool, make_client)


def mini_app_url(shop: Shop, *, theme: str, language_code: str, telegram_id: int) -> str:
    data = init_data(shop.token, telegram_id=telegram_id, first_name="Aziz", last_name="Karimov",
                     language_code=language_code)
    fragment = (f"tgWebAppData={quote(data, safe='')}&tgWebAppVersion=8.0&tgWebAppPlatform=android"
                f"&tgWebAppThemeParams={quote(json.dumps(THEMES[theme]), safe='')}")
    return str(shop.client.make_url("/")) + "#" + fragment


async def new_page(browser: Any, *, width: int = 390, telegram_org: str = "vendored", fake_client: bool = True,
                   theme: str = "light") -> Any:
    context = await browser.new_context(viewport={"width": width, "height": 800}, device_scale_factor=2,
                                        color_scheme=theme, locale="uz-UZ")
    context.set_default_timeout(TIMEOUT_MS)

    async def only_localhost(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            await route.continue_()
        elif host == "telegram.org" and telegram_org == "vendored":
            await route.fulfill(path=str(VENDORED_SCRIPT), content_type="application/javascript")
        else:
            await route.abort()  # the network is closed: nothing may leave this machine

    await context.route("**/*", only_localhost)
    if fake_client:
        await context.add_init_script(FAKE_CLIENT)
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    # Anything the page's Content-Security-Policy blocks is an error too (Chromium reports it on the console).
    page.on("console", lambda message: page.errors.append(message.text)
            if "Content Security Policy" in message.text else None)
    return page


async def client_events(page: Any, kind: str) -> list[Any]:
    events: list[list[Any]] = await page.evaluate("window.__tg.events")
    return [data for event, data in events if event == kind]


async def main_button(page: Any) -> dict[str, Any]:
    setups = await client_events(page, "web_app_setup_main_button")
    return setups[-1] if setups else {}


async def press_main_button(page: Any) -> None:
    await page.evaluate("window.Telegram.WebView.receiveEvent('main_button_pressed')")


async def wait_main_button(page: Any, text_part: str) -> dict[str, Any]:
    await page.wait_for_function(
        """part => { const s = window.__tg.events.filter(e => e[0] === 'web_app_setup_main_button');
                     const last = s.length ? s[s.length - 1][1] : null;
                     return last && last.is_visible && last.is_active && last.text.includes(part); }""",
        arg=text_part,
    )
    return await main_button(page)


async def shot(page: Any, name: str) -> None:
    await page.evaluate("document.getElementById('toast').hidden = true")  # a passing message, not the screen
    await page.wait_for_timeout(150)  # let transitions settle
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


async def test_a_customer_browses_searches_buys_and_sees_the_order(browser: Any, shop: Shop) -> None:
    page = await new_page(browser)
    await page.goto(mini_app_url(shop, theme="light", language_code="uz", telegram_id=800000001))
    await page.wait_for_selector("[data-category]")
    assert await page.evaluate("window.Telegram.WebApp.initData.length") > 0
    assert "web_app_ready" in [e[0] for e in await page.evaluate("window.__tg.events")]
    assert await client_events(page, "web_app_expand")
    # Telegram's fragment has been read and replaced by the app's own route.
    assert "tgWebAppData" not in page.url

    # Browse a category, then a subcategory.
    await page.click("[data-category]:has-text('Elektronika')")
    await page.wait_for_selector(".subcats [data-category]:has-text('Smartfonlar')")
    back = await client_events(page, "web_app_setup_back_button")
    assert back and back[-1]["is_visible"] is True
    await page.click(".subcats [data-category]:has-text('Smartfonlar')")
    await page.wait_for_selector("[data-product] .name:has-text('Xiaomi Redmi Note 13')")

    # Search by a word of the name.
    await page.evaluate("location.hash = '#/search'")
    await page.fill(".search-input", "choy")
    await page.wait_for_selector("[data-product] .name:has-text('Ko\\'k choy')")
    assert "choy" in page.url
    await shot(page, "uz-light-390-search")

    # The product page: the MainButton adds to the cart (with the price), the stepper takes it to two
    # units at once; the client is asked for haptic feedback.
    await page.click("[data-product]:has-text('Ko\\'k choy') .name")
    await page.wait_for_selector(".product-name:has-text('Ko\\'k choy')")
    await wait_main_button(page, "Savatga qo'shish · 18 000 so'm")
    assert await page.is_hidden("#tabbar")  # the MainButton is the action: no tab bar beside it
    await press_main_button(page)
    await page.wait_for_selector(".buy-row:not([hidden])")
    await page.click(".buy-row .step.plus")
    await page.wait_for_function("() => document.getElementById('cart-badge').textContent === '2'")
    haptics = await client_events(page, "web_app_trigger_haptic_feedback")
    assert haptics, "adding to the cart must ask for haptic feedback"
    button = await wait_main_button(page, "56 000 so'm")  # 2 x 18 000 + 20 000 delivery
    assert "Savatga o'tish" in button["text"]

    # Main button: to the cart, then to checkout.
    await press_main_button(page)
    await page.wait_for_selector("[data-line]")
    await wait_main_button(page, "Rasmiylashtirish")
    await press_main_button(page)
    await page.wait_for_selector("input[name=customer_name]")
    assert await page.input_value("input[name=customer_name]") == "Aziz Karimov"  # from Telegram

    # A bad phone is caught before anything is sent, with haptic "error".
    await page.fill("input[name=customer_phone]", "12345")
    await page.fill("textarea[name=delivery_address]", "Toshkent, Yunusobod 4, 17-uy")
    await wait_main_button(page, "Buyurtma berish")
    await press_main_button(page)
    await page.wait_for_selector("[data-error-for=customer_phone]:not([hidden])")
    assert {"type": "notification", "notification_type": "error"} in await client_events(
        page, "web_app_trigger_haptic_feedback")

    await page.fill("input[name=customer_phone]", "90 123 45 67")
    await press_main_button(page)
    await page.wait_for_selector(".placed")
    assert any(s.get("is_progress_visible") for s in await client_events(page, "web_app_setup_main_button"))
    number = await shop.pool.fetchval("SELECT order_number FROM orders")
    assert number and number in await page.inner_text(".placed")

    # My orders.
    await page.click("#tabbar [data-tab=orders]")
    await page.wait_for_selector(f"[data-order='{number}']")
    assert "Kutilmoqda" in await page.inner_text(f"[data-order='{number}']")
    await page.click(f"[data-order='{number}']")
    await page.wait_for_selector(".cancel-order")
    assert "Ko'k choy" in await page.inner_text(".order-page")

    # BackButton mirrors navigation: pressing it goes back, and it hides on the home screen.
    await page.evaluate("window.Telegram.WebView.receiveEvent('back_button_pressed')")
    await page.wait_for_selector(f"[data-order='{number}']")
    assert await shop.pool.fetchval("SELECT stock_quantity FROM products WHERE sku = 'AS-TEA-GRN'") == 118
    assert page.errors == []


async def test_the_language_switch_persists(browser: Any, shop: Shop) -> None:
    page = await new_page(browser)
    await page.goto(mini_app_url(shop, theme="light", language_code="en", telegram_id=800000002))
    await page.wait_for_selector("[data-category]:has-text('Elektronika')")  # en -> uz
    await page.click(".lang-switch [data-lang=ru]")
    await page.wait_for_selector("[data-category]:has-text('Электроника')")
    assert await page.inner_text("#tabbar [data-tab=cart]") == "Корзина"
    assert await shop.pool.fetchval("SELECT language FROM users WHERE telegram_id = 800000002") == "ru"
    await page.reload()
    await page.wait_for_selector("[data-category]:has-text('Электроника')")
    assert page.errors == []


async def test_the_local_copy_of_telegrams_script_is_used_when_telegram_org_is_unreachable(
    browser: Any, shop: Shop,
) -> None:
    page = await new_page(browser, telegram_org="unreachable", fake_client=False)
    await page.goto(mini_app_url(shop, theme="light", language_code="uz", telegram_id=800000003))
    await page.wait_for_selector("[data-category]")
    scripts = await page.evaluate("[...document.scripts].map(s => s.src).filter(Boolean)")
    assert any("/assets/telegram-web-app." in src for src in scripts)
    assert await page.evaluate("window.Telegram.WebApp.initDataUnsafe.user.id") == 800000003
    # No Telegram client around the page: the main button is drawn by the page itself.
    await page.click("[data-product] [data-add]")
    await page.wait_for_selector("#cart-badge:has-text('1')")
    await page.click("#tabbar [data-tab=cart]")
    await page.wait_for_selector("[data-line]")
    await page.wait_for_selector("#main-button-fallback:not([hidden])")
    await page.click("#main-button-fallback button")
    await page.wait_for_selector("input[name=customer_name]")
    assert page.errors == []


@pytest.mark.parametrize("width", [320, 390])
async def test_screenshots_in_both_languages_and_themes(browser: Any, shop: Shop, width: int) -> None:
    tea = await shop.product("AS-TEA-GRN")
    for n, (lang, theme) in enumerate([("uz", "light"), ("uz", "dark"), ("ru", "light"), ("ru", "dark")]):
        page = await new_page(browser, width=width, fake_client=False, theme=theme)
        telegram_id = 810000000 + width * 10 + n
        await page.goto(mini_app_url(shop, theme=theme, language_code=lang, telegram_id=telegram_id))
        await page.wait_for_selector("[data-category]")
        name = f"{lang}-{theme}-{width}"
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        expected = THEMES[theme]["secondary_bg_color"]
        assert background == "rgb({}, {}, {})".format(*(int(expected[i:i + 2], 16) for i in (1, 3, 5)))
        await shot(page, f"{name}-home")
        await page.evaluate(f"location.hash = '#/p/{tea.id}'")
        await page.wait_for_selector(".product-name")
        await page.click("#main-button-fallback button")  # add to cart · price
        await page.wait_for_selector(".buy-row:not([hidden])")
        await shot(page, f"{name}-product")
        await page.evaluate("location.hash = '#/c/1'")
        await page.wait_for_selector(".subcats")
        await shot(page, f"{name}-category")
        await page.evaluate("location.hash = '#/cart'")
        await page.wait_for_selector("[data-line]")
        await shot(page, f"{name}-cart")
        await page.click("#main-button-fallback button")
        await page.wait_for_selector("input[name=customer_name]")
        await shot(page, f"{name}-checkout")
        assert await page.evaluate("document.documentElement.scrollWidth") <= width  # nothing sticks out
        await page.fill("input[name=customer_phone]", "+998 93 555 12 34")
        await page.fill("textarea[name=delivery_address]", "Toshkent, Mirobod 12, 5-uy")
        await page.click("#main-button-fallback button")
        await page.wait_for_selector(".placed")
        await shot(page, f"{name}-placed")
        await page.click("#tabbar [data-tab=orders]")
        await page.wait_for_selector("[data-order]")
        await shot(page, f"{name}-orders")
        await page.click("[data-order]")
        await page.wait_for_selector(".cancel-order")
        await shot(page, f"{name}-order")
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.errors == []
        await page.context.close()


async def test_a_changed_price_is_shown_and_confirmed_before_the_order_is_placed(browser: Any, shop: Shop) -> None:
    honey = await shop.product("AS-SWT-HNY")  # 150 000
    customer = shop.customer(800000004, language_code="ru")
    await customer.put_cart(honey.id, 1)
    await shop.pool.execute("UPDATE users SET phone = '+998901112233' WHERE telegram_id = 800000004")
    page = await new_page(browser)
    await page.goto(mini_app_url(shop, theme="dark", language_code="ru", telegram_id=800000004))
    await page.wait_for_selector("[data-category]")
    await page.evaluate("location.hash = '#/checkout'")
    await page.wait_for_selector("input[name=customer_name]")
    assert await page.input_value("input[name=customer_phone]") == "+998901112233"  # known from before
    await page.fill("textarea[name=delivery_address]", "Ташкент, Юнусабад 4, дом 17")
    await wait_main_button(page, "170 000 сум")  # 150 000 + 20 000 delivery
    await shop.pool.execute("UPDATE products SET price = 165000 WHERE id = $1", honey.id)  # meanwhile

    await press_main_button(page)
    await page.wait_for_selector(".notice.warn:not([hidden])")
    assert "цены изменились" in (await page.inner_text(".notice.warn")).lower()
    await wait_main_button(page, "185 000 сум")  # 165 000 + 20 000 delivery, for the customer to confirm
    assert "165 000 сум" in await page.inner_text(".checkout-page .order-line")  # the line shows the new price
    assert await shop.pool.fetchval("SELECT count(*) FROM orders") == 0
    await shot(page, "ru-dark-390-price-changed")

    await press_main_button(page)
    await page.wait_for_selector(".placed")
    assert await shop.pool.fetchval("SELECT total FROM orders") == 185000
    assert page.errors == []
