"""The entities of billing: catalogue, accounts, usage and the ledger."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.money import RoundingMode


class ModelType(enum.Enum):
    TEXT = "TEXT"
    IMAGE = "IMAGE"


class CreditUnit(enum.Enum):
    PER_REQUEST = "PER_REQUEST"
    PER_ITEM = "PER_ITEM"
    PER_100_TOKENS = "PER_100_TOKENS"
    PER_1000_TOKENS = "PER_1000_TOKENS"
    MODEL_TOKENS = "MODEL_TOKENS"


class TransactionKind(enum.Enum):
    TOP_UP = "TOP_UP"
    USAGE = "USAGE"
    REFUND = "REFUND"
    ADJUSTMENT = "ADJUSTMENT"
    EXPIRY = "EXPIRY"


class Role(enum.Enum):
    ADMIN = "ADMIN"
    SERVICE = "SERVICE"
    ACCOUNT = "ACCOUNT"


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One immutable price version of a model; `is_default`/`is_active` belong to the model name."""

    id: int
    name: str
    display_name: str
    provider: str
    model_type: ModelType
    tokens_per_credit: int | None
    input_price_per_million: Decimal
    output_price_per_million: Decimal
    cached_input_price_per_million: Decimal | None
    cache_write_price_per_million: Decimal | None
    price_per_image: Decimal | None
    version: int
    effective_from: datetime
    is_default: bool = False
    is_active: bool = True
    # Anthropic prices 1-hour cache writes apart (2x input); None bills them as other writes.
    cache_write_1h_price_per_million: Decimal | None = None


@dataclass(frozen=True, slots=True)
class OperationConfig:
    operation_type: str
    model_type: ModelType
    unit: CreditUnit
    credits_cost: Decimal
    default_model: str | None = None
    is_active: bool = True


@dataclass(frozen=True, slots=True)
class BillingSettings:
    rounding_mode: RoundingMode = RoundingMode.UP
    credit_decimal_places: int = 0
    credit_price_usd: Decimal = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    balance: Decimal
    created_at: datetime
    default_text_model: str | None = None
    default_image_model: str | None = None

    def default_model_for(self, model_type: ModelType) -> str | None:
        return self.default_text_model if model_type is ModelType.TEXT else self.default_image_model


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """The normalised buckets: input includes cache reads and writes, output includes reasoning."""

    tokens_input: int = 0
    tokens_output: int = 0
    tokens_cached_input: int = 0
    tokens_cache_write: int = 0
    tokens_reasoning: int = 0
    images: int = 0
    # The part of tokens_cache_write written to a 1-hour cache (read from provider responses).
    tokens_cache_write_1h: int = 0

    @property
    def tokens_total(self) -> int:
        return self.tokens_input + self.tokens_output


@dataclass(frozen=True, slots=True)
class UsageRecord:
    id: int | None
    idempotency_key: str
    request_hash: str
    account_id: str
    operation_type: str
    model_version_id: int
    model_name: str
    counts: TokenCounts
    credits_used: Decimal
    cost_usd_input: Decimal
    cost_usd_output: Decimal
    success: bool
    tokens_estimated: bool
    occurred_at: datetime
    recorded_at: datetime
    metadata: Any = None

    @property
    def cost_usd_total(self) -> Decimal:
        return self.cost_usd_input + self.cost_usd_output


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int | None
    account_id: str
    kind: TransactionKind
    amount: Decimal
    balance_after: Decimal
    created_at: datetime
    description: str | None = None
    usage_id: int | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    role: Role
    secret_hash: str
    created_at: datetime
    account_id: str | None = None
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the role of their key and, for ACCOUNT keys, the one account they own."""

    role: Role
    account_id: str | None = None
    key_id: str | None = None

    def may_see_account(self, account_id: str) -> bool:
        return self.role is not Role.ACCOUNT or self.account_id == account_id


@dataclass(frozen=True, slots=True)
class Page:
    """A slice of an ordered listing, with one opaque cursor per item."""

    items: list[Any] = field(default_factory=list)
    cursors: list[str] = field(default_factory=list)
    has_next_page: bool = False

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None
