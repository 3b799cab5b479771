"""Hand-written SQL for the hot path, run on the driver's cursor.

recordUsage runs the same five statements thousands of times a second. Through SQLAlchemy
Core each one pays for statement construction and cache-key generation (about a quarter
of a millisecond); here the text is fixed once per dialect and the driver prepares it on
the server. Values are converted by hand exactly as the column types would (types.py), and
the statements run inside the SQLAlchemy transaction, never outside it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


class Statement:
    """One SQL text with `:name` parameters, written once and compiled per dialect."""

    def __init__(self, sql: str, *, postgresql: str | None = None) -> None:
        self._sqlite = sql
        self._postgresql = _NAMED.sub(r"%(\1)s", (postgresql or sql).replace("%", "%%"))

    def run(self, connection: Connection, params: dict[str, Any]) -> Any:
        """Execute in the connection's transaction (beginning it if need be); the driver's cursor."""
        if not connection.in_transaction():
            connection.begin()
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        sql = self._postgresql if connection.dialect.name == "postgresql" else self._sqlite
        cursor.execute(sql, params)
        return cursor


def units(value: Decimal, places: int) -> int:
    """A Decimal as the integer count of 10^-places units it is stored as (types.Scaled)."""
    if not isinstance(value, Decimal):
        raise TypeError(f"money columns take Decimal, got {type(value).__name__}")
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {places} decimal places")
    return int(scaled)


def timestamp(connection: Connection, value: datetime) -> Any:
    """What types.UtcDateTime would bind: aware UTC for PostgreSQL, SQLAlchemy's text for SQLite."""
    value = value.astimezone(UTC)
    if connection.dialect.name == "postgresql":
        return value
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def read_timestamp(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
