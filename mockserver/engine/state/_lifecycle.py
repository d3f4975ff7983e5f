"""Tasks on the clock: ends, queued starts, execution deadlines, forced outcomes,
cancellation and deletion.

The clock's events are processed in time order. Events that touch a pool of
running slots (a pooled task ending, a queued task's earliest start, a deadline)
change what the next event sees, so each of them is one atomic step; tasks
that wait for no pool end many at a time.
"""

from __future__ import annotations

import dataclasses

from mockserver.engine import rules
from mockserver.engine.model import (
    COMPLETED,
    ENDED,
    FAILED,
    PROCESSING,
    QUEUED,
    Settlement,
    Task,
)
from mockserver.engine.state._base import (
    RETIRED_TASK_INDEXES,
    StateBase,
    acct,
    due_member,
    place_open,
    task_of,
    tasks_of,
    unplace,
)
from mockserver.engine.store import Tx

#: the clock's event kinds, by their index
_EVENTS = ("due", "wake", "deadlines")


class LifecycleState(StateBase):
    def next_due(self) -> float | None:
        """The earliest instant at which a task ends, may start or expires, or a
        delivery is due."""

        def first(tx: Tx) -> float | None:
            times = [found[1] for found in tx.firsts((*_EVENTS, "delivery-due")) if found]
            return min(times) if times else None

        due: float | None = self.backend.read(first)
        return due

    def settle_due(self, now: float) -> list[Settlement]:
        """Everything the clock made happen up to ``now``, in time order: tasks
        ending (refunding failures), queued tasks starting, deadlines passing."""
        changes: list[Settlement] = []
        while (step := self.backend.atomically(lambda tx: self._settle_step(tx, now))) is not None:
            changes.extend(step)
        return changes

    def _settle_step(self, tx: Tx, now: float) -> list[Settlement] | None:
        events = sorted(
            (at, kind, member)
            for kind in _EVENTS
            for member, at in tx.scan(kind, upto=now, limit=64 if kind == "due" else 1)
        )
        if not events:
            return None
        changes: list[Settlement] = []
        for at, kind, member in events:
            tx.remove(kind, member)
            task: Task | None = tx.get("task", task_of(member))
            if task is None:
                continue
            if kind == "due" and task.status == PROCESSING and not task.pool:
                changes.append(
                    self._end(tx, task, rules.settle(task, task.planned, at, None, None), at)
                )
                continue  # no pool: the next event sees nothing new
            changes.extend(self._pool_event(tx, kind, task, at))
            break  # a pool changed: the next step reads it afresh
        return changes

    def _pool_event(self, tx: Tx, kind: str, task: Task, at: float) -> list[Settlement]:
        changes: list[Settlement] = []
        freed = 0
        if kind == "due" and task.status == PROCESSING:
            changes.append(
                self._end(tx, task, rules.settle(task, task.planned, at, None, None), at)
            )
            freed = 1
        elif kind == "deadlines" and (expired := rules.expire(task, at)) is not None:
            changes.append(self._end(tx, task, expired, at))
            freed = 1 if task.status == PROCESSING else 0
        if task.pool:
            changes.extend(self._fill(tx, task.pool, at, freed))
        return changes

    def _fill(self, tx: Tx, pool: str, at: float, freed: int) -> list[Settlement]:
        """Start the pool's queued tasks, best first, while it has free slots
        (``freed``: slots this step freed, which the pre-step count still holds)."""
        running = tx.count(f"running:{pool}") - freed
        started: list[Settlement] = []
        for task_id, _ in tx.scan(f"pool:{pool}"):
            task: Task | None = tx.get("task", task_id)
            if task is None or not rules.can_start(task, at, running):
                if task is not None and running >= task.slots:
                    break
                continue
            begun = rules.start(task, at)
            unplace(tx, task)
            place_open(tx, begun)
            tx.put("task", begun.id, begun)
            started.append(Settlement(begun, 0))
            running += 1
        return started

    # outcomes forced by the control plane, and the provider's own operations -----------
    def force(
        self, task_id: str, outcome: str, at: float, code: str | None, message: str | None
    ) -> Settlement | None:
        """Complete or fail an open task now, or pin it (outcome "processing")."""

        def decide(tx: Tx) -> Settlement | None:
            task: Task | None = tx.get("task", task_id)
            forced = None if task is None else rules.force(task, outcome, at, code, message)
            if task is None or forced is None:
                return None
            if forced[0].status in ENDED:
                ended = self._end(tx, task, forced, at)
                if task.pool and task.status == PROCESSING:
                    self._fill(tx, task.pool, at, 1)  # the promoted ones are announced later
                return ended
            unplace(tx, task)
            place_open(tx, forced[0])
            tx.put("task", task_id, forced[0])
            return Settlement(forced[0], 0)

        found: Settlement | None = self.backend.atomically(decide)
        return found

    def cancel(self, task_id: str, at: float) -> Settlement | None:
        """Cancel a queued task (None when it is not queued, or gone)."""

        def decide(tx: Tx) -> Settlement | None:
            task: Task | None = tx.get("task", task_id)
            cancelled = None if task is None else rules.cancel(task, at)
            return None if task is None or cancelled is None else self._end(tx, task, cancelled, at)

        found: Settlement | None = self.backend.atomically(decide)
        return found

    def delete_task(self, task_id: str, at: float) -> bool:
        """Delete an ended task for its owner (False when it is open, or gone): the
        provider's API no longer sees it; the control plane still does, with its
        charge in the ledger, until it expires."""

        def decide(tx: Tx) -> bool:
            task: Task | None = tx.get("task", task_id)
            if task is None or task.status not in ENDED or task.deleted_at is not None:
                return False
            tx.put("task", task_id, dataclasses.replace(task, deleted_at=at))
            return True

        return bool(self.backend.atomically(decide))

    def _end(self, tx: Tx, before: Task, ended: tuple[Task, int], at: float) -> Settlement:
        """Write a task's end: its record, its indexes, the refund or the
        postpaid charge."""
        after, refund = ended
        tx.put("task", after.id, after)
        unplace(tx, before)
        name = acct(after.provider, after.account_id)
        moved = None
        if refund:
            account = self._account(tx, after.provider, after.account_id)
            note = "task failed" if after.status == FAILED else _REFUND_NOTES.get(after.status)
            moved = rules.move_credits(
                account, at, "refund", refund, task_id=after.id, note=str(note)
            )
        elif after.status == COMPLETED and after.bill_on_completion:
            account = self._account(tx, after.provider, after.account_id)
            moved = rules.charge_on_completion(account, after, at)
        if moved is not None:
            tx.put("account", name, moved[0])
            self._write_entry(tx, moved[1])
        return Settlement(after, refund)


def _as_planned(task: Task, at: float) -> tuple[Task, int]:
    return rules.settle(task, task.planned, at, None, None)


_REFUND_NOTES = {
    COMPLETED: "reserved above the final price",
    "cancelled": "task cancelled",
    "expired": "task expired",
}


def forget_task(tx: Tx, task: Task) -> None:
    """Remove a task, its media and its deliveries from every index."""
    tx.delete("task", task.id)
    tx.delete("media", task.media_token)
    tx.remove(tasks_of(acct(task.provider, task.account_id)), task.id)
    for retired in RETIRED_TASK_INDEXES:
        tx.remove(retired.format(provider=task.provider), task.id)
    unplace(tx, task)
    tx.remove("expiry", task.id)
    for delivery_id, _ in tx.scan(f"deliveries-of:{task.id}"):
        tx.delete("delivery", delivery_id)
        for index in ("deliveries", "delivery-due", f"deliveries-of:{task.id}"):
            tx.remove(index, delivery_id)


__all__ = ["QUEUED", "LifecycleState", "due_member", "forget_task"]
