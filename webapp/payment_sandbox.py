"""Local mode's payment sandbox (issue #10): Payme's and Click's side of the protocol, so the whole
online-payment flow can be tried in a browser without an account.

`configure(settings)` gives local mode sandbox credentials for Payme and Click (unless real ones
are set) and points their pay links at this server (`/sandbox/payme/…`, `/sandbox/click/pay`). The
pages show the order and its amount with a "pay" button; pressing it makes this server call the
store's own endpoints over HTTP exactly as the payment systems do — Payme: CheckPerformTransaction,
CreateTransaction, PerformTransaction with HTTP Basic `Paycom:<key>`; Click: prepare then complete,
form-encoded and MD5-signed — and then sends the customer back to the return URL, as they do.
"""

from __future__ import annotations

import base64
import html
import secrets
import time
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from store import keys
from store.i18n import format_money
from store.services import payments
from store.settings import Settings

PAYME_PATH = "/sandbox/payme"
CLICK_PATH = "/sandbox/click/pay"


def configure(settings: Settings) -> Settings:
    """Local mode: sandbox Payme and Click wherever real credentials are not set."""
    update: dict[str, Any] = {}
    if not (settings.payme_merchant_id and settings.payme_key):
        update.update(payme_merchant_id="local-sandbox", payme_key=SecretStr(secrets.token_urlsafe(24)),
                      payme_checkout_url=PAYME_PATH)
    if not (settings.click_service_id and settings.click_merchant_id and settings.click_secret_key):
        update.update(click_service_id=1, click_merchant_id=1, click_secret_key=SecretStr(secrets.token_urlsafe(16)),
                      click_pay_url=CLICK_PATH)
    # model_copy skips validation: the sandbox's pay links are paths on this server, made absolute
    # per request (webapp.api), which no real setting may be.
    return settings.model_copy(update=update) if update else settings


def _page(title: str, body: str) -> web.Response:
    return web.Response(content_type="text/html", text=f"""<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:420px;margin:40px auto;padding:0 16px;color:#222}}
.card{{border:1px solid #ddd;border-radius:12px;padding:20px}}.amount{{font-size:28px;font-weight:700;margin:8px 0}}
button{{font-size:18px;padding:12px 20px;border:0;border-radius:10px;background:#00aaff;color:#fff;width:100%}}
.note{{color:#888;font-size:13px}}.error{{color:#c00}}a{{display:block;text-align:center;margin-top:16px}}</style>
</head><body><div class="card">{body}</div></body></html>""")


def _back_link(url: str) -> str:
    return f'<a class="back" href="{html.escape(url)}">← Do\'konga qaytish / Вернуться в магазин</a>'


def _same_origin(request: web.Request, url: str) -> str:
    """Only return URLs on this server (the sandbox must not become an open redirect)."""
    origin = str(request.url.origin())
    return url if url.startswith(origin + "/") else origin + "/"


async def payme_page(request: web.Request) -> web.Response:
    try:
        params = dict(part.split("=", 1) for part in base64.b64decode(request.match_info["token"]).decode().split(";"))
        order_number, amount = params["ac.order_id"], int(params["a"])
        back = _same_origin(request, params.get("c", ""))
    except (ValueError, KeyError, UnicodeDecodeError):
        return _page("Payme sandbox", '<p class="error">Bad checkout link</p>')
    return _page("Payme sandbox", f"""
<h2>Payme · sandbox</h2><p>Buyurtma / Заказ <b class="order">{html.escape(order_number)}</b></p>
<p class="amount">{format_money(payments_decimal(amount))}</p>
<form method="post" action="{PAYME_PATH}/pay">
<input type="hidden" name="order_id" value="{html.escape(order_number)}">
<input type="hidden" name="amount" value="{amount}"><input type="hidden" name="back" value="{html.escape(back)}">
<button type="submit" class="pay">To'lash / Оплатить</button></form>
<p class="note">Local mode: no money moves. This page calls the store's /payments/payme as Payme does.</p>
{_back_link(back)}""")


def payments_decimal(tiyin: int) -> Decimal:
    return Decimal(tiyin) / 100


async def _payme_call(session: aiohttp.ClientSession, url: str, auth: str, method: str,
                      params: dict[str, Any]) -> dict[str, Any]:
    async with session.post(url, json={"jsonrpc": "2.0", "id": secrets.randbelow(10**9), "method": method,
                                       "params": params}, headers={"Authorization": auth}) as response:
        answer: dict[str, Any] = await response.json()
    return answer


async def payme_pay(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    form = await request.post()
    order_number, back = str(form.get("order_id", "")), _same_origin(request, str(form.get("back", "")))
    try:
        amount = int(str(form.get("amount", "")))
    except ValueError:
        return _page("Payme sandbox", '<p class="error">Bad amount</p>')
    assert settings.payme_key is not None
    auth = "Basic " + base64.b64encode(f"Paycom:{settings.payme_key.get_secret_value()}".encode()).decode()
    url = str(request.url.origin()) + "/payments/payme"
    account = {"order_id": order_number}
    tx_id = secrets.token_hex(12)
    async with aiohttp.ClientSession() as session:
        for method, params in (
            ("CheckPerformTransaction", {"amount": amount, "account": account}),
            ("CreateTransaction", {"id": tx_id, "time": int(time.time() * 1000), "amount": amount,
                                   "account": account}),
            ("PerformTransaction", {"id": tx_id}),
        ):
            answer = await _payme_call(session, url, auth, method, params)
            if "error" in answer:
                message = answer["error"]["message"]
                text = " / ".join(message[lang] for lang in ("uz", "ru") if isinstance(message, dict))
                return _page("Payme sandbox", f'<p class="error">{html.escape(method)}: {answer["error"]["code"]} '
                                              f'{html.escape(text)}</p>{_back_link(back)}')
    raise web.HTTPSeeOther(back)


async def click_page(request: web.Request) -> web.Response:
    q = request.query
    order_number, amount = q.get("transaction_param", ""), q.get("amount", "")
    back = _same_origin(request, q.get("return_url", ""))
    return _page("Click sandbox", f"""
<h2>Click · sandbox</h2><p>Buyurtma / Заказ <b class="order">{html.escape(order_number)}</b></p>
<p class="amount">{html.escape(_som_text(amount))}</p>
<form method="post" action="{CLICK_PATH}">
<input type="hidden" name="order_id" value="{html.escape(order_number)}">
<input type="hidden" name="amount" value="{html.escape(amount)}">
<input type="hidden" name="back" value="{html.escape(back)}">
<button type="submit" class="pay">To'lash / Оплатить</button></form>
<p class="note">Local mode: no money moves. This page calls the store's /payments/click as Click does.</p>
{_back_link(back)}""")


def _som_text(amount: str) -> str:
    try:
        return format_money(Decimal(amount))
    except InvalidOperation:
        return amount


def _click_form(settings: Settings, order_number: str, amount: str, click_trans_id: int, action: int,
                prepare_id: str | None) -> dict[str, str]:
    assert settings.click_secret_key is not None
    form = {"click_trans_id": str(click_trans_id), "service_id": str(settings.click_service_id),
            "click_paydoc_id": str(click_trans_id + 1), "merchant_trans_id": order_number, "amount": amount,
            "action": str(action), "error": "0", "error_note": "Success",
            "sign_time": datetime.now().strftime("%Y-%m-%d %H:%M:%S")}
    if prepare_id is not None:
        form["merchant_prepare_id"] = prepare_id
    form["sign_string"] = payments.click_sign(settings.click_secret_key.get_secret_value(), form,
                                              complete=prepare_id is not None)
    return form


async def click_pay(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    form = await request.post()
    order_number, amount = str(form.get("order_id", "")), str(form.get("amount", ""))
    back = _same_origin(request, str(form.get("back", "")))
    base = str(request.url.origin()) + "/payments/click"
    click_trans_id = secrets.randbelow(10**9) + 1
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/prepare",
                                data=_click_form(settings, order_number, amount, click_trans_id, 0, None)) as r:
            prepared = await r.json()
        if prepared.get("error") == 0:
            async with session.post(f"{base}/complete", data=_click_form(
                    settings, order_number, amount, click_trans_id, 1, str(prepared["merchant_prepare_id"]))) as r:
                prepared = await r.json()
    if prepared.get("error") != 0:
        return _page("Click sandbox", f'<p class="error">{prepared.get("error")} '
                                      f'{html.escape(str(prepared.get("error_note")))}</p>{_back_link(back)}')
    raise web.HTTPSeeOther(back)


def setup_sandbox_routes(app: web.Application) -> None:
    app.router.add_get(PAYME_PATH + "/{token:.+}", payme_page, name="sandbox.payme")
    app.router.add_post(PAYME_PATH + "/pay", payme_pay, name="sandbox.payme.pay")
    app.router.add_get(CLICK_PATH, click_page, name="sandbox.click")
    app.router.add_post(CLICK_PATH, click_pay, name="sandbox.click.pay")
