"""The web edge: domain errors to JSON once, and Telegram initData authentication for /api/."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiogram.utils.web_app import WebAppInitData
from aiohttp import web
from aiohttp.typedefs import Handler

from db.models import User
from store import keys
from store.errors import Forbidden, RateLimited, StoreError
from store.i18n import normalize_language, t
from store.services import customers
from store.telegram_auth import InitDataError, validate_init_data
from webapp.ratelimit import WRITE_RATE_LIMIT, check_write

log = logging.getLogger(__name__)

USER = web.RequestKey("user", User)
INIT_DATA = web.RequestKey("init_data", WebAppInitData)
PUBLIC_API = frozenset({"/api/openapi.json"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def error_body(code: str, message: str, fields: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    error.update(extra)
    return {"error": error}


def request_language(request: web.Request) -> str:
    user = request.get(USER)
    if user is not None and user.language:
        return str(user.language)
    return normalize_language(request.headers.get("Accept-Language", "uz")[:2])


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
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status, "http_error")
        message = t("error.not_found", request_language(request)) if exc.status == 404 else exc.reason
        return web.json_response(error_body(code, message), status=exc.status)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not request.path.startswith("/api/"):
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
