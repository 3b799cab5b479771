"""Gemini responses and stream chunks, built with the google-genai SDK.

`promptTokenCount` includes `cachedContentTokenCount`; thinking is counted apart from the
candidates and billed as output.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import types

from domain.errors import InvalidInput
from domain.model import TokenCounts
from domain.providers import extract_usage

USAGE = {
    "promptTokenCount": 10000,
    "cachedContentTokenCount": 8000,
    "candidatesTokenCount": 500,
    "thoughtsTokenCount": 1200,
    "totalTokenCount": 11700,
}


def _response(usage: dict[str, Any] | None, finish: str | None = "STOP", text: str = "Paris.") -> Any:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
    if finish:
        candidate["finishReason"] = finish
    return types.GenerateContentResponse.model_validate(
        {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": "gemini-2.5-flash",
            "responseId": "mAitaLmkHPPlz7IPvtfUqQ4",
        }
    )


def test_the_python_sdk_dump_bills_thinking_as_output_and_cache_inside_input() -> None:
    usage = extract_usage(_response(USAGE).model_dump(mode="json"))
    assert usage.provider == "gemini"
    assert usage.model == "gemini-2.5-flash"
    assert usage.counts == TokenCounts(
        tokens_input=10000, tokens_output=1700, tokens_cached_input=8000, tokens_reasoning=1200
    )


def test_the_rest_spelling_reads_the_same() -> None:
    rest = _response(USAGE).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert "usageMetadata" in rest
    assert extract_usage(rest, provider="google").counts == extract_usage(_response(USAGE).model_dump()).counts


def test_tool_use_prompt_tokens_are_input_too() -> None:
    usage = extract_usage(_response({**USAGE, "toolUsePromptTokenCount": 300}).model_dump(mode="json"))
    assert usage.counts.tokens_input == 10300


def test_a_stream_is_billed_from_its_last_chunk() -> None:
    chunks = [
        _response({"promptTokenCount": 10000, "totalTokenCount": 10000}, finish=None, text="Pa"),
        _response(
            {"promptTokenCount": 10000, "candidatesTokenCount": 3, "totalTokenCount": 10003},
            finish=None,
            text="ri",
        ),
        _response(USAGE, text="s."),
    ]
    usage = extract_usage([chunk.model_dump(mode="json") for chunk in chunks])
    assert usage.counts.tokens_output == 1700
    assert usage.counts.tokens_cached_input == 8000


def test_a_stream_cut_before_its_finish_reason_is_refused() -> None:
    chunks = [_response({"promptTokenCount": 10000}, finish=None).model_dump(mode="json")]
    with pytest.raises(InvalidInput, match="finishReason") as refused:
        extract_usage(chunks)
    assert refused.value.field == "providerResponse"


@pytest.mark.parametrize(
    ("usage", "why"),
    [
        (None, "usageMetadata is missing"),
        ({"candidatesTokenCount": 5}, "promptTokenCount is missing"),
        ({**USAGE, "thoughtsTokenCount": -1}, "must not be negative"),
        ({**USAGE, "promptTokenCount": "10000"}, "whole number"),
        ({**USAGE, "cachedContentTokenCount": 10001}, "only 10000 input tokens"),
    ],
)
def test_a_malformed_response_is_refused(usage: dict[str, Any] | None, why: str) -> None:
    response = _response(USAGE).model_dump(mode="json", by_alias=True)
    response["usageMetadata"] = usage
    with pytest.raises(InvalidInput, match=why):
        extract_usage(response)
