"""In-memory adapters for the domain's ports. They do not inherit: mypy checks they fit."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Self

from domain.catalogue import Catalogue, ModelFlags
from domain.model import (
    Account,
    ApiKey,
    BillingSettings,
    LedgerEntry,
    ModelVersion,
    OperationConfig,
    Page,
    TransactionKind,
    UsageRecord,
)
from domain.ports import Charge, PricingBasis, UnitOfWork


class _State:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.versions: dict[str, list[ModelVersion]] = {}
        self.flags: dict[str, ModelFlags] = {}
        self.operations: dict[str, OperationConfig] = {}
        self.settings = BillingSettings()
        self.usage: dict[int, UsageRecord] = {}
        self.ledger: dict[int, LedgerEntry] = {}
        self.rollups: list[UsageRecord] = []
        self.api_keys: dict[str, ApiKey] = {}
        self.last_id = 0

    def next_id(self) -> int:
        self.last_id += 1
        return self.last_id


class FakeAccounts:
    def __init__(self, state: _State) -> None:
        self._state = state

    def get(self, account_id: str) -> Account | None:
        return self._state.accounts.get(account_id)

    def get_for_pricing(self, account_id: str) -> Account | None:
        return self.get(account_id)

    def add(self, account: Account) -> None:
        self._state.accounts[account.id] = account

    def set_default_models(self, account_id: str, text: str | None, image: str | None) -> None:
        account = self._state.accounts[account_id]
        self._state.accounts[account_id] = replace(account, default_text_model=text, default_image_model=image)

    def change_balance(self, account_id: str, delta: Decimal) -> Decimal | None:
        account = self._state.accounts.get(account_id)
        if account is None or account.balance + delta < 0:
            return None
        self._state.accounts[account_id] = replace(account, balance=account.balance + delta)
        return account.balance + delta

    def list(self, first: int, after: str | None) -> Page:
        items = sorted(self._state.accounts.values(), key=lambda a: (a.created_at, a.id))
        return Page(items[:first], [a.id for a in items[:first]], len(items) > first)


class FakeCatalogue:
    def __init__(self, state: _State) -> None:
        self._state = state

    def snapshot(self) -> Catalogue:
        s = self._state
        return Catalogue({k: list(v) for k, v in s.versions.items()}, dict(s.flags), dict(s.operations), s.settings)

    def latest(self) -> Catalogue:
        return self.snapshot()

    def add_version(self, version: ModelVersion) -> ModelVersion:
        version = replace(version, id=self._state.next_id())
        if version.name not in self._state.flags:
            self._state.flags[version.name] = ModelFlags(version.model_type)
        self._state.versions.setdefault(version.name, []).append(version)
        return version

    def set_flags(self, name: str, *, is_active: bool | None = None, is_default: bool | None = None) -> None:
        flags = self._state.flags
        if is_default:
            for other, value in flags.items():
                if value.model_type is flags[name].model_type:
                    flags[other] = replace(value, is_default=False)
        current = flags[name]
        flags[name] = replace(
            current,
            is_active=current.is_active if is_active is None else is_active,
            is_default=current.is_default if is_default is None else is_default,
        )

    def save_operation(self, operation: OperationConfig) -> None:
        self._state.operations[operation.operation_type] = operation

    def save_settings(self, settings: BillingSettings) -> None:
        self._state.settings = settings


class FakeUsage:
    def __init__(self, state: _State) -> None:
        self._state = state

    def add(self, record: UsageRecord) -> int | None:
        if self.by_key(record.idempotency_key) is not None:
            return None
        usage_id = self._state.next_id()
        self._state.usage[usage_id] = replace(record, id=usage_id)
        return usage_id

    def charge(self, record: UsageRecord, description: str, basis: PricingBasis) -> Charge:
        account = self._state.accounts.get(basis.account_id)
        if account is None or (account.default_text_model, account.default_image_model, 0) != (
            basis.default_text_model, basis.default_image_model, basis.catalogue_generation
        ):
            return Charge(None, None, stale=True)
        usage_id = self.add(record)
        if usage_id is None:
            return Charge(None, None, key_taken=True)
        balance = FakeAccounts(self._state).change_balance(record.account_id, -record.credits_used)
        if balance is not None:
            FakeLedger(self._state).add(LedgerEntry(None, record.account_id, TransactionKind.USAGE,
                                                    -record.credits_used, balance, record.recorded_at,
                                                    description=description, usage_id=usage_id))
            FakeRollups(self._state).add(replace(record, id=usage_id))
        return Charge(usage_id, balance)

    def by_key(self, idempotency_key: str) -> UsageRecord | None:
        return next((r for r in self._state.usage.values() if r.idempotency_key == idempotency_key), None)

    def get(self, usage_id: int) -> UsageRecord | None:
        return self._state.usage.get(usage_id)

    def get_many(self, usage_ids: list[int]) -> list[UsageRecord]:
        return [self._state.usage[i] for i in usage_ids if i in self._state.usage]

    def list_for_account(
        self, account_id: str, first: int, after: str | None, start: datetime | None, end: datetime | None
    ) -> Page:
        items = [r for r in reversed(self._state.usage.values()) if r.account_id == account_id][:first]
        return Page(items, [str(r.id) for r in items], False)


class FakeLedger:
    def __init__(self, state: _State) -> None:
        self._state = state

    def add(self, entry: LedgerEntry) -> int | None:
        if entry.idempotency_key is not None and self.by_key(entry.idempotency_key) is not None:
            return None
        entry_id = self._state.next_id()
        self._state.ledger[entry_id] = replace(entry, id=entry_id)
        return entry_id

    def by_key(self, idempotency_key: str) -> LedgerEntry | None:
        return next((e for e in self._state.ledger.values() if e.idempotency_key == idempotency_key), None)

    def for_usage(self, usage_id: int) -> LedgerEntry | None:
        return next((e for e in self._state.ledger.values() if e.usage_id == usage_id), None)

    def list_for_account(self, account_id: str, first: int, after: str | None) -> Page:
        items = [e for e in reversed(self._state.ledger.values()) if e.account_id == account_id][:first]
        return Page(items, [str(e.id) for e in items], False)

    def entries(self, account_id: str) -> list[LedgerEntry]:
        return [e for e in self._state.ledger.values() if e.account_id == account_id]


class FakeRollups:
    def __init__(self, state: _State) -> None:
        self._state = state

    def add(self, record: UsageRecord) -> None:
        self._state.rollups.append(record)


class FakeApiKeys:
    def __init__(self, state: _State) -> None:
        self._state = state

    def add(self, key: ApiKey) -> None:
        self._state.api_keys[key.id] = key

    def by_hash(self, secret_hash: str) -> ApiKey | None:
        return next((k for k in self._state.api_keys.values() if k.secret_hash == secret_hash), None)

    def get(self, key_id: str) -> ApiKey | None:
        return self._state.api_keys.get(key_id)

    def list(self) -> list[ApiKey]:
        return list(self._state.api_keys.values())

    def revoke(self, key_id: str) -> None:
        self._state.api_keys[key_id] = replace(self._state.api_keys[key_id], revoked=True)


class FakeUnitOfWork:
    """Commits copy the working state over the committed one; leaving without commit drops it."""

    def __init__(self) -> None:
        self.committed_state = _State()
        self.commits = 0

    def __enter__(self) -> Self:
        self._working = copy.deepcopy(self.committed_state)
        self._bind(self._working)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.rollback()

    def _bind(self, state: _State) -> None:
        self.accounts = FakeAccounts(state)
        self.catalogue = FakeCatalogue(state)
        self.usage = FakeUsage(state)
        self.ledger = FakeLedger(state)
        self.rollups = FakeRollups(state)
        self.api_keys = FakeApiKeys(state)

    def commit(self) -> None:
        self.committed_state = copy.deepcopy(self._working)
        self.commits += 1

    def rollback(self) -> None:
        self._working = copy.deepcopy(self.committed_state)
        self._bind(self._working)


_: UnitOfWork = FakeUnitOfWork()
