"""Reading token counts out of raw provider responses (one adapter per provider shape).

A product sends the JSON its provider returned (or the chunks of a stream, as a list) and
optionally names its shape; `extract_usage` picks the adapter and returns DOMAIN.md's buckets.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from decimal import Decimal
from typing import Any

from domain.errors import InvalidInput
from domain.model import TokenCounts
from domain.providers import anthropic, gemini, openai_chat, openai_responses, openrouter, runware
from domain.providers.port import ProviderAdapter, ProviderUsage
from domain.providers.reader import ROOT

__all__ = [
    "PROVIDERS",
    "ProviderAdapter",
    "ProviderUsage",
    "extract_usage",
    "merge_counts",
    "response_digest",
]

# Tried in this order when the shape decides: OpenRouter is the Chat Completions shape plus a cost.
_ADAPTERS: dict[str, ProviderAdapter] = {
    openrouter.NAME: openrouter,
    openai_chat.NAME: openai_chat,
    openai_responses.NAME: openai_responses,
    anthropic.NAME: anthropic,
    gemini.NAME: gemini,
    runware.NAME: runware,
}
_ALIASES = {"google": gemini.NAME}
# The names a product may send in `provider`.
PROVIDERS = tuple(sorted([*_ADAPTERS, *_ALIASES]))


def extract_usage(response: Any, provider: str | None = None) -> ProviderUsage:
    """Normalise a raw provider response. Raises InvalidInput when it cannot be billed."""
    if isinstance(response, str):
        response = _parse(response)
    if provider is not None and provider.strip():
        return _named(provider).read(response)
    for adapter in _ADAPTERS.values():
        if adapter.recognises(response):
            return adapter.read(response)
    raise InvalidInput(
        f"{ROOT} has no shape creditmeter knows: send an OpenAI Chat Completions or Responses, "
        "Anthropic Messages, Gemini, Runware or OpenRouter response (or a list of its stream's "
        f"chunks), or name its shape in provider ({', '.join(PROVIDERS)})",
        field=ROOT,
    )


def response_digest(response: Any) -> str:
    from domain.services import canonical_json

    return hashlib.sha256(canonical_json(response).encode()).hexdigest()


def merge_counts(explicit: dict[str, int | None], extracted: TokenCounts | None) -> TokenCounts:
    """Explicit counts, or the response's; both given and disagreeing is an error."""
    if extracted is None:
        return TokenCounts(**{name: value or 0 for name, value in explicit.items()})
    for field in fields(TokenCounts):
        given = explicit.get(field.name)
        found = getattr(extracted, field.name)
        if given is not None and given != found:
            camel = field.name.split("_")[0] + "".join(p.title() for p in field.name.split("_")[1:])
            raise InvalidInput(
                f"{camel} is {given} but the provider response says {found}; send one or make them agree",
                field=camel,
            )
    return extracted


def _named(provider: str) -> ProviderAdapter:
    name = provider.strip().lower()
    adapter = _ADAPTERS.get(_ALIASES.get(name, name))
    if adapter is None:
        raise InvalidInput(f"provider {provider!r} is not one of {', '.join(PROVIDERS)}", field="provider")
    return adapter


def _parse(text: str) -> Any:
    """A response sent as JSON text: its fractions stay exact decimals."""
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as error:
        raise InvalidInput(f"{ROOT} is a string but not JSON text: {error}", field=ROOT) from None
