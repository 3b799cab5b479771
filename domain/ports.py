"""The ports the services need. Adapters implement them; fakes in tests/ do too."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, Self

from domain.catalogue import Catalogue
from domain.model import (
    Account,
    ApiKey,
    BillingSettings,
    LedgerEntry,
    ModelVersion,
    OperationConfig,
    Page,
    UsageRecord,
)
from domain.reports import ReportScope, UsageFacts


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware UTC datetime."""


class AccountRepository(Protocol):
    def get(self, account_id: str) -> Account | None: ...

    def get_for_pricing(self, account_id: str) -> Account | None:
        """The account as this process last saw it, for pricing a charge: its balance and default
        models may be out of date (an adapter may answer from memory); `get` when it has not seen it.
        Only `UsageRepository.charge` with a `PricingBasis` may act on it."""

    def add(self, account: Account) -> None: ...

    def set_default_models(self, account_id: str, text: str | None, image: str | None) -> None: ...

    def change_balance(self, account_id: str, delta: Decimal) -> Decimal | None:
        """Add `delta` atomically unless the balance would go below zero; the new balance, or None."""

    def list(self, first: int, after: str | None) -> Page: ...


class CatalogueRepository(Protocol):
    def snapshot(self) -> Catalogue:
        """The catalogue as committed, consistent with the current transaction."""

    def latest(self) -> Catalogue:
        """The catalogue this process last saw, for pricing a charge: possibly a generation behind
        (an adapter may answer from memory); a snapshot when it has seen none."""

    def add_version(self, version: ModelVersion) -> ModelVersion: ...

    def set_flags(self, name: str, *, is_active: bool | None = None, is_default: bool | None = None) -> None:
        """Set a model's flags; making one the default clears the default of its type elsewhere."""

    def save_operation(self, operation: OperationConfig) -> None: ...

    def save_settings(self, settings: BillingSettings) -> None: ...


@dataclass(frozen=True, slots=True)
class PricingBasis:
    """What a usage was priced from. Its charge goes through only while this still holds, so a
    price worked out from remembered state is never billed once that state has changed."""

    account_id: str
    default_text_model: str | None
    default_image_model: str | None
    catalogue_generation: int


@dataclass(frozen=True, slots=True)
class Charge:
    """What `UsageRepository.charge` did. Refused (key taken, stale, or balance None) means
    nothing the caller may keep was written: it rolls back."""

    usage_id: int | None  # the new usage's id, when it was inserted
    balance: Decimal | None  # the balance after; None: it would have gone below zero
    key_taken: bool = False  # the idempotency key is already used (or being used)
    # The basis no longer holds (or the account is gone, or the refusal cannot be told apart
    # from a concurrent change): price again from fresh reads.
    stale: bool = False


class UsageRepository(Protocol):
    def add(self, record: UsageRecord) -> int | None:
        """Insert; the new id, or None when the idempotency key is already taken."""

    def charge(self, record: UsageRecord, description: str, basis: PricingBasis) -> Charge:
        """The transaction's last write: insert the usage, take its credits from the balance unless
        that would go below zero, append its USAGE ledger entry with the balance after, and fold
        the usage into the report rollups (RollupRepository.add), or queue it for them where the
        adapter folds the rollups apart from the charge and before every report. All of it or none of it, and
        only while `basis` holds (else stale). A refusal (see Charge) leaves the caller to roll
        back; a charge that went through may already be committed (the PostgreSQL adapter runs
        it as a transaction of its own when none is open), and the caller's commit then has
        nothing left to do."""

    def by_key(self, idempotency_key: str) -> UsageRecord | None: ...

    def get(self, usage_id: int) -> UsageRecord | None: ...

    def get_many(self, usage_ids: list[int]) -> list[UsageRecord]:
        """The records with these ids that exist, in any order (one query, for DataLoaders)."""

    def list_for_account(
        self, account_id: str, first: int, after: str | None, start: datetime | None, end: datetime | None
    ) -> Page: ...


class LedgerRepository(Protocol):
    def add(self, entry: LedgerEntry) -> int | None:
        """Insert; the new id, or None when the idempotency key is already taken."""

    def by_key(self, idempotency_key: str) -> LedgerEntry | None: ...

    def for_usage(self, usage_id: int) -> LedgerEntry | None: ...

    def list_for_account(self, account_id: str, first: int, after: str | None) -> Page: ...


class RollupRepository(Protocol):
    def add(self, record: UsageRecord) -> None:
        """Fold one usage into the report aggregates, in the caller's transaction."""


class ReportRepository(Protocol):
    """The reports' read model: aggregates kept current with every usage, and raw usage where it must."""

    def usage_facts(self, scope: ReportScope) -> UsageFacts:
        """The scope's usage by local hour, by model version and operation, and by account."""

    def costly_calls(self, scope: ReportScope, thresholds: Mapping[int, Decimal], limit: int) -> list[UsageRecord]:
        """Per model version, up to `limit` of the scope's calls costing more than its threshold."""

    def account_names(self, account_ids: Collection[str]) -> dict[str, str]: ...

    def usage_csv(self, start: datetime, end: datetime, account_id: str | None) -> Iterator[bytes]:
        """Every usage row in [start, end) as CSV with a header row, oldest first, in chunks."""


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...

    def by_hash(self, secret_hash: str) -> ApiKey | None: ...

    def get(self, key_id: str) -> ApiKey | None: ...

    def list(self) -> list[ApiKey]: ...

    def revoke(self, key_id: str) -> None: ...


class UnitOfWork(Protocol):
    """One transaction. Rolls back on exit unless `commit()` was called."""

    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def catalogue(self) -> CatalogueRepository: ...

    @property
    def usage(self) -> UsageRepository: ...

    @property
    def ledger(self) -> LedgerRepository: ...

    @property
    def rollups(self) -> RollupRepository: ...

    @property
    def api_keys(self) -> ApiKeyRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class ReportingUnitOfWork(UnitOfWork, Protocol):
    """A unit of work that can also answer reports (read-only use)."""

    @property
    def reports(self) -> ReportRepository: ...
