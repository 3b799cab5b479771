"""recordUsage prices from the account and catalogue its process saw last, so most calls read
nothing before they charge. The charge goes through only on the account and catalogue as they
are when it is made (PricingBasis): whatever another process changed meanwhile is billed as
changed, never as remembered. Two factories on one database play the two processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from domain import services
from domain.errors import InsufficientCredits, ModelUnavailable
from domain.model import CreditUnit, ModelType, OperationConfig, TokenCounts, TransactionKind
from domain.services import ModelSpec, UsageRequest
from persistence.engine import make_engine
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import Database, FixedClock

START = datetime(2026, 1, 1, tzinfo=UTC)
COUNTS = TokenCounts(tokens_input=1000, tokens_output=1000)


@pytest.fixture(params=["threads", "event-loop"])
def processes(database: Database, clock: FixedClock, request: pytest.FixtureRequest
              ) -> Iterator[tuple[SqlUnitOfWorkFactory, SqlUnitOfWorkFactory]]:
    """`here` bills and remembers; `elsewhere` changes things behind its back. With "event-loop",
    `here` bills as the server does on PostgreSQL: on its event loop, on the hot path's own pool
    (persistence/hot_path.py) wherever its caches allow."""
    if request.param == "event-loop" and database.kind != "postgres":
        pytest.skip("SQLite bills on threads only")
    here, elsewhere = (SqlUnitOfWorkFactory(make_engine(database.url)) for _ in range(2))
    here.bills_on_loop = request.param == "event-loop"  # type: ignore[attr-defined]
    for spec in (
        ModelSpec("cheap", "openai", ModelType.TEXT, D("0.15"), D("0.60"), tokens_per_credit=200, is_default=True),
        ModelSpec("premium", "anthropic", ModelType.TEXT, D("3"), D("15"), tokens_per_credit=50),
    ):
        services.upsert_model(elsewhere(), clock, replace(spec, effective_from=START))
    services.upsert_operation(
        elsewhere(), clock, OperationConfig("content", ModelType.TEXT, CreditUnit.MODEL_TOKENS, D("1"))
    )
    yield here, elsewhere
    here.engine.dispose()
    elsewhere.engine.dispose()


def _bill(factory: SqlUnitOfWorkFactory, clock: FixedClock, account_id: str, key: str, operation: str = "content"
          ) -> services.UsageOutcome:
    request = UsageRequest(key, account_id, operation, COUNTS)
    if not getattr(factory, "bills_on_loop", False):
        return services.record_usage(factory(), clock, request)

    async def on_loop() -> services.UsageOutcome:
        assert factory.attach_loop_engine()
        try:
            return await factory.on_loop(lambda: services.record_usage(factory(), clock, request))
        finally:
            await factory.detach_loop_engine()

    return asyncio.run(on_loop())


def _fresh_quote(factory: SqlUnitOfWorkFactory, clock: FixedClock, account_id: str) -> services.QuoteOutcome:
    return services.quote(SqlUnitOfWorkFactory(factory.engine)(read_only=True), clock, account_id, "content", COUNTS)


def test_a_default_model_set_elsewhere_is_billed(processes: tuple[SqlUnitOfWorkFactory, ...],
                                                 clock: FixedClock) -> None:
    here, elsewhere = processes
    account = services.create_account(elsewhere(), clock, "Acme", D(1000))
    first = _bill(here, clock, account.id, "k1")  # `here` now remembers the account
    assert first.usage.model_name == "cheap"

    services.update_account_settings(elsewhere(), clock, account.id, default_text_model="premium")
    outcome = _bill(here, clock, account.id, "k2")

    expected = _fresh_quote(elsewhere, clock, account.id)
    assert (outcome.usage.model_name, outcome.usage.credits_used) == ("premium", expected.credits)
    assert outcome.balance == D(1000) - first.usage.credits_used - expected.credits


def test_a_price_changed_elsewhere_is_billed(processes: tuple[SqlUnitOfWorkFactory, ...], clock: FixedClock) -> None:
    here, elsewhere = processes
    account = services.create_account(elsewhere(), clock, "Acme", D(1000))
    first = _bill(here, clock, account.id, "k1")  # `here` now remembers this catalogue

    version = services.upsert_model(
        elsewhere(), clock, ModelSpec("cheap", "openai", ModelType.TEXT, D("30"), D("60"), tokens_per_credit=100)
    )
    second = _bill(here, clock, account.id, "k2")

    assert second.usage.model_version_id == version.id != first.usage.model_version_id
    quote = _fresh_quote(elsewhere, clock, account.id)
    assert second.usage.credits_used == quote.credits == 2 * first.usage.credits_used
    assert second.usage.cost_usd_total == quote.cost.total > first.usage.cost_usd_total


def test_an_operation_added_elsewhere_is_found(processes: tuple[SqlUnitOfWorkFactory, ...], clock: FixedClock) -> None:
    here, elsewhere = processes
    account = services.create_account(elsewhere(), clock, "Acme", D(1000))
    first = _bill(here, clock, account.id, "k1")

    services.upsert_operation(
        elsewhere(), clock, OperationConfig("summaries", ModelType.TEXT, CreditUnit.PER_REQUEST, D("3"))
    )

    summary = _bill(here, clock, account.id, "k2", operation="summaries")
    assert summary.usage.credits_used == D(3) != first.usage.credits_used


def test_a_model_retired_elsewhere_is_refused_and_nothing_is_written(
    processes: tuple[SqlUnitOfWorkFactory, ...], clock: FixedClock
) -> None:
    here, elsewhere = processes
    account = services.create_account(elsewhere(), clock, "Acme", D(1000))
    services.update_account_settings(elsewhere(), clock, account.id, default_text_model="premium")
    balance = _bill(here, clock, account.id, "k1").balance

    services.set_model_active(elsewhere(), clock, "premium", False)

    with pytest.raises(ModelUnavailable):
        _bill(here, clock, account.id, "k2")
    with elsewhere() as uow:
        assert uow.usage.by_key("k2") is None
        assert uow.accounts.get(account.id).balance == balance  # type: ignore[union-attr]


def test_a_remembered_balance_is_never_what_decides(
    processes: tuple[SqlUnitOfWorkFactory, ...], clock: FixedClock
) -> None:
    here, elsewhere = processes
    account = services.create_account(elsewhere(), clock, "Acme", D(0))
    with pytest.raises(InsufficientCredits):  # `here` remembers the account with nothing on it
        _bill(here, clock, account.id, "k1")

    services.add_credits(elsewhere(), clock, "top-up", account.id, D(25))
    price = _bill(here, clock, account.id, "k1").usage.credits_used  # a remembered 0 does not refuse it
    assert D(0) < price <= D(25)

    # Elsewhere takes the rest, so `here` remembers more than there is.
    rest = services.add_credits(elsewhere(), clock, "take", account.id, price - D(25), TransactionKind.ADJUSTMENT)
    assert rest.balance == D(0)
    with pytest.raises(InsufficientCredits) as refused:
        _bill(here, clock, account.id, "k2")
    assert refused.value.balance == D(0)
