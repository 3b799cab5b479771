"""Engines for SQLite (the embedded default) and PostgreSQL, built when the app starts."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event

DEFAULT_URL = "sqlite:///./creditmeter.db"


def database_url() -> str:
    return normalise_url(os.environ.get("CREDITMETER_DATABASE_URL", DEFAULT_URL))


def normalise_url(url: str) -> str:
    """Accept the usual postgres:// spellings and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str | None = None, *, pool_size: int | None = None) -> Engine:
    url = normalise_url(url or database_url())
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # Kept connections per server process: enough for 32 concurrent requests without opening
    # and closing connections under load, and half as many again on demand (a report reads on
    # two at once). 2 workers x (32 + 16) stays under PostgreSQL's default 100 connections;
    # requests beyond that wait for a connection rather than fail.
    pool_size = pool_size or int(os.environ.get("CREDITMETER_DB_POOL_SIZE", "32"))
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max(pool_size // 2, 2),
        pool_timeout=30,
        # Prepared statements on the server after two uses: the hot path repeats the same few.
        connect_args={"prepare_threshold": 2},
    )


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
        pool_size=8,
        max_overflow=32,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that upgrades to a
        # writer mid-way can fail with SQLITE_BUSY no matter how long it waits.
        read_only = connection.get_execution_options().get("read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
