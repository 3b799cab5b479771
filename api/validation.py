"""Query validation that runs once per distinct query text, limits included.

strawberry's ValidationCache keys its cache on the parsed document, whose hash walks the
whole tree on every request, and the depth and alias limiters add fresh rule classes per
request, so nothing was ever found in the cache. Keyed on the query text instead, a known
query costs one dict lookup.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from threading import Lock
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as alias_limit
from strawberry.extensions.query_depth_limiter import create_validator as depth_limit
from strawberry.schema.schema import validate_document


class CachedValidation(SchemaExtension):
    def __init__(self, *, max_depth: int, max_aliases: int, maxsize: int = 1024) -> None:
        self._limits = (depth_limit(max_depth, None), alias_limit(max_aliases))
        self._verdicts: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()
        self._maxsize = maxsize
        self._lock = Lock()

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        rules = (*context.validation_rules, *self._limits)
        key = (context.query, rules)
        errors = self._verdicts.get(key) if context.query else None
        if errors is None:
            assert context.graphql_document is not None
            errors = validate_document(context.schema._schema, context.graphql_document, rules)
            if context.query:
                with self._lock:
                    self._verdicts[key] = errors
                    if len(self._verdicts) > self._maxsize:
                        self._verdicts.popitem(last=False)
        context.pre_execution_errors = errors
        yield
