"""Billing calls: recordUsage (the hot path), its batch form, and quotes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from api.context import Context, Info
from api.errors import (
    Forbidden,
    IdempotencyConflict,
    InsufficientCredits,
    ModelUnavailable,
    NotFoundError,
    ValidationError,
    forbidden,
    to_payload,
)
from api.inputs import flat_input
from api.permissions import may_bill
from api.types import JSON, AIModel, UsageRecord
from domain import providers, services
from domain.errors import BillingError, InvalidInput
from domain.model import TokenCounts

MAX_BATCH = 1000
PROVIDER_DESCRIPTION = (
    "Names the providerResponse's shape when it cannot be told from the JSON: " + ", ".join(providers.PROVIDERS) + "."
)


@flat_input
@strawberry.input
class RecordUsageInput:
    idempotency_key: str = strawberry.field(
        description="Unique per usage event. Replaying the same key with the same input returns the first "
        "result and charges nothing more."
    )
    account_id: strawberry.ID
    operation_type: str
    model_name: str | None = strawberry.field(default=None, description="Task-level model override (highest priority).")
    tokens_input: int | None = None
    tokens_output: int | None = None
    tokens_cached_input: int | None = None
    tokens_cache_write: int | None = None
    tokens_reasoning: int | None = None
    images: int | None = None
    provider_response: JSON | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description="A raw provider response (OpenAI, Anthropic, Gemini, Runware); token counts are read from it.",
    )
    success: bool | None = True
    occurred_at: datetime | None = None
    metadata: JSON | None = None  # type: ignore[valid-type]
    provider: str | None = strawberry.field(default=None, description=PROVIDER_DESCRIPTION)
    tokens_estimated: bool | None = strawberry.field(
        default=False, description="The counts are the product's estimate, not the provider's."
    )

    def to_domain(self) -> services.UsageRequest:
        explicit = {
            "tokens_input": self.tokens_input,
            "tokens_output": self.tokens_output,
            "tokens_cached_input": self.tokens_cached_input,
            "tokens_cache_write": self.tokens_cache_write,
            "tokens_reasoning": self.tokens_reasoning,
            "images": self.images,
        }
        extracted = None
        if self.provider_response is not None:
            extracted = providers.extract_usage(self.provider_response, self.provider)
        return services.UsageRequest(
            idempotency_key=self.idempotency_key,
            account_id=str(self.account_id),
            operation_type=self.operation_type,
            counts=providers.merge_counts(explicit, extracted.counts if extracted else None),
            model_name=self.model_name or None,
            success=self.success is not False,
            occurred_at=self.occurred_at,
            metadata=self.metadata,
            tokens_estimated=bool(self.tokens_estimated),
            stated_cost_usd=extracted.stated_cost_usd if extracted else None,
            response_model=extracted.model if extracted else None,
            response_digest=providers.response_digest(self.provider_response) if extracted else None,
        )


@strawberry.type
class UsageRecorded:
    usage: UsageRecord
    balance: Decimal
    replayed: bool


RecordUsageResult = Annotated[
    UsageRecorded
    | InsufficientCredits
    | NotFoundError
    | ModelUnavailable
    | ValidationError
    | IdempotencyConflict
    | Forbidden,
    strawberry.union("RecordUsageResult"),
]


def _record(context: Context, input: RecordUsageInput) -> UsageRecorded | BillingError:
    """Runs where Context.on_loop puts it (the event loop, or a worker thread): translate, bill, translate back."""
    try:
        outcome = services.record_usage(context.uow(), context.clock, input.to_domain())
    except BillingError as error:
        return error
    return UsageRecorded(
        usage=UsageRecord.from_domain(outcome.usage, outcome.model), balance=outcome.balance, replayed=outcome.replayed
    )


async def record_one(context: Context, input: RecordUsageInput) -> RecordUsageResult:  # type: ignore[valid-type]
    """recordUsage itself: the resolver's and the GraphQL fast path's (api/fastpath.py)."""
    if not may_bill(context.caller):
        return forbidden()
    result = await context.on_loop(_record, context, input)
    return to_payload(result) if isinstance(result, BillingError) else result  # type: ignore[return-value]


async def record_usage(info: Info, input: RecordUsageInput) -> RecordUsageResult:  # type: ignore[valid-type]
    return await record_one(info.context, input)


async def record_usage_batch(info: Info, inputs: list[RecordUsageInput]) -> list[RecordUsageResult]:  # type: ignore[valid-type]
    """At most 1000 inputs; each is its own result, in order."""
    if not may_bill(info.context.caller):
        return [forbidden() for _ in inputs]
    if len(inputs) > MAX_BATCH:
        too_many = InvalidInput(f"a batch holds at most {MAX_BATCH} inputs, got {len(inputs)}", field="inputs")
        return [to_payload(too_many) for _ in inputs]  # type: ignore[misc]

    def record_all() -> list[UsageRecorded | BillingError]:
        return [_record(info.context, item) for item in inputs]

    results = await info.context.on_loop(record_all)
    return [to_payload(r) if isinstance(r, BillingError) else r for r in results]  # type: ignore[misc]


@flat_input
@strawberry.input
class QuoteInput:
    account_id: strawberry.ID
    operation_type: str
    model_name: str | None = None
    tokens_input: int | None = 0
    tokens_output: int | None = 0
    tokens_cached_input: int | None = 0
    tokens_cache_write: int | None = 0
    images: int | None = 0
    provider_response: JSON | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description="A raw provider response to price exactly as recordUsage would bill it; counts left at 0 "
        "are read from it.",
    )
    provider: str | None = strawberry.field(default=None, description=PROVIDER_DESCRIPTION)

    def usage(self) -> tuple[TokenCounts, providers.ProviderUsage | None]:
        """The counts to price and what the response said. Raises InvalidInput."""
        # The contract defaults every count to 0, so with a response a 0 means "not given".
        explicit = {
            "tokens_input": self.tokens_input or None,
            "tokens_output": self.tokens_output or None,
            "tokens_cached_input": self.tokens_cached_input or None,
            "tokens_cache_write": self.tokens_cache_write or None,
            "images": self.images or None,
        }
        if self.provider_response is None:
            return providers.merge_counts(explicit, None), None
        extracted = providers.extract_usage(self.provider_response, self.provider)
        return providers.merge_counts(explicit, extracted.counts), extracted


@strawberry.type
class Quote:
    model: AIModel
    credits_used: Decimal
    cost_usd_input: Decimal
    cost_usd_output: Decimal
    cost_usd_total: Decimal
    balance_after: Decimal
    affordable: bool


QuoteResult = Annotated[
    Quote | NotFoundError | ModelUnavailable | ValidationError | Forbidden, strawberry.union("QuoteResult")
]


def _quote(info: Info, input: QuoteInput) -> services.QuoteOutcome:
    """Runs on a worker thread: reading a long stream is work too."""
    counts, extracted = input.usage()
    return services.quote(
        info.context.uow(read_only=True),
        info.context.clock,
        str(input.account_id),
        input.operation_type,
        counts,
        input.model_name or None,
        stated_cost_usd=extracted.stated_cost_usd if extracted else None,
        response_model=extracted.model if extracted else None,
    )


async def quote(info: Info, input: QuoteInput) -> QuoteResult:  # type: ignore[valid-type]
    if not may_bill(info.context.caller):
        return forbidden()
    try:
        outcome = await info.context.run(_quote, info, input)
    except BillingError as error:
        return to_payload(error)  # type: ignore[return-value]
    return Quote(
        model=AIModel.from_domain(outcome.model),
        credits_used=outcome.credits,
        cost_usd_input=outcome.cost.input,
        cost_usd_output=outcome.cost.output,
        cost_usd_total=outcome.cost.total,
        balance_after=outcome.balance_after,
        affordable=outcome.affordable,
    )
