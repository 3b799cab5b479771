"""The SQL unit of work: one connection, one transaction, rolled back unless committed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Self, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.concurrency import in_greenlet

from persistence.engine import make_loop_engine, pool_size
from persistence.hot_path import ConnectionPool, HotUnitOfWork, conninfo
from persistence.reports import SqlReportRepository
from persistence.repositories import (
    AccountCache,
    CatalogueCache,
    SeenGeneration,
    SqlAccountRepository,
    SqlApiKeyRepository,
    SqlCatalogueRepository,
    SqlLedgerRepository,
    SqlRollupRepository,
    SqlUsageRepository,
)
from persistence.rollups import FOLD_SECONDS, fold

T = TypeVar("T")
log = logging.getLogger("creditmeter.persistence")
# The loop engine serves what the hot path's own pool does not: fresh reads after a stale basis,
# refusals, replays (persistence/hot_path.py).
LOOP_ENGINE_SIZE = 8


class SqlUnitOfWork:
    def __init__(
        self, engine: Engine, cache: CatalogueCache, *, read_only: bool = False, accounts: AccountCache | None = None
    ) -> None:
        self._engine = engine
        self._cache = cache
        self._accounts = accounts or AccountCache()
        self._read_only = read_only

    def __enter__(self) -> Self:
        connection = self._engine.connect()
        if self._read_only:
            connection = connection.execution_options(read_only=True)
        self.connection: Connection = connection
        seen = SeenGeneration()
        self.accounts = SqlAccountRepository(connection, seen, self._accounts)
        self.catalogue = SqlCatalogueRepository(connection, self._cache, seen)
        self.usage = SqlUsageRepository(connection)
        self.ledger = SqlLedgerRepository(connection)
        self.rollups = SqlRollupRepository(connection)
        self.api_keys = SqlApiKeyRepository(connection)
        self.reports = SqlReportRepository(connection)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.connection.rollback()
        finally:
            self.connection.close()

    def commit(self) -> None:
        self.connection.commit()

    def rollback(self) -> None:
        self.connection.rollback()


class SqlUnitOfWorkFactory:
    """Makes units of work, sharing this process's catalogue and account caches.

    With a loop engine (PostgreSQL's asyncio driver, attached by the server for as long as its
    event loop runs), a unit of work made inside `on_loop` runs on the event loop: the same code,
    its waits for the database handed to the loop by SQLAlchemy's greenlet bridge, so no thread
    is involved. Everywhere else it runs on `engine`, on the calling thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.loop_engine: AsyncEngine | None = None
        self.cache = CatalogueCache()
        self.accounts = AccountCache()
        self._folding: asyncio.Task[None] | None = None
        self.hot_pool: ConnectionPool | None = None

    def attach_loop_engine(self) -> bool:
        """Give this event loop a loop engine on the same database (PostgreSQL only), and with it
        the task that folds the charges' rollup queue every FOLD_SECONDS; whether it did."""
        if self.loop_engine is not None:
            return False
        self.loop_engine = make_loop_engine(self.engine.url, size=LOOP_ENGINE_SIZE)
        if self.loop_engine is None:
            return False
        self.hot_pool = ConnectionPool(conninfo(self.engine.url), pool_size())
        self._folding = asyncio.get_running_loop().create_task(self._fold_forever(self.loop_engine))
        return True

    async def detach_loop_engine(self) -> None:
        engine, self.loop_engine = self.loop_engine, None
        folding, self._folding = self._folding, None
        pool, self.hot_pool = self.hot_pool, None
        if folding is not None:
            folding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await folding
        if pool is not None:
            await pool.close()
        if engine is not None:
            await engine.dispose()

    @staticmethod
    async def _fold_forever(engine: AsyncEngine) -> None:
        """Keep the rollups close behind the charges, so the fold before a report has little to do.
        A failed fold leaves the queue as it was (its transaction rolls back); the next one retries,
        later each time a fold fails (up to a minute), so an outage is not logged four times a second."""
        delay = FOLD_SECONDS
        while True:
            await asyncio.sleep(delay)
            try:
                async with engine.begin() as connection:
                    await connection.run_sync(fold)
            except Exception:
                delay = min(delay * 2, 60.0)
                log.exception("folding the rollup queue failed; retrying in %s s", delay)
            else:
                delay = FOLD_SECONDS

    @property
    def runs_on_loop(self) -> bool:
        return self.loop_engine is not None

    async def on_loop(self, function: Callable[[], T]) -> T:
        """Run `function` (blocking code that makes units of work) on the event loop."""
        assert self.loop_engine is not None, "no loop engine: run it on a worker thread"
        return await greenlet_spawn(function)  # type: ignore[no-any-return]

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork | HotUnitOfWork:
        if self.loop_engine is not None and in_greenlet():
            if self.hot_pool is not None and not read_only:
                return HotUnitOfWork(self, self.hot_pool)
            return self.sql_unit_of_work(read_only=read_only)
        return SqlUnitOfWork(self.engine, self.cache, read_only=read_only, accounts=self.accounts)

    def sql_unit_of_work(self, *, read_only: bool = False) -> SqlUnitOfWork:
        """An ordinary unit of work on the loop engine (from inside `on_loop`)."""
        assert self.loop_engine is not None
        return SqlUnitOfWork(self.loop_engine.sync_engine, self.cache, read_only=read_only, accounts=self.accounts)
