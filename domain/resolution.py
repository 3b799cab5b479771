"""Which model bills a call: task override > account default > operation default > system default."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.errors import ModelUnavailable
from domain.model import Account, ModelType, ModelVersion, OperationConfig


class PriceBook(Protocol):
    """What resolution needs to know of the catalogue."""

    def version_at(self, name: str, at: datetime) -> ModelVersion | None:
        """The version of `name` in force at `at` (None if unknown or not yet priced)."""

    def is_known(self, name: str) -> bool: ...

    def is_active(self, name: str) -> bool: ...

    def system_default(self, model_type: ModelType) -> str | None: ...


def resolve_model(
    book: PriceBook,
    operation: OperationConfig,
    account: Account,
    requested: str | None,
    at: datetime,
) -> ModelVersion:
    """The version billing this call. Raises ModelUnavailable; never falls back silently."""
    model_type = operation.model_type
    name = (
        requested or account.default_model_for(model_type) or operation.default_model or book.system_default(model_type)
    )
    if not name:
        raise ModelUnavailable("", f"no {model_type.value} model is configured for {operation.operation_type}")
    return check_usable(book, name, model_type, at)


def check_usable(book: PriceBook, name: str, model_type: ModelType, at: datetime) -> ModelVersion:
    if not book.is_known(name):
        raise ModelUnavailable(name, "no such model")
    if not book.is_active(name):
        raise ModelUnavailable(name, "the model is inactive")
    version = book.version_at(name, at)
    if version is None:
        raise ModelUnavailable(name, f"no price version is in force at {at.isoformat()}")
    if version.model_type is not model_type:
        raise ModelUnavailable(name, f"it is a {version.model_type.value} model; this needs a {model_type.value} model")
    return version
