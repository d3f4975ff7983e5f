"""The in-memory backend: one process, one lock around each step."""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import math
import operator
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from sortedcontainers import SortedList

from mockserver.engine.store.base import DELETED, BufferedTx, T


class _Index:
    """Members ordered by (score, member), and each member's score."""

    __slots__ = ("order", "scores")

    def __init__(self) -> None:
        self.order: SortedList = SortedList()
        self.scores: dict[str, float] = {}

    def put(self, member: str, score: float) -> None:
        old = self.scores.get(member)
        if old is not None:
            self.order.remove((old, member))
        self.scores[member] = score
        self.order.add((score, member))

    def drop(self, member: str) -> None:
        old = self.scores.pop(member, None)
        if old is not None:
            self.order.remove((old, member))

    def trim(self, upto: float) -> None:
        for score, member in list(self.order.irange(maximum=(upto, "\U0010ffff"))):
            del self.scores[member]
            self.order.remove((score, member))


@functools.cache
def _copier(cls: type) -> Callable[[Any], Any]:
    """A fast shallow copy of one record class (slotted dataclasses rebuilt from
    their fields; anything else through copy.copy)."""
    names = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
    if not names or not hasattr(cls, "__slots__"):
        return copy.copy
    values = operator.attrgetter(*names)
    if len(names) == 1:
        return lambda record: cls(values(record))
    return lambda record: cls(*values(record))


def _copy(record: Any) -> Any:
    kind: Any = type(record)
    return _copier(kind)(record)


class _MemoryTx(BufferedTx):
    def __init__(self, backend: MemoryBackend) -> None:
        super().__init__()
        self._backend = backend

    def _load(self, table: str, key: str) -> Any | None:
        rows = self._backend.tables.get(table)
        found = None if rows is None else rows.get(key)
        return None if found is None else _copy(found)

    def scan(
        self,
        index: str,
        *,
        start: float = -math.inf,
        upto: float = math.inf,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[tuple[str, float]]:
        found = self._backend.indexes.get(index)
        if found is None or limit == 0:
            return []
        chosen = found.order.irange((start, ""), (upto, "\U0010ffff"), reverse=newest_first)
        return [(member, score) for score, member in itertools.islice(chosen, limit)]

    def count(self, index: str, *, start: float = -math.inf, upto: float = math.inf) -> int:
        found = self._backend.indexes.get(index)
        if found is None:
            return 0
        order = found.order
        return int(order.bisect_right((upto, "\U0010ffff")) - order.bisect_left((start, "")))

    def next_number(self) -> int:
        return next(self._backend.numbers)


class MemoryBackend:
    """Dictionaries and sorted lists; every step holds the one lock."""

    shared = False

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._reset()
        self._reader = _MemoryTx(self)  # reads write nothing, so one serves every read

    def _reset(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {}
        self.indexes: dict[str, _Index] = {}
        self.numbers = itertools.count(1)
        self._log: deque[dict[str, Any]] = deque()
        self._log_ids = itertools.count(1)

    def atomically(self, work: Callable[[Any], T]) -> T:
        with self._lock:
            tx = _MemoryTx(self)
            result = work(tx)
            self._apply(tx)
            return result

    def read(self, work: Callable[[Any], T]) -> T:
        with self._lock:
            return work(self._reader)

    def _apply(self, tx: _MemoryTx) -> None:
        for (table, key), record in tx.writes.records.items():
            rows = self.tables.setdefault(table, {})
            if record is DELETED:
                rows.pop(key, None)
            else:
                rows[key] = _copy(record)
        for name, upto in tx.writes.trims.items():
            trimmed = self.indexes.get(name)
            if trimmed is not None:
                trimmed.trim(upto)
                if not trimmed.scores:
                    del self.indexes[name]
        for (name, member), score in tx.writes.members.items():
            index = self.indexes.get(name)
            if score is not None:
                if index is None:
                    index = self.indexes[name] = _Index()
                index.put(member, score)
            elif index is not None:
                index.drop(member)
                if not index.scores:
                    del self.indexes[name]

    # the journal ---------------------------------------------------------------------------
    def append_log(self, entry: dict[str, Any], keep: int) -> int:
        with self._lock:
            ident = next(self._log_ids)
            self._log.append({**entry, "id": ident})
            while len(self._log) > max(1, keep):
                self._log.popleft()
            return ident

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._log]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # life ------------------------------------------------------------------------------------
    def clear(self) -> None:
        with self._lock:
            self._reset()

    def close(self) -> None:
        """Nothing to release: the state lives and dies with the process."""
