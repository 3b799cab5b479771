"""The schema: Query and Mutation assembled from the feature modules, hardened."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection
from strawberry.schema.config import StrawberryConfig

from api import accounts as accounts_api
from api import catalogue as catalogue_api
from api import keys as keys_api
from api import reports as reports_api
from api import usage as usage_api
from api.scalars import SCALARS
from api.types import Account, AccountConnection, AIModel, ApiKeyInfo, BillingSettings, OperationConfig
from api.validation import GraphQLGuard
from domain.errors import BillingError

log = logging.getLogger("creditmeter.api")

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 5000


@strawberry.type
class Query:
    models: list[AIModel] = strawberry.field(resolver=catalogue_api.models)
    model: AIModel | None = strawberry.field(resolver=catalogue_api.model)
    model_history: list[AIModel] = strawberry.field(resolver=catalogue_api.model_history)
    operations: list[OperationConfig] = strawberry.field(resolver=catalogue_api.operations)
    billing_settings: BillingSettings = strawberry.field(resolver=catalogue_api.billing_settings)
    account: Account | None = strawberry.field(resolver=accounts_api.account)
    accounts: AccountConnection = strawberry.field(resolver=accounts_api.accounts)
    me: Account | None = strawberry.field(
        resolver=accounts_api.me, description="The account that the calling key belongs to (ACCOUNT keys)."
    )
    quote: usage_api.QuoteResult = strawberry.field(resolver=usage_api.quote)  # type: ignore[valid-type]
    token_usage_report: reports_api.TokenUsageReport = strawberry.field(resolver=reports_api.token_usage_report)
    ai_cost_analysis: reports_api.AICostAnalysis = strawberry.field(resolver=reports_api.ai_cost_analysis)
    api_keys: list[ApiKeyInfo] = strawberry.field(resolver=keys_api.api_keys)


@strawberry.type
class Mutation:
    record_usage: usage_api.RecordUsageResult = strawberry.mutation(resolver=usage_api.record_usage)  # type: ignore[valid-type]
    record_usage_batch: list[usage_api.RecordUsageResult] = strawberry.mutation(  # type: ignore[valid-type]
        resolver=usage_api.record_usage_batch, description="At most 1000 inputs; each is its own result, in order."
    )
    create_account: accounts_api.AccountResult = strawberry.mutation(resolver=accounts_api.create_account)  # type: ignore[valid-type]
    update_account_settings: accounts_api.AccountResult = strawberry.mutation(  # type: ignore[valid-type]
        resolver=accounts_api.update_account_settings
    )
    add_credits: accounts_api.AddCreditsResult = strawberry.mutation(resolver=accounts_api.add_credits)  # type: ignore[valid-type]
    upsert_model: catalogue_api.ModelResult = strawberry.mutation(  # type: ignore[valid-type]
        resolver=catalogue_api.upsert_model, description="Create a model, or a new price version of an existing one."
    )
    set_model_active: catalogue_api.ModelResult = strawberry.mutation(resolver=catalogue_api.set_model_active)  # type: ignore[valid-type]
    set_default_model: catalogue_api.ModelResult = strawberry.mutation(resolver=catalogue_api.set_default_model)  # type: ignore[valid-type]
    upsert_operation: catalogue_api.OperationResult = strawberry.mutation(resolver=catalogue_api.upsert_operation)  # type: ignore[valid-type]
    update_billing_settings: catalogue_api.BillingSettingsResult = strawberry.mutation(  # type: ignore[valid-type]
        resolver=catalogue_api.update_billing_settings
    )
    create_api_key: keys_api.ApiKeyResult = strawberry.mutation(resolver=keys_api.create_api_key)  # type: ignore[valid-type]
    revoke_api_key: keys_api.RevokeApiKeyResult = strawberry.mutation(resolver=keys_api.revoke_api_key)  # type: ignore[valid-type]


def _is_unexpected(error: GraphQLError) -> bool:
    # Errors without a path come from parsing, validation or variable coercion: the client's.
    original = error.original_error
    return error.path is not None and original is not None and not isinstance(original, BillingError)


class CreditmeterSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: object = None) -> None:
        """Client errors are the client's business; GraphQLGuard logs the server's own."""


def build_schema(*, production: bool = False, max_depth: int = MAX_DEPTH) -> strawberry.Schema:
    # One instance shared by every request: its caches are the point (api/validation.py).
    guard = GraphQLGuard(
        max_tokens=MAX_TOKENS, max_depth=max_depth, max_aliases=MAX_ALIASES, is_unexpected=_is_unexpected
    )
    extensions: list[object] = [lambda: guard]
    if production:
        extensions.append(DisableIntrospection)
    return CreditmeterSchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,  # type: ignore[arg-type]
        config=StrawberryConfig(scalar_map=SCALARS, disable_field_suggestions=production),
    )


schema = build_schema()
