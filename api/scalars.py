"""The contract's scalars: Decimal as an exact string, DateTime with an offset, JSON."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.scalars import JSON

# Plain decimal notation only: no exponent, NaN or Infinity; at most 20 digits before the point.
_DECIMAL = re.compile(r"^-?(0|[1-9]\d{0,19})(\.\d{1,20})?$")


def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool | float):
        raise ValueError('Decimal values are strings such as "12.50", never floats')
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not _DECIMAL.match(value.strip()):
        raise ValueError(f'{str(value)[:40]!r} is not a decimal such as "12.50"')
    return Decimal(value.strip())


def serialize_decimal(value: Decimal) -> str:
    if not isinstance(value, Decimal):
        raise TypeError(f"Decimal fields serialize Decimal values, got {type(value).__name__}")
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("DateTime values are ISO 8601 strings with an offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{value!r} has no UTC offset; add one, e.g. +00:00 or Z")
    return parsed


def serialize_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("refusing to serialize a naive datetime")
    return value.isoformat()


SCALARS: dict[object, Any] = {
    Decimal: strawberry.scalar(
        name="Decimal",
        description='An exact decimal number, sent and received as a JSON string such as "12.50". Never a float.',
        serialize=serialize_decimal,
        parse_value=parse_decimal,
    ),
    datetime: strawberry.scalar(
        name="DateTime",
        description='An ISO 8601 timestamp with an offset, such as "2026-12-03T16:00:00+00:00".',
        serialize=serialize_datetime,
        parse_value=parse_datetime,
    ),
}

__all__ = ["JSON", "SCALARS", "parse_datetime", "parse_decimal", "serialize_decimal"]
