"""The contract's operations as a client uses them: pages, batches, typed errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api

RECORD = """mutation($i: RecordUsageInput!) { recordUsage(input: $i) { __typename
  ... on UsageRecorded { balance usage { id creditsUsed } } ... on ValidationError { field message }
  ... on Error { code message } } }"""


def _account(api: Api, credits: str = "1000") -> str:
    created = api(
        'mutation($c: Decimal) { createAccount(input: {name: "Acme", initialCredits: $c}) '
        "{ ... on AccountPayload { account { id } } } }",
        {"c": credits},
    )
    return str(created["createAccount"]["account"]["id"])


def _usage(account: str, key: str, **fields: Any) -> dict[str, Any]:
    return {
        "idempotencyKey": key,
        "accountId": account,
        "operationType": "linker",
        "tokensInput": 100,
        "tokensOutput": 100,
        **fields,
    }


def test_pages_walk_every_transaction_once_even_while_new_ones_arrive(api: Api) -> None:
    account = _account(api)
    for n in range(7):
        api(RECORD, {"i": _usage(account, f"p{n}")})
    query = """query($a: ID!, $after: String) { account(id: $a) { transactions(first: 3, after: $after) {
        edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }"""
    seen: list[str] = []
    after = None
    while True:
        page = api(query, {"a": account, "after": after})["account"]["transactions"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if len(seen) == 3:
            api(RECORD, {"i": _usage(account, "arrives-mid-walk")})
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 8 == len(set(seen))  # 7 usages + the initial top-up, the newcomer not mixed in
    assert seen == sorted(seen, key=int, reverse=True)


def test_accounts_and_usage_page_with_opaque_cursors(api: Api) -> None:
    ids = {_account(api) for _ in range(5)}
    query = (
        "query($after: String) { accounts(first: 2, after: $after) { edges { cursor node { id } } "
        "pageInfo { hasNextPage endCursor } } }"
    )
    seen, after = [], None
    while True:
        page = api(query, {"after": after})["accounts"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert set(seen) == ids and len(seen) == 5


@pytest.mark.parametrize("cursor", ["garbage", "Zm9v", "", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMg=="])
def test_a_forged_cursor_is_a_clear_error_not_a_crash(api: Api, cursor: str) -> None:
    account = _account(api)
    body = api.post(
        "query($a: ID!, $c: String) { account(id: $a) { usage(after: $c) { edges { cursor } } } }",
        {"a": account, "c": cursor},
    ).json()
    if cursor == "":
        assert "errors" not in body  # an empty cursor means the first page
    else:
        assert body["errors"][0]["message"] == "not a cursor this API gave out"


def test_page_size_is_capped(api: Api) -> None:
    account = _account(api, "100000")
    api(
        "mutation($i: [RecordUsageInput!]!) { recordUsageBatch(inputs: $i) { __typename } }",
        {"i": [_usage(account, f"cap{n}") for n in range(120)]},
    )
    page = api(
        "query($a: ID!) { account(id: $a) { usage(first: 1000) { edges { cursor } pageInfo { hasNextPage } } } }",
        {"a": account},
    )["account"]["usage"]
    assert len(page["edges"]) == 100 and page["pageInfo"]["hasNextPage"] is True


def test_a_batch_answers_each_input_in_order_and_a_bad_item_sinks_nothing_else(api: Api) -> None:
    account = _account(api, "2")  # linker bills 200 tokens as 1 credit: room for two
    results = api(
        "mutation($i: [RecordUsageInput!]!) { recordUsageBatch(inputs: $i) { __typename } }",
        {
            "i": [
                _usage(account, "b1"),
                _usage(account, "b2", tokensInput=-5),
                _usage("missing", "b3"),
                _usage(account, "b4", operationType="teleport"),
                _usage(account, "b1"),
                _usage(account, "b5"),
                _usage(account, "b6"),
            ]
        },
    )["recordUsageBatch"]
    assert [r["__typename"] for r in results] == [
        "UsageRecorded",
        "ValidationError",
        "NotFoundError",
        "NotFoundError",
        "UsageRecorded",
        "UsageRecorded",
        "InsufficientCredits",
    ]
    balance = api("query($a: ID!) { account(id: $a) { balance } }", {"a": account})["account"]["balance"]
    assert balance == "0"


def test_a_batch_over_a_thousand_is_refused_whole(api: Api) -> None:
    account = _account(api)
    results = api(
        "mutation($i: [RecordUsageInput!]!) { recordUsageBatch(inputs: $i) { __typename } }",
        {"i": [_usage(account, f"x{n}") for n in range(1001)]},
    )["recordUsageBatch"]
    assert len(results) == 1001 and {r["__typename"] for r in results} == {"ValidationError"}
    usage = api("query($a: ID!) { account(id: $a) { usage { edges { cursor } } } }", {"a": account})
    assert usage["account"]["usage"]["edges"] == []


@pytest.mark.parametrize(
    ("fields", "typename", "field"),
    [
        ({"tokensInput": -1}, "ValidationError", "tokensInput"),
        ({"tokensOutput": 1_000_000_001}, "ValidationError", "tokensOutput"),
        ({"tokensCachedInput": 500}, "ValidationError", "tokensInput"),
        ({"idempotencyKey": ""}, "ValidationError", "idempotencyKey"),
        ({"idempotencyKey": "k" * 201}, "ValidationError", "idempotencyKey"),
        ({"metadata": {"blob": "x" * 20_000}}, "ValidationError", "metadata"),
        ({"occurredAt": "2099-01-01T00:00:00+00:00"}, "ValidationError", "occurredAt"),
        ({"modelName": "no-such-model"}, "ModelUnavailable", None),
        ({"modelName": "runware:100@1"}, "ModelUnavailable", None),
        ({"operationType": "teleport"}, "NotFoundError", None),
        ({"accountId": "missing"}, "NotFoundError", None),
    ],
)
def test_bad_usage_gets_a_typed_error_and_writes_nothing(
    api: Api, fields: dict[str, Any], typename: str, field: str | None
) -> None:
    account = _account(api, "50")
    result = api(RECORD, {"i": _usage(account, "bad", **fields)})["recordUsage"]
    assert result["__typename"] == typename, result
    if field:
        assert result["field"] == field
    state = api("query($a: ID!) { account(id: $a) { balance usage { edges { cursor } } } }", {"a": account})
    assert state["account"] == {"balance": "50", "usage": {"edges": []}}


@pytest.mark.parametrize(
    "amount",
    ['"1e999"', '"NaN"', '"-0.0.1"', '"1234567890123456789012345678901234567890"', "0.1", '"Infinity"', '" "', "true"],
)
def test_malformed_decimals_are_refused_before_anything_runs(api: Api, amount: str) -> None:
    account = _account(api, "5")
    body = api.post(
        f'mutation($a: ID!) {{ addCredits(input: {{idempotencyKey: "m", accountId: $a, amount: {amount}}}) '
        "{ __typename } }",
        {"a": account},
    ).json()
    assert body["errors"] and body.get("data") is None
    body = api.post(
        'mutation($a: ID!, $x: Decimal!) { addCredits(input: {idempotencyKey: "m", accountId: $a, '
        "amount: $x}) { __typename } }",
        {"a": account, "x": json.loads(amount)},
    ).json()
    assert body["errors"]
    assert api("query($a: ID!) { account(id: $a) { balance } }", {"a": account})["account"]["balance"] == "5"


def test_catalogue_admin_round_trip(api: Api) -> None:
    created = api("""mutation { upsertModel(input: {name: "my-model", provider: "openai", modelType: TEXT,
        tokensPerCredit: 100, inputPricePerMillion: "1.2345", outputPricePerMillion: "2",
        effectiveFrom: "2025-01-01T00:00:00Z"}) { __typename ... on ModelPayload { model { version isDefault } } } }""")
    assert created["upsertModel"] == {"__typename": "ModelPayload", "model": {"version": 1, "isDefault": False}}
    repriced = api("""mutation { upsertModel(input: {name: "my-model", provider: "openai", modelType: TEXT,
        tokensPerCredit: 100, inputPricePerMillion: "2", outputPricePerMillion: "4"}) {
        ... on ModelPayload { model { version inputPricePerMillion } } } }""")
    assert repriced["upsertModel"]["model"] == {"version": 2, "inputPricePerMillion": "2"}
    history = api('{ modelHistory(name: "my-model") { version inputPricePerMillion } }')["modelHistory"]
    assert history == [{"version": 1, "inputPricePerMillion": "1.2345"}, {"version": 2, "inputPricePerMillion": "2"}]
    too_precise = api("""mutation { upsertModel(input: {name: "my-model", provider: "openai", modelType: TEXT,
        tokensPerCredit: 100, inputPricePerMillion: "0.00001", outputPricePerMillion: "4"}) {
        __typename ... on ValidationError { field } } }""")
    assert too_precise["upsertModel"] == {"__typename": "ValidationError", "field": "inputPricePerMillion"}
    assert (
        api('mutation { setDefaultModel(name: "nope") { __typename } }')["setDefaultModel"]["__typename"]
        == "NotFoundError"
    )
    op = api(
        'mutation { upsertOperation(input: {operationType: "summaries", modelType: TEXT, unit: PER_REQUEST, '
        'creditsCost: "2", defaultModel: "runware:100@1"}) { __typename } }'
    )
    assert op["upsertOperation"]["__typename"] == "ModelUnavailable"
    settings = api("mutation { updateBillingSettings(input: {creditDecimalPlaces: 5}) { __typename } }")
    assert settings["updateBillingSettings"]["__typename"] == "ValidationError"
    settings = api(
        "mutation { updateBillingSettings(input: {roundingMode: NEAREST, creditDecimalPlaces: 2, "
        'creditPriceUsd: "0.015"}) { ... on BillingSettingsPayload { settings { roundingMode '
        "creditDecimalPlaces creditPriceUsd } } } }"
    )
    assert settings["updateBillingSettings"]["settings"] == {
        "roundingMode": "NEAREST",
        "creditDecimalPlaces": 2,
        "creditPriceUsd": "0.015",
    }


def test_account_settings_pick_the_model_and_null_clears_it(api: Api) -> None:
    account = _account(api)
    set_model = (
        "mutation($a: ID!, $m: String) { updateAccountSettings(input: {accountId: $a, defaultTextModel: $m}) "
        "{ __typename ... on AccountPayload { account { defaultTextModel { name } } } } }"
    )
    assert api(set_model, {"a": account, "m": "gpt-4o"})["updateAccountSettings"]["account"] == {
        "defaultTextModel": {"name": "gpt-4o"}
    }
    billed = api(RECORD.replace("usage { id creditsUsed }", "usage { model { name } }"), {"i": _usage(account, "s1")})
    assert billed["recordUsage"]["usage"]["model"]["name"] == "gpt-4o"
    assert api(set_model, {"a": account, "m": "dall-e-3"})["updateAccountSettings"]["__typename"] == "ModelUnavailable"
    assert api(set_model, {"a": account, "m": None})["updateAccountSettings"]["account"] == {"defaultTextModel": None}


def test_a_fine_grained_credits_cost_is_kept_exactly_and_rounded_only_when_charged(api: Api) -> None:
    op = api('mutation { upsertOperation(input: {operationType: "tiny", modelType: TEXT, unit: PER_1000_TOKENS, '
             'creditsCost: "0.00125"}) { ... on OperationPayload { operation { creditsCost } } } }')
    assert op["upsertOperation"]["operation"]["creditsCost"] == "0.00125"
    assert api('{ operations { operationType creditsCost } }')["operations"][-1] == {
        "operationType": "tiny", "creditsCost": "0.00125"}
    account = _account(api, "10")
    record = _usage(account, "tiny-1", operationType="tiny", tokensInput=3000, tokensOutput=1000)
    assert api(RECORD, {"i": record})["recordUsage"]["usage"]["creditsUsed"] == "1"  # 0.005 rounded UP to 1
    api("mutation { updateBillingSettings(input: {roundingMode: DOWN, creditDecimalPlaces: 3}) { __typename } }")
    record = _usage(account, "tiny-2", operationType="tiny", tokensInput=3000, tokensOutput=1000)
    assert api(RECORD, {"i": record})["recordUsage"]["usage"]["creditsUsed"] == "0.005"


def test_each_usage_entry_of_the_ledger_links_its_usage(api: Api) -> None:
    account = _account(api)
    recorded = [api(RECORD, {"i": _usage(account, f"link{n}")})["recordUsage"]["usage"]["id"] for n in range(3)]
    edges = api("query($a: ID!) { account(id: $a) { transactions { edges { node { kind usage { id } } } } } }",
                {"a": account})["account"]["transactions"]["edges"]
    linked = [edge["node"]["usage"] for edge in edges]
    assert linked == [{"id": usage_id} for usage_id in reversed(recorded)] + [None]  # the top-up has none
