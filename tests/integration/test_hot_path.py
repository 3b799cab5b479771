"""PostgreSQL: recordUsage on the event loop charges on the hot path's own pool of autocommit
connections (persistence/hot_path.py), within its size, and survives its connections dying."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from decimal import Decimal as D
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from domain import services
from domain.errors import IdempotencyConflict, InsufficientCredits
from domain.model import TokenCounts
from persistence import hot_path
from persistence.repositories import accounts, transactions, usage
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import Database, FixedClock

# "linker" bills PER_100_TOKENS at 0.5 credits: 400 tokens cost exactly 2 credits.
COUNTS = TokenCounts(tokens_input=300, tokens_output=100)


@pytest.fixture
def loop_factory(seeded: SqlUnitOfWorkFactory, database: Database, monkeypatch: pytest.MonkeyPatch
                 ) -> SqlUnitOfWorkFactory:
    if database.kind != "postgres":
        pytest.skip("SQLite bills on threads")
    monkeypatch.setenv("CREDITMETER_DB_POOL_SIZE", "2")
    return seeded


def _on_loop(factory: SqlUnitOfWorkFactory, body: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    async def run() -> Any:
        assert factory.attach_loop_engine()
        try:
            return await body()
        finally:
            await factory.detach_loop_engine()

    return asyncio.run(run())


def _bill(factory: SqlUnitOfWorkFactory, clock: FixedClock, account_id: str, key: str,
          counts: TokenCounts = COUNTS) -> Any:
    async def bill() -> Any:
        try:
            return await factory.on_loop(lambda: services.record_usage(
                factory(), clock, services.UsageRequest(key, account_id, "linker", counts)))
        except Exception as error:  # what the call raised, to look at
            return error
    return bill()


def _books(factory: SqlUnitOfWorkFactory, account_id: str) -> tuple[D, D, int]:
    with factory() as uow:
        c = uow.connection
        balance = c.execute(select(accounts.c.balance).where(accounts.c.id == account_id)).scalar_one()
        ledger = c.execute(select(func.coalesce(func.sum(transactions.c.amount), 0))
                           .where(transactions.c.account_id == account_id)).scalar_one()
        count = c.execute(select(func.count()).select_from(usage).where(usage.c.account_id == account_id)).scalar_one()
    return balance, D(ledger), count


def test_many_concurrent_calls_charge_on_a_pool_of_two(loop_factory: SqlUnitOfWorkFactory, clock: FixedClock,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    account = services.create_account(loop_factory(), clock, "Pool", D(100))
    ordinary: list[int] = []
    sql = hot_path.HotUnitOfWork.sql
    monkeypatch.setattr(hot_path.HotUnitOfWork, "sql",
                        lambda self: (ordinary.append(1) if not self.ordinary else None) or sql(self))

    async def body() -> tuple[list[Any], int, int]:
        first = await _bill(loop_factory, clock, account.id, "warm-up")  # reads the account: ordinary
        warmed = len(ordinary)
        outcomes = await asyncio.gather(*(_bill(loop_factory, clock, account.id, f"k{i}") for i in range(60)))
        assert loop_factory.hot_pool is not None
        return [first, *outcomes], warmed, loop_factory.hot_pool.opened

    outcomes, warmed, opened = _on_loop(loop_factory, body)
    billed = [o for o in outcomes if isinstance(o, services.UsageOutcome)]
    refused = [o for o in outcomes if isinstance(o, InsufficientCredits)]
    assert len(billed) == 50 and len(refused) == 11  # 100 credits at 2 a call
    assert 1 <= opened <= 2
    assert warmed == 1 and len(ordinary) == 1 + 11  # only the warm-up's read and the refusals left the pool
    assert _books(loop_factory, account.id) == (D(0), D(0), 50)


def test_replays_conflicts_and_refusals_on_the_loop(loop_factory: SqlUnitOfWorkFactory, clock: FixedClock) -> None:
    account = services.create_account(loop_factory(), clock, "Replays", D(4))

    async def body() -> list[Any]:
        return [
            await _bill(loop_factory, clock, account.id, "a"),
            await _bill(loop_factory, clock, account.id, "a"),  # the same call again
            await _bill(loop_factory, clock, account.id, "a", TokenCounts(tokens_input=1)),  # the key, other input
            await _bill(loop_factory, clock, account.id, "b"),
            await _bill(loop_factory, clock, account.id, "c"),  # 0 credits left
        ]

    first, again, conflict, second, refused = _on_loop(loop_factory, body)
    assert not first.replayed and again.replayed and again.usage.id == first.usage.id
    assert isinstance(conflict, IdempotencyConflict)
    assert second.balance == 0
    assert isinstance(refused, InsufficientCredits) and refused.balance == 0
    assert _books(loop_factory, account.id) == (D(0), D(0), 2)


def test_a_connection_the_server_ended_is_replaced_without_a_double_charge(
    loop_factory: SqlUnitOfWorkFactory, clock: FixedClock
) -> None:
    account = services.create_account(loop_factory(), clock, "Outage", D(100))

    async def body() -> list[Any]:
        await _bill(loop_factory, clock, account.id, "warm-up")  # reads the account: not on the pool
        first = await _bill(loop_factory, clock, account.id, "before")
        assert loop_factory.hot_pool is not None and len(loop_factory.hot_pool._idle) == 1
        # End every server process behind the pool's idle connections, as a restart would.
        with loop_factory.engine.connect() as admin:
            for connection in loop_factory.hot_pool._idle:
                admin.exec_driver_sql(f"SELECT pg_terminate_backend({connection.info.backend_pid})")
        await asyncio.sleep(0.1)
        return [first, await _bill(loop_factory, clock, account.id, "after"),
                await _bill(loop_factory, clock, account.id, "after")]

    first, after, replay = _on_loop(loop_factory, body)
    assert isinstance(first, services.UsageOutcome) and isinstance(after, services.UsageOutcome), after
    assert not after.replayed and replay.replayed and replay.usage.id == after.usage.id
    assert _books(loop_factory, account.id) == (D(94), D(94), 3)


def test_a_fault_other_than_a_dead_connection_is_not_retried(loop_factory: SqlUnitOfWorkFactory, clock: FixedClock,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    account = services.create_account(loop_factory(), clock, "Fault", D(100))
    calls: list[int] = []
    fetch = hot_path.CHARGE.fetch_alone

    async def failing(connection: psycopg.AsyncConnection[Any], params: dict[str, Any]) -> list[Any]:
        calls.append(1)
        if len(calls) == 2:
            raise psycopg.OperationalError("a fault on a connection that is still well")
        return await fetch(connection, params)

    monkeypatch.setattr(hot_path.CHARGE, "fetch_alone", failing)

    async def body() -> list[Any]:
        # The first call reads the account (an ordinary unit of work); the rest charge on the pool.
        return [await _bill(loop_factory, clock, account.id, k) for k in ("warm-up", "one", "two", "three")]

    _, one, two, three = _on_loop(loop_factory, body)
    assert isinstance(two, psycopg.OperationalError) and len(calls) == 3
    assert isinstance(one, services.UsageOutcome) and isinstance(three, services.UsageOutcome)
    assert _books(loop_factory, account.id) == (D(94), D(94), 3)


def test_the_pool_hands_a_connection_to_one_waiter_at_a_time_and_refuses_once_closed(
    loop_factory: SqlUnitOfWorkFactory,
) -> None:
    async def body() -> None:
        pool = hot_path.ConnectionPool(hot_path.conninfo(loop_factory.engine.url), 1)
        first = await pool.take()
        waiting = [asyncio.ensure_future(pool.take()) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert not any(w.done() for w in waiting) and pool.opened == 1
        await pool.give_back(first)
        done, pending = await asyncio.wait(waiting, timeout=1, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1 and len(pending) == 1
        second = done.pop().result()
        assert second is first and pool.opened == 1  # the same connection, kept and handed on
        await pool.close()
        with pytest.raises(RuntimeError, match="closed"):
            await pending.pop()
        await pool.give_back(second)  # closed now: the connection is closed, not kept
        assert second.closed and pool.opened == 0

    asyncio.run(body())
