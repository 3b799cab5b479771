"""Repositories: SQLAlchemy Core on one connection, rows mapped to domain objects by hand.

Core rather than the ORM: recordUsage is the hot path and runs a handful of statements
whose compiled forms SQLAlchemy caches; no identity map, no unit-of-work flush.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import Connection, Row, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from domain.catalogue import Catalogue, ModelFlags
from domain.errors import InvalidInput
from domain.model import (
    Account,
    ApiKey,
    BillingSettings,
    CreditUnit,
    LedgerEntry,
    ModelType,
    ModelVersion,
    OperationConfig,
    Page,
    Role,
    TokenCounts,
    TransactionKind,
    UsageRecord,
)
from domain.money import CREDIT_PLACES, USD_PLACES, RoundingMode
from domain.ports import Charge, PricingBasis
from persistence import cursors
from persistence.rollups import ADD_TO_REPORT_ROLLUPS, QUEUE_USAGE_SQL, report_rollup_params
from persistence.statements import Statement, bind_timestamp, read_timestamp, timestamp, units
from persistence.tables import (
    AccountRow,
    ApiKeyRow,
    BillingSettingsRow,
    HourlyRollupRow,
    ModelRow,
    ModelVersionRow,
    OperationRow,
    TransactionRow,
    UsageRow,
)
from persistence.types import from_units

accounts = AccountRow.__table__  # type: ignore[attr-defined]
models = ModelRow.__table__  # type: ignore[attr-defined]
versions = ModelVersionRow.__table__  # type: ignore[attr-defined]
operations = OperationRow.__table__  # type: ignore[attr-defined]
settings_table = BillingSettingsRow.__table__  # type: ignore[attr-defined]
usage = UsageRow.__table__  # type: ignore[attr-defined]
transactions = TransactionRow.__table__  # type: ignore[attr-defined]
api_keys = ApiKeyRow.__table__  # type: ignore[attr-defined]
hourly = HourlyRollupRow.__table__  # type: ignore[attr-defined]

DEFAULT_SETTINGS = BillingSettings()


def insert_for(connection: Connection) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


# ---------------------------------------------------------------- accounts


class SeenGeneration:
    """The catalogue generation read alongside the account, saving the hot path a round trip."""

    def __init__(self) -> None:
        self.value: int | None = None


_ACCOUNT_WITH_GENERATION = Statement(
    "SELECT a.id, a.name, a.balance, a.created_at, a.default_text_model, a.default_image_model, "
    "s.catalogue_generation FROM accounts a LEFT JOIN billing_settings s ON s.id = 1 WHERE a.id = :id"
)
_CHANGE_BALANCE = Statement(
    "UPDATE accounts SET balance = balance + :delta WHERE id = :id AND balance + :delta >= 0 RETURNING balance"
)


class AccountCache:
    """The accounts this process read last, for pricing (get_for_pricing). Only a hint: a charge
    priced from it checks its PricingBasis against the committed account and catalogue."""

    MAX_ACCOUNTS = 100_000

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}

    def put(self, account: Account) -> None:
        if len(self.accounts) >= self.MAX_ACCOUNTS and account.id not in self.accounts:
            self.accounts.clear()
        self.accounts[account.id] = account


class SqlAccountRepository:
    def __init__(
        self, connection: Connection, seen: SeenGeneration | None = None, cache: AccountCache | None = None
    ) -> None:
        self._connection = connection
        self._seen = seen or SeenGeneration()
        self._cache = cache or AccountCache()

    def get(self, account_id: str) -> Account | None:
        # Alone: on the hot path this read is a transaction of its own, and the charge after it
        # checks what it read (PricingBasis); anywhere else a transaction is already open.
        row = _ACCOUNT_WITH_GENERATION.run(self._connection, {"id": account_id}, alone=True).fetchone()
        if row is None:
            self._cache.accounts.pop(account_id, None)
            return None
        self._seen.value = row[6]
        account = Account(
            id=row[0],
            name=row[1],
            balance=from_units(row[2], CREDIT_PLACES),
            created_at=read_timestamp(row[3]),
            default_text_model=row[4],
            default_image_model=row[5],
        )
        self._cache.put(account)
        return account

    def get_for_pricing(self, account_id: str) -> Account | None:
        return self._cache.accounts.get(account_id) or self.get(account_id)

    def add(self, account: Account) -> None:
        self._connection.execute(
            accounts.insert().values(
                id=account.id,
                name=account.name,
                balance=account.balance,
                created_at=account.created_at,
                default_text_model=account.default_text_model,
                default_image_model=account.default_image_model,
            )
        )

    def set_default_models(self, account_id: str, text: str | None, image: str | None) -> None:
        self._cache.accounts.pop(account_id, None)  # a hint only, but the next charge need not retry
        self._connection.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(default_text_model=text, default_image_model=image)
        )

    def change_balance(self, account_id: str, delta: Decimal) -> Decimal | None:
        # One conditional statement: atomic on PostgreSQL (row lock) and SQLite (write lock).
        row = _CHANGE_BALANCE.run(self._connection, {"id": account_id, "delta": units(delta, CREDIT_PLACES)}).fetchone()
        return from_units(row[0], CREDIT_PLACES) if row else None

    def list(self, first: int, after: str | None) -> Page:
        limit = cursors.page_size(first)
        query = select(accounts).order_by(accounts.c.created_at, accounts.c.id).limit(limit + 1)
        if after:
            created, account_id = cursors.decode(after, 2)
            try:
                created_at = datetime.fromisoformat(created)
            except ValueError:
                raise InvalidInput("not a cursor this API gave out", field="after") from None
            query = query.where(
                or_(
                    accounts.c.created_at > created_at,
                    and_(accounts.c.created_at == created_at, accounts.c.id > account_id),
                )
            )
        rows = self._connection.execute(query).all()
        items = [_account(row) for row in rows[:limit]]
        marks = [cursors.encode(item.created_at.isoformat(), item.id) for item in items]
        return Page(items, marks, len(rows) > limit)


def _account(row: Row[Any]) -> Account:
    return Account(
        id=row.id,
        name=row.name,
        balance=row.balance,
        created_at=row.created_at,
        default_text_model=row.default_text_model,
        default_image_model=row.default_image_model,
    )


# ---------------------------------------------------------------- catalogue


class CatalogueCache:
    """The last committed catalogue this process loaded, keyed by its generation."""

    def __init__(self) -> None:
        self.catalogue: Catalogue | None = None


class SqlCatalogueRepository:
    def __init__(self, connection: Connection, cache: CatalogueCache, seen: SeenGeneration | None = None) -> None:
        self._connection = connection
        self._cache = cache
        self._seen = seen or SeenGeneration()
        self._dirty = False  # this transaction changed the catalogue: never share what it sees

    def latest(self) -> Catalogue:
        cached = self._cache.catalogue
        if cached is not None and self._seen.value is None and not self._dirty:
            return cached
        return self.snapshot()

    def snapshot(self) -> Catalogue:
        generation, self._seen.value = self._seen.value, None
        if generation is None or self._dirty:
            generation = self._connection.execute(
                select(settings_table.c.catalogue_generation).where(settings_table.c.id == 1)
            ).scalar()
        cached = self._cache.catalogue
        if not self._dirty and cached is not None and generation is not None and cached.generation == generation:
            return cached
        catalogue = self._load(generation or 0)
        if not self._dirty and generation is not None:
            self._cache.catalogue = catalogue
        return catalogue

    def _load(self, generation: int) -> Catalogue:
        flags = {
            row.name: ModelFlags(ModelType(row.model_type), row.is_active, row.is_default)
            for row in self._connection.execute(select(models))
        }
        history: dict[str, list[ModelVersion]] = {}
        for row in self._connection.execute(select(versions).order_by(versions.c.name, versions.c.version)):
            history.setdefault(row.name, []).append(_version(row))
        ops = {row.operation_type: _operation(row) for row in self._connection.execute(select(operations))}
        row = self._connection.execute(select(settings_table).where(settings_table.c.id == 1)).first()
        settings = (
            BillingSettings(RoundingMode(row.rounding_mode), row.credit_decimal_places, row.credit_price_usd)
            if row
            else DEFAULT_SETTINGS
        )
        return Catalogue(history, flags, ops, settings, generation)

    def add_version(self, version: ModelVersion) -> ModelVersion:
        if version.version == 1:
            self._connection.execute(
                models.insert().values(
                    name=version.name, model_type=version.model_type.value, is_active=True, is_default=False
                )
            )
        new_id = self._connection.execute(
            versions.insert()
            .values(
                name=version.name,
                version=version.version,
                display_name=version.display_name,
                provider=version.provider,
                model_type=version.model_type.value,
                tokens_per_credit=version.tokens_per_credit,
                input_price_per_million=version.input_price_per_million,
                output_price_per_million=version.output_price_per_million,
                cached_input_price_per_million=version.cached_input_price_per_million,
                cache_write_price_per_million=version.cache_write_price_per_million,
                cache_write_1h_price_per_million=version.cache_write_1h_price_per_million,
                price_per_image=version.price_per_image,
                effective_from=version.effective_from,
            )
            .returning(versions.c.id)
        ).scalar_one()
        self._changed()
        return ModelVersion(**{**_fields(version), "id": new_id})

    def set_flags(self, name: str, *, is_active: bool | None = None, is_default: bool | None = None) -> None:
        if is_default:
            model_type = self._connection.execute(select(models.c.model_type).where(models.c.name == name)).scalar()
            self._connection.execute(
                update(models).where(models.c.model_type == model_type, models.c.name != name).values(is_default=False)
            )
        values = {k: v for k, v in (("is_active", is_active), ("is_default", is_default)) if v is not None}
        if values:
            self._connection.execute(update(models).where(models.c.name == name).values(**values))
        self._changed()

    def save_operation(self, operation: OperationConfig) -> None:
        values = dict(
            model_type=operation.model_type.value,
            unit=operation.unit.value,
            credits_cost=operation.credits_cost,
            default_model=operation.default_model,
            is_active=operation.is_active,
        )
        statement = insert_for(self._connection)(operations).values(operation_type=operation.operation_type, **values)
        self._connection.execute(statement.on_conflict_do_update(index_elements=["operation_type"], set_=values))
        self._changed()

    def save_settings(self, settings: BillingSettings) -> None:
        values = dict(
            rounding_mode=settings.rounding_mode.value,
            credit_decimal_places=settings.credit_decimal_places,
            credit_price_usd=settings.credit_price_usd,
        )
        statement = insert_for(self._connection)(settings_table).values(id=1, catalogue_generation=1, **values)
        self._connection.execute(
            statement.on_conflict_do_update(
                index_elements=["id"],
                set_={**values, "catalogue_generation": settings_table.c.catalogue_generation + 1},
            )
        )
        self._dirty = True

    def _changed(self) -> None:
        self._connection.execute(
            update(settings_table)
            .where(settings_table.c.id == 1)
            .values(catalogue_generation=settings_table.c.catalogue_generation + 1)
        )
        self._dirty = True


def _fields(version: ModelVersion) -> dict[str, Any]:
    return {name: getattr(version, name) for name in ModelVersion.__slots__}  # type: ignore[attr-defined]


def _version(row: Row[Any]) -> ModelVersion:
    return ModelVersion(
        id=row.id,
        name=row.name,
        display_name=row.display_name,
        provider=row.provider,
        model_type=ModelType(row.model_type),
        tokens_per_credit=row.tokens_per_credit,
        input_price_per_million=row.input_price_per_million,
        output_price_per_million=row.output_price_per_million,
        cached_input_price_per_million=row.cached_input_price_per_million,
        cache_write_price_per_million=row.cache_write_price_per_million,
        cache_write_1h_price_per_million=row.cache_write_1h_price_per_million,
        price_per_image=row.price_per_image,
        version=row.version,
        effective_from=row.effective_from,
    )


def _operation(row: Row[Any]) -> OperationConfig:
    return OperationConfig(
        operation_type=row.operation_type,
        model_type=ModelType(row.model_type),
        unit=CreditUnit(row.unit),
        credits_cost=row.credits_cost,
        default_model=row.default_model,
        is_active=row.is_active,
    )


# ---------------------------------------------------------------- usage


_USAGE_SQL = (
    "INSERT INTO usage_records (idempotency_key, request_hash, account_id, operation_type, model_version_id, "
    "model_name, tokens_input, tokens_output, tokens_cached_input, tokens_cache_write, tokens_reasoning, images, "
    "credits_used, cost_usd_input, cost_usd_output, cost_usd_total, success, tokens_estimated, occurred_at, "
    "recorded_at, metadata) VALUES (:idempotency_key, :request_hash, :account_id, :operation_type, "
    ":model_version_id, :model_name, :tokens_input, :tokens_output, :tokens_cached_input, :tokens_cache_write, "
    ":tokens_reasoning, :images, :credits_used, :cost_usd_input, :cost_usd_output, :cost_usd_total, :success, "
    ":tokens_estimated, :occurred_at, :recorded_at, {metadata}) "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)
_INSERT_USAGE = Statement(
    _USAGE_SQL.format(metadata=":metadata"), postgresql=_USAGE_SQL.format(metadata="CAST(:metadata AS JSON)")
)
# Whether a charge's PricingBasis still holds, on the account row being debited. The catalogue
# generation is read by the statement's snapshot.
_BASIS_HOLDS = (
    "default_text_model {same} :basis_text_model AND default_image_model {same} :basis_image_model "
    "AND COALESCE((SELECT catalogue_generation FROM billing_settings WHERE id = 1), 0) = :basis_generation"
)
# SQLite (in the write transaction, after the usage insert): the debit, only while the basis holds.
_DEBIT_ON_BASIS = Statement(
    "UPDATE accounts SET balance = balance - :credits_used WHERE id = :account_id "
    f"AND balance - :credits_used >= 0 AND {_BASIS_HOLDS.format(same='IS')} RETURNING balance"
)
_BASIS_NOW = Statement(
    "SELECT a.balance, a.default_text_model, a.default_image_model, "
    "COALESCE((SELECT catalogue_generation FROM billing_settings WHERE id = 1), 0) "
    "FROM accounts a WHERE a.id = :account_id"
)


# PostgreSQL only: the whole charge as one statement of data-modifying CTEs. It locks the
# account row first (a waiting FOR UPDATE reads the row as committed by the charge before it),
# and debits only while that row covers the charge and the pricing basis holds; everything
# else is selected FROM the debit, so a refused debit writes nothing and never overdraws. A
# taken idempotency key makes the usage insert fail on its unique index, and the failed
# statement writes nothing either. All or nothing, then: it runs as a transaction of its own
# (Statement.run alone). Its last columns are the account as it locked it, to tell a refusal's
# reason. The statements and parameters are SQLite's, which runs them one by one.
def _charge_sql() -> str:
    def from_debit(insert: str, values_end: str) -> str:
        """INSERT ... VALUES (...) as INSERT ... SELECT ... FROM debit, keeping any ON CONFLICT clause."""
        assert insert.count(") VALUES (") == 1 and insert.count(values_end) == 1, "an insert no longer FROM debit"
        kept = " ON CONFLICT" if values_end == ") ON CONFLICT" else ""
        return insert.replace(") VALUES (", ") SELECT ", 1).replace(values_end, " FROM debit" + kept, 1)

    usage_sql = _USAGE_SQL.format(metadata="CAST(:metadata AS JSON)")
    locked_holds = _BASIS_HOLDS.format(same="IS NOT DISTINCT FROM").replace("default_", "locked.default_")
    return (
        "WITH locked AS (SELECT balance, default_text_model, default_image_model FROM accounts "
        "WHERE id = :account_id FOR UPDATE), "
        "debit AS (UPDATE accounts SET balance = accounts.balance - :credits_used FROM locked "
        f"WHERE accounts.id = :account_id AND locked.balance - :credits_used >= 0 AND {locked_holds} "
        "RETURNING accounts.balance), "
        f"ins AS ({from_debit(usage_sql, ') ON CONFLICT (idempotency_key) DO NOTHING')}), "
        "entry AS (INSERT INTO credit_transactions (account_id, kind, amount, balance_after, description, usage_id, "
        "created_at) SELECT :account_id, 'USAGE', -CAST(:credits_used AS BIGINT), debit.balance, :description, "
        "ins.id, :recorded_at FROM debit, ins RETURNING id), "
        f"queued AS ({QUEUE_USAGE_SQL}) "
        "SELECT (SELECT id FROM ins), (SELECT balance FROM debit), locked.balance, locked.default_text_model, "
        "locked.default_image_model, COALESCE((SELECT catalogue_generation FROM billing_settings WHERE id = 1), 0) "
        "FROM (SELECT 1) AS one LEFT JOIN locked ON true"
    )


def _refused(found: Any, params: dict[str, Any], basis: PricingBasis) -> Charge:
    """Why a debit was refused, from the account as the charge locked it (balance, default models,
    catalogue generation): short of credits if the basis held; stale (the caller prices it
    again) if the account is gone or the basis changed."""
    if found is None:
        return Charge(None, None, stale=True)
    balance, text_model, image_model, generation = found
    holds = (text_model, image_model, generation) == (
        basis.default_text_model, basis.default_image_model, basis.catalogue_generation)
    assert not holds or balance - params["credits_used"] < 0, "a refused debit that the account covered"
    return Charge(None, None, stale=not holds)


def usage_params(record: UsageRecord, *, postgresql: bool) -> dict[str, Any]:
    """_INSERT_USAGE's parameters: the columns' values as the column types would bind them."""
    return {
        "idempotency_key": record.idempotency_key,
        "request_hash": record.request_hash,
        "account_id": record.account_id,
        "operation_type": record.operation_type,
        "model_version_id": record.model_version_id,
        "model_name": record.model_name,
        **_amounts(record),
        "cost_usd_total": units(record.cost_usd_total, USD_PLACES),
        "success": record.success,
        "tokens_estimated": record.tokens_estimated,
        "occurred_at": bind_timestamp(record.occurred_at, postgresql=postgresql),
        "recorded_at": bind_timestamp(record.recorded_at, postgresql=postgresql),
        "metadata": None if record.metadata is None else json.dumps(record.metadata, separators=(",", ":")),
    }


def charge_params(record: UsageRecord, description: str, basis: PricingBasis, *, postgresql: bool) -> dict[str, Any]:
    return {
        **usage_params(record, postgresql=postgresql), "description": description,
        "basis_text_model": basis.default_text_model, "basis_image_model": basis.default_image_model,
        "basis_generation": basis.catalogue_generation,
    }


def key_taken(error: UniqueViolation) -> Charge:
    """A charge whose usage insert hit a taken idempotency key (any other violation is a fault)."""
    if error.diag.constraint_name != "usage_records_idempotency_key_key":
        raise error
    return Charge(None, None, key_taken=True)


def postgres_charge(row: Any, params: dict[str, Any], basis: PricingBasis) -> Charge:
    """What CHARGE's one row says: billed, or refused and why."""
    usage_id, balance, *found = row
    if balance is None:
        return _refused(None if found[0] is None else found, params, basis)
    return Charge(usage_id, from_units(balance, CREDIT_PLACES))


class SqlUsageRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, record: UsageRecord) -> int | None:
        row = _INSERT_USAGE.run(self._connection, self._params(record)).fetchone()
        return row[0] if row else None

    def charge(self, record: UsageRecord, description: str, basis: PricingBasis) -> Charge:
        postgres = self._connection.dialect.name == "postgresql"
        params = charge_params(record, description, basis, postgresql=postgres)
        if postgres:  # the rollups are folded from its queue
            try:
                cursor = CHARGE.run(self._connection, params, alone=True)
            except UniqueViolation as error:
                return key_taken(error)
            return postgres_charge(cursor.fetchone(), params, basis)
        params |= _rollup_params(self._connection, record)
        usage_id = self.add(record)
        if usage_id is None:
            return Charge(None, None, key_taken=True)
        row = _DEBIT_ON_BASIS.run(self._connection, params).fetchone()
        if row is None:
            return _refused(_BASIS_NOW.run(self._connection, params).fetchone(), params, basis)
        balance = from_units(row[0], CREDIT_PLACES)
        SqlLedgerRepository(self._connection).add(LedgerEntry(
            None, record.account_id, TransactionKind.USAGE, -record.credits_used, balance, record.recorded_at,
            description=description, usage_id=usage_id,
        ))
        SqlRollupRepository(self._connection).add(record)
        return Charge(usage_id, balance)

    def _params(self, record: UsageRecord) -> dict[str, Any]:
        return usage_params(record, postgresql=self._connection.dialect.name == "postgresql")

    def by_key(self, idempotency_key: str) -> UsageRecord | None:
        row = self._connection.execute(select(usage).where(usage.c.idempotency_key == idempotency_key)).first()
        return usage_record(row) if row else None

    def get(self, usage_id: int) -> UsageRecord | None:
        row = self._connection.execute(select(usage).where(usage.c.id == usage_id)).first()
        return usage_record(row) if row else None

    def get_many(self, usage_ids: list[int]) -> list[UsageRecord]:
        rows = self._connection.execute(select(usage).where(usage.c.id.in_(usage_ids))).all()
        return [usage_record(row) for row in rows]

    def list_for_account(
        self, account_id: str, first: int, after: str | None, start: datetime | None, end: datetime | None
    ) -> Page:
        limit = cursors.page_size(first)
        query = select(usage).where(usage.c.account_id == account_id)
        if start is not None:
            query = query.where(usage.c.occurred_at >= start)
        if end is not None:
            query = query.where(usage.c.occurred_at < end)
        return _id_page(self._connection, query, usage.c.id, first=limit, after=after, to_domain=usage_record)


def usage_record(row: Row[Any]) -> UsageRecord:
    return UsageRecord(
        id=row.id,
        idempotency_key=row.idempotency_key,
        request_hash=row.request_hash,
        account_id=row.account_id,
        operation_type=row.operation_type,
        model_version_id=row.model_version_id,
        model_name=row.model_name,
        counts=TokenCounts(
            row.tokens_input,
            row.tokens_output,
            row.tokens_cached_input,
            row.tokens_cache_write,
            row.tokens_reasoning,
            row.images,
        ),
        credits_used=row.credits_used,
        cost_usd_input=row.cost_usd_input,
        cost_usd_output=row.cost_usd_output,
        success=row.success,
        tokens_estimated=row.tokens_estimated,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        metadata=row.metadata,
    )


def _id_page(
    connection: Connection, query: Any, id_column: Any, *, first: int, after: str | None, to_domain: Any
) -> Page:
    """Newest first by id: ids only grow, so concurrent inserts never shift a later page."""
    if after:
        query = query.where(id_column < cursors.decode_id(after))
    rows = connection.execute(query.order_by(id_column.desc()).limit(first + 1)).all()
    items = [to_domain(row) for row in rows[:first]]
    return Page(items, [cursors.encode(item.id) for item in items], len(rows) > first)


# ---------------------------------------------------------------- ledger


_INSERT_ENTRY = Statement(
    "INSERT INTO credit_transactions (account_id, kind, amount, balance_after, description, usage_id, "
    "idempotency_key, request_hash, created_at) VALUES (:account_id, :kind, :amount, :balance_after, "
    ":description, :usage_id, :idempotency_key, :request_hash, :created_at) "
    "ON CONFLICT DO NOTHING RETURNING id"
)


class SqlLedgerRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, entry: LedgerEntry) -> int | None:
        # A taken idempotency key (addCredits) inserts nothing; usage entries carry no key.
        row = _INSERT_ENTRY.run(
            self._connection,
            {
                "account_id": entry.account_id,
                "kind": entry.kind.value,
                "amount": units(entry.amount, CREDIT_PLACES),
                "balance_after": units(entry.balance_after, CREDIT_PLACES),
                "description": entry.description,
                "usage_id": entry.usage_id,
                "idempotency_key": entry.idempotency_key,
                "request_hash": entry.request_hash,
                "created_at": timestamp(self._connection, entry.created_at),
            },
        ).fetchone()
        return row[0] if row else None

    def by_key(self, idempotency_key: str) -> LedgerEntry | None:
        row = self._connection.execute(
            select(transactions).where(transactions.c.idempotency_key == idempotency_key)
        ).first()
        return _entry(row) if row else None

    def for_usage(self, usage_id: int) -> LedgerEntry | None:
        row = self._connection.execute(select(transactions).where(transactions.c.usage_id == usage_id)).first()
        return _entry(row) if row else None

    def list_for_account(self, account_id: str, first: int, after: str | None) -> Page:
        query = select(transactions).where(transactions.c.account_id == account_id)
        return _id_page(
            self._connection, query, transactions.c.id, first=cursors.page_size(first), after=after, to_domain=_entry
        )


def _entry(row: Row[Any]) -> LedgerEntry:
    return LedgerEntry(
        id=row.id,
        account_id=row.account_id,
        kind=TransactionKind(row.kind),
        amount=row.amount,
        balance_after=row.balance_after,
        created_at=row.created_at,
        description=row.description,
        usage_id=row.usage_id,
        idempotency_key=row.idempotency_key,
        request_hash=row.request_hash,
    )


# ---------------------------------------------------------------- rollups


_ROLLUP_SUMS = (
    "calls",
    "tokens_input",
    "tokens_output",
    "tokens_cached_input",
    "tokens_cache_write",
    "tokens_reasoning",
    "images",
    "credits_used",
    "cost_usd_input",
    "cost_usd_output",
)
_HOURLY_SQL = (
    "INSERT INTO usage_rollups_hourly (bucket_start, account_id, model_version_id, operation_type, success, "
    + ", ".join(_ROLLUP_SUMS)
    + ") VALUES (:bucket_start, :account_id, :model_version_id, :operation_type, "
    ":success, " + ", ".join(f":{name}" for name in _ROLLUP_SUMS) + ") "
    "ON CONFLICT (bucket_start, account_id, model_version_id, operation_type, success) DO UPDATE SET "
    + ", ".join(f"{name} = usage_rollups_hourly.{name} + excluded.{name}" for name in _ROLLUP_SUMS)
)
_ADD_TO_HOURLY = Statement(_HOURLY_SQL)
CHARGE = Statement(_charge_sql())


def _rollup_params(connection: Connection, record: UsageRecord) -> dict[str, Any]:
    """The parameters of both rollup upserts (_ADD_TO_HOURLY and ADD_TO_REPORT_ROLLUPS) for one usage."""
    bucket = record.occurred_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return {
        "bucket_start": timestamp(connection, bucket), "success": record.success, **_amounts(record),
        **report_rollup_params(record),
    }


def _amounts(record: UsageRecord) -> dict[str, int]:
    """A usage's counts and money as the integers the columns store."""
    counts = record.counts
    return {
        "tokens_input": counts.tokens_input,
        "tokens_output": counts.tokens_output,
        "tokens_cached_input": counts.tokens_cached_input,
        "tokens_cache_write": counts.tokens_cache_write,
        "tokens_reasoning": counts.tokens_reasoning,
        "images": counts.images,
        "credits_used": units(record.credits_used, CREDIT_PLACES),
        "cost_usd_input": units(record.cost_usd_input, USD_PLACES),
        "cost_usd_output": units(record.cost_usd_output, USD_PLACES),
    }


class SqlRollupRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, record: UsageRecord) -> None:
        params = _rollup_params(self._connection, record)
        _ADD_TO_HOURLY.run(self._connection, params)
        ADD_TO_REPORT_ROLLUPS.run(self._connection, params)


# ---------------------------------------------------------------- API keys


_KEY_BY_HASH = Statement(
    "SELECT id, name, role, account_id, created_at, revoked FROM api_keys WHERE secret_hash = :secret_hash"
)


class SqlApiKeyRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, key: ApiKey) -> None:
        self._connection.execute(
            api_keys.insert().values(
                id=key.id,
                name=key.name,
                role=key.role.value,
                account_id=key.account_id,
                secret_hash=key.secret_hash,
                created_at=key.created_at,
                revoked=key.revoked,
            )
        )

    def by_hash(self, secret_hash: str) -> ApiKey | None:
        # Every request authenticates: the lookup skips Core like the rest of the hot path.
        row = _KEY_BY_HASH.run(self._connection, {"secret_hash": secret_hash}).fetchone()
        if row is None:
            return None
        return ApiKey(
            id=row[0],
            name=row[1],
            role=Role(row[2]),
            secret_hash=secret_hash,
            created_at=read_timestamp(row[4]),
            account_id=row[3],
            revoked=bool(row[5]),
        )

    def get(self, key_id: str) -> ApiKey | None:
        row = self._connection.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        return _api_key(row) if row else None

    def list(self) -> list[ApiKey]:
        return [_api_key(row) for row in self._connection.execute(select(api_keys).order_by(api_keys.c.created_at))]

    def revoke(self, key_id: str) -> None:
        self._connection.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked=True))

    def count(self) -> int:
        return int(self._connection.execute(select(func.count()).select_from(api_keys)).scalar_one())


def _api_key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        secret_hash=row.secret_hash,
        created_at=row.created_at,
        account_id=row.account_id,
        revoked=row.revoked,
    )
