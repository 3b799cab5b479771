"""recordUsage's fast path: the hot path answered without strawberry's per-request machinery,
in the bytes strawberry would send.

For one recordUsage call, strawberry's view, its extension hooks and graphql-core's executor
(an Info and a Path for every field) cost more CPU than the billing. A plan compiled once per
distinct query text does the same work directly: the parse and validation verdicts come from
GraphQLGuard's caches, graphql-core coerces the variables and strawberry converts the input,
billing is `usage.record_one` (what the resolver calls), and the result is completed by
graphql-core's rules over the selection the plan collected. A request that no plan covers goes
to strawberry untouched, its body replayed. A request that has reached billing never does (it
would bill twice): an error after that point is answered as GraphQLGuard masks it.

CREDITMETER_GRAPHQL_FAST_PATH=0 turns it off.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import strawberry
from graphql import (
    BREAK,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLAbstractType,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    Visitor,
    is_abstract_type,
    is_leaf_type,
    is_object_type,
    located_error,
    specified_rules,
    visit,
)
from graphql.execution.collect_fields import FieldDetails, FragmentDetails, collect_subfields
from graphql.execution.values import VariableValues, get_variable_values
from graphql.pyutils import Path, Undefined, inspect
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Send
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import AddValidationRules
from strawberry.http.async_base_view import AsyncBaseHTTPView
from strawberry.http.base import BaseView
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo as ResolveInfo
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL
from strawberry.types.arguments import convert_argument

from api import usage
from api.context import Context
from api.validation import GraphQLGuard

log = logging.getLogger("creditmeter.api")

SWITCH = "CREDITMETER_GRAPHQL_FAST_PATH"
_FIELD = "recordUsage"
_INPUT_TYPE = "RecordUsageInput"
_NAME, _BATCH = _FIELD.encode(), b"recordUsageBatch"
_NO_VARIABLES = VariableValues({}, {})


def enabled() -> bool:
    return os.environ.get(SWITCH, "1").strip() != "0"


class _Ineligible(Exception):
    """The plan cannot promise strawberry's answer for this document: strawberry answers."""


@dataclass(frozen=True, slots=True)
class _Object:
    type_: GraphQLObjectType
    fields: tuple[_Field, ...]


@dataclass(frozen=True, slots=True)
class _Output:
    """How a field's value is completed: its type with the non-null wrapper peeled off."""

    non_null: bool
    objects: Mapping[str, _Object]  # by name: an object type's selection, or each possible type's
    leaf: GraphQLLeafType | None = None
    abstract: GraphQLAbstractType | None = None


@dataclass(frozen=True, slots=True)
class _Field:
    key: str  # the response key: the alias, or the name
    name: str
    nodes: list[FieldNode]
    parent_type: GraphQLObjectType
    definition: GraphQLField | None  # None: __typename
    attribute: str | None  # a plain attribute read (a strawberry field without resolver); None: call resolve
    output: _Output | None  # None: __typename


@dataclass(frozen=True, slots=True)
class _Plan:
    operation: OperationDefinitionNode
    operation_name: str | None
    fragments: dict[str, FragmentDefinitionNode]
    variable: str  # the variable that is recordUsage's input
    root: _Field


class _Directives(Visitor):
    found = False

    def enter_directive(self, *_: Any) -> Any:
        self.found = True
        return BREAK


@lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    """strawberry's test for a JSON body, on the same parse of the header."""
    try:
        mime_type, _ = parse_content_type(content_type)
    except Exception:  # noqa: BLE001 - a header strawberry cannot parse is strawberry's to refuse
        return False
    return "application/json" in mime_type


class FastPath:
    """Answers the recordUsage requests it has a plan for; the endpoint sends the rest to strawberry."""

    def __init__(self, schema: strawberry.Schema, guard: GraphQLGuard, rules: tuple[Any, ...], maxsize: int) -> None:
        self._schema = schema
        self._graphql_schema = schema._schema
        self._guard = guard
        self._rules = rules
        self._maxsize = maxsize
        self._plans: OrderedDict[str, _Plan | None] = OrderedDict()
        mutation = self._graphql_schema.mutation_type
        assert mutation is not None
        self._mutation = mutation
        self._record_usage = mutation.fields[_FIELD].extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
        names = schema.config.name_converter
        self._argument = next(a for a in self._record_usage.arguments if names.from_argument(a) == "input")

    @classmethod
    def for_view(cls, view: AsyncBaseHTTPView[Any, Any, Any, Any, Any, Any, Any], *, maxsize: int = 256
                 ) -> FastPath | None:
        """The fast path for a view's schema, or None where strawberry would do per request what
        the fast path does not (an unknown extension, directives, exception handlers, streaming, a
        custom encoder, another recordUsage resolver)."""
        schema = view.schema
        if not isinstance(schema, strawberry.Schema) or schema.directives or schema.schema_converter.exception_handlers:
            return None
        if set(view.protocols) & {GRAPHQL_SSE_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL}:
            return None
        view_type = type(view)
        if view_type.encode_json is not BaseView.encode_json or (
            view_type.process_result is not AsyncBaseHTTPView.process_result
        ):
            return None
        guard = None
        rules = tuple(specified_rules)  # strawberry's ExecutionContext default, extended in order
        for extension in schema.get_extensions():
            if extension._implements_resolve():  # strawberry's own test for a resolver middleware
                return None
            if isinstance(extension, GraphQLGuard) and guard is None:
                guard = extension
            elif isinstance(extension, AddValidationRules):
                rules = (*rules, *extension.validation_rules)
            else:
                return None
        mutation = schema._schema.mutation_type
        record = mutation.fields.get(_FIELD) if mutation else None
        definition = record.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF) if record else None
        if guard is None or record is None or list(record.args) != ["input"] or definition is None:
            return None
        resolver = definition.base_resolver
        if definition.extensions or resolver is None or resolver.wrapped_func is not usage.record_usage:
            return None
        return cls(schema, guard, rules, maxsize)

    async def handle(self, request: Request, receive: Receive, send: Send, context: Context) -> Receive | None:
        """Answer the request (None), or return the receive strawberry must read it from; then nothing has run."""
        if request.method != "POST" or not _is_json(request.headers.get("content-type", "")):
            return receive
        body = await _read_body(receive)
        # Only a body that names recordUsage, and not its batch, is parsed here; the others would
        # be parsed twice. A false positive costs a parse, never an answer.
        answer = await self._answer(body, context) if _NAME in body and _BATCH not in body else None
        if answer is None:
            return _replay(body, receive)
        # the headers of strawberry's starlette Response, in its order
        headers = [(b"content-length", str(len(answer)).encode("latin-1")), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
        return None

    async def _answer(self, body: bytes, context: Context) -> bytes | None:
        """strawberry's response body for this request, or None if strawberry must answer it."""
        try:
            prepared = self._prepare(body, context)
        except Exception:  # noqa: BLE001 - nothing has run yet: strawberry answers it as it does today
            log.debug("the fast path passed a request to strawberry", exc_info=True)
            return None
        if prepared is None:
            return None
        plan, execution, input, path = prepared
        # Billing starts here: from now on this request is answered here, whatever happens.
        try:
            data = await execution.root(input, path)
            response: dict[str, Any] = {"data": data}
            if execution.errors:
                masked = [self._guard.mask(error, context.request_id) for error in execution.errors]
                response["errors"] = [error.formatted for error in masked]
            return json.dumps(response, separators=(",", ":")).encode()
        except Exception as raw_error:  # noqa: BLE001 - e.g. a value JSON cannot encode
            error = self._guard.mask(located_error(raw_error, plan.root.nodes, path.as_list()), context.request_id)
            return json.dumps({"data": None, "errors": [error.formatted]}, separators=(",", ":")).encode()

    def _prepare(self, body: bytes, context: Context) -> tuple[_Plan, _Execution, Any, Path] | None:
        """Everything before billing: the plan, the coerced variables, the converted input; None
        where strawberry must answer (it reports whatever is wrong, as it does today)."""
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if type(payload) is not dict or type(query := payload.get("query")) is not str:
            return None
        plan = self._plan(query)
        if plan is None:
            return None
        name, variables, extensions = payload.get("operationName"), payload.get("variables"), payload.get("extensions")
        if name is not None and name != plan.operation_name:
            return None
        if (variables is not None and type(variables) is not dict) or (extensions is not None and extensions != {}):
            return None
        definitions = plan.operation.variable_definitions or ()
        coerced = get_variable_values(self._graphql_schema, definitions, variables or {})
        if isinstance(coerced, list):  # strawberry reports them
            return None
        config = self._schema.config
        execution = _Execution(self._graphql_schema, config.default_resolver, plan, context, coerced, extensions)
        path = Path(None, plan.root.key, self._mutation.name)
        info = config.info_class(_raw_info=execution.info(plan.root, path), _field=self._record_usage)
        input = convert_argument(
            coerced.coerced[plan.variable], self._argument.type, self._schema.schema_converter.scalar_registry,
            config, info, path=("input",),
        )
        return plan, execution, input, path

    def _plan(self, query: str) -> _Plan | None:
        plans = self._plans
        if query in plans:
            plans.move_to_end(query)
            return plans[query]
        try:
            plan: _Plan | None = self._compile(query)
        except (_Ineligible, GraphQLError):
            plan = None
        except Exception:  # a bug here must cost speed, never an answer: strawberry answers
            log.exception("no fast path for a query: its plan failed")
            plan = None
        plans[query] = plan
        if len(plans) > self._maxsize:
            plans.popitem(last=False)
        return plan

    def _compile(self, query: str) -> _Plan:
        document = self._guard.parsed(query)
        if self._guard.verdict(self._graphql_schema, query, document, self._rules):
            raise _Ineligible("invalid")
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1 or operations[0].operation is not OperationType.MUTATION or _has_directives(document):
            raise _Ineligible("not one mutation without directives")
        operation = operations[0]
        selections = operation.selection_set.selections
        if len(selections) != 1 or not isinstance(node := selections[0], FieldNode) or node.name.value != _FIELD:
            raise _Ineligible("not recordUsage alone")
        arguments = node.arguments or ()
        if len(arguments) != 1 or arguments[0].name.value != "input":
            raise _Ineligible("not one input argument")
        value = arguments[0].value
        if not isinstance(value, VariableNode):
            raise _Ineligible("the input is not a variable")
        (definition,) = (d for d in operation.variable_definitions or () if d.variable.name.value == value.name.value)
        type_ = definition.type
        if not (isinstance(type_, NonNullTypeNode) and isinstance(type_.type, NamedTypeNode)
                and type_.type.name.value == _INPUT_TYPE):
            raise _Ineligible(f"the input variable is not {_INPUT_TYPE}!")
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        compiler = _Compiler(self._graphql_schema, operation, {n: FragmentDetails(d) for n, d in fragments.items()})
        root = compiler.field(self._mutation, node.alias.value if node.alias else _FIELD, [FieldDetails(node, None)],
                              root=True)
        return _Plan(operation, operation.name.value if operation.name else None, fragments, value.name.value, root)


def _has_directives(document: DocumentNode) -> bool:
    visitor = _Directives()
    visit(document, visitor)
    return visitor.found


class _Compiler:
    """Collects a plan's selection for every type a value may have, as graphql-core collects it."""

    def __init__(self, schema: GraphQLSchema, operation: OperationDefinitionNode,
                 fragments: dict[str, FragmentDetails]) -> None:
        self._schema = schema
        self._operation = operation
        self._fragments = fragments

    def field(self, parent_type: GraphQLObjectType, key: str, details: list[FieldDetails], *,
              root: bool = False) -> _Field:
        """A field of the selection; the root's arguments are the plan's business, no other may have any."""
        nodes = [detail.node for detail in details]
        name = nodes[0].name.value
        if name == "__typename":
            return _Field(key, name, nodes, parent_type, None, None, None)
        definition = parent_type.fields.get(name)
        if definition is None or definition.resolve is None or (definition.args and not root):
            raise _Ineligible(f"{parent_type.name}.{name} is not a plain field")
        origin = definition.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
        plain = origin is not None and origin.is_basic_field and getattr(definition.resolve, "_is_default", False)
        return _Field(key, name, nodes, parent_type, definition, origin.python_name if plain else None,
                      self._output(definition.type, details))

    def _output(self, type_: GraphQLOutputType, details: list[FieldDetails]) -> _Output:
        non_null = isinstance(type_, GraphQLNonNull)
        named = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if is_leaf_type(named):
            return _Output(non_null, {}, leaf=named)
        if is_abstract_type(named):
            possible = self._schema.get_possible_types(named)
            return _Output(non_null, {t.name: self._object(t, details) for t in possible}, abstract=named)
        if is_object_type(named):
            return _Output(non_null, {named.name: self._object(named, details)})
        raise _Ineligible(f"{named} is a list")  # none under recordUsage

    def _object(self, type_: GraphQLObjectType, details: list[FieldDetails]) -> _Object:
        collected = collect_subfields(self._schema, self._fragments, _NO_VARIABLES, self._operation, type_, details)
        groups = collected.grouped_field_set.items()
        return _Object(type_, tuple(self.field(type_, key, group) for key, group in groups))


class _Execution:
    """One request's recordUsage and the completion of its result, by graphql-core's rules."""

    def __init__(self, schema: GraphQLSchema, default_resolver: Callable[[Any, str], Any], plan: _Plan,
                 context: Context, variables: VariableValues, extensions: dict[str, Any] | None) -> None:
        self._schema = schema
        self._default_resolver = default_resolver
        self._plan = plan
        self._context = context
        self._variables = variables
        self._extensions = extensions
        self.errors: list[GraphQLError] = []

    def info(self, field: _Field, path: Path) -> ResolveInfo:
        """What strawberry's executor hands a resolver (StrawberryGraphQLCoreExecutionContext.build_resolve_info)."""
        assert field.definition is not None
        return ResolveInfo(
            field.name, field.nodes, field.definition.type, field.parent_type, path,
            self._schema, self._plan.fragments, None, self._plan.operation,
            self._variables.coerced, self._context, optimized_is_awaitable, None, None, self._extensions,
        )

    async def root(self, input: Any, path: Path) -> dict[str, Any] | None:
        field = self._plan.root
        assert field.output is not None
        try:
            value = await usage.record_one(self._context, input)
            completed = await self._complete(field, path, value)
        except Exception as raw_error:  # noqa: BLE001 - a field error, as graphql-core collects it
            self.errors.append(located_error(raw_error, field.nodes, path.as_list()))
            return None if field.output.non_null else {field.key: None}
        return {field.key: completed}

    async def _complete(self, field: _Field, path: Path, value: Any) -> Any:
        output = field.output
        assert output is not None
        if isinstance(value, Exception):
            raise value
        if value is None:
            if output.non_null:
                raise TypeError(f"Cannot return null for non-nullable field {field.parent_type.name}.{field.name}.")
            return None
        if output.leaf is not None:
            return _leaf(output.leaf, value)
        if output.abstract is not None:
            name = output.abstract.resolve_type(value, self.info(field, path), output.abstract)
            if optimized_is_awaitable(name):
                name = await name
            found = output.objects.get(name) if isinstance(name, str) else None
            if found is None:
                raise GraphQLError(
                    f"Abstract type '{output.abstract.name}' must resolve to one of its possible types at runtime"
                    f" for field '{field.parent_type.name}.{field.name}', not {inspect(name)}.",
                    field.nodes,
                )
            obj = found
        else:
            (obj,) = output.objects.values()
        if obj.type_.is_type_of is not None:
            matches = obj.type_.is_type_of(value, self.info(field, path))
            if optimized_is_awaitable(matches):
                matches = await matches
            if not matches:
                raise GraphQLError(f"Expected value of type '{obj.type_.name}' but got: {inspect(value)}.", field.nodes)
        return await self._fields(obj, path, value)

    async def _fields(self, obj: _Object, path: Path, source: Any) -> dict[str, Any]:
        completed: dict[str, Any] = {}
        typename = obj.type_.name
        for field in obj.fields:
            output = field.output
            if output is None:
                completed[field.key] = typename
                continue
            field_path = Path(path, field.key, typename)
            try:
                if field.attribute is not None:
                    value = self._default_resolver(source, field.attribute)
                else:
                    assert field.definition is not None and field.definition.resolve is not None
                    value = field.definition.resolve(source, self.info(field, field_path))
                    if optimized_is_awaitable(value):
                        value = await value
                if output.leaf is not None and value is not None and not isinstance(value, Exception):
                    completed[field.key] = _leaf(output.leaf, value)
                else:
                    completed[field.key] = await self._complete(field, field_path, value)
            except Exception as raw_error:
                error = located_error(raw_error, field.nodes, field_path.as_list())
                if output.non_null:
                    raise error from None
                self.errors.append(error)
                completed[field.key] = None
        return completed


def _leaf(type_: GraphQLLeafType, value: Any) -> Any:
    """graphql-core's complete_leaf_value."""
    coerced = type_.coerce_output_value(value)
    if coerced is Undefined or coerced is None:
        raise TypeError(
            f"Expected `{inspect(type_)}.coerce_output_value({inspect(value)})` to return non-nullable value,"
            f" returned: {inspect(coerced)}"
        )
    return coerced


async def _read_body(receive: Receive) -> bytes:
    """The whole body, as starlette's Request.body() reads it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives strawberry the body already read, then whatever comes next."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
