"""The tables. Rows never leave persistence/: repositories map them to domain objects.

Money columns are 64-bit integers of a fixed minor unit (see types.Scaled): credits in
10^-4, dollars in 10^-10. Timestamps are UTC.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from domain.money import CREDIT_COST_PLACES
from persistence.types import BigId, Credits, Scaled, Usd, UtcDateTime


class AccountRow(SQLModel, table=True):
    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="ck_accounts_balance_not_negative"),)

    id: str = Field(sa_type=String(36), primary_key=True)
    name: str = Field(sa_type=String(500))
    balance: Decimal = Field(sa_type=Credits())
    default_text_model: str | None = Field(default=None, sa_type=String(100))
    default_image_model: str | None = Field(default=None, sa_type=String(100))
    created_at: datetime = Field(sa_type=UtcDateTime())


class ModelRow(SQLModel, table=True):
    """A model name and its flags; its prices live in versions."""

    __tablename__ = "models"

    name: str = Field(sa_type=String(100), primary_key=True)
    model_type: str = Field(sa_type=String(10))
    is_active: bool = True
    is_default: bool = False


class ModelVersionRow(SQLModel, table=True):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_model_versions_name_version"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    name: str = Field(sa_type=String(100), foreign_key="models.name")
    version: int
    display_name: str = Field(sa_type=String(500))
    provider: str = Field(sa_type=String(50))
    model_type: str = Field(sa_type=String(10))
    tokens_per_credit: int | None = None
    input_price_per_million: Decimal = Field(sa_type=Usd())
    output_price_per_million: Decimal = Field(sa_type=Usd())
    cached_input_price_per_million: Decimal | None = Field(default=None, sa_type=Usd())
    cache_write_price_per_million: Decimal | None = Field(default=None, sa_type=Usd())
    cache_write_1h_price_per_million: Decimal | None = Field(default=None, sa_type=Usd())
    price_per_image: Decimal | None = Field(default=None, sa_type=Usd())
    effective_from: datetime = Field(sa_type=UtcDateTime())


class OperationRow(SQLModel, table=True):
    __tablename__ = "operations"

    operation_type: str = Field(sa_type=String(64), primary_key=True)
    model_type: str = Field(sa_type=String(10))
    unit: str = Field(sa_type=String(20))
    # A rate, not an amount: finer than credits (e.g. 0.00125 per 1000 tokens), rounded only as charged.
    credits_cost: Decimal = Field(sa_type=Scaled(CREDIT_COST_PLACES))
    default_model: str | None = Field(default=None, sa_type=String(100))
    is_active: bool = True


class BillingSettingsRow(SQLModel, table=True):
    """One row (id 1). `catalogue_generation` moves on every catalogue change, so each
    server process can cache the catalogue and still never bill with a stale price."""

    __tablename__ = "billing_settings"

    id: int = Field(primary_key=True)
    rounding_mode: str = Field(sa_type=String(10))
    credit_decimal_places: int
    credit_price_usd: Decimal = Field(sa_type=Usd())
    catalogue_generation: int = Field(sa_type=BigInteger)


class UsageRow(SQLModel, table=True):
    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_account_occurred", "account_id", "occurred_at", "id"),
        # (occurred_at, id): the CSV export's order, read straight off the index.
        Index("ix_usage_records_occurred", "occurred_at", "id"),
        # Anomalies: a version's calls from the most expensive down, the range checked in the index;
        # the same within one account.
        Index("ix_usage_records_model_cost", "model_version_id", "cost_usd_total", "occurred_at"),
        Index("ix_usage_records_account_model_cost", "account_id", "model_version_id", "cost_usd_total",
              "occurred_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    idempotency_key: str = Field(sa_type=String(200), unique=True)
    request_hash: str = Field(sa_type=String(64))
    account_id: str = Field(sa_type=String(36), foreign_key="accounts.id")
    operation_type: str = Field(sa_type=String(64))
    model_version_id: int = Field(sa_type=BigInteger, foreign_key="model_versions.id")
    model_name: str = Field(sa_type=String(100))
    tokens_input: int
    tokens_output: int
    tokens_cached_input: int
    tokens_cache_write: int
    tokens_reasoning: int
    images: int
    credits_used: Decimal = Field(sa_type=Credits())
    cost_usd_input: Decimal = Field(sa_type=Usd())
    cost_usd_output: Decimal = Field(sa_type=Usd())
    cost_usd_total: Decimal = Field(sa_type=Usd())
    success: bool
    tokens_estimated: bool
    occurred_at: datetime = Field(sa_type=UtcDateTime())
    recorded_at: datetime = Field(sa_type=UtcDateTime())
    usage_metadata: Any = Field(default=None, sa_column=Column("metadata", JSON, nullable=True))


class TransactionRow(SQLModel, table=True):
    __tablename__ = "credit_transactions"
    __table_args__ = (Index("ix_credit_transactions_account_id", "account_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    account_id: str = Field(sa_type=String(36), foreign_key="accounts.id")
    kind: str = Field(sa_type=String(12))
    amount: Decimal = Field(sa_type=Credits())
    balance_after: Decimal = Field(sa_type=Credits())
    description: str | None = Field(default=None, sa_type=String(500))
    usage_id: int | None = Field(default=None, sa_type=BigInteger, foreign_key="usage_records.id", unique=True)
    idempotency_key: str | None = Field(default=None, sa_type=String(200), unique=True)
    request_hash: str | None = Field(default=None, sa_type=String(64))
    created_at: datetime = Field(sa_type=UtcDateTime())


class ApiKeyRow(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(sa_type=String(36), primary_key=True)
    name: str = Field(sa_type=String(500))
    role: str = Field(sa_type=String(10))
    account_id: str | None = Field(default=None, sa_type=String(36), foreign_key="accounts.id")
    secret_hash: str = Field(sa_type=String(64), unique=True)
    created_at: datetime = Field(sa_type=UtcDateTime())
    revoked: bool = False


class HourlyRollupRow(SQLModel, table=True):
    """Usage folded per account x UTC hour x model version x operation x success."""

    __tablename__ = "usage_rollups_hourly"
    # Keyed (and on SQLite clustered) account first: a report on one account reads runs of its hours.
    __table_args__ = {"sqlite_with_rowid": False}

    account_id: str = Field(sa_type=String(36), primary_key=True)
    bucket_start: datetime = Field(sa_type=UtcDateTime(), primary_key=True)
    model_version_id: int = Field(sa_type=BigInteger, primary_key=True)
    operation_type: str = Field(sa_type=String(64), primary_key=True)
    success: bool = Field(primary_key=True)
    calls: int = Field(sa_type=BigInteger)
    tokens_input: int = Field(sa_type=BigInteger)
    tokens_output: int = Field(sa_type=BigInteger)
    tokens_cached_input: int = Field(sa_type=BigInteger)
    tokens_cache_write: int = Field(sa_type=BigInteger)
    tokens_reasoning: int = Field(sa_type=BigInteger)
    images: int = Field(sa_type=BigInteger)
    credits_used: Decimal = Field(sa_type=Credits())
    cost_usd_input: Decimal = Field(sa_type=Usd())
    cost_usd_output: Decimal = Field(sa_type=Usd())


REPORT_ROLLUP_KEY = ("slice", "scope", "bucket_epoch", "shard", "account_id", "model_version_id", "operation_type")
REPORT_ROLLUP_SUMS = ("calls", "successful_calls", "tokens_input", "tokens_output", "credits_used", "cost_usd_input",
                      "cost_usd_output")


class ReportRollupRow(SQLModel, table=True):
    """Usage folded into the slices the reports read (persistence/rollups.py says which).

    One table, so one multi-row upsert per usage keeps every slice current. Columns a
    slice does not group by hold '' or 0. Buckets are UTC Unix seconds.
    """

    __tablename__ = "usage_report_rollups"
    # Reports read runs of consecutive buckets of one slice: SQLite keeps the rows in key order.
    # On PostgreSQL the key carries no sums, so that a charge updates its rows in place without
    # touching the index (migration 0003, which also leaves room on each page for that).
    __table_args__ = (
        PrimaryKeyConstraint(*REPORT_ROLLUP_KEY),
        {"sqlite_with_rowid": False},
    )

    slice: int = Field(sa_type=SmallInteger)
    scope: str = Field(sa_type=String(36))
    bucket_epoch: int = Field(sa_type=BigInteger)
    shard: int = Field(sa_type=SmallInteger)
    account_id: str = Field(sa_type=String(36))
    model_version_id: int = Field(sa_type=BigInteger)
    operation_type: str = Field(sa_type=String(64))
    calls: int = Field(sa_type=BigInteger)
    successful_calls: int = Field(sa_type=BigInteger)
    tokens_input: int = Field(sa_type=BigInteger)
    tokens_output: int = Field(sa_type=BigInteger)
    credits_used: Decimal = Field(sa_type=Credits())
    cost_usd_input: Decimal = Field(sa_type=Usd())
    cost_usd_output: Decimal = Field(sa_type=Usd())


class RollupQueueRow(SQLModel, table=True):
    """PostgreSQL: usages billed but not yet folded into the two rollup tables.

    A charge adds its usage's id here rather than updating eight rollup rows that every
    charge shares; persistence/rollups.py folds the queue into the rollups in the background
    and before every report, so reports are exact all the same. No index but the key, no
    foreign key: a charge pays for one small insert. SQLite folds in the charge and leaves
    this table empty."""

    __tablename__ = "usage_rollup_queue"

    usage_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
