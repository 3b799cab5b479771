"""schemathesis against the live ASGI app with an ADMIN key, positive and negative inputs.

No input may make the server fail: every response is below 500 and no error is the masked
"Unexpected error". Afterwards the books still balance. `make fuzz` runs it longer
(CREDITMETER_FUZZ_EXAMPLES) and on PostgreSQL too (CREDITMETER_FUZZ_DB=postgres).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode
from schemathesis.graphql import nodes
from sqlalchemy import func, select
from starlette.testclient import TestClient

from api.app import create_app
from api.seed import seed
from domain import services
from domain.model import Role
from persistence.engine import make_engine
from persistence.repositories import accounts, transactions
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import FixedClock, _reset_postgres

EXAMPLES = int(os.environ.get("CREDITMETER_FUZZ_EXAMPLES", "12"))
DATABASE = os.environ.get("CREDITMETER_FUZZ_DB", "sqlite")

_decimal_text = st.one_of(
    st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["1e999", "NaN", "-0.0.1", "9" * 40, "", " ", "0.00001", "-1", "Infinity"]),
    st.text(max_size=25),
)
schemathesis.graphql.scalar("Decimal", _decimal_text.map(nodes.String))
schemathesis.graphql.scalar(
    "DateTime",
    st.one_of(
        st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
            lambda d: d.isoformat()
        ),
        st.sampled_from(["2026-01-01T00:00:00", "not a date", "2026-13-45T99:00:00Z", "9999-12-31T23:59:59+14:00"]),
    ).map(nodes.String),
)
schemathesis.graphql.scalar(
    "JSON",
    st.one_of(
        st.text(max_size=40).map(nodes.String),
        st.integers().map(nodes.Int),
        st.booleans().map(nodes.Boolean),
        st.just(nodes.Null),
    ),
)


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    if DATABASE == "postgres":
        url = request.getfixturevalue("_postgres_database")
        _reset_postgres(url)
    else:
        path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        url = f"sqlite:///{path}"
    factory = SqlUnitOfWorkFactory(make_engine(url))
    seed(factory, FixedClock(), bootstrap_admin=False)
    _, secret = services.create_api_key(factory(), FixedClock(), "fuzz admin", Role.ADMIN)
    for name in ("fuzz a", "fuzz b"):
        services.create_account(factory(), FixedClock(), name, Decimal(1000))
    app = create_app(factory)
    with TestClient(app):
        yield {"app": app, "factory": factory, "headers": {"Authorization": f"Bearer {secret}"}}
    factory.engine.dispose()


# The operations come from the exported schema.graphql (a test keeps it equal to the code).
SCHEMA = schemathesis.graphql.from_path(str(Path(__file__).resolve().parents[2] / "schema.graphql"))
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_input_makes_the_server_fail(fuzz_world: dict[str, Any], label: str, mode: GenerationMode) -> None:
    client = TestClient(fuzz_world["app"])

    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(st.data())
    def examples(data: st.DataObject) -> None:
        case = data.draw(OPERATIONS[label].as_strategy(generation_mode=mode))
        response = client.post("/graphql", json={"query": case.body}, headers=fuzz_world["headers"])
        assert response.status_code < 500, response.text
        body = response.json()
        codes = [(error.get("extensions") or {}).get("code") for error in body.get("errors") or []]
        assert "INTERNAL_SERVER_ERROR" not in codes, (case.body, body)
        for leak in ("Traceback", "sqlalchemy", "psycopg", "SELECT ", "INSERT "):
            assert leak not in response.text, (case.body, response.text)

    examples()


def test_the_books_still_balance_after_fuzzing(fuzz_world: dict[str, Any]) -> None:
    with fuzz_world["factory"]() as uow:
        balances = uow.connection.execute(select(func.sum(accounts.c.balance))).scalar_one()
        ledger = uow.connection.execute(select(func.sum(transactions.c.amount))).scalar_one()
        negative = uow.connection.execute(select(func.count()).where(accounts.c.balance < Decimal(0))).scalar_one()
    assert balances == ledger and negative == 0
