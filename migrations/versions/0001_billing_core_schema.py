"""billing core schema

Revision ID: 0001
Revises: 
Create Date: 2026-12-03 16:32:40.012753
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('default_text_model', sa.String(length=100), nullable=True),
    sa.Column('default_image_model', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('balance >= 0', name='ck_accounts_balance_not_negative'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('billing_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rounding_mode', sa.String(length=10), nullable=False),
    sa.Column('credit_decimal_places', sa.Integer(), nullable=False),
    sa.Column('credit_price_usd', sa.BigInteger(), nullable=False),
    sa.Column('catalogue_generation', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('models',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('model_type', sa.String(length=10), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('operations',
    sa.Column('operation_type', sa.String(length=64), nullable=False),
    sa.Column('model_type', sa.String(length=10), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('credits_cost', sa.BigInteger(), nullable=False),
    sa.Column('default_model', sa.String(length=100), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('operation_type')
    )
    op.create_table('usage_rollups_hourly',
    sa.Column('bucket_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('model_version_id', sa.BigInteger(), nullable=False),
    sa.Column('operation_type', sa.String(length=64), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.Column('calls', sa.BigInteger(), nullable=False),
    sa.Column('tokens_input', sa.BigInteger(), nullable=False),
    sa.Column('tokens_output', sa.BigInteger(), nullable=False),
    sa.Column('tokens_cached_input', sa.BigInteger(), nullable=False),
    sa.Column('tokens_cache_write', sa.BigInteger(), nullable=False),
    sa.Column('tokens_reasoning', sa.BigInteger(), nullable=False),
    sa.Column('images', sa.BigInteger(), nullable=False),
    sa.Column('credits_used', sa.BigInteger(), nullable=False),
    sa.Column('cost_usd_input', sa.BigInteger(), nullable=False),
    sa.Column('cost_usd_output', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('bucket_start', 'account_id', 'model_version_id', 'operation_type', 'success')
    )
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=True),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('secret_hash')
    )
    op.create_table('model_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=500), nullable=False),
    sa.Column('provider', sa.String(length=50), nullable=False),
    sa.Column('model_type', sa.String(length=10), nullable=False),
    sa.Column('tokens_per_credit', sa.Integer(), nullable=True),
    sa.Column('input_price_per_million', sa.BigInteger(), nullable=False),
    sa.Column('output_price_per_million', sa.BigInteger(), nullable=False),
    sa.Column('cached_input_price_per_million', sa.BigInteger(), nullable=True),
    sa.Column('cache_write_price_per_million', sa.BigInteger(), nullable=True),
    sa.Column('cache_write_1h_price_per_million', sa.BigInteger(), nullable=True),
    sa.Column('price_per_image', sa.BigInteger(), nullable=True),
    sa.Column('effective_from', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['name'], ['models.name'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', 'version', name='uq_model_versions_name_version')
    )
    op.create_table('usage_records',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('operation_type', sa.String(length=64), nullable=False),
    sa.Column('model_version_id', sa.BigInteger(), nullable=False),
    sa.Column('model_name', sa.String(length=100), nullable=False),
    sa.Column('tokens_input', sa.Integer(), nullable=False),
    sa.Column('tokens_output', sa.Integer(), nullable=False),
    sa.Column('tokens_cached_input', sa.Integer(), nullable=False),
    sa.Column('tokens_cache_write', sa.Integer(), nullable=False),
    sa.Column('tokens_reasoning', sa.Integer(), nullable=False),
    sa.Column('images', sa.Integer(), nullable=False),
    sa.Column('credits_used', sa.BigInteger(), nullable=False),
    sa.Column('cost_usd_input', sa.BigInteger(), nullable=False),
    sa.Column('cost_usd_output', sa.BigInteger(), nullable=False),
    sa.Column('cost_usd_total', sa.BigInteger(), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.Column('tokens_estimated', sa.Boolean(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.create_index('ix_usage_records_account_occurred', ['account_id', 'occurred_at', 'id'], unique=False)
        batch_op.create_index('ix_usage_records_model_occurred', ['model_version_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_usage_records_occurred', ['occurred_at'], unique=False)

    op.create_table('credit_transactions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('usage_id', sa.BigInteger(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['usage_id'], ['usage_records.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key'),
    sa.UniqueConstraint('usage_id')
    )
    with op.batch_alter_table('credit_transactions', schema=None) as batch_op:
        batch_op.create_index('ix_credit_transactions_account_id', ['account_id', 'id'], unique=False)


    # The one settings row exists from the start: DOMAIN.md's defaults.
    op.execute(
        "INSERT INTO billing_settings (id, rounding_mode, credit_decimal_places, credit_price_usd, "
        "catalogue_generation) VALUES (1, 'UP', 0, 100000000, 1)"
    )

def downgrade() -> None:
    with op.batch_alter_table('credit_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_transactions_account_id')

    op.drop_table('credit_transactions')
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.drop_index('ix_usage_records_occurred')
        batch_op.drop_index('ix_usage_records_model_occurred')
        batch_op.drop_index('ix_usage_records_account_occurred')

    op.drop_table('usage_records')
    op.drop_table('model_versions')
    op.drop_table('api_keys')
    op.drop_table('usage_rollups_hourly')
    op.drop_table('operations')
    op.drop_table('models')
    op.drop_table('billing_settings')
    op.drop_table('accounts')
