"""Expected billing failures. Each carries its data; the API decides how it looks."""

from __future__ import annotations

from decimal import Decimal


class BillingError(Exception):
    """An expected refusal: nothing was written."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(BillingError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(BillingError):
    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind, self.key = kind, key


class ModelUnavailable(BillingError):
    def __init__(self, model_name: str, reason: str) -> None:
        super().__init__(f"model {model_name!r} is unavailable: {reason}" if model_name else reason)
        self.model_name, self.reason = model_name, reason


class IdempotencyConflict(BillingError):
    def __init__(self, idempotency_key: str) -> None:
        super().__init__(f"idempotency key {idempotency_key!r} was already used with a different input")
        self.idempotency_key = idempotency_key


class InsufficientCredits(BillingError):
    def __init__(self, account_id: str, *, required: Decimal, balance: Decimal) -> None:
        super().__init__(f"account {account_id} needs {required} credits, has {balance}")
        self.account_id, self.required, self.balance = account_id, required, balance


class Forbidden(BillingError):
    def __init__(self, message: str = "this key may not do that") -> None:
        super().__init__(message)
