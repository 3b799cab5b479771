"""Reading token counts out of raw provider responses (one adapter per provider shape)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from domain.errors import InvalidInput
from domain.model import TokenCounts


@dataclass(frozen=True, slots=True)
class ProviderUsage:
    """What a provider response says about one call, in DOMAIN.md's normalised buckets."""

    provider: str
    counts: TokenCounts
    model: str | None = None
    stated_cost_usd: Decimal | None = None


def extract_usage(response: Any, provider: str | None = None) -> ProviderUsage:
    """Normalise a raw provider response. Raises InvalidInput when it cannot be billed."""
    raise InvalidInput("providerResponse is not supported yet; send token counts", field="providerResponse")


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
