"""The recordUsage fast path answers exactly what strawberry answers, and bills once.

Two apps share one database: `fast` has the fast path, `slow` sends everything to strawberry.
The same request goes to both; a replayed key gives both the same stored result, so most
answers are compared byte for byte. While the fast app answers a request its strawberry
cannot execute anything, so a dead hook fails these tests.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from api import fastpath
from api.app import create_app
from api.schema import CreditmeterSchema
from domain import services
from domain.model import Role
from persistence.engine import make_engine
from persistence.repositories import usage as usage_table
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import Database, FixedClock

_keys = itertools.count()

AI_MODEL = (
    "id name displayName provider modelType tokensPerCredit inputPricePerMillion outputPricePerMillion "
    "cachedInputPricePerMillion cacheWritePricePerMillion cacheWrite1hPricePerMillion pricePerImage isDefault "
    "isActive version effectiveFrom"
)
USAGE_RECORD = (
    "id idempotencyKey accountId operationType modelName tokensInput tokensOutput tokensCachedInput "
    "tokensCacheWrite tokensReasoning images creditsUsed costUsdInput costUsdOutput costUsdTotal success "
    f"tokensEstimated occurredAt recordedAt metadata model {{ {AI_MODEL} }}"
)
EVERY_ERROR = (
    "... on InsufficientCredits { code message required balance } ... on NotFoundError { code message } "
    "... on ModelUnavailable { code message modelName } ... on ValidationError { code message field } "
    "... on IdempotencyConflict { code message idempotencyKey } ... on Forbidden { code message }"
)
BENCH = (
    "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { __typename "
    "... on UsageRecorded { balance usage { id creditsUsed costUsdTotal } } ... on Error { code } } }"
)

# Shapes the fast path answers.
ELIGIBLE = {
    "bench": BENCH,
    "readme": (
        "mutation($input: RecordUsageInput!) { recordUsage(input: $input) { __typename "
        "... on UsageRecorded { balance replayed usage { modelName creditsUsed costUsdInput costUsdOutput "
        "costUsdTotal model { name version } } } ... on InsufficientCredits { required balance } "
        "... on Error { code message } } }"
    ),
    "every field": (
        "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { __typename "
        f"... on UsageRecorded {{ __typename balance replayed usage {{ __typename {USAGE_RECORD} }} }} "
        f"{EVERY_ERROR} }} }}"
    ),
    "aliases": (
        "mutation Bill($i: RecordUsageInput!) { billed: recordUsage(input: $i) { kind: __typename "
        "... on UsageRecorded { left: balance again: replayed call: usage { key: idempotencyKey spent: creditsUsed "
        "version: model { n: name v: version } } } ... on Error { errorCode: code } } }"
    ),
    "only the typename": "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { __typename } }",
    "the Error interface only": (
        "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { ... on Error { __typename code message } } }"
    ),
    "merged fields": (
        "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { ... on UsageRecorded { usage { id } balance } "
        "... on UsageRecorded { usage { creditsUsed model { name } } usage { id model { version } } } "
        "... { __typename } ... on RecordUsageResult { __typename } } }"
    ),
    "named fragments": (
        "mutation Bill($i: RecordUsageInput!) { recordUsage(input: $i) { ...Result } } "
        "fragment Result on RecordUsageResult { __typename ...Billed ...Failed } "
        "fragment Billed on UsageRecorded { balance usage { ...Usage } } "
        "fragment Usage on UsageRecord { id metadata occurredAt model { effectiveFrom } } "
        "fragment Failed on Error { code message }"
    ),
    "a default value": (
        'mutation($i: RecordUsageInput! = {idempotencyKey: "unused", accountId: "x", operationType: "content"}) '
        "{ recordUsage(input: $i) { __typename ... on UsageRecorded { replayed } ... on Error { code } } }"
    ),
}

# Shapes strawberry answers: (query, variables, operation name) where variables None means the usage input.
INELIGIBLE: dict[str, tuple[str, Any, str | None]] = {
    "a directive": (
        "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { __typename @include(if: true) "
        "... on UsageRecorded @skip(if: false) { balance } } }", None, None,
    ),
    "two root fields": (
        "mutation($i: RecordUsageInput!) { a: recordUsage(input: $i) { __typename } "
        "b: recordUsage(input: $i) { __typename } }", None, None,
    ),
    "a literal input": (
        'mutation { recordUsage(input: {idempotencyKey: "literal-1", accountId: "ACCOUNT", '
        'operationType: "content", tokensInput: 10}) { __typename ... on UsageRecorded { balance } } }', {}, None,
    ),
    "another operation name": ("mutation Bill($i: RecordUsageInput!) { recordUsage(input: $i) { __typename } }",
                               None, "Other"),
    "an operation name for an anonymous one": (BENCH, None, "Bill"),
    "a bad variable": (BENCH, {"i": {"idempotencyKey": "k", "accountId": "a", "operationType": "content",
                                     "tokensInput": "many"}}, None),
    "an unknown input field": (BENCH, {"i": {"idempotencyKey": "k", "accountId": "a", "operationType": "content",
                                             "tokens": 1}}, None),
    "no variables": (BENCH, {}, None),
    "a null input": (BENCH, {"i": None}, None),
    "a nullable input variable": (
        "mutation($i: RecordUsageInput) { recordUsage(input: $i) { __typename } }", None, None),
    "a syntax error": ("mutation($i: RecordUsageInput!) { recordUsage(input: $i) { __typename }", None, None),
    "an unknown field": (
        "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { ... on UsageRecorded { cost } } }", None, None),
    "two operations": (
        "mutation A($i: RecordUsageInput!) { recordUsage(input: $i) { __typename } } "
        "mutation B($i: RecordUsageInput!) { recordUsage(input: $i) { __typename } }", None, "A",
    ),
    "the batch": (
        "mutation($i: [RecordUsageInput!]!) { recordUsageBatch(inputs: $i) { __typename } }", "batch", None),
    "a query": ("{ billingSettings { roundingMode } }", {}, None),
    "introspection": (
        "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { __typename } __schema { queryType { name } } }",
        None, None,
    ),
}


@dataclass
class Pair:
    fast: TestClient
    slow: TestClient
    secret: str
    factory: SqlUnitOfWorkFactory
    monkeypatch: pytest.MonkeyPatch

    def post(self, client: TestClient, query: str, variables: Any, *, operation_name: str | None = None,
             secret: str | None = None, **extra: Any) -> Any:
        payload: dict[str, Any] = {"query": query, "variables": variables, **extra}
        if operation_name is not None:
            payload["operationName"] = operation_name
        return client.post("/graphql", json=payload, headers={"Authorization": f"Bearer {secret or self.secret}"})

    def fast_only(self, query: str, variables: Any, **options: Any) -> Any:
        """The fast app's answer, with strawberry unable to execute anything."""
        with self.monkeypatch.context() as patch:
            patch.setattr(CreditmeterSchema, "execute", _strawberry_must_not_run)
            return self.post(self.fast, query, variables, **options)

    def account(self, credits: str = "1000") -> str:
        return services.create_account(self.factory(), FixedClock(), "fast path", Decimal(credits)).id

    def key(self, role: Role, account_id: str | None = None) -> str:
        _, secret = services.create_api_key(self.factory(), FixedClock(), f"{role.value} key", role, account_id)
        return secret

    def usage_rows(self, key: str) -> int:
        with self.factory.engine.connect() as connection:
            query = select(func.count()).select_from(usage_table).where(usage_table.c.idempotency_key == key)
            return int(connection.execute(query).scalar_one())


async def _strawberry_must_not_run(*_: Any, **__: Any) -> Any:
    raise AssertionError("strawberry executed a request the fast path should have answered")


@pytest.fixture
def pair(seeded: SqlUnitOfWorkFactory, database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    _, secret = services.create_api_key(seeded(), FixedClock(), "fast path admin", Role.ADMIN)
    # Each app gets its own factory, as two server processes would: one event loop per engine.
    other = SqlUnitOfWorkFactory(make_engine(database.url))
    try:
        with TestClient(create_app(seeded, fast_path=True)) as fast, \
                TestClient(create_app(other, fast_path=False)) as slow:
            yield Pair(fast, slow, secret, seeded, monkeypatch)
    finally:
        other.engine.dispose()


def _usage(account_id: str, **fields: Any) -> dict[str, Any]:
    return {"idempotencyKey": f"fast-{next(_keys)}", "accountId": account_id, "operationType": "content",
            "tokensInput": 1200, "tokensCachedInput": 200, "tokensOutput": 800, **fields}


def _assert_same(fast: Any, slow: Any) -> None:
    """The same status, body and headers; a request id in the body is each response's own."""
    assert (fast.status_code, _own_id(fast)) == (slow.status_code, _own_id(slow))
    assert _headers(fast) == _headers(slow)
    assert fast.headers["x-request-id"] and fast.headers["x-request-id"] != slow.headers["x-request-id"]


def _own_id(response: Any) -> str:
    return str(response.text).replace(response.headers["x-request-id"], "REQUEST-ID")


def _headers(response: Any) -> list[tuple[str, str]]:
    return [(name, value) for name, value in response.headers.items() if name != "x-request-id"]


def _variable(query: str) -> str:
    return query.split("$", 1)[1].split(":", 1)[0]


@pytest.mark.parametrize("shape", ELIGIBLE)
def test_a_replay_is_answered_byte_for_byte_as_strawberry_answers_it(pair: Pair, shape: str) -> None:
    query = ELIGIBLE[shape]
    metadata = {"team": "search", "tags": ["a", "ü", None], "nested": {"n": 1.5, "big": 10**20}}
    variables = {_variable(query): _usage(pair.account(), metadata=metadata, occurredAt="2026-06-15T09:30:00+02:00")}
    first = pair.post(pair.slow, query, variables)
    assert first.status_code == 200 and "errors" not in first.json()
    _assert_same(pair.fast_only(query, variables), pair.post(pair.slow, query, variables))


@pytest.mark.parametrize("shape", ELIGIBLE)
def test_a_first_call_is_billed_and_answered_as_strawberry_answers_it(pair: Pair, shape: str) -> None:
    query = ELIGIBLE[shape]
    name = _variable(query)
    # Two accounts alike, so that only the ids, keys and times tell the answers apart.
    fast_input, slow_input = _usage(pair.account()), _usage(pair.account())
    fast = pair.fast_only(query, {name: fast_input})
    slow = pair.post(pair.slow, query, {name: slow_input})
    assert fast.json()["data"] and "errors" not in fast.json()
    replacements = {fast_input["accountId"]: "ACCOUNT", slow_input["accountId"]: "ACCOUNT",
                    fast_input["idempotencyKey"]: "KEY", slow_input["idempotencyKey"]: "KEY"}
    assert _normalised(fast.text, replacements) == _normalised(slow.text, replacements)
    assert _headers(fast)[1:] == _headers(slow)[1:]  # content-length may differ with the ids
    assert pair.usage_rows(fast_input["idempotencyKey"]) == 1


def _normalised(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        text = text.replace(old, new)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: "ID" if key == "id" and isinstance(item, str) and item.isdigit()
                    else "TIME" if key in ("recordedAt", "occurredAt") else walk(item)
                    for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    return json.dumps(walk(json.loads(text)))  # key order is kept: dicts keep it both ways


@pytest.mark.parametrize("outcome", ["insufficient credits", "not found", "validation", "unknown model",
                                     "conflict", "forbidden"])
@pytest.mark.parametrize("shape", ["every field", "readme", "aliases"])
def test_every_refusal_is_answered_as_strawberry_answers_it(pair: Pair, outcome: str, shape: str) -> None:
    query = ELIGIBLE[shape]
    secret = None
    if outcome == "insufficient credits":
        usage = _usage(pair.account("0"))
    elif outcome == "not found":
        usage = _usage("no-such-account")
    elif outcome == "validation":
        usage = _usage(pair.account(), tokensInput=-5)
    elif outcome == "unknown model":
        usage = _usage(pair.account(), modelName="no-such-model")
    elif outcome == "conflict":
        usage = _usage(pair.account())
        assert pair.post(pair.slow, query, {_variable(query): usage}).status_code == 200
        usage = {**usage, "tokensInput": 1}
    else:
        account = pair.account()
        usage, secret = _usage(account), pair.key(Role.ACCOUNT, account)
    variables = {_variable(query): usage}
    fast = pair.fast_only(query, variables, secret=secret)
    slow = pair.post(pair.slow, query, variables, secret=secret)
    _assert_same(fast, slow)
    assert fast.json()["data"]["recordUsage" if shape != "aliases" else "billed"]


@pytest.mark.parametrize("shape", INELIGIBLE)
def test_shapes_without_a_plan_get_strawberrys_own_answer(pair: Pair, shape: str) -> None:
    query, variables, operation_name = INELIGIBLE[shape]
    account = pair.account()
    if variables is None:
        variables = {_variable(query): _usage(account)}
    elif variables == "batch":
        variables = {"i": [_usage(account)]}
    query = query.replace("ACCOUNT", account)
    pair.post(pair.slow, query, variables, operation_name=operation_name)  # bills, where it does
    fast = pair.post(pair.fast, query, variables, operation_name=operation_name)
    slow = pair.post(pair.slow, query, variables, operation_name=operation_name)
    _assert_same(fast, slow)


@pytest.mark.parametrize("body", [
    {"query": BENCH, "variables": [1]},
    {"query": BENCH, "variables": {}, "extensions": "x"},
    {"query": BENCH, "variables": {}, "extensions": {"persistedQuery": {"version": 1}}},
    {"query": 5},
    {"variables": {}},
    [{"query": BENCH}],
])
def test_odd_bodies_get_strawberrys_own_answer(pair: Pair, body: Any) -> None:
    headers = {"Authorization": f"Bearer {pair.secret}"}
    if isinstance(body, dict) and isinstance(body.get("variables"), dict):
        body = {**body, "variables": {"i": _usage(pair.account())}}
    pair.slow.post("/graphql", json=body, headers=headers)  # bills, where it does
    _assert_same(pair.fast.post("/graphql", json=body, headers=headers),
                 pair.slow.post("/graphql", json=body, headers=headers))


@pytest.mark.parametrize("content", [b"{not json", b""])
def test_bodies_that_are_not_json_get_strawberrys_own_answer(pair: Pair, content: bytes) -> None:
    headers = {"Authorization": f"Bearer {pair.secret}", "Content-Type": "application/json"}
    fast = pair.fast.post("/graphql", content=content, headers=headers)
    slow = pair.slow.post("/graphql", content=content, headers=headers)
    assert (fast.status_code, fast.text) == (slow.status_code, slow.text)


@pytest.mark.parametrize("content_type", ["text/plain", "application/json; charset=utf-8", "APPLICATION/JSON"])
def test_the_content_type_is_judged_as_strawberry_judges_it(pair: Pair, content_type: str) -> None:
    usage = _usage(pair.account())
    content = json.dumps({"query": BENCH, "variables": {"i": usage}})
    headers = {"Authorization": f"Bearer {pair.secret}", "Content-Type": content_type}
    pair.slow.post("/graphql", content=content, headers=headers)
    _assert_same(pair.fast.post("/graphql", content=content, headers=headers),
                 pair.slow.post("/graphql", content=content, headers=headers))


def test_the_extensions_may_be_empty(pair: Pair) -> None:
    variables = {"i": _usage(pair.account())}
    pair.post(pair.slow, BENCH, variables)
    _assert_same(pair.fast_only(BENCH, variables, extensions={}), pair.post(pair.slow, BENCH, variables))


def test_the_operation_name_may_be_given(pair: Pair) -> None:
    query = ELIGIBLE["aliases"]
    variables = {"i": _usage(pair.account())}
    pair.post(pair.slow, query, variables)
    _assert_same(pair.fast_only(query, variables, operation_name="Bill"),
                 pair.post(pair.slow, query, variables, operation_name="Bill"))


def test_no_key_and_nul_characters_are_refused_as_before(pair: Pair) -> None:
    variables = {"i": _usage(pair.account(), idempotencyKey="a\u0000b")}
    _assert_same(pair.post(pair.fast, BENCH, variables), pair.post(pair.slow, BENCH, variables))
    assert pair.post(pair.fast, BENCH, variables).status_code == 400
    unauthenticated = pair.post(pair.fast, BENCH, variables, secret="cm_wrong")
    assert unauthenticated.status_code == 401 and unauthenticated.headers["x-request-id"]


def test_production_mode_answers_alike(seeded: SqlUnitOfWorkFactory, database: Database) -> None:
    _, secret = services.create_api_key(seeded(), FixedClock(), "admin", Role.ADMIN)
    account = services.create_account(seeded(), FixedClock(), "prod", Decimal(100)).id
    other = SqlUnitOfWorkFactory(make_engine(database.url))
    headers = {"Authorization": f"Bearer {secret}"}
    query = ELIGIBLE["every field"]
    body = {"query": query, "variables": {"i": _usage(account)}}
    introspective = {"query": ELIGIBLE["bench"].replace("__typename", "__typename __type(name: \"x\") { name }"),
                     "variables": body["variables"]}
    try:
        with TestClient(create_app(seeded, production=True, fast_path=True)) as fast, \
                TestClient(create_app(other, production=True, fast_path=False)) as slow:
            slow.post("/graphql", json=body, headers=headers)
            _assert_same(fast.post("/graphql", json=body, headers=headers),
                         slow.post("/graphql", json=body, headers=headers))
            _assert_same(fast.post("/graphql", json=introspective, headers=headers),
                         slow.post("/graphql", json=introspective, headers=headers))
    finally:
        other.engine.dispose()


def test_a_failure_after_billing_is_masked_and_never_billed_again(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    account = pair.account("1000")
    usage = _usage(account)

    def broken(*_: Any) -> Any:
        raise RuntimeError("serializer broke, postgres://admin:hunter2@db")

    monkeypatch.setattr(fastpath, "_leaf", broken)
    with caplog.at_level(logging.ERROR):
        response = pair.fast_only(BENCH, {"i": usage})
    body = response.json()
    assert response.status_code == 200 and "hunter2" not in response.text
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["message"] == "Unexpected error" and error["path"] == ["recordUsage", "balance"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": response.headers["x-request-id"]}
    assert "hunter2" in caplog.text and error["extensions"]["requestId"] in caplog.text
    assert pair.usage_rows(usage["idempotencyKey"]) == 1
    account_after = pair.post(pair.slow, "query($a: ID!) { account(id: $a) { balance } }", {"a": account})
    assert account_after.json()["data"]["account"]["balance"] == "990"  # billed once: 10 credits


def test_a_failure_to_encode_after_billing_is_masked_and_never_billed_again(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = _usage(pair.account())

    class Unencodable:
        loads = staticmethod(json.loads)

        @staticmethod
        def dumps(value: Any, **options: Any) -> str:
            if value.get("data"):
                raise TypeError("not JSON serializable")
            return json.dumps(value, **options)

    monkeypatch.setattr(fastpath, "json", Unencodable)
    response = pair.fast_only(BENCH, {"i": usage})
    (error,) = response.json()["errors"]
    assert response.json()["data"] is None and error["message"] == "Unexpected error"
    assert error["path"] == ["recordUsage"]
    assert error["locations"] == [{"line": 1, "column": BENCH.index("recordUsage") + 1}]
    assert pair.usage_rows(usage["idempotencyKey"]) == 1


def test_the_switch_turns_the_fast_path_off(
    seeded: SqlUnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, secret = services.create_api_key(seeded(), FixedClock(), "admin", Role.ADMIN)
    account = services.create_account(seeded(), FixedClock(), "switch", Decimal(100)).id
    ran: list[object] = []
    execute = CreditmeterSchema.execute

    async def counted(self: CreditmeterSchema, *args: Any, **kwargs: Any) -> Any:
        ran.append(args)
        return await execute(self, *args, **kwargs)

    monkeypatch.setattr(CreditmeterSchema, "execute", counted)
    for switch, strawberry_runs in (("0", 1), ("1", 0)):
        monkeypatch.setenv(fastpath.SWITCH, switch)
        ran.clear()
        with TestClient(create_app(seeded)) as client:
            response = client.post("/graphql", json={"query": BENCH, "variables": {"i": _usage(account)}},
                                   headers={"Authorization": f"Bearer {secret}"})
        assert response.json()["data"]["recordUsage"]["__typename"] == "UsageRecorded"
        assert len(ran) == strawberry_runs
