"""Runware: a task response (`{"data": [...]}`) or its list of results, one image each.

With `includeCost` set on the task, each result states its `cost` in USD; the call costs
their sum. Without it the catalogue's price per image applies.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.providers.port import ProviderUsage
from domain.providers.reader import ROOT, events, mapping, refuse, token_counts, usd

NAME = "runware"
_IMAGE_FIELDS = ("imageUUID", "imageURL", "imageBase64Data", "imageDataURI")


def recognises(response: Any) -> bool:
    if isinstance(response, dict) and isinstance(response.get("data"), list):
        response = response["data"]
    if isinstance(response, list):
        return any(isinstance(item, dict) and "taskType" in item for item in response)
    return isinstance(response, dict) and "taskType" in response


def read(response: Any) -> ProviderUsage:
    results, where = _results(response)
    images = sum(1 for item in results if any(item.get(key) is not None for key in _IMAGE_FIELDS))
    if images == 0:
        raise refuse("this Runware response holds no image result (imageUUID, imageURL, ...) to bill")
    costs = [item.get("cost") for item in results]
    stated: Decimal | None = None
    if any(cost is not None for cost in costs):
        if any(cost is None for cost in costs):
            raise refuse("some Runware results state a cost and others do not; set includeCost on every task")
        stated = sum((usd(cost, f"{where}[{index}].cost") for index, cost in enumerate(costs)), Decimal(0))
    counts = token_counts(NAME, tokens_input=0, tokens_output=0, images=images)
    return ProviderUsage(NAME, counts, None, stated)


def _results(response: Any) -> tuple[list[dict[str, Any]], str]:
    if isinstance(response, list):
        return events(response), ROOT
    body = mapping(response, ROOT)
    if "taskType" in body:
        return [body], ROOT
    if body.get("errors") and not body.get("data"):
        raise refuse(f"this Runware response is an error, not a result: {str(body['errors'])[:200]}")
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise refuse(f"{ROOT}.data must be the list of Runware results")
    return [mapping(item, f"{ROOT}.data[{index}]") for index, item in enumerate(data)], f"{ROOT}.data"
