"""Accounts, their balances and their ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from api.context import Info
from api.errors import (
    Forbidden,
    IdempotencyConflict,
    InsufficientCredits,
    ModelUnavailable,
    NotFoundError,
    ValidationError,
    forbidden,
    to_payload,
)
from api.permissions import is_admin, may_list_accounts, may_read_account
from api.types import Account, AccountConnection, AccountEdge, CreditTransaction, PageInfo, TransactionKind
from domain import model as domain
from domain import services
from domain.errors import BillingError
from domain.errors import Forbidden as Refused

# ---------------------------------------------------------------- queries


async def account(info: Info, id: strawberry.ID) -> Account | None:
    """Null both for an unknown account and for one this key may not see: no leak of existence."""
    if not may_read_account(info.context.caller, str(id)):
        return None
    found = await info.context.read(lambda uow: uow.accounts.get(str(id)))
    return Account.from_domain(found) if found else None


async def accounts(info: Info, first: int | None = 50, after: str | None = None) -> AccountConnection:
    if not may_list_accounts(info.context.caller):
        raise Refused("only ADMIN keys may list accounts")
    page = await info.context.read(lambda uow: uow.accounts.list(50 if first is None else first, after))
    return AccountConnection(
        edges=[
            AccountEdge(cursor=c, node=Account.from_domain(a)) for c, a in zip(page.cursors, page.items, strict=True)
        ],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )


async def me(info: Info) -> Account | None:
    """The account that the calling key belongs to (ACCOUNT keys)."""
    account_id = info.context.caller.account_id
    if account_id is None:
        return None
    found = await info.context.read(lambda uow: uow.accounts.get(account_id))
    return Account.from_domain(found) if found else None


# ---------------------------------------------------------------- mutations


@strawberry.type
class AccountPayload:
    account: Account


AccountResult = Annotated[
    AccountPayload | NotFoundError | ModelUnavailable | ValidationError | Forbidden, strawberry.union("AccountResult")
]


@strawberry.input
class CreateAccountInput:
    name: str
    initial_credits: Decimal | None = strawberry.field(default_factory=lambda: Decimal("0"))


async def create_account(info: Info, input: CreateAccountInput) -> AccountResult:  # type: ignore[valid-type]
    if not is_admin(info.context.caller):
        return forbidden()
    try:
        created = await info.context.run(
            services.create_account,
            info.context.uow(),
            info.context.clock,
            input.name,
            input.initial_credits if input.initial_credits is not None else Decimal(0),
        )
    except BillingError as error:
        return to_payload(error)  # type: ignore[return-value]
    return AccountPayload(account=Account.from_domain(created))


@strawberry.input
class AccountSettingsInput:
    account_id: strawberry.ID
    default_text_model: str | None = strawberry.UNSET
    default_image_model: str | None = strawberry.UNSET


async def update_account_settings(info: Info, input: AccountSettingsInput) -> AccountResult:  # type: ignore[valid-type]
    """An omitted model leaves the setting as it is; null clears it."""
    if not is_admin(info.context.caller):
        return forbidden()

    def keep_unset(value: str | None) -> str | None | services.Keep:
        return services.KEEP if value is strawberry.UNSET else value

    try:
        updated = await info.context.run(
            services.update_account_settings,
            info.context.uow(),
            info.context.clock,
            str(input.account_id),
            keep_unset(input.default_text_model),
            keep_unset(input.default_image_model),
        )
    except BillingError as error:
        return to_payload(error)  # type: ignore[return-value]
    return AccountPayload(account=Account.from_domain(updated))


@strawberry.input
class AddCreditsInput:
    idempotency_key: str
    account_id: strawberry.ID
    amount: Decimal
    kind: TransactionKind | None = domain.TransactionKind.TOP_UP  # type: ignore[valid-type]
    description: str | None = None


@strawberry.type
class CreditsAdded:
    transaction: CreditTransaction
    balance: Decimal
    replayed: bool


AddCreditsResult = Annotated[
    CreditsAdded | NotFoundError | ValidationError | IdempotencyConflict | InsufficientCredits | Forbidden,
    strawberry.union("AddCreditsResult"),
]


async def add_credits(info: Info, input: AddCreditsInput) -> AddCreditsResult:  # type: ignore[valid-type]
    if not is_admin(info.context.caller):
        return forbidden()
    try:
        outcome = await info.context.run(
            services.add_credits,
            info.context.uow(),
            info.context.clock,
            input.idempotency_key,
            str(input.account_id),
            input.amount,
            input.kind or domain.TransactionKind.TOP_UP,
            input.description,
        )
    except BillingError as error:
        return to_payload(error)  # type: ignore[return-value]
    return CreditsAdded(
        transaction=CreditTransaction.from_domain(outcome.entry), balance=outcome.balance, replayed=outcome.replayed
    )
