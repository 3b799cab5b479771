"""Domain objects for tests, with plain defaults that a test overrides where it matters."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

from domain.model import ModelType, ModelVersion


def model_version(**overrides: Any) -> ModelVersion:
    fields: dict[str, Any] = dict(
        id=1,
        name="m",
        display_name="M",
        provider="openai",
        model_type=ModelType.TEXT,
        tokens_per_credit=50,
        input_price_per_million=D("2.50"),
        output_price_per_million=D("10.00"),
        cached_input_price_per_million=D("1.25"),
        cache_write_price_per_million=D("3.125"),
        price_per_image=None,
        version=1,
        effective_from=datetime(2024, 1, 1, tzinfo=UTC),
    )
    fields.update(overrides)
    return ModelVersion(**fields)
