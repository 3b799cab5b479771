"""Every role against every operation, on its own account and on another's."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from domain import services
from domain.model import Role
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import Api, FixedClock

_counter = itertools.count()

OK, DENIED = "ok", "denied"


def _usage_input(account: str) -> dict[str, Any]:
    return {
        "idempotencyKey": f"matrix-{next(_counter)}",
        "accountId": account,
        "operationType": "linker",
        "tokensInput": 100,
        "tokensOutput": 100,
    }


# name -> (document, variables for an account id, who may: {role: outcome on own, outcome on other})
OPERATIONS: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "models": ("{ models { name } }", lambda a: {}),
    "model": ('{ model(name: "gpt-4o") { name } }', lambda a: {}),
    "modelHistory": ('{ modelHistory(name: "gpt-4o") { version } }', lambda a: {}),
    "operations": ("{ operations { operationType } }", lambda a: {}),
    "billingSettings": ("{ billingSettings { roundingMode } }", lambda a: {}),
    "account": (
        "query($a: ID!) { account(id: $a) { id balance usage { edges { node { id } } } "
        "transactions { edges { node { id } } } } }",
        lambda a: {"a": a},
    ),
    "accounts": ("{ accounts { edges { node { id } } } }", lambda a: {}),
    "me": ("{ me { id } }", lambda a: {}),
    "quote": (
        'query($a: ID!) { quote(input: {accountId: $a, operationType: "linker", tokensInput: 10}) { __typename } }',
        lambda a: {"a": a},
    ),
    "apiKeys": ("{ apiKeys { id } }", lambda a: {}),
    "recordUsage": (
        "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { __typename } }",
        lambda a: {"i": _usage_input(a)},
    ),
    "recordUsageBatch": (
        "mutation($i: [RecordUsageInput!]!) { recordUsageBatch(inputs: $i) { __typename } }",
        lambda a: {"i": [_usage_input(a)]},
    ),
    "createAccount": ('mutation { createAccount(input: {name: "x"}) { __typename } }', lambda a: {}),
    "updateAccountSettings": (
        "mutation($a: ID!) { updateAccountSettings(input: {accountId: $a, "
        'defaultTextModel: "gpt-4o"}) { __typename } }',
        lambda a: {"a": a},
    ),
    "addCredits": (
        "mutation($a: ID!, $k: String!) { addCredits(input: {idempotencyKey: $k, accountId: $a, "
        'amount: "1"}) { __typename } }',
        lambda a: {"a": a, "k": f"add-{next(_counter)}"},
    ),
    "upsertModel": (
        'mutation { upsertModel(input: {name: "new-model", provider: "openai", modelType: TEXT, '
        'tokensPerCredit: 100, inputPricePerMillion: "1", outputPricePerMillion: "2"}) { __typename } }',
        lambda a: {},
    ),
    "setModelActive": ('mutation { setModelActive(name: "gpt-4o", active: true) { __typename } }', lambda a: {}),
    "setDefaultModel": ('mutation { setDefaultModel(name: "gpt-4o-mini") { __typename } }', lambda a: {}),
    "upsertOperation": (
        'mutation { upsertOperation(input: {operationType: "new-op", modelType: TEXT, '
        'unit: PER_REQUEST, creditsCost: "1"}) { __typename } }',
        lambda a: {},
    ),
    "updateBillingSettings": (
        "mutation { updateBillingSettings(input: {creditDecimalPlaces: 0}) { __typename } }",
        lambda a: {},
    ),
    "tokenUsageReport": ('query($a: ID) { tokenUsageReport(filter: {from: "2026-01-01T00:00:00Z", '
                         'to: "2026-01-08T00:00:00Z", accountId: $a}) { totals { calls } } }', lambda a: {"a": a}),
    "aiCostAnalysis": ('query($a: ID) { aiCostAnalysis(filter: {from: "2026-01-01T00:00:00Z", '
                       'to: "2026-01-08T00:00:00Z", accountId: $a}) { totals { costUsd } } }', lambda a: {"a": a}),
    "revokeApiKey": ('mutation { revokeApiKey(id: "no-such-key") { __typename } }', lambda a: {}),
    "createApiKey": ('mutation { createApiKey(input: {name: "k", role: SERVICE}) { __typename } }', lambda a: {}),
}

CATALOGUE_READS = {"models", "model", "modelHistory", "operations", "billingSettings"}
BILLING = {"quote", "recordUsage", "recordUsageBatch"}
ACCOUNT_READS = {"account", "tokenUsageReport", "aiCostAnalysis"}


def _expected(role: Role, operation: str, own: bool) -> str:
    if role is Role.ADMIN:
        return DENIED if operation == "me" else OK  # an ADMIN key belongs to no account
    if role is Role.SERVICE:
        return OK if operation in CATALOGUE_READS | BILLING else DENIED
    return OK if (operation in ACCOUNT_READS and own) or operation == "me" else DENIED


def _outcome(body: dict[str, Any]) -> str:
    data = body.get("data")
    if body.get("errors"):
        messages = " ".join(error["message"] for error in body["errors"])
        assert "may" in messages or "Forbidden" in messages, body  # a refusal, not a failure
        return DENIED
    assert data is not None
    (value,) = data.values()
    if value is None:
        return DENIED
    items = value if isinstance(value, list) else [value]
    return DENIED if any(isinstance(i, dict) and i.get("__typename") == "Forbidden" for i in items) else OK


@pytest.fixture
def world(api: Api) -> dict[str, Any]:
    own = api(
        'mutation { createAccount(input: {name: "own", initialCredits: "100"}) '
        "{ ... on AccountPayload { account { id } } } }"
    )["createAccount"]["account"]["id"]
    other = api(
        'mutation { createAccount(input: {name: "other", initialCredits: "100"}) '
        "{ ... on AccountPayload { account { id } } } }"
    )["createAccount"]["account"]["id"]
    return {
        "own": own,
        "other": other,
        "keys": {Role.ADMIN: api.secret, Role.SERVICE: api.key(Role.SERVICE), Role.ACCOUNT: api.key(Role.ACCOUNT, own)},
    }


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_exactly_what_domain_md_grants(api: Api, world: dict[str, Any], role: Role) -> None:
    seen = {}
    for operation, (document, variables) in OPERATIONS.items():
        for own in (True, False):
            account = world["own"] if own else world["other"]
            response = api.post(document, variables(account), secret=world["keys"][role])
            assert response.status_code == 200, response.text
            seen[(operation, own)] = _outcome(response.json())
    expected = {(operation, own): _expected(role, operation, own) for operation in OPERATIONS for own in (True, False)}
    assert seen == expected


def test_an_account_key_learns_nothing_about_other_accounts(api: Api, world: dict[str, Any]) -> None:
    key = world["keys"][Role.ACCOUNT]
    query = "query($a: ID!) { account(id: $a) { id } }"
    other = api.post(query, {"a": world["other"]}, secret=key).json()
    missing = api.post(query, {"a": "no-such-account"}, secret=key).json()
    assert other == missing == {"data": {"account": None}}
    record = "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { __typename ... on Error { message } } }"
    refused_other = api.post(record, {"i": _usage_input(world["other"])}, secret=key).json()
    refused_missing = api.post(record, {"i": _usage_input("no-such-account")}, secret=key).json()
    assert refused_other == refused_missing
    assert api(query, {"a": world["other"]})["account"]["id"] == world["other"]  # it does exist


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "bearer  "])
def test_no_key_or_a_bad_key_is_401_with_a_graphql_error(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = api.client.post("/graphql", json={"query": "{ models { name } }"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.json()["data"] is None


def test_revocation_takes_effect_on_the_next_request(api: Api) -> None:
    created = api(
        'mutation { createApiKey(input: {name: "temp", role: SERVICE}) '
        "{ ... on ApiKeyCreated { secret key { id revoked } } } }"
    )["createApiKey"]
    assert api.post("{ models { name } }", secret=created["secret"]).status_code == 200
    revoked = api(
        "mutation($id: ID!) { revokeApiKey(id: $id) { ... on ApiKeyRevoked { key { revoked } } } }",
        {"id": created["key"]["id"]},
    )
    assert revoked["revokeApiKey"]["key"]["revoked"] is True
    assert api.post("{ models { name } }", secret=created["secret"]).status_code == 401
    listed = {k["id"]: k["revoked"] for k in api("{ apiKeys { id revoked } }")["apiKeys"]}
    assert listed[created["key"]["id"]] is True


def test_a_key_revoked_by_another_process_is_refused_within_the_cache_time(
    seeded: SqlUnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITMETER_KEY_CACHE_SECONDS", "0.3")
    key, secret = services.create_api_key(seeded(), FixedClock(), "elsewhere", Role.SERVICE)
    with TestClient(create_app(seeded)) as client:
        headers = {"Authorization": f"Bearer {secret}"}
        assert client.post("/graphql", json={"query": "{ models { name } }"}, headers=headers).status_code == 200
        services.revoke_api_key(seeded(), key.id)  # not through this server: another worker, say
        time.sleep(0.35)
        assert client.post("/graphql", json={"query": "{ models { name } }"}, headers=headers).status_code == 401


def test_with_the_cache_off_a_revocation_anywhere_counts_at_once(
    seeded: SqlUnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITMETER_KEY_CACHE_SECONDS", "0")
    key, secret = services.create_api_key(seeded(), FixedClock(), "elsewhere", Role.SERVICE)
    with TestClient(create_app(seeded)) as client:
        headers = {"Authorization": f"Bearer {secret}"}
        assert client.post("/graphql", json={"query": "{ models { name } }"}, headers=headers).status_code == 200
        services.revoke_api_key(seeded(), key.id)
        assert client.post("/graphql", json={"query": "{ models { name } }"}, headers=headers).status_code == 401


def test_an_account_key_needs_an_existing_account(api: Api) -> None:
    result = api('mutation { createApiKey(input: {name: "a", role: ACCOUNT, accountId: "missing"}) { __typename } }')[
        "createApiKey"
    ]
    assert result["__typename"] == "NotFoundError"
    result = api('mutation { createApiKey(input: {name: "a", role: ACCOUNT}) { __typename } }')["createApiKey"]
    assert result["__typename"] == "ValidationError"
