"""Who may do what. Resolvers ask these; they never read headers themselves."""

from __future__ import annotations

from domain.model import Caller, Role


def is_admin(caller: Caller) -> bool:
    return caller.role is Role.ADMIN


def may_read_catalogue(caller: Caller) -> bool:
    return caller.role in (Role.ADMIN, Role.SERVICE)


def may_bill(caller: Caller) -> bool:
    """Record usage and quote, for any account."""
    return caller.role in (Role.ADMIN, Role.SERVICE)


def may_read_account(caller: Caller, account_id: str) -> bool:
    return caller.role is Role.ADMIN or (caller.role is Role.ACCOUNT and caller.account_id == account_id)


def may_list_accounts(caller: Caller) -> bool:
    return caller.role is Role.ADMIN
