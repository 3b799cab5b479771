"""OpenAI Responses API objects and stream events, built with the openai SDK."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseTextDeltaEvent,
)

from domain.errors import InvalidInput
from domain.model import TokenCounts
from domain.providers import extract_usage

# From OpenAI's reasoning guide, with a cache hit and a cache write added.
USAGE = {
    "input_tokens": 5075,
    "input_tokens_details": {"cached_tokens": 4096, "cache_write_tokens": 512},
    "output_tokens": 1186,
    "output_tokens_details": {"reasoning_tokens": 1024},
    "total_tokens": 6261,
}


def _response(usage: dict[str, Any] | None, status: str = "completed") -> Response:
    return Response.model_validate(
        {
            "id": "resp_67ccd2bed1ec8190b14f964abc054267",
            "object": "response",
            "created_at": 1741476542,
            "model": "o4-mini-2025-04-16",
            "status": status,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "output": [],
            "usage": usage,
        }
    )


def _stream(final: Response | None) -> list[dict[str, Any]]:
    events: list[Any] = [
        ResponseCreatedEvent(type="response.created", sequence_number=0, response=_response(None, "in_progress")),
        ResponseTextDeltaEvent(
            type="response.output_text.delta",
            sequence_number=1,
            item_id="msg_1",
            output_index=0,
            content_index=0,
            delta="Par",
            logprobs=[],
        ),
    ]
    if final is not None:
        events.append(ResponseCompletedEvent(type="response.completed", sequence_number=2, response=final))
    return [event.model_dump(mode="json") for event in events]


def test_input_includes_cache_reads_and_writes_and_output_includes_reasoning() -> None:
    usage = extract_usage(_response(USAGE).model_dump(mode="json"))
    assert usage.provider == "openai-responses"
    assert usage.model == "o4-mini-2025-04-16"
    assert usage.counts == TokenCounts(
        tokens_input=5075,
        tokens_output=1186,
        tokens_cached_input=4096,
        tokens_cache_write=512,
        tokens_reasoning=1024,
    )


def test_a_stream_is_billed_from_its_response_completed_event() -> None:
    usage = extract_usage(_stream(_response(USAGE)))
    assert usage.counts.tokens_input == 5075
    assert usage.counts.tokens_reasoning == 1024


def test_the_completed_event_alone_is_enough() -> None:
    event = ResponseCompletedEvent(type="response.completed", sequence_number=9, response=_response(USAGE))
    assert extract_usage(event.model_dump(mode="json"), provider="openai-responses").counts.tokens_output == 1186


def test_a_stream_cut_before_response_completed_is_refused() -> None:
    with pytest.raises(InvalidInput, match="response.completed") as refused:
        extract_usage(_stream(None))
    assert refused.value.field == "providerResponse"


@pytest.mark.parametrize(
    ("usage", "why"),
    [
        (None, "usage is missing"),
        ({**USAGE, "output_tokens": -3}, "must not be negative"),
        ({**USAGE, "input_tokens": "5075"}, "whole number"),
        (
            {**USAGE, "input_tokens_details": {"cached_tokens": 5000, "cache_write_tokens": 512}},
            "only 5075 input tokens",
        ),
    ],
)
def test_a_malformed_response_is_refused(usage: dict[str, Any] | None, why: str) -> None:
    response = _response(USAGE).model_dump(mode="json")
    response["usage"] = usage
    with pytest.raises(InvalidInput, match=why):
        extract_usage(response)
