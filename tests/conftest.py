"""Shared fixtures: a migrated, seeded database on SQLite and on PostgreSQL.

PostgreSQL comes from CREDITMETER_TEST_POSTGRES_URL (default: the server at 127.0.0.1:5432,
database `test`). Each test process makes its own database there, so runs never collide.
Where no PostgreSQL answers, its tests are skipped loudly; under CI=true they fail instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel
from starlette.testclient import TestClient

from api.app import create_app
from api.seed import seed
from domain import services
from domain.model import Role
from persistence.engine import make_engine, normalise_url
from persistence.migrate import upgrade
from persistence.unit_of_work import SqlUnitOfWorkFactory

POSTGRES_URL = normalise_url(
    os.environ.get("CREDITMETER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_postgres_problem: str | None = None


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2026, 6, 15, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


def _postgres_reachable() -> str | None:
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        return None
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    finally:
        engine.dispose()


def pytest_configure(config: pytest.Config) -> None:
    global _postgres_problem
    _postgres_problem = _postgres_reachable()
    if _postgres_problem and IN_CI:
        raise pytest.UsageError(
            f"CI=true but PostgreSQL at {POSTGRES_URL} is unreachable ({_postgres_problem}); "
            "the PostgreSQL tests may not be skipped in CI"
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    if _postgres_problem:
        return [
            f"!!! PostgreSQL UNREACHABLE at {POSTGRES_URL}: {_postgres_problem}",
            "!!! every PostgreSQL test will be SKIPPED (set CREDITMETER_TEST_POSTGRES_URL)",
        ]
    return [f"PostgreSQL tests run against {POSTGRES_URL}"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _postgres_problem:
        terminalreporter.write_sep("!", "PostgreSQL tests were SKIPPED: no server answered", red=True)


@dataclass
class Database:
    kind: str
    url: str


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_database() -> Iterator[str]:
    if _postgres_problem:
        pytest.skip(f"PostgreSQL unreachable: {_postgres_problem}")
    name = f"creditmeter_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        connection.execute(
            text(
                "INSERT INTO billing_settings (id, rounding_mode, credit_decimal_places, credit_price_usd, "
                "catalogue_generation) VALUES (1, 'UP', 0, 100000000, 1)"
            )
        )
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """An empty, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "creditmeter.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        return Database("sqlite", f"sqlite:///{path}")
    url = request.getfixturevalue("_postgres_database")
    _reset_postgres(url)
    return Database("postgres", url)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def uow_factory(database: Database) -> Iterator[SqlUnitOfWorkFactory]:
    factory = SqlUnitOfWorkFactory(make_engine(database.url))
    yield factory
    factory.engine.dispose()


@pytest.fixture
def seeded(uow_factory: SqlUnitOfWorkFactory, clock: FixedClock) -> SqlUnitOfWorkFactory:
    seed(uow_factory, clock, bootstrap_admin=False)
    return uow_factory


@dataclass
class Api:
    """A test client with a key, and a helper that posts GraphQL and returns `data`."""

    client: TestClient
    secret: str

    def post(self, query: str, variables: dict[str, Any] | None = None, *, secret: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {secret or self.secret}"}
        return self.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    def __call__(self, query: str, variables: dict[str, Any] | None = None, *, secret: str | None = None) -> Any:
        response = self.post(query, variables, secret=secret)
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body["errors"]
        return body["data"]

    def key(self, role: Role, account_id: str | None = None) -> str:
        _, secret = services.create_api_key(self.factory(), FixedClock(), f"{role.value} key", role, account_id)
        return secret

    factory: Any = None


@pytest.fixture
def api(seeded: SqlUnitOfWorkFactory) -> Iterator[Api]:
    _, secret = services.create_api_key(seeded(), FixedClock(), "test admin", Role.ADMIN)
    with TestClient(create_app(seeded)) as client:
        yield Api(client, secret, seeded)
