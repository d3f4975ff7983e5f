"""Idempotency claims, task creation and reading tasks (their lifecycle: _lifecycle.py)."""

from __future__ import annotations

import dataclasses

from mockserver.engine import rules
from mockserver.engine.errors import (
    AccountOverdue,
    InsufficientCredits,
    QueueFull,
    SimulatorError,
)
from mockserver.engine.model import (
    QUEUED,
    Claim,
    ClaimPolicy,
    IdempotencyRecord,
    IdempotencyScope,
    Task,
)
from mockserver.engine.state._base import (
    StateBase,
    acct,
    place_open,
    scope_name,
    tasks_of,
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

    def create_task(
        self,
        task: Task,
        scope: IdempotencyScope | None,
        ttl: float,
        *,
        max_queued: int | None = None,
    ) -> Task:
        """Charge ``task.credits`` and store the task in one step, binding ``scope``
        to it. Raises InsufficientCredits (AccountOverdue for a postpaid task) and
        creates nothing when the balance is short, QueueFull when the account
        already has ``max_queued`` queued tasks (the claim on ``scope`` is then
        released). Creating a task that exists already (a retried call) changes
        nothing."""

        def create(tx: Tx) -> Task | SimulatorError:
            name = acct(task.provider, task.account_id)
            wanted = [("task", task.id), ("account", name)]
            records = wanted if scope is None else [*wanted, ("idem", scope_name(scope))]
            tx.fetch(records, number=True)  # the task's number, if it is new (else unused)
            existing: Task | None = tx.get("task", task.id)
            if existing is not None:
                return existing
            try:
                _check_queue(tx, task, name, max_queued)
                charged = rules.charge(self._account(tx, task.provider, task.account_id), task)
            except (InsufficientCredits, AccountOverdue, QueueFull) as refused:
                if scope is not None:
                    self._release(tx, scope)
                return refused  # the release is written; the refusal is raised after
            stored = dataclasses.replace(task, seq=tx.next_number())
            if charged is not None:
                tx.put("account", name, charged[0])
                self._write_entry(tx, charged[1], stored)
            self._index_task(tx, stored)
            if scope is not None:
                bound = rules.bind_key(tx.get("idem", scope_name(scope)), stored, ttl)
                tx.put("idem", scope_name(scope), bound)
                tx.add("idem-expiry", scope_name(scope), bound.expires_at)
            return stored

        created: Task | SimulatorError = self.backend.atomically(create)
        if isinstance(created, SimulatorError):
            raise created
        return created

    @staticmethod
    def _index_task(tx: Tx, task: Task) -> None:
        tx.put("task", task.id, task)
        tx.put("media", task.media_token, task.id)
        tx.add(tasks_of(acct(task.provider, task.account_id)), task.id, task.seq)
        place_open(tx, task)
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

        def listed(tx: Tx) -> list[Task]:
            if provider is not None and account_id is not None:
                names = [acct(provider, account_id)]
            else:
                names = [m for m, _ in tx.scan("accounts") if _owns(m, provider, account_id)]
            found = [
                hit
                for name in names
                for hit in tx.scan(tasks_of(name), newest_first=True, limit=limit)
            ]
            if len(names) > 1:  # the accounts' lists merged, as one list would be ordered
                found.sort(key=_index_order, reverse=True)
            ids = [m for m, _ in found[: max(0, limit)]]
            return [t for t in tx.get_many("task", ids) if t is not None]

        found: list[Task] = self.backend.read(listed)
        return found


def _owns(name: str, provider: str | None, account_id: str | None) -> bool:
    """Whether the account named ``name`` (see ``acct``) is one of those asked for."""
    owner, _, ident = name.partition(":")
    return provider in (None, owner) and account_id in (None, ident)


def _index_order(hit: tuple[str, float]) -> tuple[float, str]:
    """What an index orders its members by: the score, then the member."""
    member, score = hit
    return score, member


def _check_queue(tx: Tx, task: Task, account: str, max_queued: int | None) -> None:
    if max_queued is None or task.status != QUEUED:
        return
    queued = tx.count(f"queued-of:{account}")
    if queued >= max_queued:
        raise QueueFull(
            f"The account has {queued} queued tasks, the most it may have; "
            "wait for some of them to start."
        )
