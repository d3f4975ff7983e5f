"""The state layer's foundation: the backend, the names of tables and indexes,
and the shared clock."""

from __future__ import annotations

import dataclasses
from typing import Any

from mockserver.engine import rules
from mockserver.engine.clock import ClockAnchor, ClockState
from mockserver.engine.errors import ServiceBusy, UnknownAccount
from mockserver.engine.model import OPEN, PROCESSING, QUEUED, Account, IdempotencyScope, Task
from mockserver.engine.store import Backend, Tx, key_digest

#: why a shared store may have lost its clock
STATE_LOST = (
    "The simulator's state is gone (its store restarted without persistence); "
    "POST /__admin/reset to start again."
)


def acct(provider: str, account_id: str) -> str:
    """An account's name in keys (provider names hold no colon)."""
    return f"{provider}:{account_id}"


def key_name(provider: str, key: str) -> str:
    """An API key's name: its digest, so the secret is never part of a key name."""
    return f"{provider}:{key_digest(key)}"


def scope_name(scope: IdempotencyScope) -> str:
    return f"{scope.provider}:{len(scope.account_id)}:{scope.account_id}:{scope.key}"


def due_member(seq: int, task_id: str) -> str:
    """A task in the due queue: tasks due at the same instant end in creation order."""
    return f"{seq:016d}:{task_id}"


def task_of(member: str) -> str:
    return member[17:]


def place_open(tx: Tx, task: Task) -> None:
    """Index a queued or processing task where the clock will find it: the due
    queue (a running task's end), the wake queue (a queued task's earliest
    start), its pool (queued by priority, running), its account's queued ones,
    and the deadlines (execution expiry)."""
    member = due_member(task.seq, task.id)
    if task.status == PROCESSING:
        if task.due_at is not None:
            tx.add("due", member, task.due_at)
        if task.pool:
            tx.add(f"running:{task.pool}", task.id, task.seq)
    elif task.status == QUEUED:
        if task.start_at is not None:
            tx.add("wake", member, task.start_at)
        tx.add(f"pool:{task.pool}", task.id, rules.queue_order(task))
        tx.add(f"queued-of:{acct(task.provider, task.account_id)}", task.id, task.seq)
    if task.deadline is not None and task.status in OPEN:
        tx.add("deadlines", member, task.deadline)


def unplace(tx: Tx, task: Task) -> None:
    """Take a task out of every index place_open may have put it in."""
    member = due_member(task.seq, task.id)
    for index in ("due", "wake", "deadlines"):
        tx.remove(index, member)
    if task.pool:
        tx.remove(f"running:{task.pool}", task.id)
        tx.remove(f"pool:{task.pool}", task.id)
    tx.remove(f"queued-of:{acct(task.provider, task.account_id)}", task.id)


def tasks_of(name: str) -> str:
    """The index of an account's tasks (``name`` from ``acct``), in creation order.

    It is the only list of tasks: a provider's tasks, or every task, are its
    accounts' lists merged (accounts are few and never removed), which spares
    each stored task two index entries."""
    return f"tasks-of:{name}"


#: lists a store kept from before ``tasks_of`` was the only one may still hold a task in
RETIRED_TASK_INDEXES = ("tasks", "tasks-of:{provider}")


class _StoredClock:
    """The clock anchor as a record every worker reads (cached where the backend
    is this process's own)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._cached: ClockAnchor | None = None

    def read(self) -> ClockAnchor:
        cached = self._cached
        if cached is not None:
            return cached
        anchor: ClockAnchor | None = self._backend.read(lambda tx: tx.get("meta", "clock"))
        if anchor is None:
            if getattr(self._backend, "shared", False):
                raise ServiceBusy(STATE_LOST)
            raise RuntimeError("bootstrap the store before reading its clock")
        if not getattr(self._backend, "shared", False):
            self._cached = anchor
        return anchor

    def add(self, seconds: float) -> None:
        def move(tx: Tx) -> ClockAnchor:
            anchor: ClockAnchor | None = tx.get("meta", "clock")
            if anchor is None:
                raise ServiceBusy(STATE_LOST)
            moved = dataclasses.replace(anchor, offset=anchor.offset + seconds)
            tx.put("meta", "clock", moved)
            return moved

        moved = self._backend.atomically(move)
        if self._cached is not None:
            self._cached = moved

    def forget(self) -> None:
        self._cached = None


class StateBase:
    """The backend and the helpers every part of the state uses."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._clock = _StoredClock(backend)

    # life ----------------------------------------------------------------------------------
    def bootstrap(self, anchor: ClockAnchor) -> bool:
        """Set up an empty store with the clock at ``anchor``; True if this call
        did it (the caller then creates the start accounts), False if the store
        already held a simulator (another worker, or an earlier run)."""

        def setup(tx: Tx) -> bool:
            if tx.get("meta", "clock") is not None:
                return False
            tx.put("meta", "clock", anchor)
            return True

        self._clock.forget()
        return bool(self.backend.atomically(setup))

    def clock_state(self) -> ClockState:
        """The shared clock anchor (every worker reads the same time)."""
        return self._clock

    def read_ahead(self, route: str | None) -> None:
        """A request of ``route`` starts on this thread, or (None) it ended (see
        Backend.read_ahead)."""
        self.backend.read_ahead(route)

    def clear(self) -> None:
        """Forget everything, as if new (then ``bootstrap`` again)."""
        self._clock.forget()
        self.backend.clear()

    def close(self) -> None:
        self.backend.close()

    # helpers -------------------------------------------------------------------------------
    @staticmethod
    def _account(tx: Tx, provider: str, account_id: str) -> Account:
        found: Account | None = tx.get("account", acct(provider, account_id))
        if found is None:
            raise UnknownAccount(f"no {provider} account {account_id!r}")
        return found

    @staticmethod
    def _write_entry(tx: Tx, entry: Any, new_task: Task | None = None) -> None:
        """Append a ledger entry (the account record is written by the caller).

        The charge of ``new_task`` is numbered as the task is, and keyed by its
        media token: a name no other record has (128 random bits, where an id
        may come back once its task is gone) that the store keeps anyway, so
        neither costs an object of its own. A token that is a plain number, as
        the other keys are, is not used."""
        if new_task is None or new_task.media_token.isdecimal():
            seq = tx.next_number() if new_task is None else new_task.seq
            key = str(seq)  # unique: numbers are never reused (the account's index names it)
        else:
            seq, key = new_task.seq, new_task.media_token
        name = acct(entry.provider, entry.account_id)
        tx.put("ledger", key, entry)
        tx.add(f"ledger:{name}", key, seq)
