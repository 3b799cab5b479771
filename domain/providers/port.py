"""The port every provider adapter fits: recognise a response's shape, read its usage."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from domain.model import TokenCounts


@dataclass(frozen=True, slots=True)
class ProviderUsage:
    """What a provider response says about one call, in DOMAIN.md's normalised buckets."""

    provider: str
    counts: TokenCounts
    model: str | None = None
    stated_cost_usd: Decimal | None = None


class ProviderAdapter(Protocol):
    def recognises(self, response: Any) -> bool:
        """True when `response` (decoded JSON) has this provider's shape."""
        ...

    def read(self, response: Any) -> ProviderUsage:
        """The usage of one call. Raises InvalidInput when it cannot be billed exactly."""
        ...
