"""The in-memory store: one process, one lock around each operation.

The reference for every backend's semantics. Its operations are grouped by
what they touch: accounts (_memory_accounts), tasks (_memory_tasks),
deliveries, faults and the journal (_memory_control).
"""

from __future__ import annotations

from mockserver.engine.store._memory_accounts import AccountState
from mockserver.engine.store._memory_control import ControlState
from mockserver.engine.store._memory_tasks import TaskState


class MemoryStore(AccountState, TaskState, ControlState):
    """State in dictionaries; every public method holds the one lock."""
