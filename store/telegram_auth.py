"""Telegram Mini App initData: validation (every /api/ request) and signing (local mode, tests).

Telegram's algorithm: secret = HMAC_SHA256(key="WebAppData", msg=bot_token); the check string is
every received field except `hash` (so `signature` is included), sorted by key, `key=value`
joined by newlines, values URL-decoded once; hash = hex(HMAC_SHA256(secret, check_string)).
aiogram's `safe_parse_webapp_init_data` does exactly that with a constant-time compare; the
freshness of `auth_date` is checked here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiogram.utils.web_app import WebAppInitData, safe_parse_webapp_init_data
from pydantic import ValidationError

from store.validation import BIGINT_MAX

MAX_INIT_DATA_LENGTH = 8192


class InitDataError(Exception):
    """initData is missing, malformed, forged, from another bot or too old."""


def validate_init_data(token: str, raw: str, *, max_age: int, now: float | None = None) -> WebAppInitData:
    if not raw:
        raise InitDataError("initData is missing")
    if len(raw) > MAX_INIT_DATA_LENGTH:
        raise InitDataError("initData is too long")
    try:
        data = safe_parse_webapp_init_data(token, raw)
    except (ValueError, ValidationError, json.JSONDecodeError, TypeError):
        raise InitDataError("initData signature is invalid") from None
    if data.user is None:
        raise InitDataError("initData carries no user")
    if not 1 <= data.user.id <= BIGINT_MAX:
        raise InitDataError("initData user id is out of range")
    current = time.time() if now is None else now
    age = current - data.auth_date.timestamp()
    if age > max_age:
        raise InitDataError("initData has expired; reopen the Mini App")
    if age < -300:
        raise InitDataError("initData auth_date is in the future")
    return data


def sign_init_data(token: str, fields: dict[str, Any]) -> str:
    """Build initData as Telegram does: `user` and other objects as compact JSON, then `hash`."""
    prepared = {
        key: json.dumps(value, separators=(",", ":"), ensure_ascii=False) if isinstance(value, dict) else str(value)
        for key, value in fields.items()
    }
    check_string = "\n".join(f"{k}={v}" for k, v in sorted(prepared.items()))
    secret_key = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    prepared["hash"] = hmac.new(secret_key, check_string.encode(), hashlib.sha256).hexdigest()
    return urlencode(prepared)


def demo_init_data(token: str, *, telegram_id: int = 100000001, first_name: str = "Demo",
                   language_code: str = "uz", auth_date: int | None = None) -> str:
    user = {"id": telegram_id, "first_name": first_name, "last_name": "Mijoz", "username": "demo_customer",
            "language_code": language_code, "allows_write_to_pm": True}
    return sign_init_data(token, {
        "query_id": "AAH" + secrets.token_urlsafe(12),
        "user": user,
        "auth_date": auth_date if auth_date is not None else int(time.time()),
    })


def local_bot_token(data_dir: Path) -> str:
    """The made-up bot token local mode signs and validates with, generated once per DATA_DIR."""
    path = data_dir / "local-bot-token"
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    data_dir.mkdir(parents=True, exist_ok=True)
    token = f"{secrets.randbelow(9 * 10**9) + 10**9}:{secrets.token_urlsafe(27)}"
    path.write_text(token)
    path.chmod(0o600)
    return token
