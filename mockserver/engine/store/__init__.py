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
    Window,
)
from mockserver.engine.store.memory import MemoryStore


def open_store(url: str) -> Store:
    """The store a ``--store`` value names: ``memory``, ``sqlite:PATH`` or
    ``redis://HOST:PORT/DB``."""
    if url == "memory":
        return MemoryStore()
    if url.startswith("sqlite:"):
        from mockserver.engine.store.sqlite import SQLiteStore

        path = url.removeprefix("sqlite:").removeprefix("//")
        if not path:
            raise ValueError("sqlite store needs a path: sqlite:PATH")
        return SQLiteStore(path)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from mockserver.engine.store.redis import RedisStore

        return RedisStore(url)
    raise ValueError(f"unknown store {url!r}: use memory, sqlite:PATH or redis://HOST:PORT/DB")


def is_shared(url: str) -> bool:
    """Whether several worker processes can share this store."""
    return url != "memory"


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
    "Window",
    "is_shared",
    "open_store",
]
