"""Strict reading of provider JSON: counts are non-negative integers, costs exact decimals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.errors import InvalidInput
from domain.model import TokenCounts
from domain.money import MAX_AMOUNT

ROOT = "providerResponse"


def refuse(message: str) -> InvalidInput:
    return InvalidInput(message, field=ROOT)


def mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise refuse(f"{where} must be a JSON object, got {_kind(value)}")
    return value


def required_mapping(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    if parent.get(key) is None:
        raise refuse(f"{where}.{key} is missing, so the call cannot be billed from this response")
    return mapping(parent[key], f"{where}.{key}")


def optional_mapping(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """An optional object; absent or null reads as empty."""
    if parent.get(key) is None:
        return {}
    return mapping(parent[key], f"{where}.{key}")


def events(response: list[Any]) -> list[dict[str, Any]]:
    """The chunks or events a product collected while streaming, each a JSON object."""
    if not response:
        raise refuse(f"{ROOT} is an empty stream: it carries no usage")
    return [mapping(item, f"{ROOT}[{index}]") for index, item in enumerate(response)]


def count(parent: dict[str, Any], key: str, where: str, *, required: bool = False) -> int:
    """A token count: a JSON integer >= 0 (not a string, float or boolean); absent is 0 unless required."""
    value = parent.get(key)
    if value is None:
        if required:
            raise refuse(f"{where}.{key} is missing, so the call cannot be billed from this response")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise refuse(f"{where}.{key} must be a whole number of tokens, got {_kind(value)} {value!r}")
    if value < 0:
        raise refuse(f"{where}.{key} must not be negative, got {value}")
    return value


def usd(value: Any, where: str) -> Decimal:
    """A provider-stated cost, exact: a float is read from its shortest text, never converted."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise refuse(f"{where} must be a JSON number of USD, got {_kind(value)} {value!r}")
    amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not amount.is_finite() or not Decimal(0) <= amount <= MAX_AMOUNT:
        raise refuse(f"{where} must be a cost between 0 and {MAX_AMOUNT} USD, got {value!r}")
    return amount


def model_name(parent: dict[str, Any], key: str, where: str) -> str | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise refuse(f"{where}.{key} must be the model's name, got {_kind(value)} {value!r}")
    return value.strip()


def token_counts(
    provider: str,
    *,
    tokens_input: int,
    tokens_output: int,
    tokens_cached_input: int = 0,
    tokens_cache_write: int = 0,
    tokens_cache_write_1h: int = 0,
    tokens_reasoning: int = 0,
    images: int = 0,
) -> TokenCounts:
    """The normalised buckets, refusing a response whose parts exceed its totals."""
    if tokens_cached_input + tokens_cache_write > tokens_input:
        raise refuse(
            f"the {provider} response reports {tokens_cached_input} cached and {tokens_cache_write} "
            f"cache-write tokens but only {tokens_input} input tokens in all"
        )
    if tokens_reasoning > tokens_output:
        raise refuse(
            f"the {provider} response reports {tokens_reasoning} reasoning tokens but only "
            f"{tokens_output} output tokens in all"
        )
    return TokenCounts(
        tokens_input=tokens_input,
        tokens_output=tokens_output,
        tokens_cached_input=tokens_cached_input,
        tokens_cache_write=tokens_cache_write,
        tokens_reasoning=tokens_reasoning,
        images=images,
        tokens_cache_write_1h=tokens_cache_write_1h,
    )


def _kind(value: Any) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case str():
            return "a string"
        case int():
            return "an integer"
        case float() | Decimal():
            return "a fraction"
        case list():
            return "a list"
        case dict():
            return "an object"
    return type(value).__name__
