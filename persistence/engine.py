"""Engines for SQLite (the embedded default) and PostgreSQL, built when the app starts."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DEFAULT_URL = "sqlite:///./creditmeter.db"


def database_url() -> str:
    return normalise_url(os.environ.get("CREDITMETER_DATABASE_URL", DEFAULT_URL))


def normalise_url(url: str) -> str:
    """Accept the usual postgres:// spellings and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def pool_size() -> int:
    """PostgreSQL connections the hot path's pool (recordUsage's charge, on the event loop:
    persistence/hot_path.py) opens at most; a call beyond them waits for one to come back rather
    than opening and closing a connection (a new server process on PostgreSQL) per call. Besides
    it a process has the loop engine (8: the hot path's rarer reads) and the worker threads' pool
    (make_engine: reports, admin, the API key lookups; THREAD_POOL_SIZE, and as many again on
    demand): 2 workers x (20 + 8 + 16) stays under PostgreSQL's default 100 connections."""
    value = os.environ.get("CREDITMETER_DB_POOL_SIZE", "20")
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"CREDITMETER_DB_POOL_SIZE must be a whole number of connections, 1 or more: {value!r}")
    return int(value)


THREAD_POOL_SIZE = 8


def _pool(size: int, overflow: int) -> dict[str, Any]:
    # Prepared statements on the server after two uses: the hot path repeats the same few.
    return {"pool_size": size, "max_overflow": overflow, "pool_timeout": 30,
            "connect_args": {"prepare_threshold": 2}}


def make_engine(url: str | None = None, *, pool_size: int | None = None) -> Engine:
    url = normalise_url(url or database_url())
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    size = pool_size or THREAD_POOL_SIZE
    return create_engine(url, **_pool(size, size))


def make_loop_engine(url: URL, *, size: int | None = None) -> AsyncEngine | None:
    """PostgreSQL only: an engine on psycopg's asyncio connections, for work that runs on the
    server's event loop rather than a worker thread (SqlUnitOfWorkFactory.on_loop). None for
    SQLite, whose driver only blocks."""
    if url.get_backend_name() != "postgresql":
        return None
    return create_async_engine(url, **_pool(size or pool_size(), 0))


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
