"""What a storage backend offers: records, sorted indexes, and one atomic
read-modify-write. No business rule lives in a backend (see engine/rules.py).

A backend keeps records (model objects, by table and key) and sorted indexes
(members ordered by a score, then by member). ``atomically(work)`` runs
``work(tx)`` as one atomic step with respect to every other caller (threads,
worker processes, hosts): the memory backend under its lock, SQLite in one
``BEGIN IMMEDIATE`` transaction, Redis in an optimistic ``WATCH``/``MULTI``
transaction that runs ``work`` again when another caller changed what it read.
So ``work`` must be a pure function of what it reads through ``tx``.

Writes are buffered and applied together when ``work`` returns; if it raises,
nothing is written. A ``tx`` sees its own record writes, but its index reads
(``scan``, ``count``) see the state as it was before the step.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

#: a deleted record in a write set
DELETED: Any = object()


@functools.cache
def _copier(cls: type) -> Callable[[Any], Any]:
    """A fast shallow copy of one record class: slotted dataclasses rebuilt from
    their fields, anything else through copy.copy."""
    kind: Any = cls
    names = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
    if not names or not hasattr(cls, "__slots__"):
        return copy.copy
    values = operator.attrgetter(*names)
    if len(names) == 1:
        return lambda record: kind(values(record))
    return lambda record: kind(*values(record))


def shallow_copy(record: Any) -> Any:
    """A record of its own for a caller to change (what it holds is shared: a
    step replaces a nested value, never changes it in place)."""
    kind: Any = type(record)
    return _copier(kind)(record)


def key_digest(key: str) -> str:
    """What API keys are indexed by: looking a secret up by its digest means no
    comparison ever runs over the secret itself, so timing reveals nothing of it."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class Tx(Protocol):
    """One atomic step's view of the backend."""

    def get(self, table: str, key: str) -> Any | None: ...
    def get_many(self, table: str, keys: Sequence[str]) -> list[Any | None]: ...
    def fetch(self, records: Sequence[tuple[str, str]], *, number: bool = False) -> None:
        """Read these (table, key) records now, in one go where reads are round
        trips (a Redis step); a later ``get`` of one is answered from them. With
        ``number``, take the step's next ``next_number`` in the same go."""
        ...

    def put(self, table: str, key: str, record: Any) -> None: ...
    def delete(self, table: str, key: str) -> None: ...
    def scan(
        self,
        index: str,
        *,
        start: float = -math.inf,
        upto: float = math.inf,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[tuple[str, float]]:
        """Members with ``start <= score <= upto`` as (member, score), in order."""
        ...

    def count(self, index: str, *, start: float = -math.inf, upto: float = math.inf) -> int: ...
    def firsts(self, indexes: Sequence[str]) -> list[tuple[str, float] | None]:
        """The first member of each index (None for an empty one), in one go."""
        ...

    def add(self, index: str, member: str, score: float) -> None:
        """Put ``member`` in ``index`` at ``score`` (moving it if it is there)."""
        ...

    def remove(self, index: str, member: str) -> None: ...
    def trim(self, index: str, upto: float) -> None:
        """Remove every member of ``index`` scored at or below ``upto``."""
        ...

    def next_number(self) -> int:
        """A number no earlier call returned (the order of creation)."""
        ...


class Backend(Protocol):
    """Storage only: see the module docstring."""

    def atomically(self, work: Callable[[Tx], T]) -> T: ...
    def read(self, work: Callable[[Tx], T]) -> T:
        """``work`` over the current state, writing nothing."""
        ...

    def read_ahead(self, route: str | None) -> None:
        """A request of ``route`` starts on this thread (None: it ended, or waits).
        A backend whose every read is a round trip (Redis) may then fetch the
        reads the route's last request made before its first step with this
        one's first read, until this one's first step; the others have nothing
        to do."""
        ...

    def append_log(self, entry: dict[str, Any], keep: int) -> int:
        """Append ``entry`` to the journal under the next id and keep only the
        newest ``keep`` (at least one); return the id. Ids follow the order of
        the appends and go on counting after ``clear_log``. The entry is stored
        for every process to read (committed) when this returns."""
        ...

    def log(self) -> list[dict[str, Any]]:
        """Every kept journal entry, oldest first, with its ``id``."""
        ...

    def clear_log(self) -> None: ...
    def clear(self) -> None:
        """Forget everything this backend holds."""
        ...

    def close(self) -> None: ...


@dataclass
class WriteSet:
    """The writes of one step, applied together at its end."""

    records: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: (index, member) -> score, or None to remove
    members: dict[tuple[str, str], float | None] = field(default_factory=dict)
    #: index -> remove its members scored at or below this (applied before ``members``)
    trims: dict[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.records or self.members or self.trims)


class BufferedTx:
    """The part of ``Tx`` every backend shares: buffered writes, reads that see
    them. A backend supplies ``_load``, ``_load_many``, ``scan``, ``count`` and
    ``next_number``."""

    def __init__(self) -> None:
        self.writes = WriteSet()

    def _load(self, table: str, key: str) -> Any | None:
        raise NotImplementedError

    def _load_many(self, table: str, keys: Sequence[str]) -> list[Any | None]:
        return [self._load(table, key) for key in keys]

    def get(self, table: str, key: str) -> Any | None:
        written = self.writes.records.get((table, key))
        if written is None:
            return self._load(table, key)
        return None if written is DELETED else written

    def get_many(self, table: str, keys: Sequence[str]) -> list[Any | None]:
        missing = [k for k in keys if (table, k) not in self.writes.records]
        loaded = dict(zip(missing, self._load_many(table, missing), strict=True))
        return [loaded[k] if k in loaded else self.get(table, k) for k in keys]

    def fetch(self, records: Sequence[tuple[str, str]], *, number: bool = False) -> None:
        """Nothing to do where a read is no round trip (see Tx.fetch)."""

    def put(self, table: str, key: str, record: Any) -> None:
        self.writes.records[(table, key)] = record

    def delete(self, table: str, key: str) -> None:
        self.writes.records[(table, key)] = DELETED

    def firsts(self, indexes: Sequence[str]) -> list[tuple[str, float] | None]:
        found = [self.scan(index, limit=1) for index in indexes]  # type: ignore[attr-defined]
        return [first[0] if first else None for first in found]

    def add(self, index: str, member: str, score: float) -> None:
        self.writes.members[(index, member)] = score

    def remove(self, index: str, member: str) -> None:
        self.writes.members[(index, member)] = None

    def trim(self, index: str, upto: float) -> None:
        self.writes.trims[index] = max(upto, self.writes.trims.get(index, -math.inf))
