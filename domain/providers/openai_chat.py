"""OpenAI Chat Completions: a response, or a stream's chunks (`stream_options.include_usage`).

`prompt_tokens` already includes the cached ones (`prompt_tokens_details.cached_tokens`) and
`completion_tokens` the reasoning ones, which is exactly DOMAIN.md's shape.
"""

from __future__ import annotations

from typing import Any

from domain.model import TokenCounts
from domain.providers.port import ProviderUsage
from domain.providers.reader import (
    ROOT,
    count,
    events,
    mapping,
    model_name,
    optional_mapping,
    refuse,
    required_mapping,
    token_counts,
)

NAME = "openai"
_OBJECTS = ("chat.completion", "chat.completion.chunk")


def recognises(response: Any) -> bool:
    if isinstance(response, list):
        return any(isinstance(item, dict) and item.get("object") == _OBJECTS[1] for item in response)
    if not isinstance(response, dict):
        return False
    usage = response.get("usage")
    return response.get("object") in _OBJECTS or (isinstance(usage, dict) and "prompt_tokens" in usage)


def read(response: Any) -> ProviderUsage:
    usage, model, where = final_usage(response, NAME)
    return ProviderUsage(NAME, counts(usage, where, NAME), model)


def final_usage(response: Any, provider: str) -> tuple[dict[str, Any], str | None, str]:
    """The usage object (of the last chunk that carries one, for a stream), the model, and its path."""
    if isinstance(response, list):
        chunks = events(response)
        for index in range(len(chunks) - 1, -1, -1):
            if chunks[index].get("usage") is not None:
                where = f"{ROOT}[{index}]"
                model = model_name(chunks[index], "model", where) or _first_model(chunks)
                return mapping(chunks[index]["usage"], f"{where}.usage"), model, f"{where}.usage"
        raise refuse(
            f"no chunk of this {provider} stream carries usage: the stream was cut short, or was "
            "requested without stream_options={'include_usage': True}"
        )
    body = mapping(response, ROOT)
    return required_mapping(body, "usage", ROOT), model_name(body, "model", ROOT), f"{ROOT}.usage"


def counts(usage: dict[str, Any], where: str, provider: str) -> TokenCounts:
    prompt_details = optional_mapping(usage, "prompt_tokens_details", where)
    completion_details = optional_mapping(usage, "completion_tokens_details", where)
    return token_counts(
        provider,
        tokens_input=count(usage, "prompt_tokens", where, required=True),
        tokens_output=count(usage, "completion_tokens", where, required=True),
        tokens_cached_input=count(prompt_details, "cached_tokens", f"{where}.prompt_tokens_details"),
        tokens_cache_write=count(prompt_details, "cache_write_tokens", f"{where}.prompt_tokens_details"),
        tokens_reasoning=count(completion_details, "reasoning_tokens", f"{where}.completion_tokens_details"),
    )


def _first_model(chunks: list[dict[str, Any]]) -> str | None:
    for index, chunk in enumerate(chunks):
        if (model := model_name(chunk, "model", f"{ROOT}[{index}]")) is not None:
            return model
    return None
