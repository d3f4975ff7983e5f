"""Idempotency claims, tasks and their lifecycle in memory."""

from __future__ import annotations

import copy
import heapq

from mockserver.engine.errors import InsufficientCredits
from mockserver.engine.model import (
    COMPLETED,
    FAILED,
    PROCESSING,
    Task,
)
from mockserver.engine.store._memory_base import MemoryBase, _IdempotencyRecord
from mockserver.engine.store.base import (
    Claim,
    Claimed,
    ClaimPolicy,
    Conflict,
    IdempotencyScope,
    Replay,
    Settlement,
)
from mockserver.engine.store.rules import settle


class TaskState(MemoryBase):
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
            stored = copy.copy(task)
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
            return copy.copy(stored)

    # tasks ------------------------------------------------------------------
    def get_task(self, task_id: str) -> Task | None:
        with self._lock:
            task = self._tasks.get(task_id)
            return copy.copy(task) if task else None

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
            return [copy.copy(t) for t in chosen[:limit]]

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
                settled.append(Settlement(copy.copy(task), refund))
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
                return Settlement(copy.copy(task), 0)
            if outcome not in (COMPLETED, FAILED):
                raise ValueError(f"cannot force a task to {outcome!r}")
            refund = settle(task, outcome, at, code, message)
            self._refund(task, refund, at)
            return Settlement(copy.copy(task), refund)
