"""Flat input types built straight from graphql-core's values, on the hot path.

Strawberry converts an input object field by field through its generic `convert_argument`,
which for recordUsage's 17 fields was an eighth of the server's CPU under load. An input
whose fields are all scalars (or nullable scalars) needs none of that: graphql-core has
already parsed and validated every value. `flat_input` gives such a type strawberry's own
`from_input` hook, which builds the instance from the GraphQL names in one pass, and refuses
at import time a type that has any field it could not build this way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import strawberry
import strawberry.scalars
import strawberry.utils.str_converters
from strawberry.types.base import StrawberryOptional
from strawberry.types.scalar import ScalarWrapper

T = TypeVar("T", bound=type)
_SCALARS: tuple[Any, ...] = (str, int, bool, float, Decimal, datetime, strawberry.ID, strawberry.scalars.JSON)


def _is_scalar(type_: Any) -> bool:
    if isinstance(type_, StrawberryOptional):
        type_ = type_.of_type
    return type_ in _SCALARS or isinstance(type_, ScalarWrapper)


def flat_input(cls: T) -> T:
    """Install the one-pass builder on a strawberry input type made only of scalar fields."""
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    assert definition.is_input, f"{cls.__name__} is not an input type"
    names: list[tuple[str, str]] = []
    required: dict[str, None] = {}
    for field in definition.fields:
        field_type = field.resolve_type(type_definition=definition)
        if not _is_scalar(field_type):
            raise TypeError(f"{cls.__name__}.{field.python_name} is not a scalar field: {field_type!r}")
        names.append((field.graphql_name or strawberry.utils.str_converters.to_camel_case(field.python_name),
                      field.python_name))
        if field.default_value is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            required[field.python_name] = None  # as strawberry does: present unless omitted and nullable

    def build(target: type, value: Mapping[str, Any], _context: Any) -> Any:
        kwargs = dict(required)
        for graphql_name, python_name in names:
            if graphql_name in value:
                kwargs[python_name] = value[graphql_name]
        return target(**kwargs)

    definition.from_input = build
    return cls
