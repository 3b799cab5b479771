"""What an attacker tries first: deep, wide and huge queries, GET mutations, batches,
and anything that might make the server talk about itself."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from domain.model import Role
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import Api


def _errors(response: Any) -> str:
    return " ".join(error["message"] for error in response.json().get("errors", []))


DEEPEST = "{ accounts { edges { node { transactions { edges { node { usage { model { name } } } } } } } } }"


def test_the_deepest_real_query_fits_under_the_depth_limit(api: Api) -> None:
    assert "errors" not in api.post(DEEPEST).json()


def test_the_depth_limit_refuses_deeper_queries() -> None:
    from graphql import parse

    from api.schema import MAX_DEPTH, build_schema

    shallow = build_schema(max_depth=4)
    result = shallow.execute_sync(DEEPEST, context_value=None)
    assert result.errors and "exceeds maximum operation depth of 4" in result.errors[0].message
    assert MAX_DEPTH >= 9 and parse(DEEPEST)  # the real limit leaves room for the schema's deepest path


def test_too_many_aliases_are_refused(api: Api) -> None:
    query = "{ " + " ".join(f"a{n}: billingSettings {{ roundingMode }}" for n in range(31)) + " }"
    assert "aliases" in _errors(api.post(query)).lower()


def test_too_many_tokens_are_refused(api: Api) -> None:
    query = "{ " + " ".join("billingSettings { roundingMode }" for _ in range(1300)) + " }"  # 5,202 tokens
    assert "token" in _errors(api.post(query)).lower()


def test_mutations_over_get_are_refused(api: Api) -> None:
    response = api.client.get(
        "/graphql",
        params={"query": 'mutation { createAccount(input: {name: "x"}) { __typename } }'},
        headers={"Authorization": f"Bearer {api.secret}"},
    )
    assert response.status_code in (400, 405)
    assert (
        "errors" not in api("{ accounts { edges { cursor } } }")
        and api("{ accounts { edges { cursor } } }")["accounts"]["edges"] == []
    )


def test_batched_requests_are_refused(api: Api) -> None:
    response = api.client.post(
        "/graphql",
        json=[{"query": "{ me { id } }"}, {"query": "{ me { id } }"}],
        headers={"Authorization": f"Bearer {api.secret}"},
    )
    assert response.status_code == 400


@pytest.mark.parametrize("where", ["recordUsage metadata", "variables of any query"])
def test_json_nested_deeper_than_the_parser_goes_is_a_bad_request(api: Api, where: str) -> None:
    nested = "[" * 5000 + "]" * 5000
    if where == "recordUsage metadata":
        body = ('{"query":"mutation($i: RecordUsageInput!) { recordUsage(input: $i) { __typename } }",'
                '"variables":{"i":{"idempotencyKey":"deep","accountId":"a","operationType":"content",'
                f'"tokensInput":1,"metadata":{nested}}}}}}}')
    else:
        body = f'{{"query":"{{ me {{ id }} }}","variables":{{"v":{nested}}}}}'
    response = api.client.post("/graphql", content=body.encode(), headers={
        "Authorization": f"Bearer {api.secret}", "Content-Type": "application/json"})
    assert response.status_code == 400 and "parse" in response.text
    get = api.client.get("/graphql", params={"query": "{ me { id } }", "variables": f'{{"v":{nested}}}'},
                         headers={"Authorization": f"Bearer {api.secret}"})
    assert get.status_code == 400


def test_huge_bodies_are_refused_before_they_are_read(api: Api) -> None:
    response = api.client.post(
        "/graphql",
        content=b"x" * (9 * 1024 * 1024),
        headers={"Authorization": f"Bearer {api.secret}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_an_unexpected_failure_is_masked_with_a_request_id(
    seeded: SqlUnitOfWorkFactory, caplog: pytest.LogCaptureFixture, api: Api
) -> None:
    secret = api.key(Role.ADMIN)

    class Broken:
        def __call__(self, *, read_only: bool = False) -> Any:
            if read_only:
                return seeded(read_only=True)  # authentication still works
            raise RuntimeError("connection string postgres://admin:hunter2@db")

    with TestClient(create_app(Broken())) as client, caplog.at_level(logging.ERROR):
        response = client.post(
            "/graphql",
            json={"query": 'mutation { createAccount(input: {name: "x"}) { __typename } }'},
            headers={"Authorization": f"Bearer {secret}"},
        )
    body = response.json()
    assert response.status_code == 200 and "hunter2" not in response.text
    (error,) = body["errors"]
    assert error["message"] == "Unexpected error"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    assert "hunter2" in caplog.text and error["extensions"]["requestId"] in caplog.text


def test_production_mode_turns_off_graphiql_introspection_and_suggestions(
    seeded: SqlUnitOfWorkFactory, api: Api
) -> None:
    with TestClient(create_app(seeded, production=True)) as client:
        headers = {"Authorization": f"Bearer {api.secret}"}
        page = client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code in (401, 404, 405) or "graphiql" not in page.text.lower()
        introspection = client.post("/graphql", json={"query": "{ __schema { types { name } } }"}, headers=headers)
        assert "introspection" in _errors(introspection).lower()
        typo = client.post("/graphql", json={"query": '{ modle(name: "x") { name } }'}, headers=headers)
        assert "Did you mean" not in _errors(typo)
    with TestClient(create_app(seeded)) as client:
        assert "graphiql" in client.get("/graphql", headers={"Accept": "text/html"}).text.lower()
        typo = client.post(
            "/graphql",
            json={"query": '{ modle(name: "x") { name } }'},
            headers={"Authorization": f"Bearer {api.secret}"},
        )
        assert "Did you mean" in _errors(typo)


@pytest.mark.parametrize("name", ["a\u0000b", "\u0000"])
def test_nul_characters_are_refused_on_both_databases(api: Api, name: str) -> None:
    response = api.post("query($id: ID!) { account(id: $id) { id } }", {"id": name})
    assert response.status_code == 400 and "NUL" in _errors(response)
    literal = api.client.post("/graphql", json={"query": '{ account(id: "x\\u0000") { id } }'},
                              headers={"Authorization": f"Bearer {api.secret}"})
    assert literal.status_code == 400
    over_get = api.client.get("/graphql", params={"query": '{ model(name: "a\\u0000") { name } }'},
                              headers={"Authorization": f"Bearer {api.secret}"})
    assert over_get.status_code == 400
