"""The SQLite store: one file, any number of worker processes on one host,
state that survives a restart.

Every operation is one ``BEGIN IMMEDIATE`` transaction, so SQLite's write lock
serializes them across processes; WAL mode lets readers go on meanwhile. The
rules of each step (settling a task: store.rules; claiming a key) are the memory store's,
applied to rows read and written inside the transaction. The operations are
grouped by what they touch: accounts (_sqlite_accounts), tasks
(_sqlite_tasks), deliveries, faults and the journal (_sqlite_control).
"""

from __future__ import annotations

from mockserver.engine.store._sqlite_accounts import AccountRows
from mockserver.engine.store._sqlite_control import ControlRows
from mockserver.engine.store._sqlite_tasks import TaskRows


class SQLiteStore(AccountRows, TaskRows, ControlRows):
    """State in one SQLite file (see the module docstring)."""
