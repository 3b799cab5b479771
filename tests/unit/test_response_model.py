"""The model a response names must be the model the call is billed with, up to a snapshot suffix."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from domain import services
from domain.errors import InvalidInput
from domain.model import CreditUnit, ModelType, OperationConfig, TokenCounts
from domain.services import ModelSpec
from tests.conftest import FixedClock
from tests.fakes import FakeUnitOfWork

CLOCK = FixedClock(datetime(2026, 6, 15, tzinfo=UTC))
# Each operation defaults to one model, so the response alone decides what is checked.
OPERATION_MODELS = {"chat": "gpt-4o", "write": "claude-sonnet-4-5", "think": "gemini-2.5-flash"}


@pytest.fixture
def billing() -> tuple[FakeUnitOfWork, str]:
    uow = FakeUnitOfWork()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for name, provider in (
        ("gpt-4o", "openai"),
        ("claude-sonnet-4-5", "anthropic"),
        ("gemini-2.5-flash", "google"),
    ):
        spec = ModelSpec(name, provider, ModelType.TEXT, D("1"), D("2"), tokens_per_credit=50, effective_from=start)
        services.upsert_model(uow, CLOCK, spec)
    for operation, model in OPERATION_MODELS.items():
        config = OperationConfig(operation, ModelType.TEXT, CreditUnit.MODEL_TOKENS, D("1"), default_model=model)
        services.upsert_operation(uow, CLOCK, config)
    return uow, services.create_account(uow, CLOCK, "Acme", D("100")).id


def _quote(
    billing: tuple[FakeUnitOfWork, str], operation: str, reported: str, model_name: str | None = None
) -> services.QuoteOutcome:
    uow, account_id = billing
    counts = TokenCounts(tokens_input=1000, tokens_output=100)
    return services.quote(uow, CLOCK, account_id, operation, counts, model_name, response_model=reported)


@pytest.mark.parametrize(
    ("operation", "reported"),
    [
        ("chat", "gpt-4o"),
        ("chat", "gpt-4o-2024-08-06"),
        ("write", "claude-sonnet-4-5-20250929"),
        ("think", "models/gemini-2.5-flash"),
        ("think", "gemini-2.5-flash-001"),
    ],
)
def test_a_snapshot_of_the_billed_model_is_the_same_model(
    billing: tuple[FakeUnitOfWork, str], operation: str, reported: str
) -> None:
    assert _quote(billing, operation, reported).model.name == OPERATION_MODELS[operation]


@pytest.mark.parametrize(
    ("operation", "reported"),
    [
        ("chat", "gpt-4o-mini"),
        ("chat", "gpt-4o-mini-2024-07-18"),
        ("chat", "gpt-4o-audio-preview"),
        ("think", "gemini-2.5-flash-lite"),
        ("write", "claude-sonnet-4-5-haiku"),
    ],
)
def test_a_longer_name_is_another_model_and_is_refused(
    billing: tuple[FakeUnitOfWork, str], operation: str, reported: str
) -> None:
    with pytest.raises(InvalidInput, match="name the model") as refused:
        _quote(billing, operation, reported)
    assert refused.value.field == "providerResponse"


def test_naming_the_model_bills_a_response_from_another_one(billing: tuple[FakeUnitOfWork, str]) -> None:
    assert _quote(billing, "chat", "openai/gpt-4o", model_name="gpt-4o").model.name == "gpt-4o"
