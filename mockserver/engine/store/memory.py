"""The in-memory store: one process, one lock around each operation."""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mockserver.engine.clock import ClockAnchor, ClockState, LocalClockState
from mockserver.engine.errors import InsufficientCredits
from mockserver.engine.model import (
    COMPLETED,
    FAILED,
    PROCESSING,
    Account,
    ApiKey,
    Attempt,
    Delivery,
    LedgerEntry,
    Task,
)
from mockserver.engine.store.base import (
    AccountExists,
    Claim,
    Claimed,
    ClaimPolicy,
    Conflict,
    IdempotencyScope,
    KeyInUse,
    Replay,
    Settlement,
    UnknownAccount,
    Window,
    key_digest,
)

_DAY = 86400.0


@dataclass
class _IdempotencyRecord:
    fingerprint: str
    expires_at: float
    task_id: str | None = None  # None while the first request runs


def settle(task: Task, outcome: str, at: float, code: str | None, message: str | None) -> int:
    """Move ``task`` to ``outcome`` at ``at``; return the credits to refund."""
    task.status = outcome
    task.updated_at = max(at, task.created_at)
    task.due_at = None
    if outcome != FAILED:
        return 0
    task.error_code = code or task.error_code
    task.error_message = message or task.error_message
    task.refunded = task.credits if task.refund_on_failure else 0
    return task.refunded


class MemoryStore:
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

    # accounts and keys --------------------------------------------------
    def create_account(self, account: Account, keys: list[str], at: float) -> Account:
        with self._lock:
            ident = (account.provider, account.id)
            if ident in self._accounts:
                raise AccountExists(f"{account.provider} account {account.id!r} exists already")
            taken = [k for k in keys if (account.provider, key_digest(k)) in self._keys]
            if taken:
                raise KeyInUse(f"API key {taken[0]!r} already belongs to another account")
            stored = dataclasses.replace(account, created_at=at)
            self._accounts[ident] = stored
            self._ledger[ident] = deque()
            self._opening[ident] = 0
            for key in keys:
                self._keys[(account.provider, key_digest(key))] = ApiKey(
                    account.provider, key, account.id
                )
            self._append(stored, at, "grant", account.credits, task_id=None, note="opening balance")
            return dataclasses.replace(stored)

    def get_account(self, provider: str, account_id: str) -> Account | None:
        with self._lock:
            found = self._accounts.get((provider, account_id))
            return dataclasses.replace(found) if found else None

    def accounts(self, provider: str | None = None) -> list[Account]:
        with self._lock:
            return [
                dataclasses.replace(a)
                for a in self._accounts.values()
                if provider in (None, a.provider)
            ]

    def set_credits(
        self, provider: str, account_id: str, credits: int, at: float, note: str
    ) -> Account:
        with self._lock:
            account = self._account(provider, account_id)
            self._append(
                account, at, "adjustment", credits - account.credits, task_id=None, note=note
            )
            return dataclasses.replace(account)

    def set_purchased(self, provider: str, account_id: str, purchased: bool) -> Account:
        with self._lock:
            account = self._account(provider, account_id)
            account.purchased = purchased
            return dataclasses.replace(account)

    def add_key(self, provider: str, account_id: str, key: str) -> ApiKey:
        with self._lock:
            self._account(provider, account_id)
            existing = self._keys.get((provider, key_digest(key)))
            if existing and existing.account_id != account_id:
                raise KeyInUse(f"API key {key!r} already belongs to another account")
            record = ApiKey(provider, key, account_id)
            self._keys[(provider, key_digest(key))] = record
            return dataclasses.replace(record)

    def revoke_key(self, provider: str, key: str) -> ApiKey | None:
        with self._lock:
            record = self._keys.get((provider, key_digest(key)))
            if record is None:
                return None
            record.revoked = True
            return dataclasses.replace(record)

    def keys_of(self, provider: str, account_id: str) -> list[ApiKey]:
        with self._lock:
            return [
                dataclasses.replace(k)
                for k in self._keys.values()
                if k.provider == provider and k.account_id == account_id
            ]

    def resolve_key(self, provider: str, key: str) -> ApiKey | None:
        with self._lock:
            record = self._keys.get((provider, key_digest(key)))
            return dataclasses.replace(record) if record else None

    def ledger(self, provider: str, account_id: str) -> tuple[int, list[LedgerEntry]]:
        with self._lock:
            self._account(provider, account_id)
            ident = (provider, account_id)
            return self._opening[ident], list(self._ledger[ident])

    # rate limits ----------------------------------------------------------
    def admit(self, windows: Sequence[Window], now: float, *, record: bool = True) -> float | None:
        with self._lock:
            waits = []
            for window in windows:
                times = self._windows.setdefault(window.bucket, deque())
                while times and times[0] <= now - window.seconds:
                    times.popleft()
                if len(times) >= window.limit:
                    waits.append(times[0] + window.seconds - now)
            if waits:
                return max(waits)
            for window in windows if record else ():
                self._windows[window.bucket].append(now)
            return None

    # idempotency and creation ---------------------------------------------
    def claim(
        self, scope: IdempotencyScope, fingerprint: str, now: float, policy: ClaimPolicy
    ) -> Claim:
        with self._lock:
            record = self._idempotency.get(scope)
            if record is not None and record.expires_at <= now:
                record = None
            if record is None:
                self._idempotency[scope] = _IdempotencyRecord(
                    fingerprint, now + policy.lease_seconds
                )
                return Claimed()
            if record.fingerprint != fingerprint:
                return Conflict("different_body")
            if record.task_id is None:
                return Conflict("in_flight")
            task = self._tasks.get(record.task_id)
            if policy.conflict_while_processing and task and task.status == PROCESSING:
                return Conflict("task_processing")
            return Replay(record.task_id)

    def release(self, scope: IdempotencyScope) -> None:
        with self._lock:
            record = self._idempotency.get(scope)
            if record is not None and record.task_id is None:
                del self._idempotency[scope]

    def create_task(self, task: Task, scope: IdempotencyScope | None, ttl: float) -> Task:
        with self._lock:
            account = self._account(task.provider, task.account_id)
            if account.credits < task.credits:
                if scope is not None:
                    self.release(scope)
                raise InsufficientCredits(task.credits, account.credits)
            stored = dataclasses.replace(task)
            self._tasks[task.id] = stored
            self._by_media[task.media_token] = task.id
            if task.due_at is not None:
                heapq.heappush(self._due, (task.due_at, next(self._seq), task.id))
            heapq.heappush(self._expiry, (task.expires_at, task.id))
            self._append(
                account,
                task.created_at,
                "charge",
                -task.credits,
                task_id=task.id,
                note="submission",
            )
            if scope is not None:
                claim = self._idempotency.get(scope)
                fingerprint = claim.fingerprint if claim else ""
                self._idempotency[scope] = _IdempotencyRecord(
                    fingerprint, task.created_at + ttl, task.id
                )
            return dataclasses.replace(stored)

    # tasks ------------------------------------------------------------------
    def get_task(self, task_id: str) -> Task | None:
        with self._lock:
            task = self._tasks.get(task_id)
            return dataclasses.replace(task) if task else None

    def task_by_media_token(self, token: str) -> Task | None:
        with self._lock:
            task_id = self._by_media.get(token)
            return self.get_task(task_id) if task_id else None

    def tasks(
        self, provider: str | None = None, account_id: str | None = None, limit: int = 100
    ) -> list[Task]:
        with self._lock:
            chosen = [
                t
                for t in reversed(self._tasks.values())
                if provider in (None, t.provider) and account_id in (None, t.account_id)
            ]
            return [dataclasses.replace(t) for t in chosen[:limit]]

    def next_due(self) -> float | None:
        with self._lock:
            self._drop_stale_due()
            candidates = [heap[0][0] for heap in (self._due, self._delivery_due) if heap]
            return min(candidates) if candidates else None

    def settle_due(self, now: float) -> list[Settlement]:
        settled: list[Settlement] = []
        with self._lock:
            self._drop_stale_due()
            while self._due and self._due[0][0] <= now:
                due_at, _, task_id = heapq.heappop(self._due)
                task = self._tasks[task_id]
                refund = settle(task, task.planned, due_at, None, None)
                self._refund(task, refund, due_at)
                settled.append(Settlement(dataclasses.replace(task), refund))
                self._drop_stale_due()
        return settled

    def force(
        self, task_id: str, outcome: str, at: float, code: str | None, message: str | None
    ) -> Settlement | None:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.status != PROCESSING:
                return None
            if outcome == PROCESSING:
                task.due_at = None  # pinned: the stale heap entry is skipped
                return Settlement(dataclasses.replace(task), 0)
            if outcome not in (COMPLETED, FAILED):
                raise ValueError(f"cannot force a task to {outcome!r}")
            refund = settle(task, outcome, at, code, message)
            self._refund(task, refund, at)
            return Settlement(dataclasses.replace(task), refund)

    # webhooks ---------------------------------------------------------------
    def add_delivery(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries[delivery.id] = dataclasses.replace(delivery, attempts=[])
            heapq.heappush(self._delivery_due, (delivery.due_at, next(self._seq), delivery.id))

    def claim_deliveries(self, now: float, limit: int) -> list[Delivery]:
        claimed: list[Delivery] = []
        with self._lock:
            while self._delivery_due and self._delivery_due[0][0] <= now and len(claimed) < limit:
                _, _, delivery_id = heapq.heappop(self._delivery_due)
                delivery = self._deliveries.get(delivery_id)
                if delivery is None or delivery.state != "pending":
                    continue
                delivery.state = "sending"
                claimed.append(_copy_delivery(delivery))
        return claimed

    def record_attempt(
        self, delivery_id: str, attempt: Attempt, state: str, next_due: float | None
    ) -> Delivery:
        with self._lock:
            delivery = self._deliveries[delivery_id]
            delivery.attempts.append(attempt)
            delivery.state = state
            if next_due is not None:
                delivery.due_at = next_due
                heapq.heappush(self._delivery_due, (next_due, next(self._seq), delivery_id))
            return _copy_delivery(delivery)

    def deliveries(
        self, provider: str | None = None, account_id: str | None = None, task_id: str | None = None
    ) -> list[Delivery]:
        with self._lock:
            return [
                _copy_delivery(d)
                for d in self._deliveries.values()
                if provider in (None, d.provider)
                and account_id in (None, d.account_id)
                and task_id in (None, d.task_id)
            ]

    # fault rules and journal ---------------------------------------------------
    def add_fault(self, rule: dict[str, Any]) -> None:
        with self._lock:
            self._faults[rule["id"]] = dict(rule)

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._faults.values()]

    def remove_fault(self, rule_id: str) -> bool:
        with self._lock:
            return self._faults.pop(rule_id, None) is not None

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def spend_fault(self, rule_id: str) -> bool:
        with self._lock:
            rule = self._faults.get(rule_id)
            if rule is None:
                return False
            rule["hits"] = rule.get("hits", 0) + 1
            if rule.get("times") is not None:
                rule["times"] -= 1
                if rule["times"] <= 0:
                    del self._faults[rule_id]
            return True

    def journal_append(self, entry: dict[str, Any], size: int) -> int:
        with self._lock:
            ident = next(self._journal_ids)
            self._journal.append({**entry, "id": ident})
            while len(self._journal) > max(1, size):
                self._journal.popleft()
            return ident

    def journal(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._journal]

    def clear_journal(self) -> None:
        with self._lock:
            self._journal.clear()

    # upkeep -----------------------------------------------------------------
    def expire(self, now: float) -> int:
        removed = 0
        with self._lock:
            while self._expiry and self._expiry[0][0] <= now:
                _, task_id = heapq.heappop(self._expiry)
                task = self._tasks.pop(task_id, None)
                if task is not None:
                    self._by_media.pop(task.media_token, None)
                    removed += 1
            for delivery_id in [
                d.id for d in self._deliveries.values() if d.task_id not in self._tasks
            ]:
                del self._deliveries[delivery_id]
            stale = [s for s, r in self._idempotency.items() if r.expires_at <= now]
            for scope in stale:
                del self._idempotency[scope]
            removed += len(stale)
            self._fold_ledger(now)
            self._windows = {b: t for b, t in self._windows.items() if t and t[-1] > now - 3600}
        return removed

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "accounts": len(self._accounts),
                "keys": len(self._keys),
                "tasks": len(self._tasks),
                "idempotency_records": len(self._idempotency),
                "ledger_entries": sum(len(e) for e in self._ledger.values()),
                "deliveries": len(self._deliveries),
            }

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

    def _fold_ledger(self, now: float) -> None:
        """Fold old history into the opening balance so memory stays bounded:
        entries of expired tasks, and task-less entries older than a day."""
        for ident, entries in self._ledger.items():
            while entries and _folds(entries[0], self._tasks, now):
                self._opening[ident] += entries.popleft().amount


def _copy_delivery(delivery: Delivery) -> Delivery:
    return dataclasses.replace(delivery, attempts=list(delivery.attempts))


def _folds(entry: LedgerEntry, tasks: dict[str, Task], now: float) -> bool:
    if entry.task_id is None:
        return entry.at <= now - _DAY
    return entry.task_id not in tasks
