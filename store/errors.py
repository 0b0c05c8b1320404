"""One domain exception tree; each edge (web, bot, worker) translates it once."""

from __future__ import annotations

from typing import Any

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Errors that mean a server the store depends on cannot be reached now, not that the request is wrong:
# refused or reset connections (OSError), connect/acquire timeouts, PostgreSQL shutting down, restarting
# or out of connection slots, a connection lost mid-query, Redis gone.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError, asyncpg.CrashShutdownError, asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError, RedisConnectionError, RedisTimeoutError,
)


def service_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says PostgreSQL or Redis cannot be reached right now:
    the web edge answers 503 with Retry-After, the bot says "try again shortly"."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNAVAILABLE):
            return True
        if isinstance(current, asyncpg.InterfaceError) and "closed" in str(current):
            return True  # "connection is closed", "pool is closed"
        current = current.__cause__ or current.__context__
    return False


class StoreError(Exception):
    """A rule of the store said no. `code` is stable for programs; `message_key` is in the catalog."""

    status = 400
    code = "bad_request"

    def __init__(self, message_key: str, *, fields: dict[str, str] | None = None,
                 details: dict[str, Any] | None = None, **params: Any) -> None:
        super().__init__(message_key)
        self.message_key = message_key
        self.params = params
        self.fields = fields  # field name -> catalog key of the problem
        self.details = details or {}


class ValidationFailed(StoreError):
    status = 400
    code = "validation_failed"


class NotFound(StoreError):
    status = 404
    code = "not_found"


class Conflict(StoreError):
    status = 409
    code = "conflict"


class Forbidden(StoreError):
    status = 403
    code = "forbidden"


class RateLimited(StoreError):
    status = 429
    code = "rate_limited"
