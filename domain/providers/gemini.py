"""Google Gemini: a GenerateContentResponse, or a stream's chunks (the last carries the totals).

`promptTokenCount` includes `cachedContentTokenCount`; tool-use prompt tokens are input too.
Thinking (`thoughtsTokenCount`) is counted apart from `candidatesTokenCount` and billed as
output, so all output is their sum. Both the REST spelling (usageMetadata.promptTokenCount)
and the Python SDK's model_dump spelling (usage_metadata.prompt_token_count) are read.
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
    refuse,
    required_mapping,
    token_counts,
)

NAME = "gemini"
_KEYS = ("usageMetadata", "candidates", "modelVersion", "promptFeedback", "responseId")


def recognises(response: Any) -> bool:
    if isinstance(response, list):
        return any(recognises(item) for item in response if isinstance(item, dict))
    return isinstance(response, dict) and any(key in _KEYS for key in _camel_keys(response))


def read(response: Any) -> ProviderUsage:
    if isinstance(response, list):
        chunks = [_camel_keys(chunk) for chunk in events(response)]
        if not _finished(chunks[-1]):
            raise refuse(
                "the last chunk of this Gemini stream has no finishReason: it was cut short before its final usage"
            )
        with_usage = [index for index, chunk in enumerate(chunks) if chunk.get("usageMetadata") is not None]
        if not with_usage:
            raise refuse("no chunk of this Gemini stream carries usageMetadata")
        body, where = chunks[with_usage[-1]], f"{ROOT}[{with_usage[-1]}]"
    else:
        body, where = _camel_keys(mapping(response, ROOT)), ROOT
    usage = _camel_keys(required_mapping(body, "usageMetadata", where))
    where = f"{where}.usageMetadata"
    thoughts = count(usage, "thoughtsTokenCount", where)
    counts = token_counts(
        NAME,
        tokens_input=count(usage, "promptTokenCount", where, required=True)
        + count(usage, "toolUsePromptTokenCount", where),
        tokens_output=count(usage, "candidatesTokenCount", where) + thoughts,
        tokens_cached_input=count(usage, "cachedContentTokenCount", where),
        tokens_reasoning=thoughts,
    )
    return ProviderUsage(NAME, counts, model_name(body, "modelVersion", where.removesuffix(".usageMetadata")))


def _finished(chunk: dict[str, Any]) -> bool:
    feedback = chunk.get("promptFeedback")
    if isinstance(feedback, dict) and _camel_keys(feedback).get("blockReason") is not None:
        return True
    candidates = chunk.get("candidates")
    return isinstance(candidates, list) and any(
        isinstance(candidate, dict) and _camel_keys(candidate).get("finishReason") is not None
        for candidate in candidates
    )


def _camel_keys(obj: dict[str, Any]) -> dict[str, Any]:
    """One spelling for both: prompt_token_count -> promptTokenCount (a camel key stays as it is)."""
    return {_camel(key): value for key, value in obj.items()}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
