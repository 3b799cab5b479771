"""OpenAI Chat Completions responses, built with the openai SDK, read into DOMAIN.md's buckets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from domain.errors import InvalidInput
from domain.model import TokenCounts
from domain.providers import extract_usage


def _completion(usage: dict[str, Any] | None, model: str = "gpt-4o-mini-2024-07-18") -> dict[str, Any]:
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
            "object": "chat.completion",
            "created": 1741570283,
            "model": model,
            "system_fingerprint": "fp_fc9f1d7035",
            "service_tier": "default",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "logprobs": None,
                    "message": {"role": "assistant", "content": "Paris.", "refusal": None},
                }
            ],
            "usage": usage,
        }
    ).model_dump(mode="json")


# From OpenAI's prompt-caching guide: 1920 of 2006 prompt tokens came from the cache.
CACHED_AND_REASONING = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 128,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def _chunk(index: int, content: str | None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    choices = [] if content is None else [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
    return ChatCompletionChunk.model_validate(
        {
            "id": "chatcmpl-stream",
            "object": "chat.completion.chunk",
            "created": 1741570283 + index,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": choices,
            "usage": usage,
        }
    ).model_dump(mode="json")


def test_prompt_tokens_already_include_the_cached_ones_so_nothing_is_counted_twice() -> None:
    usage = extract_usage(_completion(CACHED_AND_REASONING))
    assert usage.provider == "openai"
    assert usage.model == "gpt-4o-mini-2024-07-18"
    assert usage.stated_cost_usd is None
    assert usage.counts == TokenCounts(
        tokens_input=2006, tokens_output=300, tokens_cached_input=1920, tokens_reasoning=128
    )


def test_a_response_without_details_has_no_cached_or_reasoning_tokens() -> None:
    usage = extract_usage(_completion({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}))
    assert usage.counts == TokenCounts(tokens_input=12, tokens_output=5)


def test_a_stream_is_billed_from_the_usage_of_its_last_chunk() -> None:
    chunks = [
        _chunk(0, ""),
        _chunk(1, "Par"),
        _chunk(2, "is."),
        _chunk(
            3,
            None,
            {
                "prompt_tokens": 2006,
                "completion_tokens": 300,
                "total_tokens": 2306,
                "prompt_tokens_details": {"cached_tokens": 1920},
            },
        ),
    ]
    usage = extract_usage(chunks)
    assert usage.counts == TokenCounts(tokens_input=2006, tokens_output=300, tokens_cached_input=1920)
    assert usage.model == "gpt-4o-mini-2024-07-18"


def test_the_response_may_arrive_as_json_text_or_be_named() -> None:
    response = _completion(CACHED_AND_REASONING)
    assert extract_usage(json.dumps(response)).counts == extract_usage(response, provider="openai").counts


def test_a_stream_without_a_usage_chunk_is_refused_as_truncated() -> None:
    with pytest.raises(InvalidInput, match="include_usage") as refused:
        extract_usage([_chunk(0, ""), _chunk(1, "Par")])
    assert refused.value.field == "providerResponse"


@pytest.mark.parametrize(
    ("usage", "why"),
    [
        (None, "usage is missing"),
        ({"prompt_tokens": -1, "completion_tokens": 5}, "must not be negative"),
        ({"prompt_tokens": "12", "completion_tokens": 5}, "whole number"),
        ({"prompt_tokens": 12.0, "completion_tokens": 5}, "whole number"),
        ({"prompt_tokens": True, "completion_tokens": 5}, "whole number"),
        ({"prompt_tokens": 12}, "completion_tokens is missing"),
        (
            {"prompt_tokens": 12, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 13}},
            "only 12 input tokens",
        ),
        (
            {
                "prompt_tokens": 12,
                "completion_tokens": 5,
                "completion_tokens_details": {"reasoning_tokens": 6},
            },
            "only 5 output tokens",
        ),
    ],
)
def test_a_malformed_completion_is_refused(usage: dict[str, Any] | None, why: str) -> None:
    response = _completion({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})
    response["usage"] = usage  # the SDK would refuse some of these, a product's JSON may not
    with pytest.raises(InvalidInput, match=why) as refused:
        extract_usage(response)
    assert refused.value.field == "providerResponse"
