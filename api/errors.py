"""The contract's error types, and the one mapping from domain errors to them."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from domain import errors


@strawberry.interface(description="Every expected failure is a typed result, never an unhandled server error.")
class Error:
    code: str
    message: str


@strawberry.type
class ValidationError(Error):
    field: str | None = None


@strawberry.type
class NotFoundError(Error):
    pass


@strawberry.type
class ModelUnavailable(Error):
    model_name: str


@strawberry.type
class IdempotencyConflict(Error):
    idempotency_key: str


@strawberry.type
class InsufficientCredits(Error):
    required: Decimal
    balance: Decimal


@strawberry.type
class Forbidden(Error):
    pass


ErrorPayload = (
    ValidationError | NotFoundError | ModelUnavailable | IdempotencyConflict | InsufficientCredits | Forbidden
)


def to_payload(error: errors.BillingError) -> ErrorPayload:
    match error:
        case errors.InvalidInput():
            return ValidationError(code="VALIDATION_ERROR", message=error.message, field=error.field)
        case errors.NotFound():
            return NotFoundError(code="NOT_FOUND", message=error.message)
        case errors.ModelUnavailable():
            return ModelUnavailable(code="MODEL_UNAVAILABLE", message=error.message, model_name=error.model_name)
        case errors.IdempotencyConflict():
            return IdempotencyConflict(
                code="IDEMPOTENCY_CONFLICT", message=error.message, idempotency_key=error.idempotency_key
            )
        case errors.InsufficientCredits():
            return InsufficientCredits(
                code="INSUFFICIENT_CREDITS", message=error.message, required=error.required, balance=error.balance
            )
        case errors.Forbidden():
            return Forbidden(code="FORBIDDEN", message=error.message)
    raise TypeError(f"no payload for {type(error).__name__}")  # pragma: no cover - every BillingError is mapped


def forbidden() -> Forbidden:
    return Forbidden(code="FORBIDDEN", message="this key may not do that")
