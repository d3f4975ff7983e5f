"""State backends behind one interface (see base.Store)."""

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
    Store,
    UnknownAccount,
)
from mockserver.engine.store.memory import MemoryStore

__all__ = [
    "AccountExists",
    "Claim",
    "ClaimPolicy",
    "Claimed",
    "Conflict",
    "IdempotencyScope",
    "KeyInUse",
    "MemoryStore",
    "Replay",
    "Settlement",
    "Store",
    "UnknownAccount",
]
