"""Conditions the engine raises, named for what happened.

Each class carries a ``condition``: the key of the provider's ``errors`` table
in spec/<provider>/api.json, which says how that provider renders it (status,
code, Retry-After). Engine code raises; each provider has one handler that
renders; nothing builds an error body by hand.
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base of every condition answered with a provider's error envelope."""

    condition = "internal_error"

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message or "")
        self.message = message
        #: a provider-specific code that overrides the table's (e.g. INVALID_PROMPT)
        self.code = code


class InvalidRequest(SimulatorError):
    condition = "invalid_request"


class Unauthorized(SimulatorError):
    condition = "unauthorized"


class InsufficientCredits(SimulatorError):
    condition = "insufficient_credits"

    def __init__(self, required: int, available: int) -> None:
        super().__init__(
            f"This request costs {required} credits; the balance is {available}. Top up and retry."
        )
        self.required = required
        self.available = available


class PurchaseRequired(SimulatorError):
    condition = "purchase_required"


class RateLimited(SimulatorError):
    condition = "rate_limited"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message or f"Too many requests; retry after {retry_after} seconds.")
        self.retry_after = retry_after


class IdempotencyConflict(SimulatorError):
    condition = "idempotency_conflict"


class ServiceBusy(SimulatorError):
    condition = "service_busy"

    def __init__(self, message: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TaskNotFound(SimulatorError):
    condition = "not_found"


class QueueFull(SimulatorError):
    """The account has as many queued tasks as its provider allows."""

    condition = "queue_full"


class AccountOverdue(SimulatorError):
    """A postpaid account whose balance is below zero may not create tasks."""

    condition = "account_overdue"


class TaskStateConflict(SimulatorError):
    """The operation does not apply to a task in its current state (e.g. cancelling
    a running task)."""

    condition = "task_state_conflict"


class InternalError(SimulatorError):
    condition = "internal_error"


class RouteNotFound(SimulatorError):
    condition = "route_not_found"


class MethodNotAllowed(SimulatorError):
    condition = "method_not_allowed"


class PayloadTooLarge(SimulatorError):
    condition = "payload_too_large"


#: every condition class by its name, for fault injection and scenarios
CONDITIONS: dict[str, type[SimulatorError]] = {
    cls.condition: cls
    for cls in (
        InvalidRequest,
        Unauthorized,
        InsufficientCredits,
        PurchaseRequired,
        RateLimited,
        IdempotencyConflict,
        ServiceBusy,
        TaskNotFound,
        QueueFull,
        AccountOverdue,
        TaskStateConflict,
        InternalError,
        RouteNotFound,
        MethodNotAllowed,
        PayloadTooLarge,
    )
}


# what the control plane refuses -------------------------------------------------------------
class ControlError(Exception):
    """Base of the conditions the control plane (``/__admin``, ``sim``) refuses with;
    each names what happened, and the HTTP layer maps the class to a status."""


class InvalidControlValue(ControlError, ValueError):
    """A control call's value is out of range or of the wrong kind."""


class AccountExists(ControlError, ValueError):
    """An account with that provider and id exists already."""


class KeyInUse(ControlError, ValueError):
    """That API key already belongs to an account of the provider."""


class UnknownAccount(ControlError, KeyError):
    """No account with that provider and id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownKey(ControlError, KeyError):
    """No such key on that account."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownTask(ControlError, KeyError):
    """No task with that id (in any account)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownFault(ControlError, KeyError):
    """No fault rule with that id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class TaskAlreadyEnded(ControlError, ValueError):
    """The task has ended; its outcome can no longer be forced."""
