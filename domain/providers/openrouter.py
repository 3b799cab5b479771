"""OpenRouter: the Chat Completions shape, plus the cost OpenRouter charged in `usage.cost`.

With a key of the product's own (`usage.is_byok`), `cost` is only OpenRouter's fee and the
provider bills `cost_details.upstream_inference_cost` directly: the call cost both.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.providers import openai_chat
from domain.providers.port import ProviderUsage
from domain.providers.reader import optional_mapping, usd

NAME = "openrouter"


def recognises(response: Any) -> bool:
    if not openai_chat.recognises(response):
        return False
    candidates = response if isinstance(response, list) else [response]
    return any(
        isinstance(item, dict) and isinstance(item.get("usage"), dict) and "cost" in item["usage"]
        for item in candidates
    )


def read(response: Any) -> ProviderUsage:
    usage, model, where = openai_chat.final_usage(response, NAME)
    counts = openai_chat.counts(usage, where, NAME)
    return ProviderUsage(NAME, counts, model, _stated_cost(usage, where))


def _stated_cost(usage: dict[str, Any], where: str) -> Decimal | None:
    if usage.get("cost") is None:
        return None
    cost = usd(usage["cost"], f"{where}.cost")
    details = optional_mapping(usage, "cost_details", where)
    if usage.get("is_byok") is True and details.get("upstream_inference_cost") is not None:
        cost += usd(details["upstream_inference_cost"], f"{where}.cost_details.upstream_inference_cost")
    return cost
