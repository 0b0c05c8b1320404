"""One place that checks what comes from outside: the web routes and the bot commands call these.

* `ascii_int`: ASCII digits only (Python's `str.isdigit()` also accepts "²" and "٣", which `int()`
  then refuses or reads as another number), within a range, so an id always fits PostgreSQL's int4.
* `clean_text`: text without NUL or other control characters and without lone surrogates (neither
  can be stored in PostgreSQL's UTF-8 text, and both end up in logs and messages).
* `read_json`: a request body as JSON, bounded in size and nesting depth, integers with a bounded
  number of digits; every failure is a `ValidationFailed`, never a RecursionError or ValueError.

Each raises `ValueError` subclasses of its own (`InvalidInput`) so callers turn them into their
own catalog key, field by field; `read_json` raises the store's `ValidationFailed` directly.
"""

from __future__ import annotations

import json
import re
from typing import Any

from store.errors import ValidationFailed

INT4_MAX = 2**31 - 1  # SERIAL ids and INTEGER columns
BIGINT_MAX = 2**63 - 1  # BIGINT columns (Telegram ids, marketplace ids)
MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
MAX_JSON_INT_DIGITS = 30

_ASCII_DIGITS = re.compile(r"[0-9]+")
# C0 controls except tab/newline/carriage return, DEL, C1 controls, lone surrogates.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# The same, with tab/newline/carriage return forbidden too (one-line values: ids, numbers, keys).
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_FORBIDDEN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class InvalidInput(ValueError):
    """A value from outside is not what it must be; the message says why (for logs, not people)."""


def ascii_int(raw: str | None, *, minimum: int = 0, maximum: int = INT4_MAX) -> int:
    """`raw` as an int when it is 1+ ASCII digits (surrounding spaces allowed) within [minimum, maximum]."""
    if raw is None:
        raise InvalidInput("missing")
    text = raw.strip()
    if not _ASCII_DIGITS.fullmatch(text):
        raise InvalidInput("not ASCII digits")
    if len(text.lstrip("0")) > len(str(maximum)):
        raise InvalidInput("out of range")
    value = int(text)
    if not minimum <= value <= maximum:
        raise InvalidInput("out of range")
    return value


def is_ascii_int(raw: str | None, *, minimum: int = 0, maximum: int = INT4_MAX) -> bool:
    try:
        ascii_int(raw, minimum=minimum, maximum=maximum)
    except InvalidInput:
        return False
    return True


def json_int(value: object, *, minimum: int = 0, maximum: int = INT4_MAX) -> int:
    """A JSON integer (not a bool, not a float) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidInput("not an integer in range")
    return value


def has_forbidden_chars(text: str, *, multiline: bool = True) -> bool:
    return (_FORBIDDEN if multiline else _FORBIDDEN_LINE).search(text) is not None


def printable(text: str) -> str:
    """`text` with every control character and lone surrogate replaced by U+FFFD, to echo a bad
    value back to a person (in a reply) without sending the bad bytes along."""
    return _FORBIDDEN_LINE.sub("\ufffd", text)


def clean_text(raw: str, *, max_length: int | None = None, multiline: bool = True) -> str:
    """`raw` unchanged when it holds no control character (tab, newline, CR allowed when
    `multiline`), no NUL and no lone surrogate, and is at most `max_length` characters."""
    if has_forbidden_chars(raw, multiline=multiline):
        raise InvalidInput("control character or lone surrogate")
    if max_length is not None and len(raw) > max_length:
        raise InvalidInput("too long")
    return raw


def _check_depth(text: str, limit: int) -> None:
    """Refuse nesting deeper than `limit` before the parser recurses (brackets inside strings are
    skipped)."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                raise ValidationFailed("error.json_too_deep", max=limit)
        elif ch in "]}":
            depth -= 1


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise ValidationFailed("error.bad_json")
    return int(text)


def _no_constants(name: str) -> Any:
    raise ValidationFailed("error.bad_json")  # NaN, Infinity: not JSON


def _check_strings(value: Any) -> None:
    """No lone surrogate (from `\\ud800` escapes) anywhere, keys included: such a string cannot even
    be encoded as UTF-8. (Control characters are each field's business: see `clean_text`.)"""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise ValidationFailed("error.bad_text")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_json(data: bytes | bytearray, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Bytes to a JSON value, or ValidationFailed (too big, too deep, not UTF-8, not JSON, a lone
    surrogate in a string, an integer of more than MAX_JSON_INT_DIGITS digits)."""
    if len(data) > max_bytes:
        raise ValidationFailed("error.json_too_large", max_kb=max_bytes // 1024)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("error.bad_json") from None
    _check_depth(text, max_depth)
    try:
        value = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constants)
    except (json.JSONDecodeError, RecursionError, ValueError):
        raise ValidationFailed("error.bad_json") from None
    _check_strings(value)
    return value


async def read_json(request: Any, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """An aiohttp request's body through `parse_json` (the body is read at most `max_bytes` + 1)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ValidationFailed("error.json_too_large", max_kb=max_bytes // 1024)
    data = bytearray()
    while len(data) <= max_bytes:
        chunk = await request.content.read(max_bytes + 1 - len(data))
        if not chunk:
            break
        data.extend(chunk)
    return parse_json(data, max_bytes=max_bytes, max_depth=max_depth)
