"""API keys: created by admins, shown once, stored hashed, revocable."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.context import Info
from api.errors import Forbidden, NotFoundError, ValidationError, forbidden, to_payload
from api.permissions import is_admin
from api.types import ApiKeyInfo, Role
from domain import services
from domain.errors import BillingError
from domain.errors import Forbidden as Refused


async def api_keys(info: Info) -> list[ApiKeyInfo]:
    if not is_admin(info.context.caller):
        raise Refused("only ADMIN keys may list API keys")
    keys = await info.context.read(lambda uow: uow.api_keys.list())
    return [ApiKeyInfo.from_domain(key) for key in keys]


@strawberry.input
class CreateApiKeyInput:
    name: str
    role: Role  # type: ignore[valid-type]
    account_id: strawberry.ID | None = None


@strawberry.type
class ApiKeyCreated:
    key: ApiKeyInfo
    secret: str = strawberry.field(description="Shown once; only a hash is stored.")


ApiKeyResult = Annotated[ApiKeyCreated | NotFoundError | ValidationError | Forbidden, strawberry.union("ApiKeyResult")]


async def create_api_key(info: Info, input: CreateApiKeyInput) -> ApiKeyResult:  # type: ignore[valid-type]
    if not is_admin(info.context.caller):
        return forbidden()
    try:
        key, secret = await info.context.run(
            services.create_api_key,
            info.context.uow(),
            info.context.clock,
            input.name,
            input.role,
            str(input.account_id) if input.account_id else None,
        )
    except BillingError as error:
        return to_payload(error)  # type: ignore[return-value]
    return ApiKeyCreated(key=ApiKeyInfo.from_domain(key), secret=secret)


@strawberry.type
class ApiKeyRevoked:
    key: ApiKeyInfo


RevokeApiKeyResult = Annotated[ApiKeyRevoked | NotFoundError | Forbidden, strawberry.union("RevokeApiKeyResult")]


async def revoke_api_key(info: Info, id: strawberry.ID) -> RevokeApiKeyResult:  # type: ignore[valid-type]
    if not is_admin(info.context.caller):
        return forbidden()
    try:
        key = await info.context.run(services.revoke_api_key, info.context.uow(), str(id))
    except BillingError as error:
        return to_payload(error)  # type: ignore[return-value]
    if info.context.key_cache is not None:
        info.context.key_cache.clear()  # the next request with this key is refused
    return ApiKeyRevoked(key=ApiKeyInfo.from_domain(key))
