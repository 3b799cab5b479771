"""The ASGI application: the only module that names concrete adapters."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL

from api import exports
from api.auth import KeyCache, authenticate, key_cache_seconds
from api.context import Context, SystemClock, UnitOfWorkFactory
from api.schema import build_schema
from domain.model import Caller
from persistence.engine import make_engine
from persistence.unit_of_work import SqlUnitOfWorkFactory

log = logging.getLogger("creditmeter.api")

try:  # the fast path knows strawberry's and graphql-core's internals of the pinned versions
    from api import fastpath
except ImportError:  # pragma: no cover - another version: strawberry answers everything
    log.warning("the recordUsage fast path is off: this strawberry or graphql-core is not one it knows",
                exc_info=True)
    fastpath = None  # type: ignore[assignment]

# A batch of 1000 usages with raw provider responses fits well inside this.
MAX_BODY_BYTES = 8 * 1024 * 1024


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


_TOO_LARGE = _Refused(413, "BODY_TOO_LARGE", f"request bodies are limited to {MAX_BODY_BYTES} bytes")
# No name, key or id is allowed a NUL character, and PostgreSQL cannot store one in text.
_NUL = _Refused(400, "BAD_REQUEST", "input may not contain NUL characters (\\u0000)")
_NUL_SPELLINGS = (b"\\u0000", b"\x00")


def _error_response(status: int, code: str, message: str, request_id: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code, "requestId": request_id}}]},
        status_code=status,
        headers={"X-Request-Id": request_id, **headers},
    )


def is_production() -> bool:
    return os.environ.get("CREDITMETER_ENV", "").lower() == "production"


class _StrawberryView(GraphQL):  # type: ignore[type-arg]
    async def get_context(self, request: Any, response: Any) -> Context:
        return request.scope["state"]["creditmeter_context"]  # type: ignore[no-any-return]

    def decode_json(self, data: str | bytes) -> object:
        try:
            return json.loads(data)
        except RecursionError:  # nested deeper than the parser goes: strawberry's 400, not a 500
            raise json.JSONDecodeError("nested too deeply", "", 0) from None


class GraphQLEndpoint:
    """Authenticates every request, then answers recordUsage on the fast path where it can
    (api/fastpath.py) and hands the rest to strawberry, with a typed context."""

    def __init__(self, view: GraphQL, state: dict[str, Any], fast_path: fastpath.FastPath | None = None) -> None:
        self._view = view
        self._state = state
        self._fast_path = fast_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if self._is_ide_page(request):  # the GraphiQL page itself: a static page, no data, no key
            await (await self._view.render_graphql_ide(request))(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            await _error_response(_TOO_LARGE.status, _TOO_LARGE.code, _TOO_LARGE.message, request_id)(
                scope, receive, send
            )
            return
        caller = await self._authenticate(request)
        if caller is None:
            await _error_response(
                401,
                "UNAUTHENTICATED",
                "Unauthenticated: send a live API key as 'Authorization: Bearer <secret>'",
                request_id,
                **{"WWW-Authenticate": "Bearer"},
            )(scope, receive, send)
            return
        uow_factory: UnitOfWorkFactory = self._state["uow_factory"]
        context = Context(
            caller=caller, uow=uow_factory, clock=self._state["clock"], request_id=request_id,
            key_cache=self._state["key_cache"],
        )
        scope.setdefault("state", {})["creditmeter_context"] = context
        received = 0
        tail = b""
        started = False

        async def receive_checked() -> Message:
            nonlocal received, tail
            message = await receive()
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > MAX_BODY_BYTES:
                raise _TOO_LARGE
            window = tail + chunk  # a spelling may straddle two chunks
            if any(spelling in window for spelling in _NUL_SPELLINGS):
                raise _NUL
            tail = window[-6:]
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            query_string = unquote_to_bytes(scope.get("query_string", b""))
            if any(spelling in query_string for spelling in _NUL_SPELLINGS):
                raise _NUL
            receive_view: Receive | None = receive_checked
            if self._fast_path is not None:  # recordUsage, answered without strawberry where it can be
                receive_view = await self._fast_path.handle(request, receive_checked, send_with_id, context)
            if receive_view is not None:
                await self._view(scope, receive_view, send_with_id)
        except _Refused as refused:
            if not started:
                await _error_response(refused.status, refused.code, refused.message, request_id)(scope, receive, send)
        except ClientDisconnect:
            # The client left before its request was read: nothing ran, no one to answer. (One
            # that leaves later finds its usage billed once; a replay of its key returns it.)
            log.info("client disconnected before request %s was read", request_id)

    def _is_ide_page(self, request: Request) -> bool:
        return (
            request.method == "GET"
            and self._view.graphql_ide is not None
            and "text/html" in request.headers.get("accept", "")
            and "query" not in request.query_params
        )

    async def _authenticate(self, request: Request) -> Caller | None:
        return await authenticate(request, self._state["uow_factory"], self._state["key_cache"])


def create_app(
    uow_factory: UnitOfWorkFactory | None = None, *, production: bool | None = None, fast_path: bool | None = None
) -> Starlette:
    """Build the app. With no factory, the engine is built from CREDITMETER_DATABASE_URL at startup."""
    production = is_production() if production is None else production
    fast_path = fastpath is not None and (fastpath.enabled() if fast_path is None else fast_path)
    state: dict[str, Any] = {
        "uow_factory": uow_factory, "clock": SystemClock(), "key_cache": KeyCache(key_cache_seconds())
    }
    view = _StrawberryView(
        build_schema(production=production),
        graphql_ide=None if production else "graphiql",
        allow_queries_via_get=True,
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        engine = None
        if state["uow_factory"] is None:
            engine = make_engine()
            state["uow_factory"] = SqlUnitOfWorkFactory(engine)
        factory = state["uow_factory"]
        # recordUsage runs on this event loop where the database allows (Context.on_loop).
        attached = isinstance(factory, SqlUnitOfWorkFactory) and factory.attach_loop_engine()
        try:
            yield
        finally:
            if attached:
                await factory.detach_loop_engine()
            if engine is not None:
                engine.dispose()

    async def health(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/graphql", GraphQLEndpoint(view, state, fastpath.FastPath.for_view(view) if fast_path else None),
                  methods=["GET", "POST"]),
            Route("/health", health),
            *exports.routes(state),
        ],
        lifespan=lifespan,
    )
