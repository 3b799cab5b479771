"""rollup queue: PostgreSQL charges queue their usage for the rollups instead of updating them

Every charge updated eight shared rollup rows in its own statement: on PostgreSQL those
upserts cost more than the rest of the charge (1,106 charges/s against 2,555/s without them,
pgbench, 32 clients, 2 cores). A charge now inserts its usage's id into usage_rollup_queue,
and one folder at a time moves the queue into the rollups (persistence/rollups.py). Usage
billed before this revision is already in the rollups; the queue starts empty.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_rollup_queue",
        sa.Column("usage_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("usage_id"),
    )


def downgrade() -> None:
    # Fold what is queued first, or the rollups would miss it (persistence.rollups.fold).
    if op.get_bind().dialect.name == "postgresql":
        from persistence.rollups import fold

        fold(op.get_bind())
    op.drop_table("usage_rollup_queue")
