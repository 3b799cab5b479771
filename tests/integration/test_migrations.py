"""One alembic history builds the whole schema on both databases, matching the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

import persistence.tables  # noqa: F401 - registers the tables
from persistence.tables import REPORT_ROLLUP_SUMS
from tests.conftest import Database


def test_upgrade_head_then_autogenerate_finds_no_difference(database: Database) -> None:
    engine = create_engine(database.url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, SQLModel.metadata) == []
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert set(SQLModel.metadata.tables) <= tables


def test_postgresql_updates_the_hot_rows_in_place(database: Database) -> None:
    """The rows every charge updates have room on their page and no indexed column that changes
    (migration 0003), so PostgreSQL can update them without adding index entries."""
    if database.kind != "postgres":
        pytest.skip("a PostgreSQL storage setting")
    engine = create_engine(database.url)
    try:
        with engine.connect() as connection:
            options = dict(connection.execute(text(
                "SELECT relname, reloptions FROM pg_class "
                "WHERE relname IN ('accounts', 'usage_rollups_hourly', 'usage_report_rollups')"
            )).all())
            indexed = {row[0] for row in connection.execute(text(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid IN ('usage_report_rollups'::regclass, "
                "'usage_rollups_hourly'::regclass, 'accounts'::regclass)"
            ))}
    finally:
        engine.dispose()
    assert all(options[table] == ["fillfactor=50"] for table in options) and len(options) == 3
    assert indexed.isdisjoint({*REPORT_ROLLUP_SUMS, "balance", "calls", "credits_used", "tokens_input"})
