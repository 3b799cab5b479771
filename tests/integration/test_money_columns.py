"""Money survives the database exactly, SQLite included (which has no decimal type)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from domain import services
from domain.model import ModelType
from domain.services import ModelSpec
from persistence.repositories import usage
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import FixedClock

AWKWARD_CREDITS = ["0.0001", "99999999.9999", "12345678.0001", "0.1", "0.3333", "7"]


@pytest.mark.parametrize("amount", AWKWARD_CREDITS)
def test_credit_amounts_round_trip_exactly(uow_factory: SqlUnitOfWorkFactory, clock: FixedClock, amount: str) -> None:
    account = services.create_account(uow_factory(), clock, "Exact", D(amount))
    with uow_factory() as uow:
        stored = uow.accounts.get(account.id)
        entries = uow.ledger.list_for_account(account.id, 10, None).items
    assert stored is not None and stored.balance == D(amount)
    assert [e.amount for e in entries] == [D(amount)]


def test_dollar_prices_round_trip_at_ten_places(uow_factory: SqlUnitOfWorkFactory, clock: FixedClock) -> None:
    spec = ModelSpec(
        "awkward",
        "openai",
        ModelType.IMAGE,
        D("9999.9999"),
        D("0.0001"),
        price_per_image=D("0.0000000001"),
        cached_input_price_per_million=D("1234567.8912"),
        effective_from=datetime(2024, 1, 1, tzinfo=UTC),
    )
    services.upsert_model(uow_factory(), clock, spec)
    fresh = SqlUnitOfWorkFactory(uow_factory.engine)  # no process cache: read from the database
    with fresh() as uow:
        version = uow.catalogue.snapshot().history("awkward")[0]
    assert (
        version.input_price_per_million,
        version.output_price_per_million,
        version.price_per_image,
        version.cached_input_price_per_million,
    ) == (D("9999.9999"), D("0.0001"), D("0.0000000001"), D("1234567.8912"))


def test_sums_in_sql_stay_exact(seeded: SqlUnitOfWorkFactory, clock: FixedClock) -> None:
    account = services.create_account(seeded(), clock, "Sums", D("100000"))
    costs = []
    for index, tokens in enumerate((1, 3, 7, 333_333, 1_000_001)):
        request = services.UsageRequest(
            f"k{index}",
            account.id,
            "linker",
            services.TokenCounts(tokens_input=tokens, tokens_output=tokens),
            model_name="gemini-2.5-pro",
        )
        costs.append(services.record_usage(seeded(), clock, request).usage.cost_usd_total)
    with seeded() as uow:
        total = uow.connection.execute(select(func.sum(usage.c.cost_usd_total))).scalar_one()
    assert total == sum(costs, D(0))  # the SUM of integer minor units, typed back to Decimal
    assert costs[0] == D("0.00001125")  # 1 x 1.25/M + 1 x 10/M


def test_a_float_never_reaches_a_money_column(uow_factory: SqlUnitOfWorkFactory) -> None:
    with uow_factory() as uow, pytest.raises(Exception, match="Decimal"):
        uow.accounts.change_balance("x", 0.1)  # type: ignore[arg-type]
