"""The in-memory store's foundation: one lock, the state it guards, the store's
life, and the helpers every part uses (callers hold the lock)."""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from mockserver.engine.clock import ClockAnchor, ClockState, LocalClockState
from mockserver.engine.model import (
    PROCESSING,
    Account,
    ApiKey,
    Delivery,
    LedgerEntry,
    Task,
)
from mockserver.engine.store.base import (
    IdempotencyScope,
    UnknownAccount,
)


@dataclass(slots=True)
class _IdempotencyRecord:
    fingerprint: str
    expires_at: float
    task_id: str | None = None  # None while the first request runs


class MemoryBase:
    """State in dictionaries; every public method holds the one lock."""

    _clock: LocalClockState | None

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._reset_state()

    # life of the store ---------------------------------------------------------
    def bootstrap(self, anchor: ClockAnchor) -> bool:
        with self._lock:
            if self._clock is not None:
                return False
            self._clock = LocalClockState(anchor)
            return True

    def clock_state(self) -> ClockState:
        with self._lock:
            if self._clock is None:
                raise RuntimeError("bootstrap the store before reading its clock")
            return self._clock

    def clear(self) -> None:
        with self._lock:
            self._reset_state()

    def close(self) -> None:
        """Nothing to release: the state lives and dies with the process."""

    def _reset_state(self) -> None:
        self._clock = None
        self._faults: dict[str, dict[str, Any]] = {}
        self._journal: deque[dict[str, Any]] = deque()
        self._journal_ids = itertools.count(1)
        self._accounts: dict[tuple[str, str], Account] = {}
        self._keys: dict[tuple[str, str], ApiKey] = {}
        self._ledger: dict[tuple[str, str], deque[LedgerEntry]] = {}
        self._opening: dict[tuple[str, str], int] = {}
        self._windows: dict[str, deque[float]] = {}
        self._idempotency: dict[IdempotencyScope, _IdempotencyRecord] = {}
        self._tasks: dict[str, Task] = {}
        self._by_media: dict[str, str] = {}
        self._due: list[tuple[float, int, str]] = []
        self._expiry: list[tuple[float, str]] = []
        self._deliveries: dict[str, Delivery] = {}
        self._delivery_due: list[tuple[float, int, str]] = []
        self._seq = itertools.count()

    # helpers (caller holds the lock) ----------------------------------------
    def _account(self, provider: str, account_id: str) -> Account:
        account = self._accounts.get((provider, account_id))
        if account is None:
            raise UnknownAccount(f"no {provider} account {account_id!r}")
        return account

    def _append(
        self, account: Account, at: float, kind: str, amount: int, *, task_id: str | None, note: str
    ) -> None:
        if kind != "grant":
            account.credits += amount
        if account.credits < 0:
            raise AssertionError("a balance never goes below zero")
        self._ledger[(account.provider, account.id)].append(
            LedgerEntry(
                account.provider, account.id, at, kind, amount, account.credits, task_id, note
            )
        )

    def _refund(self, task: Task, amount: int, at: float) -> None:
        if amount:
            account = self._account(task.provider, task.account_id)
            self._append(account, at, "refund", amount, task_id=task.id, note="task failed")

    def _drop_stale_due(self) -> None:
        """Pop heap entries of tasks that ended, were forced, pinned or expired."""
        while self._due:
            due_at, _, task_id = self._due[0]
            task = self._tasks.get(task_id)
            if task is not None and task.status == PROCESSING and task.due_at == due_at:
                return
            heapq.heappop(self._due)

    def _fold_ledger(self) -> None:
        """Fold old history into the opening balance so memory stays bounded: the
        oldest entries, up to the first one whose task is still stored (entries
        without a task, such as grants, never hold folding back). What stays is a
        running balance from the new opening, oldest first."""
        for ident, entries in self._ledger.items():
            while entries and _folds(entries[0], self._tasks):
                self._opening[ident] += entries.popleft().amount


def _copy_delivery(delivery: Delivery) -> Delivery:
    return dataclasses.replace(delivery, attempts=list(delivery.attempts))


def _folds(entry: LedgerEntry, tasks: dict[str, Task]) -> bool:
    return entry.task_id is None or entry.task_id not in tasks
