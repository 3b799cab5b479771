"""The one-pass input builder gives exactly what strawberry's own conversion gives."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from strawberry.types.arguments import convert_argument

from api.inputs import flat_input
from api.schema import build_schema
from api.usage import QuoteInput, RecordUsageInput

FULL = {
    "idempotencyKey": "k-1", "accountId": "acc", "operationType": "content", "modelName": "gpt-4o",
    "tokensInput": 1200, "tokensOutput": 350, "tokensCachedInput": 200, "tokensCacheWrite": 5,
    "tokensReasoning": 7, "images": 0, "providerResponse": {"usage": {"prompt_tokens": 3}, "model": "m"},
    "success": False, "occurredAt": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "metadata": [1, "two", None],
    "provider": "openai", "tokensEstimated": True,
}
CASES: list[tuple[type, dict[str, Any]]] = [
    (RecordUsageInput, FULL),
    (RecordUsageInput, {"idempotencyKey": "k", "accountId": "a", "operationType": "content"}),
    (RecordUsageInput, {"idempotencyKey": "k", "accountId": "a", "operationType": "content", "tokensInput": None,
                        "success": None, "metadata": None, "modelName": None}),
    (QuoteInput, {"accountId": "a", "operationType": "content"}),
    (QuoteInput, {"accountId": "a", "operationType": "image", "images": 3, "tokensInput": None, "provider": "x"}),
]


@pytest.mark.parametrize(("input_type", "value"), CASES)
def test_the_same_instance_as_strawberrys_conversion(input_type: type, value: dict[str, Any]) -> None:
    schema = build_schema()
    definition = input_type.__strawberry_definition__  # type: ignore[attr-defined]
    fast = convert_argument(value, input_type, schema.schema_converter.scalar_registry, schema.config)
    hook, definition.from_input = definition.from_input, None
    try:
        generic = convert_argument(value, input_type, schema.schema_converter.scalar_registry, schema.config)
    finally:
        definition.from_input = hook
    assert hook is not None
    assert dataclasses.asdict(fast) == dataclasses.asdict(generic)  # type: ignore[call-overload]


def test_a_type_with_a_field_it_cannot_build_is_refused() -> None:
    @strawberry.input
    class Inner:
        x: int

    @strawberry.input
    class Outer:
        inner: Inner

    with pytest.raises(TypeError, match="not a scalar field"):
        flat_input(Outer)
