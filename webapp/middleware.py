"""The web edge: domain errors to JSON once, and Telegram initData authentication for /api/."""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiogram.utils.web_app import WebAppInitData
from aiohttp import web
from aiohttp.typedefs import Handler

from db.models import User
from store import keys
from store.errors import Forbidden, RateLimited, StoreError, service_unavailable
from store.i18n import normalize_language, t
from store.logs import quoted
from store.services import customers
from store.telegram_auth import InitDataError, validate_init_data
from webapp.ratelimit import WRITE_RATE_LIMIT, check_write

log = logging.getLogger(__name__)

USER = web.RequestKey("user", User)
INIT_DATA = web.RequestKey("init_data", WebAppInitData)
PUBLIC_API = frozenset({"/api/openapi.json"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# How long a client should wait before trying again while PostgreSQL (or Redis) cannot be reached.
UNAVAILABLE_RETRY_AFTER = 5


def error_body(code: str, message: str, fields: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    error.update(extra)
    return {"error": error}


def request_language(request: web.Request) -> str:
    """The customer's language: their own choice once authenticated; before that (or when the
    database cannot tell) the language Telegram put in initData, else Accept-Language."""
    user = request.get(USER)
    if user is not None and user.language:
        return str(user.language)
    code = _init_data_language(request)
    return normalize_language(code or request.headers.get("Accept-Language", "uz")[:2])


def _init_data_language(request: web.Request) -> str | None:
    """`user.language_code` of the (not yet verified) initData: only ever used to pick the language
    of an error message."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "tma" or not raw or len(raw) > 8192:
        return None
    try:
        user = json.loads(dict(parse_qsl(raw.strip())).get("user", "{}"))
    except (ValueError, RecursionError):
        return None
    code = user.get("language_code") if isinstance(user, dict) else None
    return code if isinstance(code, str) else None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except StoreError as exc:
        lang = request_language(request)
        fields = {name: t(key, lang) for name, key in exc.fields.items()} if exc.fields else None
        body = error_body(exc.code, t(exc.message_key, lang, **exc.params), fields, **exc.details)
        headers = {"Retry-After": str(exc.details["retry_after"])} if isinstance(exc, RateLimited) else None
        return web.json_response(body, status=exc.status, headers=headers)
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
                413: "too_large"}.get(exc.status, "http_error")
        lang = request_language(request)
        message = {404: t("error.not_found", lang), 400: t("error.bad_request", lang)}.get(exc.status, exc.reason)
        return web.json_response(error_body(code, message), status=exc.status)
    except Exception as exc:
        api = request.path.startswith("/api/")
        if service_unavailable(exc):
            # Not a bug: one line, no traceback (an outage must not flood the log).
            log.warning("service unavailable on %s %s: %r", request.method, quoted(request.path), exc)
            lang = request_language(request)
            body = error_body("unavailable", t("error.unavailable", lang), retry_after=UNAVAILABLE_RETRY_AFTER)
            headers = {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)}
            if api:
                return web.json_response(body, status=503, headers=headers)
            raise web.HTTPServiceUnavailable(text=t("error.unavailable", lang), headers=headers) from exc
        log.exception("unhandled error on %s %s", request.method, quoted(request.path))
        if not api:
            raise
        lang = request_language(request)
        return web.json_response(error_body("internal", t("error.internal", lang)), status=500)


@dataclass(frozen=True, slots=True)
class Session:
    data: WebAppInitData
    user: User


class SessionCache:
    """Mini App sessions seen recently, keyed by the raw initData string.

    A string that passed the signature check is not checked again while cached (its age still is),
    and the customer is upserted once per session instead of on every request. Entries live
    `ttl` seconds, so blocking a customer takes effect within that time."""

    def __init__(self, ttl: float = 30.0, size: int = 10_000) -> None:
        self.ttl, self.size = ttl, size
        self._items: OrderedDict[str, tuple[float, Session]] = OrderedDict()

    def get(self, raw: str, *, max_age: int, now: float | None = None) -> Session | None:
        item = self._items.get(raw)
        if item is None or item[0] < time.monotonic():
            return None
        current = time.time() if now is None else now
        if current - item[1].data.auth_date.timestamp() > max_age:
            del self._items[raw]
            return None
        return item[1]

    def put(self, raw: str, session: Session) -> None:
        self._items[raw] = (time.monotonic() + self.ttl, session)
        self._items.move_to_end(raw)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


SESSIONS = web.AppKey("sessions", SessionCache)


def raw_init_data(request: web.Request) -> str:
    """The initData of `Authorization: tma <initData>`, or "" when the header is not that."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    return raw.strip() if scheme.lower() == "tma" else ""


def _unauthorized(request: web.Request, reason: str) -> web.Response:
    lang = normalize_language(request.headers.get("Accept-Language", "uz")[:2])
    return web.json_response(error_body("unauthorized", t("error.unauthorized", lang), reason=reason), status=401)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/") or request.path in PUBLIC_API:
        return await handler(request)
    raw = raw_init_data(request)
    if not raw:
        return _unauthorized(request, "Authorization header must be 'tma <initData>'")
    app = request.app
    max_age = app[keys.SETTINGS].init_data_max_age
    sessions = app[SESSIONS]
    session = sessions.get(raw, max_age=max_age)
    if session is None:
        try:
            data = validate_init_data(app[keys.INIT_DATA_TOKEN], raw, max_age=max_age)
        except InitDataError as exc:
            return _unauthorized(request, str(exc))
        tg = data.user
        assert tg is not None
        user = await customers.register(
            app[keys.DB], telegram_id=tg.id, first_name=tg.first_name, last_name=tg.last_name,
            username=tg.username, language_code=tg.language_code,
        )
        session = Session(data, user)
        sessions.put(raw, session)
    user, data = session.user, session.data
    if user.is_active is False:
        raise Forbidden("error.forbidden")
    request[USER] = user
    request[INIT_DATA] = data
    if request.method in WRITE_METHODS:
        await check_write(app[keys.REDIS], user.id, app[WRITE_RATE_LIMIT])
    return await handler(request)
