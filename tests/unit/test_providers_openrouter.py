"""OpenRouter: the Chat Completions shape (built with the openai SDK) plus the stated `usage.cost`."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from domain.errors import InvalidInput
from domain.model import TokenCounts
from domain.providers import extract_usage

USAGE = {
    "prompt_tokens": 194,
    "completion_tokens": 2,
    "total_tokens": 196,
    "cost": 0.000095,
    "prompt_tokens_details": {"cached_tokens": 100},
    "completion_tokens_details": {"reasoning_tokens": 0},
}


def _completion(usage: dict[str, Any]) -> dict[str, Any]:
    return ChatCompletion.model_validate(
        {
            "id": "gen-1234567890",
            "object": "chat.completion",
            "created": 1741570283,
            "model": "openai/gpt-4o",
            "provider": "OpenAI",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi"}}],
            "usage": usage,
        }
    ).model_dump(mode="json")


def test_the_cost_openrouter_states_is_read_exactly_from_the_number() -> None:
    usage = extract_usage(_completion(USAGE))
    assert usage.provider == "openrouter"
    assert usage.model == "openai/gpt-4o"
    assert usage.stated_cost_usd == D("0.000095")
    assert usage.counts == TokenCounts(tokens_input=194, tokens_output=2, tokens_cached_input=100)


def test_with_the_products_own_key_the_upstream_cost_is_added() -> None:
    byok = {
        **USAGE,
        "is_byok": True,
        "cost": 0.0000048,
        "cost_details": {"upstream_inference_cost": 0.000095},
    }
    assert extract_usage(_completion(byok)).stated_cost_usd == D("0.0000998")


def test_a_stream_takes_the_cost_of_its_last_chunk() -> None:
    chunks = [
        ChatCompletionChunk.model_validate(
            {
                "id": "gen-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "openai/gpt-4o",
                "choices": choices,
                "usage": usage,
            }
        ).model_dump(mode="json")
        for choices, usage in (([{"index": 0, "delta": {"content": "Hi"}}], None), ([], USAGE))
    ]
    usage = extract_usage(chunks)
    assert usage.provider == "openrouter"
    assert usage.stated_cost_usd == D("0.000095")


@pytest.mark.parametrize(
    ("cost", "why"),
    [("0.000095", "JSON number"), (-0.01, "between 0 and"), (True, "JSON number")],
)
def test_a_malformed_cost_is_refused(cost: Any, why: str) -> None:
    response = _completion(USAGE)
    response["usage"]["cost"] = cost
    with pytest.raises(InvalidInput, match=why):
        extract_usage(response)
