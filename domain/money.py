"""Money and credits: exact decimals with fixed places, and the one rounding function.

Amounts are plain `Decimal`s built from strings; the places below are what every layer
keeps exactly, and a value with more places is refused, never rounded silently."""

from __future__ import annotations

import enum
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

# Every credit amount is exact at 4 places (the most creditDecimalPlaces allows).
CREDIT_PLACES = 4
# Every dollar amount is exact at 10 places: prices per million tokens carry at most
# 4 places, so tokens x price / 1e6 never needs more and costs are never rounded.
USD_PLACES = 10
# An operation's creditsCost is a rate: it may be finer than a credit.
CREDIT_COST_PLACES = 10
PRICE_PER_MILLION_PLACES = 4
# The largest magnitude accepted anywhere (fits a 64-bit integer at 10 places).
MAX_AMOUNT = Decimal("100000000")


class RoundingMode(enum.Enum):
    UP = "UP"
    DOWN = "DOWN"
    NEAREST = "NEAREST"


_DECIMAL_ROUNDING = {
    RoundingMode.UP: ROUND_CEILING,
    RoundingMode.DOWN: ROUND_FLOOR,
    RoundingMode.NEAREST: ROUND_HALF_UP,
}


def round_credits(raw: Decimal, mode: RoundingMode, places: int) -> Decimal:
    """Round raw credits to `places` decimals with the settings' mode (UP = ceiling)."""
    if not 0 <= places <= CREDIT_PLACES:
        raise ValueError(f"credit places must be 0..{CREDIT_PLACES}, got {places}")
    return raw.quantize(Decimal(1).scaleb(-places), rounding=_DECIMAL_ROUNDING[mode])


def places_of(value: Decimal) -> int:
    """How many decimal places a finite decimal really uses ("1.50" uses 1)."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def is_exact(value: Decimal, places: int) -> bool:
    try:
        return value.is_finite() and places_of(value) <= places
    except InvalidOperation:
        return False
