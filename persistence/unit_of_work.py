"""The SQL unit of work: one connection, one transaction, rolled back unless committed."""

from __future__ import annotations

from typing import Self

from sqlalchemy import Connection, Engine

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
    """Makes units of work over one engine, sharing this process's catalogue and account caches."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cache = CatalogueCache()
        self.accounts = AccountCache()

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.cache, read_only=read_only, accounts=self.accounts)
