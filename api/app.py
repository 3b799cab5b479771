"""The ASGI application: the only module that names concrete adapters."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL

from api.context import Context, SystemClock, UnitOfWorkFactory
from api.schema import build_schema
from domain import services
from domain.model import Caller
from persistence.engine import make_engine
from persistence.unit_of_work import SqlUnitOfWorkFactory

log = logging.getLogger("creditmeter.api")

# A batch of 1000 usages with raw provider responses fits well inside this.
MAX_BODY_BYTES = 8 * 1024 * 1024


class _BodyTooLarge(Exception):
    pass


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


class GraphQLEndpoint:
    """Authenticates every request, then hands it to strawberry with a typed context."""

    def __init__(self, view: GraphQL, state: dict[str, Any]) -> None:
        self._view = view
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if self._is_ide_page(request):  # the GraphiQL page itself: a static page, no data, no key
            await (await self._view.render_graphql_ide(request))(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            await _error_response(
                413, "BODY_TOO_LARGE", f"request bodies are limited to {MAX_BODY_BYTES} bytes", request_id
            )(scope, receive, send)
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
        scope.setdefault("state", {})["creditmeter_context"] = Context(
            caller=caller, uow=uow_factory, clock=self._state["clock"], request_id=request_id
        )
        received = 0
        started = False

        async def receive_bounded() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise _BodyTooLarge
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self._view(scope, receive_bounded, send_with_id)
        except _BodyTooLarge:
            if not started:
                await _error_response(
                    413, "BODY_TOO_LARGE", f"request bodies are limited to {MAX_BODY_BYTES} bytes", request_id
                )(scope, receive, send)

    def _is_ide_page(self, request: Request) -> bool:
        return (
            request.method == "GET"
            and self._view.graphql_ide is not None
            and "text/html" in request.headers.get("accept", "")
            and "query" not in request.query_params
        )

    async def _authenticate(self, request: Request) -> Caller | None:
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret or len(secret) > 200:
            return None
        uow_factory: UnitOfWorkFactory = self._state["uow_factory"]
        key = await anyio.to_thread.run_sync(services.authenticate, uow_factory(read_only=True), secret)
        return Caller(key.role, key.account_id, key.id) if key else None


def create_app(uow_factory: UnitOfWorkFactory | None = None, *, production: bool | None = None) -> Starlette:
    """Build the app. With no factory, the engine is built from CREDITMETER_DATABASE_URL at startup."""
    production = is_production() if production is None else production
    state: dict[str, Any] = {"uow_factory": uow_factory, "clock": SystemClock()}
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
        try:
            yield
        finally:
            if engine is not None:
                engine.dispose()

    async def health(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/graphql", GraphQLEndpoint(view, state), methods=["GET", "POST"]), Route("/health", health)],
        lifespan=lifespan,
    )
