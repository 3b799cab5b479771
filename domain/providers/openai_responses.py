"""OpenAI Responses API: a response, or a stream's events ending in `response.completed`.

`input_tokens` includes `input_tokens_details.cached_tokens` and `.cache_write_tokens`;
`output_tokens` includes `output_tokens_details.reasoning_tokens`.
"""

from __future__ import annotations

from typing import Any

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

NAME = "openai-responses"
# The events that close a stream; each carries the final response with its usage.
_FINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


def recognises(response: Any) -> bool:
    if isinstance(response, list):
        return any(_is_event(item) for item in response)
    return isinstance(response, dict) and (response.get("object") == "response" or _is_event(response))


def read(response: Any) -> ProviderUsage:
    body, where = _final_response(response)
    usage = required_mapping(body, "usage", where)
    where = f"{where}.usage"
    input_details = optional_mapping(usage, "input_tokens_details", where)
    output_details = optional_mapping(usage, "output_tokens_details", where)
    counts = token_counts(
        NAME,
        tokens_input=count(usage, "input_tokens", where, required=True),
        tokens_output=count(usage, "output_tokens", where, required=True),
        tokens_cached_input=count(input_details, "cached_tokens", f"{where}.input_tokens_details"),
        tokens_cache_write=count(input_details, "cache_write_tokens", f"{where}.input_tokens_details"),
        tokens_reasoning=count(output_details, "reasoning_tokens", f"{where}.output_tokens_details"),
    )
    return ProviderUsage(NAME, counts, model_name(body, "model", where.removesuffix(".usage")))


def _final_response(response: Any) -> tuple[dict[str, Any], str]:
    if isinstance(response, list):
        stream = events(response)
        for index in range(len(stream) - 1, -1, -1):
            if stream[index].get("type") in _FINAL_EVENTS:
                where = f"{ROOT}[{index}]"
                return required_mapping(stream[index], "response", where), f"{where}.response"
        raise refuse(
            "this Responses stream has no response.completed event (nor response.incomplete or "
            "response.failed): it was cut short before its usage arrived"
        )
    body = mapping(response, ROOT)
    if _is_event(body):
        if body.get("type") not in _FINAL_EVENTS:
            raise refuse(f"a single {body.get('type')} event carries no final usage; send response.completed")
        return required_mapping(body, "response", ROOT), f"{ROOT}.response"
    return body, ROOT


def _is_event(item: Any) -> bool:
    kind = item.get("type") if isinstance(item, dict) else None
    return isinstance(kind, str) and kind.startswith("response.")
