"""Which adapter reads a response: its shape decides, or the product names it."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput
from domain.providers import PROVIDERS, extract_usage


@pytest.mark.parametrize(
    ("response", "provider"),
    [
        ({"object": "chat.completion", "usage": {"prompt_tokens": 1, "completion_tokens": 1}}, "openai"),
        ({"usage": {"prompt_tokens": 1, "completion_tokens": 1, "cost": 0.1}}, "openrouter"),
        ({"object": "response", "usage": {"input_tokens": 1, "output_tokens": 1}}, "openai-responses"),
        ({"type": "message", "usage": {"input_tokens": 1, "output_tokens": 1}}, "anthropic"),
        ({"usageMetadata": {"promptTokenCount": 1}}, "gemini"),
        ({"usage_metadata": {"prompt_token_count": 1}}, "gemini"),
        ({"data": [{"taskType": "imageInference", "imageUUID": "u"}]}, "runware"),
    ],
)
def test_each_shape_is_told_apart(response: dict[str, object], provider: str) -> None:
    assert extract_usage(response).provider == provider


def test_the_documented_names_are_accepted() -> None:
    assert PROVIDERS == (
        "anthropic",
        "gemini",
        "google",
        "openai",
        "openai-responses",
        "openrouter",
        "runware",
    )


@pytest.mark.parametrize("response", [{"tokens": 12}, [], "[1, 2", 12, None, ["chunk"]])
def test_a_response_of_no_known_shape_is_refused(response: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        extract_usage(response)
    assert refused.value.field == "providerResponse"


def test_an_unknown_provider_name_is_refused_on_its_own_field() -> None:
    with pytest.raises(InvalidInput, match="is not one of") as refused:
        extract_usage({"usage": {}}, provider="mistral")
    assert refused.value.field == "provider"


def test_json_text_keeps_a_stated_cost_exact() -> None:
    text = '{"usage": {"prompt_tokens": 1, "completion_tokens": 1, "cost": 0.10000000000000000555}}'
    assert str(extract_usage(text).stated_cost_usd) == "0.10000000000000000555"
