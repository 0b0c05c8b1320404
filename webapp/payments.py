"""The payment systems' endpoints (issue #10): Payme's Merchant API and Click's SHOP API.

Both are called by the payment systems' servers, not by the Mini App, so they sit outside /api/
(no Telegram initData); each checks its own credentials: Payme HTTP Basic `Paycom:<PAYME_KEY>`,
Click the MD5 `sign_string`. Payme always gets HTTP 200 with a JSON-RPC result or error; Click
gets HTTP 200 with its JSON answer. The rules are in store.services.payments.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from store import keys
from store.errors import ValidationFailed
from store.services import payments
from store.validation import parse_json

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


def _rpc(request_id: Any, *, result: Any = None, error: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    if error is not None:
        body["error"] = error
    else:
        body["result"] = result
    return web.json_response(body)


async def payme(request: web.Request) -> web.Response:
    """POST /payments/payme: JSON-RPC 2.0 as Payme sends it."""
    settings = request.app[keys.SETTINGS]
    if "payme" not in settings.payment_methods:
        raise web.HTTPNotFound()
    if request.method != "POST":
        return _rpc(None, error=payments.PaymeError(-32300).as_error())
    raw = await request.content.read(MAX_BODY + 1)
    message: Any = None
    try:  # bounded in size and depth: a 100,000-deep body is a parse error, not a RecursionError
        message = parse_json(raw, max_bytes=MAX_BODY)
        parsed = True
    except ValidationFailed:
        parsed = False
    request_id = message.get("id") if isinstance(message, dict) else None
    if not payments.payme_check_auth(settings, request.headers.get("Authorization")):
        log.warning("Payme: a request with wrong credentials from %s", request.remote)
        return _rpc(request_id, error=payments.PaymeError(-32504).as_error())
    if not parsed:
        return _rpc(None, error=payments.PaymeError(-32700).as_error())
    if not isinstance(message, dict) or not isinstance(message.get("method"), str) \
            or not isinstance(message.get("params"), dict):
        return _rpc(request_id, error=payments.PaymeError(-32600).as_error())
    service = payments.Payme(request.app[keys.DB])
    try:
        result = await service.dispatch(message["method"], message["params"])
    except payments.PaymeError as exc:
        log.info("Payme %s answered %s", message["method"], exc.code)
        return _rpc(request_id, error=exc.as_error())
    except Exception:
        log.exception("Payme %s failed", message["method"])
        return _rpc(request_id, error=payments.PaymeError(-32400).as_error())
    return _rpc(request_id, result=result)


async def _click_params(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {name: value.strip() for name, value in form.items() if isinstance(value, str)}


async def click_prepare(request: web.Request) -> web.Response:
    """POST /payments/click/prepare (action 0), form-encoded as Click sends it."""
    return await _click(request, complete=False)


async def click_complete(request: web.Request) -> web.Response:
    """POST /payments/click/complete (action 1)."""
    return await _click(request, complete=True)


async def _click(request: web.Request, *, complete: bool) -> web.Response:
    settings = request.app[keys.SETTINGS]
    if "click" not in settings.payment_methods:
        raise web.HTTPNotFound()
    params = await _click_params(request)
    service = payments.Click(request.app[keys.DB], settings)
    try:
        answer = await (service.complete(params) if complete else service.prepare(params))
    except Exception:
        log.exception("Click %s failed", "complete" if complete else "prepare")
        answer = {"error": -7, "error_note": payments.CLICK_ERRORS[-7],
                  "click_trans_id": params.get("click_trans_id"), "merchant_trans_id": params.get("merchant_trans_id")}
    if answer["error"] != 0:
        log.info("Click %s for %s answered %s", "complete" if complete else "prepare",
                 params.get("merchant_trans_id"), answer["error"])
    return web.json_response(answer)


def setup_payment_routes(app: web.Application) -> None:
    app.router.add_route("*", "/payments/payme", payme, name="payments.payme")
    app.router.add_post("/payments/click/prepare", click_prepare, name="payments.click.prepare")
    app.router.add_post("/payments/click/complete", click_complete, name="payments.click.complete")
