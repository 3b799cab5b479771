"""The schema's one extension: parse and validate once per distinct query text, limits
included, and mask the server's own errors.

strawberry's ValidationCache keys its cache on the parsed document, whose hash walks the
whole tree on every request, and the depth and alias limiters add fresh rule classes per
request, so nothing was ever found in the cache. Keyed on the query text instead, a known
query costs one dict lookup. One shared instance does all of it: strawberry runs every
extension's hooks for every phase of every request, and four extensions (token limit, parser
cache, validation, masking) cost recordUsage, the hot path, a tenth of its API time.

strawberry sets `execution_context` on the shared instance at the start of each request, and
nothing suspends between that and the parse and validate hooks; the operation hook keeps its
request's context in a local, because execution suspends (and other requests start) before
its errors are masked. The recordUsage fast path (api/fastpath.py) asks the same caches for
its verdicts and masks its errors here too.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from functools import lru_cache
from threading import Lock
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as alias_limit
from strawberry.extensions.query_depth_limiter import create_validator as depth_limit
from strawberry.schema.schema import validate_document

log = logging.getLogger("creditmeter.api")
UNEXPECTED = "Unexpected error"


class GraphQLGuard(SchemaExtension):
    def __init__(
        self, *, max_tokens: int, max_depth: int, max_aliases: int, is_unexpected: Callable[[GraphQLError], bool],
        maxsize: int = 1024,
    ) -> None:
        self._max_tokens = max_tokens
        self._parse = lru_cache(maxsize=maxsize)(parse)
        self._limits = (depth_limit(max_depth, None), alias_limit(max_aliases))
        self._verdicts: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()
        self._maxsize = maxsize
        self._lock = Lock()
        self._is_unexpected = is_unexpected

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self._max_tokens
        yield
        result = context.result
        result = getattr(result, "initial_result", result)  # an incremental result's first part
        errors = getattr(result, "errors", None)
        if errors:
            request_id = getattr(context.context, "request_id", "-")
            result.errors = [self.mask(error, request_id) for error in errors]

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.graphql_document = self._parse(context.query, **context.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        context.pre_execution_errors = self.verdict(
            context.schema._schema, context.query, context.graphql_document, context.validation_rules
        )
        yield

    def parsed(self, query: str) -> DocumentNode:
        """The document as on_parse makes it, from the same cache. Raises GraphQLError."""
        return self._parse(query, max_tokens=self._max_tokens)

    def verdict(
        self, schema: GraphQLSchema, query: str | None, document: DocumentNode | None,
        validation_rules: tuple[type[ASTValidationRule], ...],
    ) -> list[GraphQLError]:
        """The validation errors of a document under strawberry's rules and the limits, cached per query text."""
        rules = (*validation_rules, *self._limits)
        key = (query, rules)
        errors = self._verdicts.get(key) if query else None
        if errors is None:
            assert document is not None
            errors = validate_document(schema, document, rules)
            if query:
                with self._lock:
                    self._verdicts[key] = errors
                    if len(self._verdicts) > self._maxsize:
                        self._verdicts.popitem(last=False)
        return errors

    def mask(self, error: GraphQLError, request_id: str) -> GraphQLError:
        """The error as the client may see it: the server's own are masked."""
        return self._masked(error, request_id) if self._is_unexpected(error) else error

    @staticmethod
    def _masked(error: GraphQLError, request_id: str) -> GraphQLError:
        """The client sees "Unexpected error" and a request id; the log gets the whole story."""
        log.error("unexpected error in request %s at %s", request_id, error.path, exc_info=error.original_error)
        return GraphQLError(
            UNEXPECTED,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )
