"""Credits and costs against DOMAIN.md's tables, with awkward numbers."""

from __future__ import annotations

from decimal import ROUND_CEILING
from decimal import Decimal as D

import pytest

from domain.errors import InvalidInput
from domain.model import BillingSettings, CreditUnit, ModelType, OperationConfig, TokenCounts
from domain.money import RoundingMode, round_credits
from domain.pricing import apply_stated_cost, calculate_cost, calculate_credits, check_counts
from tests.factories import model_version

_model = model_version


def _op(unit: CreditUnit, cost: str) -> OperationConfig:
    return OperationConfig("op", ModelType.TEXT, unit, D(cost))


UP0 = BillingSettings(RoundingMode.UP, 0)


@pytest.mark.parametrize(
    ("unit", "cost", "tokens_in", "tokens_out", "images", "raw"),
    [
        (CreditUnit.PER_REQUEST, "3", 999, 999, 0, D("3")),
        (CreditUnit.PER_ITEM, "2.5", 0, 0, 3, D("7.5")),
        (CreditUnit.PER_100_TOKENS, "1", 150, 101, 0, D("2.51")),
        (CreditUnit.PER_1000_TOKENS, "0.7", 1234, 1, 0, D("0.8645")),
        (CreditUnit.MODEL_TOKENS, "1", 1234, 1, 0, D("24.7")),  # 1235 / 50
        (CreditUnit.MODEL_TOKENS, "30", 1234, 1, 0, D("30")),  # the minimum wins
    ],
)
def test_each_unit_gives_the_raw_credits_of_the_table(
    unit: CreditUnit, cost: str, tokens_in: int, tokens_out: int, images: int, raw: D
) -> None:
    counts = TokenCounts(tokens_input=tokens_in, tokens_output=tokens_out, images=images)
    exact = BillingSettings(RoundingMode.UP, 4)
    assert calculate_credits(_op(unit, cost), _model(), counts, exact) == round_credits(raw, RoundingMode.UP, 4)
    assert calculate_credits(_op(unit, cost), _model(), counts, UP0) == raw.to_integral_value(rounding=ROUND_CEILING)


@pytest.mark.parametrize(
    ("raw", "mode", "places", "expected"),
    [
        (D("2.01"), RoundingMode.UP, 0, D("3")),
        (D("2.99"), RoundingMode.DOWN, 0, D("2")),
        (D("2.5"), RoundingMode.NEAREST, 0, D("3")),
        (D("2.49999"), RoundingMode.NEAREST, 0, D("2")),
        (D("0.12341"), RoundingMode.UP, 4, D("0.1235")),
        (D("0.12349"), RoundingMode.DOWN, 4, D("0.1234")),
        (D("0.125"), RoundingMode.NEAREST, 2, D("0.13")),
        (D("7"), RoundingMode.UP, 2, D("7.00")),
    ],
)
def test_rounding_follows_mode_and_places(raw: D, mode: RoundingMode, places: int, expected: D) -> None:
    assert round_credits(raw, mode, places) == expected


def test_model_tokens_rounds_a_third_up_to_a_whole_credit() -> None:
    counts = TokenCounts(tokens_input=100, tokens_output=0)
    model = _model(tokens_per_credit=300)
    assert calculate_credits(_op(CreditUnit.MODEL_TOKENS, "0"), model, counts, UP0) == D("1")
    assert calculate_credits(
        _op(CreditUnit.MODEL_TOKENS, "0"), model, counts, BillingSettings(RoundingMode.DOWN, 2)
    ) == D("0.33")
    assert calculate_credits(
        _op(CreditUnit.MODEL_TOKENS, "0"), model, counts, BillingSettings(RoundingMode.NEAREST, 3)
    ) == D("0.333")


def test_a_failed_call_is_charged_nothing() -> None:
    counts = TokenCounts(tokens_input=5000, tokens_output=5000)
    assert calculate_credits(_op(CreditUnit.PER_REQUEST, "9"), _model(), counts, UP0, success=False) == D(0)


def test_cost_splits_plain_cached_and_written_input() -> None:
    counts = TokenCounts(
        tokens_input=1_000_003,
        tokens_output=7,
        tokens_cached_input=400_000,
        tokens_cache_write=100_001,
        tokens_reasoning=5,
    )
    cost = calculate_cost(_model(), counts)
    plain = 1_000_003 - 400_000 - 100_001
    assert cost.input == (plain * D("2.50") + 400_000 * D("1.25") + 100_001 * D("3.125")) / 1_000_000
    assert cost.output == 7 * D("10.00") / 1_000_000
    assert cost.total == cost.input + cost.output
    assert cost.input == D("2.062508125")  # exact at 10 places, never rounded to cents


def test_cache_prices_default_to_the_input_price() -> None:
    model = _model(cached_input_price_per_million=None, cache_write_price_per_million=None)
    counts = TokenCounts(tokens_input=1000, tokens_cached_input=600, tokens_cache_write=400)
    assert calculate_cost(model, counts).input == 1000 * D("2.50") / 1_000_000


def test_image_models_add_the_price_per_image_to_output() -> None:
    model = _model(model_type=ModelType.IMAGE, price_per_image=D("0.0013"), output_price_per_million=D("0"))
    assert calculate_cost(model, TokenCounts(images=3)).output == D("0.0039")


def test_a_stated_cost_wins_and_keeps_the_computed_proportion() -> None:
    cost = apply_stated_cost(calculate_cost(_model(), TokenCounts(tokens_input=1000, tokens_output=1000)), D("0.01"))
    assert cost.total == D("0.01")
    assert cost.input == D("0.002")  # input was 2.5 of 12.5 computed


@pytest.mark.parametrize(
    "counts",
    [
        TokenCounts(tokens_input=-1),
        TokenCounts(tokens_output=10**9 + 1),
        TokenCounts(tokens_input=10, tokens_cached_input=8, tokens_cache_write=3),
        TokenCounts(tokens_output=10, tokens_reasoning=11),
    ],
)
def test_impossible_counts_are_refused(counts: TokenCounts) -> None:
    with pytest.raises(InvalidInput):
        check_counts(counts)
