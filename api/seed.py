"""`creditmeter seed`: the starting catalogue, idempotent (an existing row is never touched)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal as D

from api.context import UnitOfWorkFactory
from domain import services
from domain.model import CreditUnit, ModelType, OperationConfig, Role
from domain.ports import Clock
from domain.services import ModelSpec

# Public list prices in USD per million tokens (per image for image models), as published
# by each provider for standard (non-batch) use. Cache reads and writes are priced where
# the provider charges them differently from plain input: Anthropic writes 5-minute cache
# at 1.25x input, 1-hour cache at 2x, and reads at 0.1x; OpenAI and Google discount cached
# input (Google's 2.5 models at 0.1x) and do not charge cache writes apart from input.
SEEDED_FROM = datetime(2024, 1, 1, tzinfo=UTC)
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "gpt-4o-mini",
        "openai",
        ModelType.TEXT,
        D("0.15"),
        D("0.60"),
        "GPT-4o mini",
        200,
        cached_input_price_per_million=D("0.075"),
        is_default=True,
    ),
    ModelSpec(
        "gpt-4o",
        "openai",
        ModelType.TEXT,
        D("2.50"),
        D("10.00"),
        "GPT-4o",
        50,
        cached_input_price_per_million=D("1.25"),
    ),
    ModelSpec(
        "gpt-4.1",
        "openai",
        ModelType.TEXT,
        D("2.00"),
        D("8.00"),
        "GPT-4.1",
        50,
        cached_input_price_per_million=D("0.50"),
    ),
    ModelSpec(
        "gpt-4.1-mini",
        "openai",
        ModelType.TEXT,
        D("0.40"),
        D("1.60"),
        "GPT-4.1 mini",
        150,
        cached_input_price_per_million=D("0.10"),
    ),
    ModelSpec(
        "claude-sonnet-4-5",
        "anthropic",
        ModelType.TEXT,
        D("3.00"),
        D("15.00"),
        "Claude Sonnet 4.5",
        50,
        cached_input_price_per_million=D("0.30"),
        cache_write_price_per_million=D("3.75"),
        cache_write_1h_price_per_million=D("6.00"),
    ),
    ModelSpec(
        "claude-haiku-4-5",
        "anthropic",
        ModelType.TEXT,
        D("1.00"),
        D("5.00"),
        "Claude Haiku 4.5",
        100,
        cached_input_price_per_million=D("0.10"),
        cache_write_price_per_million=D("1.25"),
        cache_write_1h_price_per_million=D("2.00"),
    ),
    ModelSpec(
        "claude-opus-4-1",
        "anthropic",
        ModelType.TEXT,
        D("15.00"),
        D("75.00"),
        "Claude Opus 4.1",
        20,
        cached_input_price_per_million=D("1.50"),
        cache_write_price_per_million=D("18.75"),
        cache_write_1h_price_per_million=D("30.00"),
    ),
    ModelSpec(
        "gemini-2.5-flash",
        "google",
        ModelType.TEXT,
        D("0.30"),
        D("2.50"),
        "Gemini 2.5 Flash",
        150,
        cached_input_price_per_million=D("0.03"),
    ),
    ModelSpec(
        "gemini-2.5-pro",
        "google",
        ModelType.TEXT,
        D("1.25"),
        D("10.00"),
        "Gemini 2.5 Pro",
        50,
        cached_input_price_per_million=D("0.125"),
    ),
    ModelSpec(
        "gemini-2.0-flash",
        "google",
        ModelType.TEXT,
        D("0.10"),
        D("0.40"),
        "Gemini 2.0 Flash",
        200,
        cached_input_price_per_million=D("0.025"),
    ),
    ModelSpec(
        "runware:100@1",
        "runware",
        ModelType.IMAGE,
        D("0"),
        D("0"),
        "FLUX.1 [schnell] on Runware",
        price_per_image=D("0.0013"),
        is_default=True,
    ),
    ModelSpec(
        "dall-e-3",
        "openai",
        ModelType.IMAGE,
        D("0"),
        D("0"),
        "DALL-E 3 (1024x1024 standard)",
        price_per_image=D("0.04"),
    ),
)

OPERATIONS: tuple[OperationConfig, ...] = (
    OperationConfig("clustering", ModelType.TEXT, CreditUnit.MODEL_TOKENS, D("1")),
    OperationConfig("ideas", ModelType.TEXT, CreditUnit.MODEL_TOKENS, D("1")),
    OperationConfig("content", ModelType.TEXT, CreditUnit.MODEL_TOKENS, D("5")),
    OperationConfig("image", ModelType.IMAGE, CreditUnit.PER_ITEM, D("5")),
    OperationConfig("optimizer", ModelType.TEXT, CreditUnit.PER_1000_TOKENS, D("2")),
    OperationConfig("linker", ModelType.TEXT, CreditUnit.PER_100_TOKENS, D("0.5")),
)


@dataclass
class SeedReport:
    models_added: list[str] = field(default_factory=list)
    operations_added: list[str] = field(default_factory=list)
    admin_secret: str | None = None

    def summary(self) -> str:
        return (
            f"seeded {len(self.models_added)} new models, {len(self.operations_added)} new operations "
            f"({len(MODELS)} models and {len(OPERATIONS)} operations in the seed; existing ones untouched)"
        )


def seed(uow_factory: UnitOfWorkFactory, clock: Clock, *, bootstrap_admin: bool = True) -> SeedReport:
    report = SeedReport()
    make = uow_factory
    with make() as uow:
        catalogue = uow.catalogue.snapshot()
        has_keys = bool(uow.api_keys.list())
    for spec in MODELS:
        if not catalogue.is_known(spec.name):
            services.upsert_model(make(), clock, _seeded(spec))
            report.models_added.append(spec.name)
    for operation in OPERATIONS:
        if operation.operation_type not in catalogue.operations:
            services.upsert_operation(make(), clock, operation)
            report.operations_added.append(operation.operation_type)
    if bootstrap_admin and not has_keys:
        _, report.admin_secret = services.create_api_key(make(), clock, "local admin (created by seed)", Role.ADMIN)
    return report


def _seeded(spec: ModelSpec) -> ModelSpec:
    return replace(spec, effective_from=SEEDED_FROM)
