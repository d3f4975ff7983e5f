"""Storage backends behind one interface (see base.Backend): memory, SQLite, Redis."""

from mockserver.engine.store.base import Backend, Tx, key_digest
from mockserver.engine.store.memory import MemoryBackend


def open_backend(url: str) -> Backend:
    """The backend a ``--store`` value names: ``memory``, ``sqlite:PATH`` (with
    ``?synchronous=off|normal|full`` after it, see store/sqlite.py) or
    ``redis://HOST:PORT/DB``."""
    if url == "memory":
        return MemoryBackend()
    if url.startswith("sqlite:"):
        from mockserver.engine.store.sqlite import SQLiteBackend

        path = url.removeprefix("sqlite:").removeprefix("//")
        path, asked, synchronous = path.rpartition("?synchronous=")
        if not asked:
            path, synchronous = synchronous, "off"
        if not path:
            raise ValueError("sqlite store needs a path: sqlite:PATH")
        return SQLiteBackend(path, synchronous.lower())
    if url.startswith(("redis://", "rediss://", "unix://")):
        from mockserver.engine.store.redis import RedisBackend

        return RedisBackend(url)
    raise ValueError(f"unknown store {url!r}: use memory, sqlite:PATH or redis://HOST:PORT/DB")


def is_shared(url: str) -> bool:
    """Whether several worker processes can share this store."""
    return url != "memory"


__all__ = ["Backend", "MemoryBackend", "Tx", "is_shared", "key_digest", "open_backend"]
