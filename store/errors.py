"""One domain exception tree; each edge (web, bot, worker) translates it once."""

from __future__ import annotations

from typing import Any


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
