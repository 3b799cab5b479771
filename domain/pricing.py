"""Credit and cost calculation: pure functions of the rules in DOMAIN.md."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from domain.errors import InvalidInput
from domain.model import BillingSettings, CreditUnit, ModelVersion, OperationConfig, TokenCounts
from domain.money import USD_PLACES, round_credits

MAX_COUNT = 10**9
_MILLION = Decimal(1_000_000)
_USD_QUANTUM = Decimal(1).scaleb(-USD_PLACES)


@dataclass(frozen=True, slots=True)
class Cost:
    input: Decimal
    output: Decimal

    @property
    def total(self) -> Decimal:
        return self.input + self.output


def check_counts(counts: TokenCounts) -> None:
    """Refuse counts no provider can produce. Raises InvalidInput naming the field."""
    for name in (
        "tokens_input",
        "tokens_output",
        "tokens_cached_input",
        "tokens_cache_write",
        "tokens_reasoning",
        "images",
        "tokens_cache_write_1h",
    ):
        value = getattr(counts, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{name} must be an integer", field=_camel(name))
        if value < 0:
            raise InvalidInput(f"{name} must not be negative, got {value}", field=_camel(name))
        if value > MAX_COUNT:
            raise InvalidInput(f"{name} over {MAX_COUNT} is not a real call", field=_camel(name))
    if counts.tokens_cached_input + counts.tokens_cache_write > counts.tokens_input:
        raise InvalidInput(
            "tokensInput counts ALL input tokens, so it must include tokensCachedInput and "
            f"tokensCacheWrite ({counts.tokens_cached_input} + {counts.tokens_cache_write} > "
            f"{counts.tokens_input})",
            field="tokensInput",
        )
    if counts.tokens_cache_write_1h > counts.tokens_cache_write:
        raise InvalidInput(
            "the 1-hour cache writes are part of tokensCacheWrite "
            f"({counts.tokens_cache_write_1h} > {counts.tokens_cache_write})",
            field="tokensCacheWrite",
        )
    if counts.tokens_reasoning > counts.tokens_output:
        raise InvalidInput(
            "tokensOutput counts ALL output tokens, so it must include tokensReasoning "
            f"({counts.tokens_reasoning} > {counts.tokens_output})",
            field="tokensOutput",
        )


def raw_credits(operation: OperationConfig, model: ModelVersion, counts: TokenCounts) -> Decimal:
    tokens = Decimal(counts.tokens_total)
    match operation.unit:
        case CreditUnit.PER_REQUEST:
            return operation.credits_cost
        case CreditUnit.PER_ITEM:
            return operation.credits_cost * counts.images
        case CreditUnit.PER_100_TOKENS:
            return operation.credits_cost * tokens / 100
        case CreditUnit.PER_1000_TOKENS:
            return operation.credits_cost * tokens / 1000
        case CreditUnit.MODEL_TOKENS:
            if not model.tokens_per_credit:
                raise InvalidInput(
                    f"model {model.name} has no tokensPerCredit, so it cannot bill MODEL_TOKENS",
                    field="modelName",
                )
            return max(tokens / model.tokens_per_credit, operation.credits_cost)


def calculate_credits(
    operation: OperationConfig,
    model: ModelVersion,
    counts: TokenCounts,
    settings: BillingSettings,
    *,
    success: bool = True,
) -> Decimal:
    """Credits charged for one call: raw credits rounded once; a failed call is charged 0."""
    if not success:
        return Decimal(0)
    return round_credits(raw_credits(operation, model, counts), settings.rounding_mode, settings.credit_decimal_places)


def calculate_cost(model: ModelVersion, counts: TokenCounts) -> Cost:
    """What the provider charges us, exact (prices carry at most 4 places per million)."""
    cached_price = model.cached_input_price_per_million
    write_price = model.cache_write_price_per_million
    if cached_price is None:
        cached_price = model.input_price_per_million
    if write_price is None:
        write_price = model.input_price_per_million
    write_1h_price = model.cache_write_1h_price_per_million
    if write_1h_price is None:
        write_1h_price = write_price
    plain = counts.tokens_input - counts.tokens_cached_input - counts.tokens_cache_write
    cost_input = (
        plain * model.input_price_per_million
        + counts.tokens_cached_input * cached_price
        + (counts.tokens_cache_write - counts.tokens_cache_write_1h) * write_price
        + counts.tokens_cache_write_1h * write_1h_price
    ) / _MILLION
    cost_output = counts.tokens_output * model.output_price_per_million / _MILLION
    if model.price_per_image is not None:
        cost_output += counts.images * model.price_per_image
    return Cost(_exact_usd(cost_input), _exact_usd(cost_output))


def apply_stated_cost(computed: Cost, stated_total: Decimal) -> Cost:
    """Use the provider's own stated cost, split input/output in the proportion we computed."""
    stated_total = stated_total.quantize(_USD_QUANTUM, rounding=ROUND_HALF_UP)
    if computed.total == 0:
        return Cost(Decimal(0), stated_total)
    cost_input = (stated_total * computed.input / computed.total).quantize(_USD_QUANTUM, rounding=ROUND_HALF_UP)
    return Cost(cost_input, stated_total - cost_input)


def _exact_usd(value: Decimal) -> Decimal:
    quantized = value.quantize(_USD_QUANTUM)
    if quantized != value:  # prices are validated to make this impossible
        raise ArithmeticError(f"cost {value} is not exact at {USD_PLACES} places")
    return quantized


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)
