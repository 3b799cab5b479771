"""GraphQL output types. Never domain or row classes: `from_domain` converts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from api.context import Info
from domain import model as domain
from domain.money import RoundingMode as DomainRoundingMode

ModelType = strawberry.enum(domain.ModelType, name="ModelType")
CreditUnit = strawberry.enum(
    domain.CreditUnit, name="CreditUnit", description="How an operation turns usage into credits (see DOMAIN.md)."
)
RoundingMode = strawberry.enum(DomainRoundingMode, name="RoundingMode")
TransactionKind = strawberry.enum(domain.TransactionKind, name="TransactionKind")
Role = strawberry.enum(domain.Role, name="Role")

JSON = strawberry.scalars.JSON


@strawberry.type(
    description=(
        "One version of a model's pricing. A price change makes a new version; "
        "old usage keeps the version it was billed with."
    )
)
class AIModel:
    id: strawberry.ID
    name: str
    display_name: str
    provider: str
    model_type: ModelType  # type: ignore[valid-type]
    tokens_per_credit: int | None
    input_price_per_million: Decimal
    output_price_per_million: Decimal
    cached_input_price_per_million: Decimal | None
    cache_write_price_per_million: Decimal | None
    cache_write_1h_price_per_million: Decimal | None = strawberry.field(
        description="USD per million tokens written to a 1-hour cache (Anthropic); null bills them at "
        "cacheWritePricePerMillion."
    )
    price_per_image: Decimal | None
    is_default: bool
    is_active: bool
    version: int
    effective_from: datetime

    @classmethod
    def from_domain(cls, version: domain.ModelVersion) -> AIModel:
        return cls(
            id=strawberry.ID(str(version.id)),
            name=version.name,
            display_name=version.display_name,
            provider=version.provider,
            model_type=version.model_type,
            tokens_per_credit=version.tokens_per_credit,
            input_price_per_million=version.input_price_per_million,
            output_price_per_million=version.output_price_per_million,
            cached_input_price_per_million=version.cached_input_price_per_million,
            cache_write_price_per_million=version.cache_write_price_per_million,
            cache_write_1h_price_per_million=version.cache_write_1h_price_per_million,
            price_per_image=version.price_per_image,
            is_default=version.is_default,
            is_active=version.is_active,
            version=version.version,
            effective_from=version.effective_from,
        )


async def _current_model(info: Info, name: str | None) -> AIModel | None:
    if not name:
        return None
    version = (await info.context.catalogue()).current(name, info.context.clock.now())
    return AIModel.from_domain(version) if version else None


@strawberry.type
class OperationConfig:
    operation_type: str
    model_type: ModelType  # type: ignore[valid-type]
    unit: CreditUnit  # type: ignore[valid-type]
    credits_cost: Decimal
    is_active: bool
    default_model_name: strawberry.Private[str | None]

    @strawberry.field
    async def default_model(self, info: Info) -> AIModel | None:
        return await _current_model(info, self.default_model_name)

    @classmethod
    def from_domain(cls, operation: domain.OperationConfig) -> OperationConfig:
        return cls(
            operation_type=operation.operation_type,
            model_type=operation.model_type,
            unit=operation.unit,
            credits_cost=operation.credits_cost,
            is_active=operation.is_active,
            default_model_name=operation.default_model,
        )


@strawberry.type
class BillingSettings:
    rounding_mode: RoundingMode  # type: ignore[valid-type]
    credit_decimal_places: int
    credit_price_usd: Decimal

    @classmethod
    def from_domain(cls, settings: domain.BillingSettings) -> BillingSettings:
        return cls(
            rounding_mode=settings.rounding_mode,
            credit_decimal_places=settings.credit_decimal_places,
            credit_price_usd=settings.credit_price_usd,
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class UsageRecord:
    id: strawberry.ID
    idempotency_key: str
    account_id: strawberry.ID
    operation_type: str
    model_name: str
    tokens_input: int
    tokens_output: int
    tokens_cached_input: int
    tokens_cache_write: int
    tokens_reasoning: int
    images: int
    credits_used: Decimal
    cost_usd_input: Decimal
    cost_usd_output: Decimal
    cost_usd_total: Decimal
    success: bool
    tokens_estimated: bool
    occurred_at: datetime
    recorded_at: datetime
    metadata: JSON | None  # type: ignore[valid-type]
    model_version_id: strawberry.Private[int]
    model_version: strawberry.Private[domain.ModelVersion | None] = None

    @strawberry.field
    async def model(self, info: Info) -> AIModel:
        if self.model_version is not None:
            return AIModel.from_domain(self.model_version)
        version = (await info.context.catalogue()).by_id(self.model_version_id)
        if version is None:  # a version created after this request's snapshot
            info.context._catalogue = None
            version = (await info.context.catalogue()).by_id(self.model_version_id)
        assert version is not None, "usage always references an existing version"
        return AIModel.from_domain(version)

    @classmethod
    def from_domain(cls, record: domain.UsageRecord, model: domain.ModelVersion | None = None) -> UsageRecord:
        counts = record.counts
        return cls(
            id=strawberry.ID(str(record.id)),
            idempotency_key=record.idempotency_key,
            account_id=strawberry.ID(record.account_id),
            operation_type=record.operation_type,
            model_name=record.model_name,
            tokens_input=counts.tokens_input,
            tokens_output=counts.tokens_output,
            tokens_cached_input=counts.tokens_cached_input,
            tokens_cache_write=counts.tokens_cache_write,
            tokens_reasoning=counts.tokens_reasoning,
            images=counts.images,
            credits_used=record.credits_used,
            cost_usd_input=record.cost_usd_input,
            cost_usd_output=record.cost_usd_output,
            cost_usd_total=record.cost_usd_total,
            success=record.success,
            tokens_estimated=record.tokens_estimated,
            occurred_at=record.occurred_at,
            recorded_at=record.recorded_at,
            metadata=record.metadata,
            model_version_id=record.model_version_id,
            model_version=model,
        )


@strawberry.type
class UsageRecordEdge:
    cursor: str
    node: UsageRecord


@strawberry.type
class UsageRecordConnection:
    edges: list[UsageRecordEdge]
    page_info: PageInfo


@strawberry.type
class CreditTransaction:
    id: strawberry.ID
    kind: TransactionKind  # type: ignore[valid-type]
    amount: Decimal
    balance_after: Decimal
    description: str | None
    created_at: datetime
    usage_id: strawberry.Private[int | None]

    @strawberry.field
    async def usage(self, info: Info) -> UsageRecord | None:
        if self.usage_id is None:
            return None
        record = await info.context.usage_loader.load(self.usage_id)
        return UsageRecord.from_domain(record) if record else None

    @classmethod
    def from_domain(cls, entry: domain.LedgerEntry) -> CreditTransaction:
        return cls(
            id=strawberry.ID(str(entry.id)),
            kind=entry.kind,
            amount=entry.amount,
            balance_after=entry.balance_after,
            description=entry.description,
            created_at=entry.created_at,
            usage_id=entry.usage_id,
        )


@strawberry.type
class CreditTransactionEdge:
    cursor: str
    node: CreditTransaction


@strawberry.type
class CreditTransactionConnection:
    edges: list[CreditTransactionEdge]
    page_info: PageInfo


@strawberry.type
class Account:
    id: strawberry.ID
    name: str
    balance: Decimal
    created_at: datetime
    default_text_model_name: strawberry.Private[str | None]
    default_image_model_name: strawberry.Private[str | None]

    @strawberry.field
    async def default_text_model(self, info: Info) -> AIModel | None:
        return await _current_model(info, self.default_text_model_name)

    @strawberry.field
    async def default_image_model(self, info: Info) -> AIModel | None:
        return await _current_model(info, self.default_image_model_name)

    @strawberry.field
    async def transactions(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> CreditTransactionConnection:
        account_id = str(self.id)
        page = await info.context.read(
            lambda uow: uow.ledger.list_for_account(account_id, 50 if first is None else first, after)
        )
        return CreditTransactionConnection(
            edges=[
                CreditTransactionEdge(cursor=c, node=CreditTransaction.from_domain(e))
                for c, e in zip(page.cursors, page.items, strict=True)
            ],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )

    @strawberry.field
    async def usage(
        self,
        info: Info,
        first: int | None = 50,
        after: str | None = None,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> UsageRecordConnection:
        account_id = str(self.id)
        page = await info.context.read(
            lambda uow: uow.usage.list_for_account(account_id, 50 if first is None else first, after, from_, to)
        )
        return UsageRecordConnection(
            edges=[
                UsageRecordEdge(cursor=c, node=UsageRecord.from_domain(r))
                for c, r in zip(page.cursors, page.items, strict=True)
            ],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )

    @classmethod
    def from_domain(cls, account: domain.Account) -> Account:
        return cls(
            id=strawberry.ID(account.id),
            name=account.name,
            balance=account.balance,
            created_at=account.created_at,
            default_text_model_name=account.default_text_model,
            default_image_model_name=account.default_image_model,
        )


@strawberry.type
class AccountEdge:
    cursor: str
    node: Account


@strawberry.type
class AccountConnection:
    edges: list[AccountEdge]
    page_info: PageInfo


@strawberry.type
class ApiKeyInfo:
    id: strawberry.ID
    name: str
    role: Role  # type: ignore[valid-type]
    account_id: strawberry.ID | None
    created_at: datetime
    revoked: bool

    @classmethod
    def from_domain(cls, key: domain.ApiKey) -> ApiKeyInfo:
        return cls(
            id=strawberry.ID(key.id),
            name=key.name,
            role=key.role,
            account_id=strawberry.ID(key.account_id) if key.account_id else None,
            created_at=key.created_at,
            revoked=key.revoked,
        )
