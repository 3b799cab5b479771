"""Cache writes: 1-hour writes have their own price, and fall back to the cache-write price."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from domain.errors import InvalidInput
from domain.model import ModelVersion, TokenCounts
from domain.pricing import calculate_cost, check_counts
from tests.factories import model_version


def _sonnet(write_1h: D | None) -> ModelVersion:
    return model_version(
        name="claude-sonnet-4-5", provider="anthropic", input_price_per_million=D("3"),
        output_price_per_million=D("15"), cached_input_price_per_million=D("0.30"),
        cache_write_price_per_million=D("3.75"), cache_write_1h_price_per_million=write_1h,
    )


MIXED = TokenCounts(
    tokens_input=4050,
    tokens_output=200,
    tokens_cached_input=1000,
    tokens_cache_write=3000,
    tokens_cache_write_1h=1000,
    tokens_reasoning=120,
)


def test_one_hour_writes_cost_twice_the_input_price_as_anthropic_bills_them() -> None:
    cost = calculate_cost(_sonnet(D("6")), MIXED)
    # 50 x $3 + 1000 x $0.30 + 2000 x $3.75 + 1000 x $6, per million
    assert cost.input == D("0.01395")
    assert cost.output == D("0.003")


def test_without_a_one_hour_price_every_write_costs_the_cache_write_price() -> None:
    assert calculate_cost(_sonnet(None), MIXED).input == D("0.0117")  # 150 + 300 + 3000 x 3.75


def test_one_hour_writes_are_part_of_the_cache_writes() -> None:
    with pytest.raises(InvalidInput, match="1-hour"):
        check_counts(TokenCounts(tokens_input=10, tokens_cache_write=2, tokens_cache_write_1h=3))
