"""One settings tree, read from the environment and `.env` (pydantic-settings)."""

from __future__ import annotations

import logging
import os
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_LOG_LEVELS = {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}
MAX_WEB_PROCESSES = 64


def parse_web_processes(value: str | int) -> int:
    """WEB_PROCESSES / `run --processes`: a whole number from 1 to MAX_WEB_PROCESSES, or `auto`
    (one per CPU core this process may run on)."""
    text = str(value).strip().lower()
    if text == "auto":
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cores = os.cpu_count() or 1
        return max(1, min(cores, MAX_WEB_PROCESSES))
    if not text.isdigit() or not 1 <= int(text) <= MAX_WEB_PROCESSES:
        raise ValueError(f"must be a whole number from 1 to {MAX_WEB_PROCESSES}, or auto (one per CPU core)")
    return int(text)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    bot_token: SecretStr | None = Field(default=None, alias="BOT_TOKEN")
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(default=frozenset(), alias="ADMIN_IDS")
    webapp_url: str | None = Field(default=None, alias="WEBAPP_URL")
    web_host: str = Field(default="127.0.0.1", alias="WEB_HOST")
    web_port: int = Field(default=8080, ge=0, le=65535, alias="WEB_PORT")
    secret_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(default=(), alias="SECRET_KEYS")
    data_dir: Path = Field(default=Path("./var"), alias="DATA_DIR")
    telegram_api_url: str | None = Field(default=None, alias="TELEGRAM_API_URL")
    webhook_url: str | None = Field(default=None, alias="WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")
    init_data_max_age: int = Field(default=86400, gt=0, alias="INIT_DATA_MAX_AGE")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    delivery_fee: Decimal = Field(default=Decimal("20000"), ge=0, alias="DELIVERY_FEE")
    free_delivery_from: Decimal = Field(default=Decimal("500000"), ge=0, alias="FREE_DELIVERY_FROM")
    low_stock_threshold: int = Field(default=5, ge=0, alias="LOW_STOCK_THRESHOLD")
    run_worker: bool = Field(default=True, alias="RUN_WORKER")
    write_rate_limit: Annotated[tuple[int, int], NoDecode] = Field(default=(30, 10), alias="WRITE_RATE_LIMIT")
    outbox_retention_hours: int = Field(default=72, ge=1, le=24 * 365, alias="OUTBOX_RETENTION_HOURS")
    # Online payment (issue #10): a method is offered only when its settings are present.
    payme_merchant_id: str | None = Field(default=None, alias="PAYME_MERCHANT_ID")
    payme_key: SecretStr | None = Field(default=None, alias="PAYME_KEY")
    payme_checkout_url: str = Field(default="https://checkout.paycom.uz", alias="PAYME_CHECKOUT_URL")
    click_service_id: int | None = Field(default=None, gt=0, alias="CLICK_SERVICE_ID")
    click_merchant_id: int | None = Field(default=None, gt=0, alias="CLICK_MERCHANT_ID")
    click_secret_key: SecretStr | None = Field(default=None, alias="CLICK_SECRET_KEY")
    click_merchant_user_id: int | None = Field(default=None, gt=0, alias="CLICK_MERCHANT_USER_ID")
    click_pay_url: str = Field(default="https://my.click.uz/services/pay", alias="CLICK_PAY_URL")
    telegram_payment_provider_token: SecretStr | None = Field(default=None, alias="TELEGRAM_PAYMENT_PROVIDER_TOKEN")
    payment_timeout_minutes: int = Field(default=30, ge=1, le=720, alias="PAYMENT_TIMEOUT_MINUTES")
    # "Contact the shop" on the Mini App's order screen: a Telegram username and/or a phone.
    shop_telegram: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]{4,31}$", alias="SHOP_TELEGRAM")
    shop_phone: str | None = Field(default=None, pattern=r"^\+[0-9]{7,15}$", alias="SHOP_PHONE")
    # The Mini App's short name from @BotFather (t.me/<bot>/<short name>): shared product links open it.
    webapp_short_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]{3,30}$", alias="WEBAPP_SHORT_NAME")
    web_processes: Annotated[int, NoDecode] = Field(default=1, alias="WEB_PROCESSES")
    # Each store process's catalog read cache, in MB of JSON bodies (webapp.cache).
    catalog_cache_mb: int = Field(default=16, ge=1, le=1024, alias="CATALOG_CACHE_MB")
    # CSV image_url addresses on the shop's own machine or network (127.0.0.1, 10.x, 192.168.x,
    # 169.254.169.254 …) are refused unless this is true (store.services.media.public_session).
    image_fetch_allow_private: bool = Field(default=False, alias="IMAGE_FETCH_ALLOW_PRIVATE")

    @field_validator("database_url", "redis_url", "bot_token", "webapp_url", "telegram_api_url",
                     "webhook_url", "webhook_secret", "payme_merchant_id", "payme_key", "click_service_id",
                     "click_merchant_id", "click_secret_key", "click_merchant_user_id",
                     "telegram_payment_provider_token", "shop_telegram", "shop_phone", "webapp_short_name",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must start with postgresql:// (for example postgresql://user:pass@host:5432/db)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis:// or rediss:// (for example redis://localhost:6379/0)")
        return value

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value()
        bot_id, _, rest = token.partition(":")
        if not bot_id.isdigit() or len(rest) < 20:
            raise ValueError("is not a Telegram bot token (expected <digits>:<secret> from @BotFather)")
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            ids = set()
            for part in value.split(","):
                part = part.strip()
                if not part:
                    continue
                if not part.lstrip("-").isdigit():
                    raise ValueError(f"{part!r} is not a Telegram id; give comma-separated integers")
                ids.add(int(part))
            return frozenset(ids)
        return value

    @field_validator("webapp_url", "webhook_url")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("must be a public https:// address (Telegram opens only https)")
        return value

    @field_validator("telegram_api_url", "payme_checkout_url", "click_pay_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// address")
        return value.rstrip("/") if value else value

    @field_validator("secret_keys", mode="before")
    @classmethod
    def _secret_keys(cls, value: object) -> object:
        if isinstance(value, str):
            keys = [k.strip() for k in value.split(",") if k.strip()]
            for index, key in enumerate(keys, start=1):
                try:
                    Fernet(key.encode())
                except (ValueError, TypeError):
                    raise ValueError(
                        f"key #{index} is not a Fernet key (32 url-safe base64 bytes; make one with "
                        "`amazing-store secrets new-key`)"
                    ) from None
            return tuple(SecretStr(k) for k in keys)
        return value

    @field_validator("write_rate_limit", mode="before")
    @classmethod
    def _write_rate_limit(cls, value: object) -> object:
        if isinstance(value, str):
            count, sep, seconds = value.strip().partition("/")
            if not sep or not count.isdigit() or not seconds.isdigit() or int(count) < 1 or int(seconds) < 1:
                raise ValueError("must be COUNT/SECONDS with positive whole numbers, e.g. 30/10")
            return (int(count), int(seconds))
        return value

    @field_validator("web_processes", mode="before")
    @classmethod
    def _web_processes(cls, value: object) -> object:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return parse_web_processes(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        if isinstance(value, str):
            level = value.strip().upper()
            if level not in _LOG_LEVELS:
                raise ValueError(f"must be one of {', '.join(sorted(_LOG_LEVELS))}")
            return level
        return value

    @property
    def payment_methods(self) -> tuple[str, ...]:
        """What checkout offers: cash always, each online method when its settings are present."""
        methods = ["cash"]
        if self.payme_merchant_id and self.payme_key:
            methods.append("payme")
        if self.click_service_id and self.click_merchant_id and self.click_secret_key:
            methods.append("click")
        if self.telegram_payment_provider_token and self.bot_token:
            methods.append("telegram")
        return tuple(methods)

    @property
    def local_mode(self) -> bool:
        """No bot token: the bot is off and the Mini App is opened with locally signed initData."""
        return self.bot_token is None

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]


class SettingsError(Exception):
    """A setting from the environment is wrong; the message names the variable and the problem."""


def load_settings(**overrides: object) -> Settings:
    """Build the settings once at start-up; turn validation errors into one readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"]) or "settings"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {message}")
        raise SettingsError("invalid setting " + "; ".join(problems)) from None
