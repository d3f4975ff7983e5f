"""Idempotency claims, tasks and their lifecycle."""

from __future__ import annotations

import dataclasses

from mockserver.engine import rules
from mockserver.engine.errors import InsufficientCredits
from mockserver.engine.model import (
    FAILED,
    PROCESSING,
    Claim,
    ClaimPolicy,
    IdempotencyRecord,
    IdempotencyScope,
    Settlement,
    Task,
)
from mockserver.engine.state._base import (
    StateBase,
    acct,
    due_member,
    scope_name,
    task_indexes,
    task_of,
)
from mockserver.engine.store import Tx


class TaskState(StateBase):
    # idempotency and creation -----------------------------------------------------------
    def claim(
        self, scope: IdempotencyScope, fingerprint: str, now: float, policy: ClaimPolicy
    ) -> Claim:
        name = scope_name(scope)

        def decide(tx: Tx) -> Claim:
            record: IdempotencyRecord | None = tx.get("idem", name)
            status = None
            if record is not None and record.task_id and policy.conflict_while_processing:
                task: Task | None = tx.get("task", record.task_id)
                status = task.status if task else None
            claimed, claim = rules.claim_key(record, status, fingerprint, now, policy)
            if claimed is not None:
                tx.put("idem", name, claimed)
                tx.add("idem-expiry", name, claimed.expires_at)
            return claim

        claim: Claim = self.backend.atomically(decide)
        return claim

    def release(self, scope: IdempotencyScope) -> None:
        self.backend.atomically(lambda tx: self._release(tx, scope))

    @staticmethod
    def _release(tx: Tx, scope: IdempotencyScope) -> None:
        name = scope_name(scope)
        if rules.releases(tx.get("idem", name)):
            tx.delete("idem", name)
            tx.remove("idem-expiry", name)

    def create_task(self, task: Task, scope: IdempotencyScope | None, ttl: float) -> Task:
        """Charge ``task.credits`` and store the task in one step, binding ``scope``
        to it. Raises InsufficientCredits and creates nothing when the balance is
        short (the claim on ``scope`` is released). Creating a task that exists
        already (a retried call) changes nothing."""

        def create(tx: Tx) -> Task | InsufficientCredits:
            existing: Task | None = tx.get("task", task.id)
            if existing is not None:
                return existing
            name = acct(task.provider, task.account_id)
            try:
                account, entry = rules.charge(
                    self._account(tx, task.provider, task.account_id), task
                )
            except InsufficientCredits as short:
                if scope is not None:
                    self._release(tx, scope)
                return short  # the release is written; the refusal is raised after
            stored = dataclasses.replace(task, seq=tx.next_number())
            tx.put("account", name, account)
            self._write_entry(tx, entry)
            self._index_task(tx, stored)
            if scope is not None:
                bound = rules.bind_key(tx.get("idem", scope_name(scope)), stored, ttl)
                tx.put("idem", scope_name(scope), bound)
                tx.add("idem-expiry", scope_name(scope), bound.expires_at)
            return stored

        created: Task | InsufficientCredits = self.backend.atomically(create)
        if isinstance(created, InsufficientCredits):
            raise created
        return created

    @staticmethod
    def _index_task(tx: Tx, task: Task) -> None:
        tx.put("task", task.id, task)
        tx.put("media", task.media_token, task.id)
        for index in task_indexes(task):
            tx.add(index, task.id, task.seq)
        if task.due_at is not None:
            tx.add("due", due_member(task.seq, task.id), task.due_at)
        tx.add("expiry", task.id, task.expires_at)

    # tasks -------------------------------------------------------------------------------
    def get_task(self, task_id: str) -> Task | None:
        found: Task | None = self.backend.read(lambda tx: tx.get("task", task_id))
        return found

    def task_by_media_token(self, token: str) -> Task | None:
        def find(tx: Tx) -> Task | None:
            task_id = tx.get("media", token)
            return None if task_id is None else tx.get("task", task_id)

        found: Task | None = self.backend.read(find)
        return found

    def tasks(
        self, provider: str | None = None, account_id: str | None = None, limit: int = 100
    ) -> list[Task]:
        """Newest first."""
        if provider is not None and account_id is not None:
            index = f"tasks-of:{acct(provider, account_id)}"
        elif provider is not None:
            index = f"tasks-of:{provider}"
        else:
            index = "tasks"
        scan_limit = None if account_id is not None and provider is None else limit

        def listed(tx: Tx) -> list[Task]:
            ids = [m for m, _ in tx.scan(index, newest_first=True, limit=scan_limit)]
            return [t for t in tx.get_many("task", ids) if t is not None]

        found: list[Task] = self.backend.read(listed)
        return [t for t in found if account_id in (None, t.account_id)][: max(0, limit)]

    def next_due(self) -> float | None:
        """The earliest instant at which a task ends or a delivery is due."""

        def first(tx: Tx) -> float | None:
            firsts = [tx.scan(index, limit=1) for index in ("due", "delivery-due")]
            times = [found[0][1] for found in firsts if found]
            return min(times) if times else None

        due: float | None = self.backend.read(first)
        return due

    def settle_due(self, now: float) -> list[Settlement]:
        """End every task whose due time has come, oldest first, refunding failures."""

        def settle(tx: Tx) -> list[Settlement]:
            members = tx.scan("due", upto=now)
            tasks = tx.get_many("task", [task_of(m) for m, _ in members])
            return [
                self._end(tx, task, due_at)
                for (_, due_at), task in zip(members, tasks, strict=True)
                if task is not None and task.status == PROCESSING
            ]

        settled: list[Settlement] = self.backend.atomically(settle)
        return settled

    def force(
        self, task_id: str, outcome: str, at: float, code: str | None, message: str | None
    ) -> Settlement | None:
        """Complete or fail a processing task now, or pin it (outcome "processing")."""

        def decide(tx: Tx) -> Settlement | None:
            task: Task | None = tx.get("task", task_id)
            if task is None:
                return None
            forced = rules.force(task, outcome, at, code, message)
            if forced is None:
                return None
            ended, refund = forced
            self._save_end(tx, task, ended, refund, at)
            return Settlement(ended, refund)

        found: Settlement | None = self.backend.atomically(decide)
        return found

    def _end(self, tx: Tx, task: Task, at: float) -> Settlement:
        ended, refund = rules.settle(task, task.planned, at, None, None)
        self._save_end(tx, task, ended, refund, at)
        return Settlement(ended, refund)

    def _save_end(self, tx: Tx, before: Task, after: Task, refund: int, at: float) -> None:
        tx.put("task", after.id, after)
        if before.due_at is not None:
            tx.remove("due", due_member(before.seq, before.id))
        if refund:
            account = self._account(tx, after.provider, after.account_id)
            account, entry = rules.move_credits(
                account, at, "refund", refund, task_id=after.id, note=_refund_note(after)
            )
            tx.put("account", acct(after.provider, after.account_id), account)
            self._write_entry(tx, entry)


def _refund_note(task: Task) -> str:
    return "task failed" if task.status == FAILED else "reserved above the final price"
