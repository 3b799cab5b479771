"""One alembic history builds the whole schema on both databases, matching the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

import persistence.tables  # noqa: F401 - registers the tables
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
