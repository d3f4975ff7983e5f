"""Storage backends behind one interface (see base.Backend): memory, SQLite, Redis."""

from mockserver.engine.store.base import Backend, Tx, key_digest
from mockserver.engine.store.memory import MemoryBackend

#: SQLite's ``synchronous`` settings an sqlite store may ask for (see store/sqlite.py)
SYNCHRONOUS = ("off", "normal", "full")


def open_backend(url: str) -> Backend:
    """The backend a ``--store`` value names: ``memory``, ``sqlite:PATH`` (with
    ``?synchronous=off|normal|full`` after it, see store/sqlite.py) or
    ``redis://HOST:PORT/DB``."""
    if url == "memory":
        return MemoryBackend()
    if url.startswith("sqlite:"):
        from mockserver.engine.store.sqlite import SQLiteBackend

        return SQLiteBackend(*sqlite_location(url))
    if url.startswith(("redis://", "rediss://", "unix://")):
        from mockserver.engine.store.redis import RedisBackend

        return RedisBackend(url)
    raise ValueError(f"unknown store {url!r}: use memory, sqlite:PATH or redis://HOST:PORT/DB")


def sqlite_location(url: str) -> tuple[str, str]:
    """The path and the ``synchronous`` setting an ``sqlite:PATH[?synchronous=...]``
    store names (ValueError, saying what to write, for anything else after a ``?``)."""
    path, _, query = url.removeprefix("sqlite:").removeprefix("//").partition("?")
    if not path:
        raise ValueError("sqlite store needs a path: sqlite:PATH")
    name, equals, value = query.partition("=")
    synchronous = value.lower() if query else "off"
    if query and (name.lower() != "synchronous" or not equals or synchronous not in SYNCHRONOUS):
        raise ValueError(
            f"sqlite:PATH takes one option, ?synchronous=off|normal|full, not ?{query} "
            "(a path cannot hold '?')"
        )
    return path, synchronous


def is_shared(url: str) -> bool:
    """Whether several worker processes can share this store."""
    return url != "memory"


__all__ = [
    "Backend",
    "MemoryBackend",
    "Tx",
    "is_shared",
    "key_digest",
    "open_backend",
    "sqlite_location",
]
