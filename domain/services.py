"""Use cases: primitives in, one unit of work, an explicit commit."""

from __future__ import annotations

import enum
import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.catalogue import Catalogue
from domain.errors import (
    BillingError,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidInput,
    NotFound,
)
from domain.model import (
    Account,
    ApiKey,
    BillingSettings,
    CreditUnit,
    LedgerEntry,
    ModelType,
    ModelVersion,
    OperationConfig,
    Role,
    TokenCounts,
    TransactionKind,
    UsageRecord,
)
from domain.money import (
    CREDIT_COST_PLACES,
    CREDIT_PLACES,
    MAX_AMOUNT,
    PRICE_PER_MILLION_PLACES,
    USD_PLACES,
    RoundingMode,
    is_exact,
)
from domain.ports import Clock, PricingBasis, UnitOfWork
from domain.pricing import Cost, apply_stated_cost, calculate_cost, calculate_credits, check_counts
from domain.resolution import check_usable, resolve_model

MAX_KEY_LENGTH = 200
MAX_TEXT_LENGTH = 500
MAX_METADATA_BYTES = 16_384
# Usage may be reported late, never from the future beyond ordinary clock skew.
MAX_CLOCK_SKEW = timedelta(minutes=5)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}$")
_OPERATION = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_PROVIDER = re.compile(r"^[a-z][a-z0-9_.-]{0,49}$")
# A snapshot suffix: -2024-07-18 (OpenAI), -20250929 (Anthropic), -001 (Google), -latest.
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{3}|latest)")


class Keep(enum.Enum):
    """Leave this setting as it is (an argument the caller did not send)."""

    KEEP = "KEEP"


KEEP = Keep.KEEP


# ---------------------------------------------------------------- recording usage


@dataclass(frozen=True, slots=True)
class UsageRequest:
    idempotency_key: str
    account_id: str
    operation_type: str
    counts: TokenCounts
    model_name: str | None = None
    success: bool = True
    occurred_at: datetime | None = None
    metadata: Any = None
    tokens_estimated: bool = False
    stated_cost_usd: Decimal | None = None
    # Set when the counts were read from a raw provider response.
    response_model: str | None = None
    response_digest: str | None = None

    def fingerprint(self) -> str:
        """Identifies the input, so a replay can be told from a different use of the same key."""
        canonical = {
            "account": self.account_id,
            "operation": self.operation_type,
            "model": self.model_name,
            "counts": [
                self.counts.tokens_input,
                self.counts.tokens_output,
                self.counts.tokens_cached_input,
                self.counts.tokens_cache_write,
                self.counts.tokens_reasoning,
                self.counts.images,
                self.counts.tokens_cache_write_1h,
            ],
            "success": self.success,
            "occurred_at": _utc_iso(self.occurred_at),
            "metadata": self.metadata,
            "estimated": self.tokens_estimated,
            "stated_cost": None if self.stated_cost_usd is None else str(self.stated_cost_usd),
            "response": self.response_digest,
        }
        return hashlib.sha256(canonical_json(canonical).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class UsageOutcome:
    usage: UsageRecord
    balance: Decimal
    replayed: bool
    model: ModelVersion | None = None  # the version that billed it, when at hand


@dataclass(frozen=True, slots=True)
class Priced:
    model: ModelVersion
    credits: Decimal
    cost: Cost


def record_usage(uow: UnitOfWork, clock: Clock, request: UsageRequest) -> UsageOutcome:
    """Bill one AI call in one transaction.

    Raises NotFound, InvalidInput, ModelUnavailable, InsufficientCredits, IdempotencyConflict.
    """
    _check_usage_request(request)
    fingerprint = request.fingerprint()
    with uow:
        try:
            return _bill(uow, clock, request, fingerprint)
        except BillingError:
            # Whatever made this attempt fail, a key already used decides the answer.
            uow.rollback()
            earlier = uow.usage.by_key(request.idempotency_key)
            if earlier is None:
                raise
            return _replay(uow, earlier, request.idempotency_key, fingerprint)


class _KeyTaken(BillingError):
    def __init__(self) -> None:
        super().__init__("idempotency key already used")


# A charge priced from remembered state that turns out stale is priced again from fresh reads;
# a fresh read goes stale only if a change commits in the moment before the charge.
MAX_PRICING_ATTEMPTS = 5


def _bill(uow: UnitOfWork, clock: Clock, request: UsageRequest, fingerprint: str) -> UsageOutcome:
    now = clock.now()
    occurred_at = _occurred_at(request.occurred_at, now)
    for attempt in range(MAX_PRICING_ATTEMPTS):
        if attempt == 0:  # what this process saw last: usually no read at all
            account = uow.accounts.get_for_pricing(request.account_id)
        else:
            uow.rollback()
            account = uow.accounts.get(request.account_id)
        if account is None:
            raise NotFound("account", request.account_id)
        catalogue = uow.catalogue.latest() if attempt == 0 else uow.catalogue.snapshot()
        try:
            priced = _price(catalogue, account, request, occurred_at)
        except BillingError:
            if attempt == 0:  # a refusal must come from fresh reads, never from remembered ones
                continue
            raise
        record = UsageRecord(
            id=None,
            idempotency_key=request.idempotency_key,
            request_hash=fingerprint,
            account_id=account.id,
            operation_type=request.operation_type,
            model_version_id=priced.model.id,
            model_name=priced.model.name,
            counts=request.counts,
            credits_used=priced.credits,
            cost_usd_input=priced.cost.input,
            cost_usd_output=priced.cost.output,
            success=request.success,
            tokens_estimated=request.tokens_estimated,
            occurred_at=occurred_at,
            recorded_at=now,
            metadata=_usage_metadata(request),
        )
        basis = PricingBasis(account.id, account.default_text_model, account.default_image_model, catalogue.generation)
        charge = uow.usage.charge(record, f"{request.operation_type} with {priced.model.name}", basis)
        if charge.key_taken:
            raise _KeyTaken()
        if charge.stale:
            continue
        if charge.balance is None:
            uow.rollback()
            current = uow.accounts.get(account.id)
            raise InsufficientCredits(
                account.id, required=priced.credits, balance=current.balance if current else Decimal(0)
            )
        uow.commit()
        return UsageOutcome(replace(record, id=charge.usage_id), charge.balance, replayed=False, model=priced.model)
    raise RuntimeError(f"the account or catalogue kept changing while {request.idempotency_key!r} was priced")


def _replay(uow: UnitOfWork, earlier: UsageRecord, key: str, fingerprint: str) -> UsageOutcome:
    if earlier.request_hash != fingerprint:
        raise IdempotencyConflict(key)
    assert earlier.id is not None
    entry = uow.ledger.for_usage(earlier.id)
    assert entry is not None, "every usage has its ledger entry"
    return UsageOutcome(earlier, entry.balance_after, replayed=True)


def _price(catalogue: Catalogue, account: Account, request: UsageRequest, at: datetime) -> Priced:
    operation = catalogue.operations.get(request.operation_type)
    if operation is None:
        raise NotFound("operation", request.operation_type)
    if not operation.is_active:
        raise InvalidInput(f"operation {request.operation_type!r} is not active", field="operationType")
    model = resolve_model(catalogue, operation, account, request.model_name, at)
    if request.response_model and not request.model_name and not _same_model(request.response_model, model.name):
        raise InvalidInput(
            f"the provider response is from {request.response_model!r} but this call resolves to "
            f"{model.name!r}; name the model in modelName to bill it anyway",
            field="providerResponse",
        )
    credits = calculate_credits(operation, model, request.counts, catalogue.settings, success=request.success)
    cost = calculate_cost(model, request.counts)
    if request.stated_cost_usd is not None:
        cost = apply_stated_cost(cost, request.stated_cost_usd)
    return Priced(model, credits, cost)


def _same_model(reported: str, name: str) -> bool:
    """Providers report dated snapshots ("gpt-4o-mini-2024-07-18") of catalogue names; a longer
    name is another model ("gpt-4o-mini" is not "gpt-4o")."""
    reported = reported.removeprefix("models/")
    return (
        reported == name
        or (reported.startswith(name) and _SNAPSHOT.fullmatch(reported[len(name) :]) is not None)
        or (name.startswith(reported) and _SNAPSHOT.fullmatch(name[len(reported) :]) is not None)
    )


def _usage_metadata(request: UsageRequest) -> Any:
    if request.stated_cost_usd is None:
        return request.metadata
    if request.metadata is None:
        metadata: dict[str, Any] = {}
    elif isinstance(request.metadata, dict):
        metadata = dict(request.metadata)
    else:
        metadata = {"client": request.metadata}
    metadata["costSource"] = "provider"
    metadata["providerCostUsd"] = str(request.stated_cost_usd)
    return metadata


def _check_usage_request(request: UsageRequest) -> None:
    _check_key(request.idempotency_key)
    if not request.account_id:
        raise InvalidInput("accountId is required", field="accountId")
    if not request.operation_type:
        raise InvalidInput("operationType is required", field="operationType")
    check_counts(request.counts)
    check_metadata(request.metadata)
    if request.stated_cost_usd is not None and not (
        request.stated_cost_usd.is_finite() and Decimal(0) <= request.stated_cost_usd <= MAX_AMOUNT
    ):
        raise InvalidInput("the provider's stated cost must be between 0 and 1e8 USD", field="providerResponse")


def _occurred_at(requested: datetime | None, now: datetime) -> datetime:
    if requested is None:
        return now
    _require_aware(requested, "occurredAt")
    if requested > now + MAX_CLOCK_SKEW:
        raise InvalidInput("occurredAt is in the future", field="occurredAt")
    if requested.year < 2000:
        raise InvalidInput("occurredAt is before 2000", field="occurredAt")
    return requested


# ---------------------------------------------------------------- quotes


@dataclass(frozen=True, slots=True)
class QuoteOutcome:
    model: ModelVersion
    credits: Decimal
    cost: Cost
    balance_after: Decimal
    affordable: bool


def quote(
    uow: UnitOfWork,
    clock: Clock,
    account_id: str,
    operation_type: str,
    counts: TokenCounts,
    model_name: str | None = None,
    *,
    stated_cost_usd: Decimal | None = None,
    response_model: str | None = None,
) -> QuoteOutcome:
    """What a call would cost now, writing nothing. Raises NotFound, InvalidInput, ModelUnavailable."""
    check_counts(counts)
    with uow:
        account = uow.accounts.get(account_id)
        if account is None:
            raise NotFound("account", account_id)
        request = UsageRequest(
            "quote",
            account_id,
            operation_type,
            counts,
            model_name=model_name,
            stated_cost_usd=stated_cost_usd,
            response_model=response_model,
        )
        priced = _price(uow.catalogue.snapshot(), account, request, clock.now())
    balance_after = account.balance - priced.credits
    return QuoteOutcome(priced.model, priced.credits, priced.cost, balance_after, balance_after >= 0)


# ---------------------------------------------------------------- accounts and credits


def create_account(uow: UnitOfWork, clock: Clock, name: str, initial_credits: Decimal = Decimal(0)) -> Account:
    """Open an account; initial credits arrive as a TOP_UP entry. Raises InvalidInput."""
    name = _check_text(name, "name", required=True)
    _check_credits(initial_credits, "initialCredits")
    if initial_credits < 0:
        raise InvalidInput("initialCredits must not be negative", field="initialCredits")
    now = clock.now()
    account = Account(id=str(uuid.uuid4()), name=name, balance=initial_credits, created_at=now)
    with uow:
        uow.accounts.add(account)
        if initial_credits:
            uow.ledger.add(
                LedgerEntry(
                    None,
                    account.id,
                    TransactionKind.TOP_UP,
                    initial_credits,
                    initial_credits,
                    now,
                    description="initial credits",
                )
            )
        uow.commit()
    return account


def update_account_settings(
    uow: UnitOfWork,
    clock: Clock,
    account_id: str,
    default_text_model: str | None | Keep = KEEP,
    default_image_model: str | None | Keep = KEEP,
) -> Account:
    """Set or clear (None) an account's default models. Raises NotFound, ModelUnavailable."""
    with uow:
        account = uow.accounts.get(account_id)
        if account is None:
            raise NotFound("account", account_id)
        catalogue = uow.catalogue.snapshot()
        now = clock.now()
        text = account.default_text_model if default_text_model is KEEP else default_text_model or None
        image = account.default_image_model if default_image_model is KEEP else default_image_model or None
        if text and text != account.default_text_model:
            check_usable(catalogue, text, ModelType.TEXT, now)
        if image and image != account.default_image_model:
            check_usable(catalogue, image, ModelType.IMAGE, now)
        uow.accounts.set_default_models(account_id, text, image)
        uow.commit()
    return replace(account, default_text_model=text, default_image_model=image)


@dataclass(frozen=True, slots=True)
class CreditsOutcome:
    entry: LedgerEntry
    balance: Decimal
    replayed: bool


_SIGN_RULES: dict[TransactionKind, tuple[Callable[[Decimal], bool], str]] = {
    TransactionKind.TOP_UP: (lambda amount: amount > 0, "a TOP_UP amount must be positive"),
    TransactionKind.REFUND: (lambda amount: amount > 0, "a REFUND amount must be positive"),
    TransactionKind.EXPIRY: (lambda amount: amount < 0, "an EXPIRY amount must be negative (credits removed)"),
    TransactionKind.ADJUSTMENT: (lambda amount: amount != 0, "an ADJUSTMENT amount must not be zero"),
}


def add_credits(
    uow: UnitOfWork,
    clock: Clock,
    idempotency_key: str,
    account_id: str,
    amount: Decimal,
    kind: TransactionKind = TransactionKind.TOP_UP,
    description: str | None = None,
) -> CreditsOutcome:
    """Append a ledger entry and move the balance. Raises NotFound, InvalidInput,
    IdempotencyConflict, InsufficientCredits (a removal may not take the balance below zero)."""
    _check_key(idempotency_key)
    _check_credits(amount, "amount")
    description = _check_text(description, "description")
    rule = _SIGN_RULES.get(kind)
    if rule is None:
        raise InvalidInput("USAGE entries are written by recordUsage only", field="kind")
    allowed, why = rule
    if not allowed(amount):
        raise InvalidInput(why, field="amount")
    fingerprint = hashlib.sha256(
        canonical_json([account_id, str(amount.normalize()), kind.value, description]).encode()
    ).hexdigest()
    with uow:
        try:
            return _credit(uow, clock, idempotency_key, account_id, amount, kind, description, fingerprint)
        except BillingError:
            uow.rollback()
            earlier = uow.ledger.by_key(idempotency_key)
            if earlier is None:
                raise
            if earlier.request_hash != fingerprint:
                raise IdempotencyConflict(idempotency_key) from None
            return CreditsOutcome(earlier, earlier.balance_after, replayed=True)


def _credit(
    uow: UnitOfWork,
    clock: Clock,
    key: str,
    account_id: str,
    amount: Decimal,
    kind: TransactionKind,
    description: str | None,
    fingerprint: str,
) -> CreditsOutcome:
    account = uow.accounts.get(account_id)
    if account is None:
        raise NotFound("account", account_id)
    balance = uow.accounts.change_balance(account_id, amount)
    if balance is None:
        current = uow.accounts.get(account_id)
        raise InsufficientCredits(account_id, required=-amount, balance=current.balance if current else Decimal(0))
    entry = LedgerEntry(
        None,
        account_id,
        kind,
        amount,
        balance,
        clock.now(),
        description=description,
        idempotency_key=key,
        request_hash=fingerprint,
    )
    entry_id = uow.ledger.add(entry)
    if entry_id is None:
        raise _KeyTaken()
    uow.commit()
    return CreditsOutcome(replace(entry, id=entry_id), balance, replayed=False)


# ---------------------------------------------------------------- catalogue


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    provider: str
    model_type: ModelType
    input_price_per_million: Decimal
    output_price_per_million: Decimal
    display_name: str | None = None
    tokens_per_credit: int | None = None
    cached_input_price_per_million: Decimal | None = None
    cache_write_price_per_million: Decimal | None = None
    price_per_image: Decimal | None = None
    is_default: bool = False
    effective_from: datetime | None = None
    cache_write_1h_price_per_million: Decimal | None = None


def upsert_model(uow: UnitOfWork, clock: Clock, spec: ModelSpec) -> ModelVersion:
    """Create a model, or add price version n+1 of an existing one (rows are never edited).

    Raises InvalidInput."""
    _check_model_spec(spec)
    now = clock.now()
    with uow:
        catalogue = uow.catalogue.snapshot()
        history = catalogue.history(spec.name)
        effective_from = spec.effective_from or now
        if history:
            latest = history[-1]
            if latest.model_type is not spec.model_type:
                raise InvalidInput(
                    f"{spec.name} is a {latest.model_type.value} model; its type cannot change",
                    field="modelType",
                )
            if effective_from <= latest.effective_from:
                raise InvalidInput(
                    f"effectiveFrom must be after version {latest.version}'s {latest.effective_from.isoformat()}",
                    field="effectiveFrom",
                )
            if spec.is_default and not latest.is_active:
                raise InvalidInput(
                    f"{spec.name} is inactive; activate it before making it the default", field="isDefault"
                )
        version = uow.catalogue.add_version(
            ModelVersion(
                id=0,
                name=spec.name,
                display_name=spec.display_name or (history[-1].display_name if history else spec.name),
                provider=spec.provider,
                model_type=spec.model_type,
                tokens_per_credit=spec.tokens_per_credit,
                input_price_per_million=spec.input_price_per_million,
                output_price_per_million=spec.output_price_per_million,
                cached_input_price_per_million=spec.cached_input_price_per_million,
                cache_write_price_per_million=spec.cache_write_price_per_million,
                price_per_image=spec.price_per_image,
                version=history[-1].version + 1 if history else 1,
                effective_from=effective_from,
                cache_write_1h_price_per_million=spec.cache_write_1h_price_per_million,
            )
        )
        # The first model of a type becomes its default, so resolution always has one.
        make_default = spec.is_default or catalogue.system_default(spec.model_type) is None
        if make_default or not history:
            uow.catalogue.set_flags(
                spec.name, is_active=True if not history else None, is_default=True if make_default else None
            )
        model = uow.catalogue.snapshot().by_id(version.id)
        uow.commit()
    assert model is not None
    return model


def set_model_active(uow: UnitOfWork, clock: Clock, name: str, active: bool) -> ModelVersion:
    """Hide a model from resolution (its history stays) or bring it back. Raises NotFound, InvalidInput."""
    with uow:
        catalogue = uow.catalogue.snapshot()
        if not catalogue.is_known(name):
            raise NotFound("model", name)
        if not active and catalogue.flags[name].is_default:
            raise InvalidInput(
                f"{name} is the default {catalogue.flags[name].model_type.value} model; "
                "make another model the default first",
                field="active",
            )
        uow.catalogue.set_flags(name, is_active=active)
        model = uow.catalogue.snapshot().current(name, clock.now())
        uow.commit()
    assert model is not None
    return model


def set_default_model(uow: UnitOfWork, clock: Clock, name: str) -> ModelVersion:
    """Make `name` the system default of its type. Raises NotFound, InvalidInput."""
    with uow:
        catalogue = uow.catalogue.snapshot()
        if not catalogue.is_known(name):
            raise NotFound("model", name)
        if not catalogue.is_active(name):
            raise InvalidInput(f"{name} is inactive; activate it first", field="name")
        uow.catalogue.set_flags(name, is_default=True)
        model = uow.catalogue.snapshot().current(name, clock.now())
        uow.commit()
    assert model is not None
    return model


def upsert_operation(uow: UnitOfWork, clock: Clock, operation: OperationConfig) -> OperationConfig:
    """Create or replace an operation's pricing. Raises InvalidInput, ModelUnavailable."""
    if not _OPERATION.match(operation.operation_type or ""):
        raise InvalidInput(
            "operationType must be 1-64 lowercase letters, digits, '_', '.' or '-'", field="operationType"
        )
    _check_credits(operation.credits_cost, "creditsCost", CREDIT_COST_PLACES)
    if operation.credits_cost < 0:
        raise InvalidInput("creditsCost must not be negative", field="creditsCost")
    if operation.unit is CreditUnit.MODEL_TOKENS and operation.model_type is not ModelType.TEXT:
        raise InvalidInput("MODEL_TOKENS prices by a text model's tokensPerCredit; use a TEXT operation", field="unit")
    with uow:
        if operation.default_model:
            check_usable(uow.catalogue.snapshot(), operation.default_model, operation.model_type, clock.now())
        uow.catalogue.save_operation(operation)
        uow.commit()
    return operation


def update_billing_settings(
    uow: UnitOfWork,
    rounding_mode: RoundingMode | None = None,
    credit_decimal_places: int | None = None,
    credit_price_usd: Decimal | None = None,
) -> BillingSettings:
    """Change how credits round and what one sells for. Raises InvalidInput."""
    if credit_decimal_places is not None and not 0 <= credit_decimal_places <= CREDIT_PLACES:
        raise InvalidInput(f"creditDecimalPlaces must be 0..{CREDIT_PLACES}", field="creditDecimalPlaces")
    if credit_price_usd is not None:
        _check_usd(credit_price_usd, "creditPriceUsd", USD_PLACES)
        if credit_price_usd <= 0:
            raise InvalidInput("creditPriceUsd must be positive", field="creditPriceUsd")
    with uow:
        current = uow.catalogue.snapshot().settings
        settings = BillingSettings(
            rounding_mode=rounding_mode or current.rounding_mode,
            credit_decimal_places=(
                current.credit_decimal_places if credit_decimal_places is None else credit_decimal_places
            ),
            credit_price_usd=credit_price_usd if credit_price_usd is not None else current.credit_price_usd,
        )
        uow.catalogue.save_settings(settings)
        uow.commit()
    return settings


# ---------------------------------------------------------------- API keys


def hash_secret(secret: str) -> str:
    # Secrets carry 256 random bits, so a fast hash is enough; no salt or stretching needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(
    uow: UnitOfWork, clock: Clock, name: str, role: Role, account_id: str | None = None
) -> tuple[ApiKey, str]:
    """A new key and its secret (shown once; only its hash is stored). Raises InvalidInput, NotFound."""
    name = _check_text(name, "name", required=True)
    if role is Role.ACCOUNT and not account_id:
        raise InvalidInput("an ACCOUNT key needs accountId", field="accountId")
    if role is not Role.ACCOUNT and account_id:
        raise InvalidInput(f"a {role.value} key is not bound to an account", field="accountId")
    secret = "cm_" + secrets.token_urlsafe(32)
    key = ApiKey(str(uuid.uuid4()), name, role, hash_secret(secret), clock.now(), account_id)
    with uow:
        if account_id and uow.accounts.get(account_id) is None:
            raise NotFound("account", account_id)
        uow.api_keys.add(key)
        uow.commit()
    return key, secret


def revoke_api_key(uow: UnitOfWork, key_id: str) -> ApiKey:
    """Raises NotFound."""
    with uow:
        key = uow.api_keys.get(key_id)
        if key is None:
            raise NotFound("API key", key_id)
        uow.api_keys.revoke(key_id)
        uow.commit()
    return replace(key, revoked=True)


def authenticate(uow: UnitOfWork, secret: str) -> ApiKey | None:
    """The live key with this secret, or None."""
    with uow:
        key = uow.api_keys.by_hash(hash_secret(secret))
    return key if key is not None and not key.revoked else None


# ---------------------------------------------------------------- checks shared by the use cases


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    try:
        size = len(canonical_json(metadata).encode())
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"metadata is not JSON: {error}", field="metadata") from None
    if size > MAX_METADATA_BYTES:
        raise InvalidInput(f"metadata over {MAX_METADATA_BYTES} bytes", field="metadata")


def _check_key(key: str) -> None:
    if not key or not key.strip():
        raise InvalidInput("idempotencyKey must not be empty", field="idempotencyKey")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"idempotencyKey over {MAX_KEY_LENGTH} characters", field="idempotencyKey")


def _check_text(value: str | None, field: str, *, required: bool = False) -> Any:
    if value is None or not value.strip():
        if required:
            raise InvalidInput(f"{field} must not be empty", field=field)
        return None
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"{field} over {MAX_TEXT_LENGTH} characters", field=field)
    return value.strip()


def _check_credits(amount: Decimal, field: str, places: int = CREDIT_PLACES) -> None:
    if not is_exact(amount, places) or abs(amount) > MAX_AMOUNT:
        raise InvalidInput(
            f"{field} must be a number of credits with at most {places} decimal places, "
            f"at most {MAX_AMOUNT} in size",
            field=field,
        )


def _check_usd(amount: Decimal | None, field: str, places: int) -> None:
    if amount is None:
        return
    if not is_exact(amount, places) or not Decimal(0) <= amount <= MAX_AMOUNT:
        raise InvalidInput(f"{field} must be 0..{MAX_AMOUNT} USD with at most {places} decimal places", field=field)


def _check_model_spec(spec: ModelSpec) -> None:
    if not _NAME.match(spec.name or ""):
        raise InvalidInput("name must be 1-100 characters: letters, digits and . _ : / @ + -", field="name")
    if not _PROVIDER.match(spec.provider or ""):
        raise InvalidInput("provider must be 1-50 lowercase letters, digits, '_', '.' or '-'", field="provider")
    _check_text(spec.display_name, "displayName")
    for field, price in (
        ("inputPricePerMillion", spec.input_price_per_million),
        ("outputPricePerMillion", spec.output_price_per_million),
        ("cachedInputPricePerMillion", spec.cached_input_price_per_million),
        ("cacheWritePricePerMillion", spec.cache_write_price_per_million),
        ("cacheWrite1hPricePerMillion", spec.cache_write_1h_price_per_million),
    ):
        _check_usd(price, field, PRICE_PER_MILLION_PLACES)
    _check_usd(spec.price_per_image, "pricePerImage", USD_PLACES)
    if spec.tokens_per_credit is not None and not 0 < spec.tokens_per_credit <= 10**9:
        raise InvalidInput("tokensPerCredit must be 1..1e9", field="tokensPerCredit")
    if spec.effective_from is not None:
        _require_aware(spec.effective_from, "effectiveFrom")


def _require_aware(value: datetime, field: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} needs a UTC offset", field=field)


def _utc_iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
