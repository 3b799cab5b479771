"""recordUsage's unit of work on the event loop (PostgreSQL): the charge without SQLAlchemy.

Most calls price from what this process saw last (the account and catalogue caches) and then
need exactly one statement, the charge, which runs as a transaction of its own. Through a
SQLAlchemy connection that statement paid for a pool checkout, a Connection, two autocommit
switches and a reset on return: about a third of the billing's CPU. HotUnitOfWork runs it on a
connection of its own small pool instead, kept in autocommit. Anything else a call needs (a
fresh read after a stale basis, the balance behind a refusal, a replay's earlier usage) opens
an ordinary SqlUnitOfWork on the loop engine, and from then on the whole unit of work is that
one: the same code and the same statements as everywhere else.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection, OperationalError
from psycopg.errors import UniqueViolation
from psycopg.pq import TransactionStatus
from sqlalchemy import URL
from sqlalchemy.util import await_only

from domain.catalogue import Catalogue
from domain.model import Account, UsageRecord
from domain.ports import Charge, PricingBasis
from persistence.repositories import CHARGE, charge_params, key_taken, postgres_charge

if TYPE_CHECKING:
    from persistence.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory


def conninfo(url: URL) -> str:
    """The libpq connection string of a SQLAlchemy URL (query options such as sslmode kept)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class ConnectionPool:
    """At most `size` autocommit asyncio connections, opened when first needed; a caller beyond
    them waits for one to come back. Used on one event loop only."""

    def __init__(self, conninfo: str, size: int) -> None:
        self._conninfo = conninfo
        self._size = size
        self._idle: list[AsyncConnection[Any]] = []
        self._opened = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    async def take(self) -> AsyncConnection[Any]:
        while True:
            if self._closed:
                raise RuntimeError("the hot path's connection pool is closed")
            while self._idle:
                connection = self._idle.pop()
                if not connection.closed and not connection.broken:
                    return connection
                self._opened -= 1
            if self._opened < self._size:
                self._opened += 1
                try:
                    return await AsyncConnection.connect(self._conninfo, autocommit=True, prepare_threshold=2)
                except BaseException:
                    self._opened -= 1
                    self._wake_one()
                    raise
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # it was woken, then cancelled: the turn goes to the next
                elif waiter in self._waiters:  # (a wake-up may have passed it by already)
                    self._waiters.remove(waiter)
                raise

    async def give_back(self, connection: AsyncConnection[Any]) -> None:
        """Keep a connection that is idle and well; close any other (a fault mid-statement)."""
        if (not self._closed and not connection.closed and not connection.broken
                and connection.info.transaction_status == TransactionStatus.IDLE):
            self._idle.append(connection)
        else:
            self._opened -= 1
            await connection.close()
        self._wake_one()

    async def discard_idle(self) -> None:
        idle, self._idle = self._idle, []
        self._opened -= len(idle)
        for connection in idle:
            await connection.close()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        """Close the idle connections now and the others as they come back; whoever still waits
        for one is told the pool is closed."""
        self._closed = True
        await self.discard_idle()
        while self._waiters:
            self._wake_one()

    @property
    def opened(self) -> int:
        return self._opened


class HotUnitOfWork:
    """A unit of work whose cache-priced charge runs on the hot path's pool; see the module."""

    def __init__(self, factory: SqlUnitOfWorkFactory, pool: ConnectionPool) -> None:
        self._factory = factory
        self._pool = pool
        self._sql: SqlUnitOfWork | None = None
        self.accounts = _Accounts(self)
        self.catalogue = _Catalogue(self)
        self.usage = _Usage(self)

    def __enter__(self) -> HotUnitOfWork:
        return self

    def __exit__(self, *exc: object) -> None:
        sql, self._sql = self._sql, None
        if sql is not None:
            sql.__exit__(*exc)

    def commit(self) -> None:
        # A charge on the pool committed as it ran; an ordinary unit of work commits its own.
        if self._sql is not None:
            self._sql.commit()

    def rollback(self) -> None:
        if self._sql is not None:
            self._sql.rollback()

    @property
    def ordinary(self) -> bool:
        """Whether this unit of work has become an ordinary SqlUnitOfWork."""
        return self._sql is not None

    def sql(self) -> SqlUnitOfWork:
        if self._sql is None:
            self._sql = self._factory.sql_unit_of_work().__enter__()
        return self._sql

    def __getattr__(self, name: str) -> Any:  # ledger, api_keys, reports, rollups, connection
        return getattr(self.sql(), name)

    async def _charge(self, params: dict[str, Any]) -> list[Any]:
        """The charge on a pooled connection. If the connection turns out dead (the server
        restarted, or ended it), the charge runs once more on a new one: safe, since its usage's
        idempotency key lets it in once at most (a charge that did commit comes back key_taken,
        and the caller answers with that usage as a replay)."""
        for attempt in (1, 2):
            connection = await self._pool.take()
            try:
                return await CHARGE.fetch_alone(connection, params)
            except OperationalError:
                if attempt == 2 or not connection.broken:
                    raise
                await self._pool.discard_idle()  # opened before the same outage, most likely
            finally:
                await self._pool.give_back(connection)
        raise AssertionError("unreachable")


class _Accounts:
    def __init__(self, uow: HotUnitOfWork) -> None:
        self._uow = uow

    def get_for_pricing(self, account_id: str) -> Account | None:
        if not self._uow.ordinary:
            account = self._uow._factory.accounts.accounts.get(account_id)
            if account is not None:
                return account
        return self._uow.sql().accounts.get_for_pricing(account_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow.sql().accounts, name)


class _Catalogue:
    def __init__(self, uow: HotUnitOfWork) -> None:
        self._uow = uow

    def latest(self) -> Catalogue:
        # As SqlCatalogueRepository.latest in a unit of work that has read nothing yet.
        cached = self._uow._factory.cache.catalogue
        if not self._uow.ordinary and cached is not None:
            return cached
        return self._uow.sql().catalogue.latest()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow.sql().catalogue, name)


class _Usage:
    def __init__(self, uow: HotUnitOfWork) -> None:
        self._uow = uow

    def charge(self, record: UsageRecord, description: str, basis: PricingBasis) -> Charge:
        """SqlUsageRepository.charge on PostgreSQL with no transaction open: the same statement."""
        if self._uow.ordinary:
            return self._uow.sql().usage.charge(record, description, basis)
        params = charge_params(record, description, basis, postgresql=True)
        try:
            rows = await_only(self._uow._charge(params))
        except UniqueViolation as error:
            return key_taken(error)
        return postgres_charge(rows[0], params, basis)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow.sql().usage, name)
