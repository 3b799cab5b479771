"""The use cases, asserted on end state: one contract suite run against the in-memory fake
and the SQL unit of work on SQLite and PostgreSQL, so the fake cannot drift."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from domain import services
from domain.errors import IdempotencyConflict, InsufficientCredits, InvalidInput, ModelUnavailable, NotFound
from domain.model import CreditUnit, LedgerEntry, ModelType, OperationConfig, TokenCounts, TransactionKind
from domain.ports import UnitOfWork
from domain.services import ModelSpec, UsageRequest
from persistence.engine import make_engine
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import FixedClock, _reset_postgres
from tests.fakes import FakeUnitOfWork


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWork]:
    if request.param == "fake":
        yield FakeUnitOfWork()
        return
    factory = SqlUnitOfWorkFactory(make_engine(_database(request, tmp_path)))
    yield factory()
    factory.engine.dispose()


def _database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "services.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("_postgres_database")
    _reset_postgres(url)
    return url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 6, 15, 12, tzinfo=UTC))


@pytest.fixture
def catalogue(uow: UnitOfWork, clock: FixedClock) -> UnitOfWork:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for spec in (
        ModelSpec("cheap", "openai", ModelType.TEXT, D("0.15"), D("0.60"), tokens_per_credit=200, is_default=True),
        ModelSpec("premium", "anthropic", ModelType.TEXT, D("3"), D("15"), tokens_per_credit=50),
        ModelSpec("account-pick", "google", ModelType.TEXT, D("1"), D("2"), tokens_per_credit=100),
        ModelSpec("op-pick", "google", ModelType.TEXT, D("1"), D("2"), tokens_per_credit=100),
        ModelSpec("painter", "runware", ModelType.IMAGE, D("0"), D("0"), price_per_image=D("0.0013")),
    ):
        services.upsert_model(uow, clock, replace(spec, effective_from=start))
    services.upsert_operation(uow, clock, OperationConfig("content", ModelType.TEXT, CreditUnit.MODEL_TOKENS, D("1")))
    services.upsert_operation(uow, clock, OperationConfig("image", ModelType.IMAGE, CreditUnit.PER_ITEM, D("5")))
    return uow


def _account(uow: UnitOfWork, clock: FixedClock, credits: str = "100") -> str:
    return services.create_account(uow, clock, "Acme", D(credits)).id


def _usage(account_id: str, key: str = "k1", **overrides: object) -> UsageRequest:
    fields: dict[str, object] = dict(counts=TokenCounts(tokens_input=1000, tokens_output=1000))
    fields.update(overrides)
    return UsageRequest(key, account_id, str(fields.pop("operation", "content")), **fields)  # type: ignore[arg-type]


def _balance(uow: UnitOfWork, account_id: str) -> D:
    with uow:
        account = uow.accounts.get(account_id)
    assert account is not None
    return account.balance


def _entries(uow: UnitOfWork, account_id: str) -> list[LedgerEntry]:
    with uow:
        return uow.ledger.list_for_account(account_id, 100, None).items


def _usage_ids(uow: UnitOfWork, account_id: str) -> list[int | None]:
    with uow:
        return [r.id for r in uow.usage.list_for_account(account_id, 100, None, None, None).items]


def _ledger_sum(uow: UnitOfWork, account_id: str) -> D:
    return sum((e.amount for e in _entries(uow, account_id)), D(0))


def test_a_usage_is_charged_once_with_a_ledger_entry_and_a_rollup(catalogue: UnitOfWork, clock: FixedClock) -> None:
    account = _account(catalogue, clock)
    outcome = services.record_usage(catalogue, clock, _usage(account))
    assert outcome.usage.credits_used == D(10)  # 2000 tokens / 200 per credit
    assert outcome.balance == D(90) == _balance(catalogue, account) == _ledger_sum(catalogue, account)
    usage_entries = [e for e in _entries(catalogue, account) if e.kind is TransactionKind.USAGE]
    assert [(e.amount, e.balance_after, e.usage_id) for e in usage_entries] == [(D(-10), D(90), outcome.usage.id)]


def test_a_replayed_key_charges_nothing_more(catalogue: UnitOfWork, clock: FixedClock) -> None:
    account = _account(catalogue, clock)
    first = services.record_usage(catalogue, clock, _usage(account))
    again = services.record_usage(catalogue, clock, _usage(account))
    assert again.replayed and not first.replayed
    assert again.usage.id == first.usage.id and again.balance == first.balance
    assert _balance(catalogue, account) == D(90)
    assert _usage_ids(catalogue, account) == [first.usage.id]


def test_a_replay_answers_even_when_the_balance_has_run_out_since(catalogue: UnitOfWork, clock: FixedClock) -> None:
    account = _account(catalogue, clock, "10")
    services.record_usage(catalogue, clock, _usage(account))
    assert _balance(catalogue, account) == D(0)
    assert services.record_usage(catalogue, clock, _usage(account)).replayed


def test_the_same_key_with_a_different_input_is_a_conflict(catalogue: UnitOfWork, clock: FixedClock) -> None:
    account = _account(catalogue, clock)
    services.record_usage(catalogue, clock, _usage(account))
    with pytest.raises(IdempotencyConflict):
        services.record_usage(
            catalogue, clock, _usage(account, counts=TokenCounts(tokens_input=1001, tokens_output=1000))
        )
    other = _account(catalogue, clock)
    with pytest.raises(IdempotencyConflict):
        services.record_usage(catalogue, clock, _usage(other))
    assert _balance(catalogue, account) == D(90) and _balance(catalogue, other) == D(100)


def test_insufficient_credits_writes_nothing_at_all(catalogue: UnitOfWork, clock: FixedClock) -> None:
    account = _account(catalogue, clock, "9")
    with pytest.raises(InsufficientCredits) as refused:
        services.record_usage(catalogue, clock, _usage(account))
    assert (refused.value.required, refused.value.balance) == (D(10), D(9))
    assert _balance(catalogue, account) == D(9)
    assert _usage_ids(catalogue, account) == []
    assert [e.kind for e in _entries(catalogue, account)] == [TransactionKind.TOP_UP]


def test_a_failed_call_is_recorded_with_its_cost_but_charged_zero(catalogue: UnitOfWork, clock: FixedClock) -> None:
    account = _account(catalogue, clock, "0")
    outcome = services.record_usage(catalogue, clock, _usage(account, success=False))
    assert outcome.usage.credits_used == D(0) and outcome.usage.cost_usd_total == D("0.00075")
    assert _balance(catalogue, account) == D(0)


def test_resolution_takes_task_then_account_then_operation_then_system(
    catalogue: UnitOfWork, clock: FixedClock
) -> None:
    account = _account(catalogue, clock, "1000")
    model_of = lambda key, **kw: services.record_usage(catalogue, clock, _usage(account, key, **kw)).usage.model_name  # noqa: E731
    assert model_of("a") == "cheap"
    services.upsert_operation(
        catalogue, clock, OperationConfig("content", ModelType.TEXT, CreditUnit.MODEL_TOKENS, D("1"), "op-pick")
    )
    assert model_of("b") == "op-pick"
    services.update_account_settings(catalogue, clock, account, default_text_model="account-pick")
    assert model_of("c") == "account-pick"
    assert model_of("d", model_name="premium") == "premium"


@pytest.mark.parametrize(
    ("model_name", "reason"),
    [("nope", "no such model"), ("painter", "IMAGE model"), ("premium", "inactive")],
)
def test_a_named_model_that_cannot_bill_is_an_error_not_a_fallback(
    catalogue: UnitOfWork, clock: FixedClock, model_name: str, reason: str
) -> None:
    services.set_model_active(catalogue, clock, "premium", False)
    account = _account(catalogue, clock)
    with pytest.raises(ModelUnavailable, match=reason):
        services.record_usage(catalogue, clock, _usage(account, model_name=model_name))
    assert _balance(catalogue, account) == D(100)


def test_unknown_accounts_and_operations_are_not_found(catalogue: UnitOfWork, clock: FixedClock) -> None:
    with pytest.raises(NotFound):
        services.record_usage(catalogue, clock, _usage("missing"))
    with pytest.raises(NotFound):
        services.record_usage(catalogue, clock, _usage(_account(catalogue, clock), operation="teleport"))


def test_a_price_change_adds_a_version_and_usage_keeps_the_one_in_force(
    catalogue: UnitOfWork, clock: FixedClock
) -> None:
    account = _account(catalogue, clock, "1000")
    before = services.record_usage(catalogue, clock, _usage(account, "old", model_name="premium"))
    services.upsert_model(
        catalogue, clock, ModelSpec("premium", "anthropic", ModelType.TEXT, D("6"), D("30"), tokens_per_credit=50)
    )
    later = clock.now() + timedelta(minutes=1)
    clock.current = later
    after = services.record_usage(catalogue, clock, _usage(account, "new", model_name="premium"))
    backdated = services.record_usage(
        catalogue, clock, _usage(account, "late", model_name="premium", occurred_at=later - timedelta(hours=1))
    )
    assert before.usage.cost_usd_total == D("0.018") and backdated.usage.cost_usd_total == D("0.018")
    assert after.usage.cost_usd_total == D("0.036")
    with catalogue:
        stored = catalogue.usage.get(before.usage.id)  # type: ignore[arg-type]
        history = catalogue.catalogue.snapshot().history("premium")
    assert stored is not None and stored.cost_usd_total == D("0.018")
    assert [v.version for v in history] == [1, 2]


def test_the_default_model_cannot_be_deactivated(catalogue: UnitOfWork, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput):
        services.set_model_active(catalogue, clock, "cheap", False)
    services.set_default_model(catalogue, clock, "premium")
    services.set_model_active(catalogue, clock, "cheap", False)
    with catalogue:
        flags = catalogue.catalogue.snapshot().flags
    assert [name for name, f in flags.items() if f.is_default and f.model_type is ModelType.TEXT] == ["premium"]


def test_add_credits_is_idempotent_and_removals_cannot_go_below_zero(catalogue: UnitOfWork, clock: FixedClock) -> None:
    account = _account(catalogue, clock, "5")
    first = services.add_credits(catalogue, clock, "top", account, D("2.5"))
    again = services.add_credits(catalogue, clock, "top", account, D("2.5"))
    assert (first.balance, again.replayed, _balance(catalogue, account)) == (D("7.5"), True, D("7.5"))
    with pytest.raises(IdempotencyConflict):
        services.add_credits(catalogue, clock, "top", account, D("3"))
    with pytest.raises(InsufficientCredits):
        services.add_credits(catalogue, clock, "expire", account, D("-8"), TransactionKind.EXPIRY)
    services.add_credits(catalogue, clock, "fix", account, D("-7.5"), TransactionKind.ADJUSTMENT)
    assert _balance(catalogue, account) == D(0) == _ledger_sum(catalogue, account)


@pytest.mark.parametrize(
    ("amount", "kind"),
    [
        ("0", TransactionKind.TOP_UP),
        ("-1", TransactionKind.REFUND),
        ("1", TransactionKind.EXPIRY),
        ("1.00001", TransactionKind.TOP_UP),
        ("1", TransactionKind.USAGE),
        ("NaN", TransactionKind.TOP_UP),
        ("1E+999", TransactionKind.TOP_UP),
    ],
)
def test_add_credits_refuses_amounts_that_make_no_sense(
    catalogue: UnitOfWork, clock: FixedClock, amount: str, kind: TransactionKind
) -> None:
    account = _account(catalogue, clock, "5")
    with pytest.raises(InvalidInput):
        services.add_credits(catalogue, clock, "k", account, D(amount), kind)
    assert _balance(catalogue, account) == D(5)


def test_usage_from_the_future_is_refused(catalogue: UnitOfWork, clock: FixedClock) -> None:
    account = _account(catalogue, clock)
    with pytest.raises(InvalidInput):
        services.record_usage(catalogue, clock, _usage(account, occurred_at=clock.now() + timedelta(hours=1)))


def test_usage_from_before_a_models_first_version_bills_at_its_first_price(
    catalogue: UnitOfWork, clock: FixedClock
) -> None:
    services.upsert_model(
        catalogue, clock, ModelSpec("brand-new", "openai", ModelType.TEXT, D("1"), D("1"), tokens_per_credit=100)
    )
    account = _account(catalogue, clock)
    backfilled = services.record_usage(
        catalogue, clock, _usage(account, model_name="brand-new", occurred_at=clock.now() - timedelta(days=30))
    )
    assert backfilled.usage.cost_usd_total == D("0.002") and backfilled.model is not None
    assert backfilled.model.version == 1


def test_a_text_model_without_tokens_per_credit_bills_flat_units_but_not_model_tokens(
    catalogue: UnitOfWork, clock: FixedClock
) -> None:
    services.upsert_model(catalogue, clock, ModelSpec("flat", "openai", ModelType.TEXT, D("1"), D("1")))
    services.upsert_operation(
        catalogue, clock, OperationConfig("flat-op", ModelType.TEXT, CreditUnit.PER_REQUEST, D("3"), "flat")
    )
    account = _account(catalogue, clock)
    assert services.record_usage(catalogue, clock, _usage(account, "a", operation="flat-op")).usage.credits_used == 3
    with pytest.raises(InvalidInput, match="tokensPerCredit"):
        services.record_usage(catalogue, clock, _usage(account, "b", model_name="flat"))
    assert _balance(catalogue, account) == D(97)
