"""The store interface: all simulator state behind coarse atomic operations.

Each method is one atomic step with respect to every other caller (threads,
worker processes, instances), so invariants hold at any concurrency: one task
and one charge per idempotency key, exact rate limits, balances that never go
below zero, lifecycles that only move forward. Backends implement each step
with their own primitive (a lock, a transaction, a Lua script), never with
process-local locks around several calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mockserver.engine.clock import ClockAnchor, ClockState
from mockserver.engine.model import Account, ApiKey, Attempt, Delivery, LedgerEntry, Task


def key_digest(key: str) -> str:
    """What stores index API keys by: looking a secret up by its digest means no
    comparison ever runs over the secret itself, so timing reveals nothing of it."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class AccountExists(Exception):
    """An account with that provider and id exists already."""


class KeyInUse(Exception):
    """That API key already belongs to an account of the provider."""


class UnknownAccount(Exception):
    """No account with that provider and id."""


@dataclass(frozen=True, slots=True)
class Window:
    """A sliding rate-limit window: at most ``limit`` admissions per ``seconds``."""

    bucket: str
    limit: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Claimed:
    """The caller owns the idempotency key until it creates a task or releases it."""


@dataclass(frozen=True, slots=True)
class Replay:
    """The key already created ``task_id`` with the same body."""

    task_id: str


@dataclass(frozen=True, slots=True)
class Conflict:
    """The key is bound to another body, or its first request is still running."""

    reason: str


Claim = Claimed | Replay | Conflict


@dataclass(frozen=True, slots=True)
class IdempotencyScope:
    provider: str
    account_id: str
    key: str


@dataclass(frozen=True, slots=True)
class ClaimPolicy:
    ttl_seconds: float
    #: how long an unfinished claim holds the key (a crashed request frees it)
    lease_seconds: float
    #: True: 409 while the key's task is still processing ("task" reading)
    conflict_while_processing: bool


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a task's end changed: the task after it, and the refund made."""

    task: Task
    refunded: int


class Store(Protocol):
    """Everything the engine keeps. Returned records are copies."""

    # life of the store
    def bootstrap(self, anchor: ClockAnchor) -> bool:
        """Set up an empty store with the clock at ``anchor``; True if this call
        did it (the caller then creates the start accounts), False if the store
        already held a simulator (another worker, or an earlier run)."""
        ...

    def clock_state(self) -> ClockState:
        """The shared clock anchor (every worker reads the same time)."""
        ...

    def clear(self) -> None:
        """Forget everything, as if new (then ``bootstrap`` again)."""
        ...

    def close(self) -> None: ...

    # accounts and keys
    def create_account(self, account: Account, keys: list[str], at: float) -> Account: ...
    def get_account(self, provider: str, account_id: str) -> Account | None: ...
    def accounts(self, provider: str | None = None) -> list[Account]: ...
    def set_credits(
        self, provider: str, account_id: str, credits: int, at: float, note: str
    ) -> Account: ...
    def set_purchased(self, provider: str, account_id: str, purchased: bool) -> Account: ...
    def add_key(self, provider: str, account_id: str, key: str) -> ApiKey: ...
    def revoke_key(self, provider: str, key: str) -> ApiKey | None: ...
    def keys_of(self, provider: str, account_id: str) -> list[ApiKey]: ...
    def resolve_key(self, provider: str, key: str) -> ApiKey | None: ...
    def ledger(self, provider: str, account_id: str) -> tuple[int, list[LedgerEntry]]:
        """The opening balance and every entry since (older entries folded in)."""
        ...

    # rate limits
    def admit(self, windows: Sequence[Window], now: float, *, record: bool = True) -> float | None:
        """Admit one request into every window at once, or into none and return
        the seconds until all of them have room. Refused requests are not counted;
        with ``record=False`` nothing is counted either (a look, not an admission)."""
        ...

    # idempotency and task creation
    def claim(
        self, scope: IdempotencyScope, fingerprint: str, now: float, policy: ClaimPolicy
    ) -> Claim: ...
    def release(self, scope: IdempotencyScope) -> None: ...
    def create_task(self, task: Task, scope: IdempotencyScope | None, ttl: float) -> Task:
        """Charge ``task.credits`` and store the task in one step, binding
        ``scope`` to it. Raises InsufficientCredits and creates nothing when
        the balance is short."""
        ...

    # tasks
    def get_task(self, task_id: str) -> Task | None: ...
    def task_by_media_token(self, token: str) -> Task | None: ...
    def tasks(
        self, provider: str | None = None, account_id: str | None = None, limit: int = 100
    ) -> list[Task]: ...
    def next_due(self) -> float | None:
        """The earliest instant at which a task ends or a delivery is due."""
        ...

    def settle_due(self, now: float) -> list[Settlement]:
        """End every task whose due time has come, oldest first, refunding failures."""
        ...

    def force(
        self, task_id: str, outcome: str, at: float, code: str | None, message: str | None
    ) -> Settlement | None:
        """Complete or fail a processing task now, or pin it (outcome "processing")."""
        ...

    # webhooks
    def add_delivery(self, delivery: Delivery) -> None: ...
    def claim_deliveries(self, now: float, limit: int) -> list[Delivery]: ...
    def record_attempt(
        self, delivery_id: str, attempt: Attempt, state: str, next_due: float | None
    ) -> Delivery: ...
    def deliveries(
        self, provider: str | None = None, account_id: str | None = None, task_id: str | None = None
    ) -> list[Delivery]: ...

    # fault rules and the journal, as JSON objects
    def add_fault(self, rule: dict[str, Any]) -> None: ...
    def faults(self) -> list[dict[str, Any]]: ...
    def remove_fault(self, rule_id: str) -> bool: ...
    def clear_faults(self) -> None: ...
    def spend_fault(self, rule_id: str) -> bool:
        """Count one firing of a rule: its ``hits`` go up and its ``times`` (if
        any) down, and it is removed at zero. False if it is gone or used up."""
        ...

    def journal_append(self, entry: dict[str, Any], size: int) -> int:
        """Store ``entry`` under the next id, keep only the newest ``size``; return the id."""
        ...

    def journal(self) -> list[dict[str, Any]]:
        """Every kept entry, oldest first."""
        ...

    def clear_journal(self) -> None: ...

    # upkeep
    def expire(self, now: float) -> int:
        """Forget expired tasks, idempotency records and deliveries; return how many."""
        ...

    def counts(self) -> dict[str, int]: ...
