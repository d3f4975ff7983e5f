"""Everything the simulator keeps, as atomic operations written once.

``State`` is what the engine calls (claim a key, create and charge a task,
settle what is due, ...). Each operation reads the records it needs inside one
atomic step of the backend (engine/store), applies a rule (engine/rules.py),
and writes the result; so invariants hold at any concurrency on every backend:
one task and one charge per idempotency key, exact rate limits, balances that
never go below zero and always equal their ledger, lifecycles that only move
forward. Returned records are copies.
"""

from __future__ import annotations

from mockserver.engine.state._accounts import AccountState
from mockserver.engine.state._control import ControlState
from mockserver.engine.state._lifecycle import LifecycleState
from mockserver.engine.state._tasks import TaskState
from mockserver.engine.store import Backend, open_backend


class State(AccountState, TaskState, LifecycleState, ControlState):
    """The simulator's state over one backend (see the package docstring)."""

    @property
    def shared(self) -> bool:
        """Whether other processes may share this state."""
        return bool(getattr(self.backend, "shared", False))


def open_state(url: str) -> State:
    """The state a ``--store`` value names: ``memory``, ``sqlite:PATH`` or ``redis://...``."""
    return State(open_backend(url))


__all__ = ["Backend", "State", "open_state"]
