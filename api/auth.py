"""API keys on HTTP requests: `Authorization: Bearer <secret>` becomes a Caller, or nobody."""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request

from api.context import UnitOfWorkFactory
from domain import services
from domain.model import Caller

UNAUTHENTICATED = "Unauthenticated: send a live API key as 'Authorization: Bearer <secret>'"


async def authenticate(request: Request, uow_factory: UnitOfWorkFactory) -> Caller | None:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or len(secret) > 200:
        return None
    key = await anyio.to_thread.run_sync(services.authenticate, uow_factory(read_only=True), secret)
    return Caller(key.role, key.account_id, key.id) if key else None
