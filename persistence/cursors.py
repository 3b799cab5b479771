"""Opaque page cursors: what they hold is the adapter's business, not the client's."""

from __future__ import annotations

import base64
import binascii

from domain.errors import InvalidInput

MAX_PAGE_SIZE = 100


def encode(*parts: object) -> str:
    return base64.urlsafe_b64encode("\x1f".join(str(part) for part in parts).encode()).decode()


def decode(cursor: str, arity: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(cursor.encode("ascii")).decode().split("\x1f")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidInput("not a cursor this API gave out", field="after") from None
    if len(parts) != arity:
        raise InvalidInput("not a cursor this API gave out", field="after")
    return parts


def decode_id(cursor: str) -> int:
    (value,) = decode(cursor, 1)
    if not value.isdigit() or len(value) > 19:
        raise InvalidInput("not a cursor this API gave out", field="after")
    return int(value)


def page_size(first: int) -> int:
    if first < 0:
        raise InvalidInput("first must not be negative", field="first")
    return min(first, MAX_PAGE_SIZE)
