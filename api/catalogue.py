"""Catalogue: models and their price versions, operations, billing settings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from api.context import Info
from api.errors import Forbidden, ModelUnavailable, NotFoundError, ValidationError, forbidden, to_payload
from api.permissions import is_admin, may_read_catalogue
from api.types import AIModel, BillingSettings, CreditUnit, ModelType, OperationConfig, RoundingMode
from domain import model as domain
from domain import services
from domain.errors import BillingError
from domain.errors import Forbidden as Refused

# ---------------------------------------------------------------- queries


def _require_catalogue_reader(info: Info) -> None:
    if not may_read_catalogue(info.context.caller):
        raise Refused("this key may not read the catalogue")


async def models(info: Info, include_inactive: bool | None = False) -> list[AIModel]:
    _require_catalogue_reader(info)
    catalogue = await info.context.catalogue()
    now = info.context.clock.now()
    current = [catalogue.current(name, now) for name in sorted(catalogue.flags)]
    return [AIModel.from_domain(v) for v in current if v is not None and (include_inactive or v.is_active)]


async def model(info: Info, name: str) -> AIModel | None:
    if not may_read_catalogue(info.context.caller):
        return None
    version = (await info.context.catalogue()).current(name, info.context.clock.now())
    return AIModel.from_domain(version) if version else None


async def model_history(info: Info, name: str) -> list[AIModel]:
    _require_catalogue_reader(info)
    return [AIModel.from_domain(v) for v in (await info.context.catalogue()).history(name)]


async def operations(info: Info) -> list[OperationConfig]:
    _require_catalogue_reader(info)
    catalogue = await info.context.catalogue()
    return [OperationConfig.from_domain(catalogue.operations[key]) for key in sorted(catalogue.operations)]


async def billing_settings(info: Info) -> BillingSettings:
    _require_catalogue_reader(info)
    return BillingSettings.from_domain((await info.context.catalogue()).settings)


# ---------------------------------------------------------------- mutations


@strawberry.input
class ModelInput:
    name: str
    provider: str
    model_type: ModelType  # type: ignore[valid-type]
    input_price_per_million: Decimal
    output_price_per_million: Decimal
    display_name: str | None = None
    tokens_per_credit: int | None = None
    cached_input_price_per_million: Decimal | None = None
    cache_write_price_per_million: Decimal | None = None
    price_per_image: Decimal | None = None
    is_default: bool | None = False
    effective_from: datetime | None = None
    cache_write_1h_price_per_million: Decimal | None = strawberry.field(
        default=None, description="USD per million tokens written to a 1-hour cache (Anthropic: 2x input)."
    )

    def to_domain(self) -> services.ModelSpec:
        return services.ModelSpec(
            name=self.name,
            provider=self.provider,
            model_type=self.model_type,
            input_price_per_million=self.input_price_per_million,
            output_price_per_million=self.output_price_per_million,
            display_name=self.display_name,
            tokens_per_credit=self.tokens_per_credit,
            cached_input_price_per_million=self.cached_input_price_per_million,
            cache_write_price_per_million=self.cache_write_price_per_million,
            price_per_image=self.price_per_image,
            is_default=bool(self.is_default),
            effective_from=self.effective_from,
            cache_write_1h_price_per_million=self.cache_write_1h_price_per_million,
        )


@strawberry.type
class ModelPayload:
    model: AIModel


ModelResult = Annotated[ModelPayload | NotFoundError | ValidationError | Forbidden, strawberry.union("ModelResult")]


async def upsert_model(info: Info, input: ModelInput) -> ModelResult:  # type: ignore[valid-type]
    """Create a model, or a new price version of an existing one."""
    if not is_admin(info.context.caller):
        return forbidden()
    try:
        version = await info.context.run(
            services.upsert_model, info.context.uow(), info.context.clock, input.to_domain()
        )
    except BillingError as error:
        return to_payload(error)  # type: ignore[return-value]
    return ModelPayload(model=AIModel.from_domain(version))


async def set_model_active(info: Info, name: str, active: bool) -> ModelResult:  # type: ignore[valid-type]
    if not is_admin(info.context.caller):
        return forbidden()
    try:
        version = await info.context.run(
            services.set_model_active, info.context.uow(), info.context.clock, name, active
        )
    except BillingError as error:
        return to_payload(error)  # type: ignore[return-value]
    return ModelPayload(model=AIModel.from_domain(version))


async def set_default_model(info: Info, name: str) -> ModelResult:  # type: ignore[valid-type]
    if not is_admin(info.context.caller):
        return forbidden()
    try:
        version = await info.context.run(services.set_default_model, info.context.uow(), info.context.clock, name)
    except BillingError as error:
        return to_payload(error)  # type: ignore[return-value]
    return ModelPayload(model=AIModel.from_domain(version))


@strawberry.input
class OperationInput:
    operation_type: str
    model_type: ModelType  # type: ignore[valid-type]
    unit: CreditUnit  # type: ignore[valid-type]
    credits_cost: Decimal
    default_model: str | None = None
    is_active: bool | None = True

    def to_domain(self) -> domain.OperationConfig:
        return domain.OperationConfig(
            operation_type=self.operation_type,
            model_type=self.model_type,
            unit=self.unit,
            credits_cost=self.credits_cost,
            default_model=self.default_model or None,
            is_active=self.is_active is not False,
        )


@strawberry.type
class OperationPayload:
    operation: OperationConfig


OperationResult = Annotated[
    OperationPayload | NotFoundError | ModelUnavailable | ValidationError | Forbidden,
    strawberry.union("OperationResult"),
]


async def upsert_operation(info: Info, input: OperationInput) -> OperationResult:  # type: ignore[valid-type]
    if not is_admin(info.context.caller):
        return forbidden()
    try:
        operation = await info.context.run(
            services.upsert_operation, info.context.uow(), info.context.clock, input.to_domain()
        )
    except BillingError as error:
        return to_payload(error)  # type: ignore[return-value]
    return OperationPayload(operation=OperationConfig.from_domain(operation))


@strawberry.input
class BillingSettingsInput:
    rounding_mode: RoundingMode | None = None  # type: ignore[valid-type]
    credit_decimal_places: int | None = None
    credit_price_usd: Decimal | None = None


@strawberry.type
class BillingSettingsPayload:
    settings: BillingSettings


BillingSettingsResult = Annotated[
    BillingSettingsPayload | ValidationError | Forbidden, strawberry.union("BillingSettingsResult")
]


async def update_billing_settings(info: Info, input: BillingSettingsInput) -> BillingSettingsResult:  # type: ignore[valid-type]
    if not is_admin(info.context.caller):
        return forbidden()
    try:
        settings = await info.context.run(
            services.update_billing_settings,
            info.context.uow(),
            input.rounding_mode,
            input.credit_decimal_places,
            input.credit_price_usd,
        )
    except BillingError as error:
        return to_payload(error)  # type: ignore[return-value]
    return BillingSettingsPayload(settings=BillingSettings.from_domain(settings))
