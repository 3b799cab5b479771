"""Column types that keep money exact and time in UTC on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer
from sqlalchemy.types import TypeDecorator

from domain.money import CREDIT_PLACES, USD_PLACES

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Scaled(TypeDecorator[Decimal]):
    """A Decimal stored as a 64-bit integer count of 10^-places units.

    SQLite has no decimal type (SQLAlchemy's Numeric goes through float there), so both
    databases store integers: exact, summable in SQL, and the same code path everywhere.
    """

    impl = BigInteger
    cache_ok = True

    def __init__(self, places: int) -> None:
        super().__init__()
        self.places = places

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money columns take Decimal, got {type(value).__name__}")
        units = value.scaleb(self.places)
        if units != units.to_integral_value():
            raise ValueError(f"{value} has more than {self.places} decimal places")
        return int(units)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else from_units(value, self.places)

    def copy(self, **kw: Any) -> Scaled:
        return Scaled(self.places)


def from_units(value: int | Decimal, places: int) -> Decimal:
    """An integer count of 10^-places units as the Decimal it stands for."""
    return Decimal(int(value)).scaleb(-places)


def to_units(value: Decimal, places: int) -> int:
    return int(value.scaleb(places))


def Credits() -> Scaled:  # noqa: N802 - reads like a type in column definitions
    return Scaled(CREDIT_PLACES)


def Usd() -> Scaled:  # noqa: N802
    return Scaled(USD_PLACES)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; SQLite stores naive UTC text."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
