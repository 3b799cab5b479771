"""report rollups: the sliced rollup table, hourly rollups keyed by account, report indexes

usage_report_rollups holds the slices the reports read (persistence/rollups.py);
usage_rollups_hourly is keyed account first; usage_records gets the indexes the cost
anomalies and the CSV export walk. Nothing had shipped before this revision, so there is
no usage to fold in.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_report_rollups",
        sa.Column("slice", sa.SmallInteger(), nullable=False),
        sa.Column("scope", sa.String(length=36), nullable=False),
        sa.Column("bucket_epoch", sa.BigInteger(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("model_version_id", sa.BigInteger(), nullable=False),
        sa.Column("operation_type", sa.String(length=64), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("successful_calls", sa.BigInteger(), nullable=False),
        sa.Column("tokens_input", sa.BigInteger(), nullable=False),
        sa.Column("tokens_output", sa.BigInteger(), nullable=False),
        sa.Column("credits_used", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd_input", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd_output", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "slice", "scope", "bucket_epoch", "shard", "account_id", "model_version_id", "operation_type",
            postgresql_include=["calls", "successful_calls", "tokens_input", "tokens_output", "credits_used",
                                "cost_usd_input", "cost_usd_output"],
        ),
        sqlite_with_rowid=False,
    )
    _key_hourly_rollups(("account_id", "bucket_start", "model_version_id", "operation_type", "success"),
                        clustered=True)
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_records_occurred")
        batch_op.create_index("ix_usage_records_occurred", ["occurred_at", "id"], unique=False)
        batch_op.drop_index("ix_usage_records_model_occurred")
        batch_op.create_index(
            "ix_usage_records_model_cost", ["model_version_id", "cost_usd_total", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_usage_records_account_model_cost",
            ["account_id", "model_version_id", "cost_usd_total", "occurred_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_records_occurred")
        batch_op.create_index("ix_usage_records_occurred", ["occurred_at"], unique=False)
        batch_op.drop_index("ix_usage_records_account_model_cost")
        batch_op.drop_index("ix_usage_records_model_cost")
        batch_op.create_index("ix_usage_records_model_occurred", ["model_version_id", "occurred_at"], unique=False)
    op.drop_table("usage_report_rollups")
    _key_hourly_rollups(("bucket_start", "account_id", "model_version_id", "operation_type", "success"),
                        clustered=False)


def _key_hourly_rollups(columns: tuple[str, ...], *, clustered: bool) -> None:
    """usage_rollups_hourly's primary key in this column order (on SQLite, a WITHOUT ROWID table when clustered)."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("usage_rollups_hourly_pkey", "usage_rollups_hourly", type_="primary")
        op.create_primary_key("usage_rollups_hourly_pkey", "usage_rollups_hourly", list(columns))
        return
    with op.batch_alter_table("usage_rollups_hourly", recreate="always",
                              table_kwargs={"sqlite_with_rowid": not clustered}) as batch_op:
        batch_op.create_primary_key("pk_usage_rollups_hourly", list(columns))
