"""The deduction under real concurrency: the balance never goes below zero, and it always
equals the sum of the ledger. Threads share a process; processes share only the database."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D

import httpx
import pytest
from sqlalchemy import func, select

from api.app import create_app
from domain import services
from domain.errors import InsufficientCredits
from domain.model import Role, TokenCounts
from persistence.engine import make_engine
from persistence.repositories import accounts, transactions, usage
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import Database, FixedClock

CALLS = 50
AFFORDABLE = 20
# "linker" bills PER_100_TOKENS at 0.5 credits: 400 tokens cost exactly 2 credits.
PRICE = D(2)


def _request(account_id: str, index: int) -> services.UsageRequest:
    return services.UsageRequest(
        f"race-{account_id}-{index}", account_id, "linker", TokenCounts(tokens_input=300, tokens_output=100)
    )


def _state(factory: SqlUnitOfWorkFactory, account_id: str) -> tuple[D, D, int]:
    with factory() as uow:
        c = uow.connection
        balance = c.execute(select(accounts.c.balance).where(accounts.c.id == account_id)).scalar_one()
        ledger = c.execute(
            select(func.sum(transactions.c.amount)).where(transactions.c.account_id == account_id)
        ).scalar_one()
        count = c.execute(select(func.count()).select_from(usage).where(usage.c.account_id == account_id)).scalar_one()
    return balance, ledger, count


def test_fifty_threads_racing_for_twenty_charges(seeded: SqlUnitOfWorkFactory, clock: FixedClock) -> None:
    account = services.create_account(seeded(), clock, "Race", PRICE * AFFORDABLE)
    start = threading.Barrier(CALLS)

    def charge(index: int) -> str:
        start.wait()
        try:
            services.record_usage(seeded(), clock, _request(account.id, index))
            return "recorded"
        except InsufficientCredits:
            return "refused"

    with ThreadPoolExecutor(CALLS) as pool:
        outcomes = list(pool.map(charge, range(CALLS)))
    assert outcomes.count("recorded") == AFFORDABLE and outcomes.count("refused") == CALLS - AFFORDABLE
    assert _state(seeded, account.id) == (D(0), D(0), AFFORDABLE)


def test_the_same_key_racing_from_many_threads_is_charged_once(seeded: SqlUnitOfWorkFactory, clock: FixedClock) -> None:
    account = services.create_account(seeded(), clock, "Replay race", D(100))
    start = threading.Barrier(20)

    def charge(_: int) -> bool:
        start.wait()
        return services.record_usage(seeded(), clock, _request(account.id, 0)).replayed

    with ThreadPoolExecutor(20) as pool:
        replayed = list(pool.map(charge, range(20)))
    assert replayed.count(False) == 1
    assert _state(seeded, account.id) == (D(98), D(98), 1)


def _charge_from_another_process(url: str, account_id: str, indexes: list[int], results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    factory = SqlUnitOfWorkFactory(make_engine(url, pool_size=2))
    recorded = 0
    for index in indexes:
        try:
            services.record_usage(factory(), FixedClock(), _request(account_id, index))
            recorded += 1
        except InsufficientCredits:
            pass
    factory.engine.dispose()
    results.put(recorded)


def test_four_processes_racing_share_only_the_database(
    database: Database, seeded: SqlUnitOfWorkFactory, clock: FixedClock
) -> None:
    account = services.create_account(seeded(), clock, "Processes", PRICE * AFFORDABLE)
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    workers = [
        spawn.Process(
            target=_charge_from_another_process, args=(database.url, account.id, list(range(n, CALLS, 4)), results)
        )
        for n in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert sum(results.get(timeout=5) for _ in workers) == AFFORDABLE
    assert _state(seeded, account.id) == (D(0), D(0), AFFORDABLE)


@pytest.mark.parametrize("on_loop", [True, False], ids=["event-loop", "worker-threads"])
def test_fifty_concurrent_api_requests_through_the_app(
    seeded: SqlUnitOfWorkFactory, clock: FixedClock, database: Database, on_loop: bool
) -> None:
    """The server bills on its event loop where the database allows (PostgreSQL), else on threads."""
    account = services.create_account(seeded(), clock, "Http race", PRICE * AFFORDABLE)
    _, secret = services.create_api_key(seeded(), clock, "service", Role.SERVICE)
    mutation = """mutation($i: RecordUsageInput!) { recordUsage(input: $i) { __typename } }"""

    async def run() -> list[str]:
        attached = on_loop and seeded.attach_loop_engine()
        assert seeded.runs_on_loop is (on_loop and database.kind == "postgres")
        try:
            return await requests()
        finally:
            if attached:
                await seeded.detach_loop_engine()

    async def requests() -> list[str]:
        transport = httpx.ASGITransport(app=create_app(seeded))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {secret}"}
        ) as client:

            async def one(index: int) -> str:
                variables = {
                    "i": {
                        "idempotencyKey": f"http-{index}",
                        "accountId": account.id,
                        "operationType": "linker",
                        "tokensInput": 300,
                        "tokensOutput": 100,
                    }
                }
                response = await client.post("/graphql", json={"query": mutation, "variables": variables})
                return str(response.json()["data"]["recordUsage"]["__typename"])

            return await asyncio.gather(*(one(i) for i in range(CALLS)))

    outcomes = asyncio.run(run())
    assert outcomes.count("UsageRecorded") == AFFORDABLE
    assert outcomes.count("InsufficientCredits") == CALLS - AFFORDABLE
    assert _state(seeded, account.id) == (D(0), D(0), AFFORDABLE)
