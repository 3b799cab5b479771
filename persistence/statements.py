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

from psycopg import AsyncConnection, AsyncRawCursor, RawCursor
from psycopg.pq import ExecStatus
from sqlalchemy import Connection
from sqlalchemy.util import await_only

TUPLES_OK = ExecStatus.TUPLES_OK
_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


class Statement:
    """One SQL text with `:name` parameters, written once and compiled per dialect.

    For PostgreSQL it is compiled to the server's own `$1` placeholders and run on psycopg's
    RawCursor, which sends it as written: psycopg's `%(name)s` conversion re-parses any query
    over 4 KB on every execution, and the charge statement is longer than that."""

    def __init__(self, sql: str, *, postgresql: str | None = None) -> None:
        self._sqlite = sql
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        self._postgresql = _NAMED.sub(number, postgresql or sql)
        self._postgresql_names = tuple(names)

    def run(self, connection: Connection, params: dict[str, Any], *, alone: bool = False) -> Any:
        """Execute on the driver's cursor, in the connection's transaction (beginning it if need be).

        With `alone`, on PostgreSQL, a statement that finds no transaction open runs as a
        transaction of its own (autocommit): one round trip, no BEGIN and no COMMIT, and its row
        locks are released the moment it ends. Only for a statement that is all a unit of work
        needs to be atomic. SQLite always runs in the unit of work's transaction."""
        dbapi = connection.connection.driver_connection
        assert dbapi is not None
        if connection.dialect.name != "postgresql":
            if not connection.in_transaction():
                connection.begin()
            cursor = dbapi.cursor()
            cursor.execute(self._sqlite, params)
            return cursor
        values = [params[name] for name in self._postgresql_names]
        if isinstance(dbapi, AsyncConnection):  # on the event loop (persistence.engine.make_loop_engine)
            alone = alone and not connection.in_transaction()
            if not alone and not connection.in_transaction():
                connection.begin()
            return _Rows(await_only(self._run_async(dbapi, values, alone)))
        cursor = RawCursor(dbapi)
        if alone and not connection.in_transaction():
            dbapi.autocommit = True
            try:
                cursor.execute(self._postgresql, values)
            finally:
                dbapi.autocommit = False
            return cursor
        if not connection.in_transaction():
            connection.begin()
        cursor.execute(self._postgresql, values)
        return cursor

    async def fetch_alone(self, connection: AsyncConnection[Any], params: dict[str, Any]) -> list[Any]:
        """PostgreSQL: run as a transaction of its own on an autocommit asyncio connection (the hot
        path's own pool, persistence/hot_path.py); its rows."""
        assert connection.autocommit, "fetch_alone needs an autocommit connection"
        return await self._run_async(connection, [params[name] for name in self._postgresql_names], False)

    async def _run_async(self, dbapi: AsyncConnection[Any], values: list[Any], alone: bool) -> list[Any]:
        cursor = AsyncRawCursor(dbapi)
        if alone:
            await dbapi.set_autocommit(True)
            try:
                await cursor.execute(self._postgresql, values)
            finally:
                await dbapi.set_autocommit(False)
        else:
            await cursor.execute(self._postgresql, values)
        # Whether rows came back, read off the result: cursor.description builds a Column per column.
        result = cursor.pgresult
        return await cursor.fetchall() if result is not None and result.status == TUPLES_OK else []


class _Rows:
    """What an asyncio cursor fetched, read like a cursor."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = iter(rows)

    def fetchone(self) -> Any:
        return next(self._rows, None)

    def fetchall(self) -> list[Any]:
        return list(self._rows)


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
    return bind_timestamp(value, postgresql=connection.dialect.name == "postgresql")


def bind_timestamp(value: datetime, *, postgresql: bool) -> Any:
    value = value.astimezone(UTC)
    return value if postgresql else value.strftime("%Y-%m-%d %H:%M:%S.%f")


def read_timestamp(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
