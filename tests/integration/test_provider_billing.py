"""Raw provider responses billed through the API on both databases, against each provider's prices.

Responses are built with the official SDKs (Runware has none: its documented JSON), dumped as
a product would send them, and the stored costs are compared with the provider's own arithmetic.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from anthropic.types import Message, RawMessageDeltaEvent, RawMessageStartEvent, RawMessageStopEvent
from google.genai import types as genai
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseCompletedEvent, ResponseCreatedEvent

from tests.conftest import Api

MILLION = D(1_000_000)

RECORD = """
mutation($input: RecordUsageInput!) {
  recordUsage(input: $input) {
    __typename
    ... on UsageRecorded { balance replayed usage {
      modelName tokensInput tokensOutput tokensCachedInput tokensCacheWrite tokensReasoning images
      creditsUsed costUsdInput costUsdOutput costUsdTotal metadata } }
    ... on ValidationError { field message }
  }
}"""

QUOTE = """
query($input: QuoteInput!) {
  quote(input: $input) {
    __typename
    ... on Quote { model { name } creditsUsed costUsdInput costUsdOutput costUsdTotal }
    ... on ValidationError { field message }
  }
}"""

ACCOUNT = """
query($id: ID!) { account(id: $id) { balance usage { edges { node { id } } } } }"""


@pytest.fixture
def account(api: Api) -> str:
    created = api(
        'mutation { createAccount(input: {name: "Acme", initialCredits: "100000"}) '
        "{ ... on AccountPayload { account { id } } } }"
    )
    return str(created["createAccount"]["account"]["id"])


def _record(api: Api, account: str, response: Any, key: str = "call-1", **fields: Any) -> dict[str, Any]:
    variables = {
        "input": {
            "idempotencyKey": key,
            "accountId": account,
            "operationType": "content",
            "providerResponse": response,
            **fields,
        }
    }
    return dict(api(RECORD, variables)["recordUsage"])


def _quote(api: Api, account: str, response: Any, **fields: Any) -> dict[str, Any]:
    variables = {"input": {"accountId": account, "operationType": "content", "providerResponse": response, **fields}}
    return dict(api(QUOTE, variables)["quote"])


def _costs(result: dict[str, Any]) -> tuple[D, D]:
    usage = result.get("usage", result)
    return D(usage["costUsdInput"]), D(usage["costUsdOutput"])


# ---------------------------------------------------------------- responses, as the SDKs build them


def _openai_chat(model: str = "gpt-4o-mini-2024-07-18") -> dict[str, Any]:
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1741570283,
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi"}}],
            "usage": {
                "prompt_tokens": 2006,
                "completion_tokens": 300,
                "total_tokens": 2306,
                "prompt_tokens_details": {"cached_tokens": 1920},
                "completion_tokens_details": {"reasoning_tokens": 64},
            },
        }
    ).model_dump(mode="json")


def _openai_chat_stream() -> list[dict[str, Any]]:
    def chunk(choices: list[Any], usage: dict[str, Any] | None) -> dict[str, Any]:
        return ChatCompletionChunk.model_validate(
            {
                "id": "chatcmpl-2",
                "object": "chat.completion.chunk",
                "created": 1741570283,
                "model": "gpt-4o-mini-2024-07-18",
                "choices": choices,
                "usage": usage,
            }
        ).model_dump(mode="json")

    return [
        chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}], None),
        chunk([{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}], None),
        chunk(
            [],
            {
                "prompt_tokens": 2006,
                "completion_tokens": 300,
                "total_tokens": 2306,
                "prompt_tokens_details": {"cached_tokens": 1920},
            },
        ),
    ]


def _openai_response(usage: dict[str, Any] | None = None) -> Response:
    return Response.model_validate(
        {
            "id": "resp_1",
            "object": "response",
            "created_at": 1741476542,
            "model": "gpt-4o-mini-2024-07-18",
            "status": "completed",
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "output": [],
            "usage": usage
            or {
                "input_tokens": 5075,
                "output_tokens": 1186,
                "total_tokens": 6261,
                "input_tokens_details": {"cached_tokens": 4096, "cache_write_tokens": 512},
                "output_tokens_details": {"reasoning_tokens": 1024},
            },
        }
    )


def _openai_response_stream() -> list[dict[str, Any]]:
    created = _openai_response().model_copy(update={"status": "in_progress", "usage": None})
    return [
        ResponseCreatedEvent(type="response.created", sequence_number=0, response=created).model_dump(mode="json"),
        ResponseCompletedEvent(type="response.completed", sequence_number=1, response=_openai_response()).model_dump(
            mode="json"
        ),
    ]


ANTHROPIC_MIXED = {
    "input_tokens": 50,
    "cache_read_input_tokens": 1000,
    "cache_creation_input_tokens": 3000,
    "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 1000},
    "output_tokens": 200,
    "output_tokens_details": {"thinking_tokens": 120},
}


def _anthropic(usage: dict[str, Any] | None = None) -> Message:
    return Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "Hi"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            # Anthropic's prompt-caching example: the first call writes 188086 tokens to the cache.
            "usage": usage
            or {
                "input_tokens": 21,
                "cache_creation_input_tokens": 188086,
                "cache_read_input_tokens": 0,
                "output_tokens": 393,
            },
        }
    )


def _anthropic_stream() -> list[dict[str, Any]]:
    opening = _anthropic(
        {
            "input_tokens": 50,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 0,
            "output_tokens": 1,
        }
    )
    events: list[Any] = [
        RawMessageStartEvent(type="message_start", message=opening.model_copy(update={"content": []})),
        RawMessageDeltaEvent(type="message_delta", delta={"stop_reason": None}, usage={"output_tokens": 90}),
        RawMessageDeltaEvent(type="message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 200}),
        RawMessageStopEvent(type="message_stop"),
    ]
    return [event.model_dump(mode="json") for event in events]


def _gemini(finish: str | None = "STOP", usage: dict[str, Any] | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": "Hi"}], "role": "model"}}
    if finish:
        candidate["finishReason"] = finish
    return genai.GenerateContentResponse.model_validate(
        {
            "candidates": [candidate],
            "modelVersion": "gemini-2.5-flash",
            "usageMetadata": usage
            or {
                "promptTokenCount": 10000,
                "cachedContentTokenCount": 8000,
                "candidatesTokenCount": 500,
                "thoughtsTokenCount": 1200,
                "totalTokenCount": 11700,
            },
        }
    ).model_dump(mode="json")


def _runware(*costs: Any) -> dict[str, Any]:
    return {
        "data": [
            {
                "taskType": "imageInference",
                "taskUUID": f"task-{index}",
                "imageUUID": f"image-{index}",
                "imageURL": f"https://im.runware.ai/image/{index}.jpg",
                **({} if cost is None else {"cost": cost}),
            }
            for index, cost in enumerate(costs)
        ]
    }


def _openrouter() -> dict[str, Any]:
    return ChatCompletion.model_validate(
        {
            "id": "gen-1",
            "object": "chat.completion",
            "created": 1741570283,
            "model": "openai/gpt-4o",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi"}}],
            "usage": {
                "prompt_tokens": 194,
                "completion_tokens": 2,
                "total_tokens": 196,
                "cost": 0.000095,
                "prompt_tokens_details": {"cached_tokens": 100},
            },
        }
    ).model_dump(mode="json")


# ---------------------------------------------------------------- billed exactly


def test_an_openai_cached_call_costs_half_price_for_its_cached_tokens(api: Api, account: str) -> None:
    result = _record(api, account, _openai_chat())
    assert result["__typename"] == "UsageRecorded"
    usage = result["usage"]
    assert (usage["tokensInput"], usage["tokensCachedInput"], usage["tokensReasoning"]) == (2006, 1920, 64)
    # gpt-4o-mini: $0.15 per million input, cached input at half, $0.60 per million output
    assert _costs(result) == ((86 * D("0.15") + 1920 * D("0.15") / 2) / MILLION, 300 * D("0.60") / MILLION)
    assert usage["creditsUsed"] == "12"  # ceil(2306 / 200)


def test_an_openai_stream_replayed_chunk_by_chunk_costs_what_the_response_costs(api: Api, account: str) -> None:
    assert _costs(_record(api, account, _openai_chat_stream())) == _costs(_record(api, account, _openai_chat(), "b"))


@pytest.mark.parametrize("stream", [False, True])
def test_an_openai_responses_call_bills_cache_writes_as_input_and_reasoning_as_output(
    api: Api, account: str, stream: bool
) -> None:
    response = _openai_response_stream() if stream else _openai_response().model_dump(mode="json")
    result = _record(api, account, response)
    assert result["usage"]["tokensCacheWrite"] == 512
    plain = 5075 - 4096 - 512
    assert _costs(result) == (
        ((plain + 512) * D("0.15") + 4096 * D("0.075")) / MILLION,
        1186 * D("0.60") / MILLION,
    )


def test_a_cached_anthropic_call_costs_exactly_what_anthropic_bills(api: Api, account: str) -> None:
    result = _record(api, account, _anthropic().model_dump(mode="json"), modelName="claude-sonnet-4-5")
    usage = result["usage"]
    assert (usage["tokensInput"], usage["tokensCacheWrite"]) == (21 + 188086, 188086)
    # claude-sonnet-4-5: $3 base input, cache writes at 1.25x, $15 output
    assert _costs(result) == ((21 * D(3) + 188086 * D(3) * D("1.25")) / MILLION, 393 * D(15) / MILLION)
    assert usage["creditsUsed"] == "3770"  # (188107 + 393) / 50


def test_anthropic_one_hour_writes_cost_twice_the_input_and_reads_a_tenth(api: Api, account: str) -> None:
    result = _record(api, account, _anthropic(ANTHROPIC_MIXED).model_dump(mode="json"), modelName="claude-sonnet-4-5")
    expected_input = (50 * D(3) + 1000 * D(3) * D("0.1") + 2000 * D(3) * D("1.25") + 1000 * D(3) * 2) / MILLION
    assert _costs(result) == (expected_input, 200 * D(15) / MILLION)
    assert result["usage"]["tokensReasoning"] == 120


def test_an_anthropic_stream_takes_the_last_delta_never_the_sum(api: Api, account: str) -> None:
    result = _record(api, account, _anthropic_stream(), modelName="claude-sonnet-4-5")
    assert (result["usage"]["tokensInput"], result["usage"]["tokensOutput"]) == (1050, 200)
    assert _costs(result) == ((50 * D(3) + 1000 * D("0.30")) / MILLION, 200 * D(15) / MILLION)


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_thinking_is_billed_as_output(api: Api, account: str, stream: bool) -> None:
    response = [_gemini(finish=None, usage={"promptTokenCount": 10000}), _gemini()] if stream else _gemini()
    result = _record(api, account, response, modelName="gemini-2.5-flash")
    # gemini-2.5-flash: $0.30 input, cached input at $0.03, $2.50 output (thinking included)
    assert _costs(result) == (
        (2000 * D("0.30") + 8000 * D("0.03")) / MILLION,
        (500 + 1200) * D("2.50") / MILLION,
    )


def test_runware_states_its_cost_per_image_and_the_record_says_so(api: Api, account: str) -> None:
    result = _record(api, account, _runware(0.0013, 0.0013), operationType="image")
    usage = result["usage"]
    assert (usage["images"], usage["costUsdInput"], usage["costUsdOutput"]) == (2, "0", "0.0026")
    assert usage["metadata"] == {"costSource": "provider", "providerCostUsd": "0.0026"}
    assert usage["creditsUsed"] == "10"


def test_runware_without_include_cost_is_priced_from_the_catalogue(api: Api, account: str) -> None:
    result = _record(api, account, _runware(None, None, None), operationType="image")
    assert result["usage"]["costUsdOutput"] == "0.0039"
    assert result["usage"]["metadata"] is None


def test_openrouter_states_its_cost_which_wins(api: Api, account: str) -> None:
    result = _record(api, account, _openrouter(), modelName="gpt-4o", metadata={"feature": "chat"})
    assert result["usage"]["costUsdTotal"] == "0.000095"
    assert result["usage"]["metadata"] == {
        "feature": "chat",
        "costSource": "provider",
        "providerCostUsd": "0.000095",
    }


def test_a_quote_prices_a_response_as_recording_it_would(api: Api, account: str) -> None:
    for response, model in (
        (_anthropic(ANTHROPIC_MIXED).model_dump(mode="json"), "claude-sonnet-4-5"),
        (_openrouter(), "gpt-4o"),
        (_openai_chat_stream(), None),
    ):
        quoted = _quote(api, account, response, modelName=model)
        recorded = _record(api, account, response, key=f"quote-{model}", modelName=model)
        assert quoted["__typename"] == "Quote"
        assert _costs(quoted) == _costs(recorded)
        assert quoted["creditsUsed"] == recorded["usage"]["creditsUsed"]


def test_a_replayed_response_is_charged_once(api: Api, account: str) -> None:
    first = _record(api, account, _openai_chat())
    again = _record(api, account, _openai_chat())
    assert (again["replayed"], again["balance"]) == (True, first["balance"])


# ---------------------------------------------------------------- refused, writing nothing


def _assert_nothing_written(api: Api, account: str) -> None:
    state = api(ACCOUNT, {"id": account})["account"]
    assert state == {"balance": "100000", "usage": {"edges": []}}


def test_a_response_from_another_model_is_refused_unless_the_model_is_named(api: Api, account: str) -> None:
    refused = _record(api, account, _openai_chat(model="gpt-4o-2024-08-06"))
    assert (refused["__typename"], refused["field"]) == ("ValidationError", "providerResponse")
    assert "gpt-4o-2024-08-06" in refused["message"]
    assert _quote(api, account, _openai_chat(model="gpt-4o-2024-08-06"))["__typename"] == "ValidationError"
    _assert_nothing_written(api, account)
    assert _record(api, account, _openai_chat(model="gpt-4o-2024-08-06"), modelName="gpt-4o")["__typename"] == (
        "UsageRecorded"
    )


def test_counts_sent_beside_a_response_must_agree_with_it(api: Api, account: str) -> None:
    refused = _record(api, account, _openai_chat(), tokensInput=2000)
    assert (refused["__typename"], refused["field"]) == ("ValidationError", "tokensInput")
    _assert_nothing_written(api, account)


def _without(response: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in response.items() if name != key}


def _with_usage(response: dict[str, Any], key: str, **changes: Any) -> dict[str, Any]:
    return {**response, key: {**response[key], **changes}}


MALFORMED: dict[str, Any] = {
    "openai without usage": _without(_openai_chat(), "usage"),
    "openai negative count": _with_usage(_openai_chat(), "usage", prompt_tokens=-5),
    "openai count as a string": _with_usage(_openai_chat(), "usage", completion_tokens="300"),
    "openai count as a fraction": _with_usage(_openai_chat(), "usage", completion_tokens=300.5),
    "openai stream without usage": _openai_chat_stream()[:2],
    "responses stream cut short": _openai_response_stream()[:1],
    "responses without usage": _without(_openai_response().model_dump(mode="json"), "usage"),
    "anthropic without usage": _without(_anthropic().model_dump(mode="json"), "usage"),
    "anthropic negative cache read": _with_usage(
        _anthropic().model_dump(mode="json"), "usage", cache_read_input_tokens=-1
    ),
    "anthropic stream cut short": _anthropic_stream()[:1],
    "gemini without usage": _without(_gemini(), "usage_metadata"),
    "gemini count as a string": _with_usage(_gemini(), "usage_metadata", prompt_token_count="10000"),
    "gemini stream cut short": [_gemini(finish=None)],
    "runware negative cost": _runware(-0.0013),
    "runware cost as a string": _runware("0.0013"),
    "openrouter cost as a string": _with_usage(_openrouter(), "usage", cost="0.000095"),
    "an empty stream": [],
    "no known shape": {"tokens": 12},
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_response_is_refused_and_nothing_is_written(api: Api, account: str, case: str) -> None:
    response = MALFORMED[case]
    refused = _record(api, account, response)
    assert (refused["__typename"], refused["field"]) == ("ValidationError", "providerResponse"), refused
    assert _quote(api, account, response)["__typename"] == "ValidationError"
    _assert_nothing_written(api, account)
