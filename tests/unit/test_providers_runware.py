"""Runware image results, as its API documentation shows them (there is no typed SDK to build them)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from domain.errors import InvalidInput
from domain.model import TokenCounts
from domain.providers import extract_usage


def _image(number: int, cost: Any = 0.0013) -> dict[str, Any]:
    item = {
        "taskType": "imageInference",
        "taskUUID": "a770f077-f413-47de-9dac-be0b26a35da6",
        "imageUUID": f"77da2d99-a6d3-44d9-b8c0-ae9fb06b620{number}",
        "imageURL": f"https://im.runware.ai/image/ws/0.5/ii/{number}.jpg",
    }
    if cost is not None:
        item["cost"] = cost
    return item


def test_each_result_is_one_image_and_the_stated_costs_are_summed_exactly() -> None:
    usage = extract_usage({"data": [_image(1), _image(2), _image(3)]})
    assert usage.provider == "runware"
    assert usage.counts == TokenCounts(images=3)
    assert usage.stated_cost_usd == D("0.0039")  # 3 x 0.0013, where floats would give 0.0039000000000000003


def test_the_sdk_list_of_results_reads_the_same() -> None:
    assert extract_usage([_image(1)], provider="runware").stated_cost_usd == D("0.0013")


def test_without_include_cost_the_catalogue_price_applies() -> None:
    usage = extract_usage({"data": [_image(1, cost=None), _image(2, cost=None)]})
    assert usage.counts.images == 2
    assert usage.stated_cost_usd is None


@pytest.mark.parametrize(
    ("response", "why"),
    [
        ({"data": [_image(1), _image(2, cost=None)]}, "some Runware results state a cost"),
        ({"data": [_image(1, cost=-0.0013)]}, "between 0 and"),
        ({"data": [_image(1, cost="0.0013")]}, "JSON number"),
        ({"data": []}, "list of Runware results"),
        ({"errors": [{"code": "invalidApiKey", "message": "Invalid API key"}]}, "is an error"),
        ({"data": [{"taskType": "imageInference", "taskUUID": "x"}]}, "no image result"),
    ],
)
def test_a_malformed_result_is_refused(response: dict[str, Any], why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as refused:
        extract_usage(response, provider="runware")
    assert refused.value.field == "providerResponse"
