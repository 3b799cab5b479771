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
        if self._is_ide_page(request):
            await self._view(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        caller = await self._authenticate(request)
        if caller is None:
            response = JSONResponse(
                {"data": None, "errors": [{
                    "message": "Unauthenticated: send a live API key as 'Authorization: Bearer <secret>'",
                    "extensions": {"code": "UNAUTHENTICATED"},
                }]},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer", "X-Request-Id": request_id},
            )
            await response(scope, receive, send)
            return
        uow_factory: UnitOfWorkFactory = self._state["uow_factory"]
        scope.setdefault("state", {})["creditmeter_context"] = Context(
            caller=caller, uow=uow_factory, clock=self._state["clock"], request_id=request_id
        )

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        await self._view(scope, receive, send_with_id)

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
