"""The in-memory backend: one process, one lock around each step."""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import operator
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from mockserver.engine.model import IdempotencyRecord, LedgerEntry, MediaSpec, Task
from mockserver.engine.store.base import DELETED, BufferedTx, T, shallow_copy

_SCORE = operator.itemgetter(0)
#: a chunk splits past twice this many members, and merges with a neighbour below half
_CHUNK = 500


class _Index:
    """Members ordered by (score, member), and each member's score.

    The order is kept in chunks of two parallel lists, scores and members, with
    each chunk's last (score, member) to find a chunk by bisection (the layout
    of sortedcontainers' lists). A member costs a dict entry and two list slots
    pointing at objects its records share; a sorted list of (score, member)
    pairs also took a 56-byte tuple per member, the most of an index's memory.
    """

    __slots__ = ("_lasts", "_member_chunks", "_score_chunks", "scores")

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        self._score_chunks: list[list[float]] = []
        self._member_chunks: list[list[str]] = []
        self._lasts: list[tuple[float, str]] = []

    def put(self, member: str, score: float) -> None:
        old = self.scores.get(member)
        if old is not None:
            # the member string already stored stays: an equal one built again is let go
            member = self._take(old, member)
        self.scores[member] = score
        self._insert(score, member)

    def drop(self, member: str) -> None:
        old = self.scores.pop(member, None)
        if old is not None:
            self._take(old, member)

    def trim(self, upto: float) -> None:
        chunk, place = self._first_above(upto)
        for members in self._member_chunks[:chunk]:
            for member in members:
                del self.scores[member]
        del self._score_chunks[:chunk], self._member_chunks[:chunk], self._lasts[:chunk]
        if place:
            for member in self._member_chunks[0][:place]:
                del self.scores[member]
            del self._score_chunks[0][:place], self._member_chunks[0][:place]

    def first(self) -> tuple[str, float]:
        """The first member and its score (the backend keeps no empty index)."""
        return self._member_chunks[0][0], self._score_chunks[0][0]

    def count(self, start: float, upto: float) -> int:
        (first, low), (end, high) = self._first_at_or_above(start), self._first_above(upto)
        if (first, low) >= (end, high):
            return 0
        return sum(map(len, self._score_chunks[first:end])) - low + high

    def scan(
        self, start: float, upto: float, limit: int | None, newest_first: bool
    ) -> list[tuple[str, float]]:
        (first, low), (end, high) = self._first_at_or_above(start), self._first_above(upto)
        found: list[tuple[str, float]] = []
        chunks = range(first, end + 1 if high else end)
        for chunk in reversed(chunks) if newest_first else chunks:
            if len(found) == limit:
                break
            scores, members = self._score_chunks[chunk], self._member_chunks[chunk]
            lo = low if chunk == first else 0
            hi = high if chunk == end else len(scores)
            room = hi - lo if limit is None else limit - len(found)
            # zip without strict=: the lists are parallel, and the keyword alone
            # costs a fifth of a short scan (several run in every request)
            if newest_first:
                lo = max(lo, hi - room)
                found += zip(reversed(members[lo:hi]), reversed(scores[lo:hi]))  # noqa: B905
            else:
                hi = min(hi, lo + room)
                found += zip(members[lo:hi], scores[lo:hi])  # noqa: B905
        return found

    def _first_at_or_above(self, score: float) -> tuple[int, int]:
        """The place (chunk, offset) of the first member scored ``score`` or more."""
        chunk = bisect.bisect_left(self._lasts, score, key=_SCORE)
        if chunk == len(self._lasts):
            return chunk, 0
        return chunk, bisect.bisect_left(self._score_chunks[chunk], score)

    def _first_above(self, score: float) -> tuple[int, int]:
        """The place (chunk, offset) of the first member scored above ``score``."""
        chunk = bisect.bisect_right(self._lasts, score, key=_SCORE)
        if chunk == len(self._lasts):
            return chunk, 0
        return chunk, bisect.bisect_right(self._score_chunks[chunk], score)

    def _find(self, score: float, member: str) -> tuple[int, int]:
        """The place (chunk, offset) where (score, member) is or would go, short
        of the end (some chunk's last is at least that pair)."""
        chunk = bisect.bisect_left(self._lasts, (score, member))
        scores = self._score_chunks[chunk]
        place = bisect.bisect_left(scores, score)
        if scores[place] == score:  # a tie: ordered by member
            high = bisect.bisect_right(scores, score, place)
            place = bisect.bisect_left(self._member_chunks[chunk], member, place, high)
        return chunk, place

    def _insert(self, score: float, member: str) -> None:
        last = (score, member)
        if self._lasts and last < self._lasts[-1]:
            chunk, place = self._find(score, member)
            self._score_chunks[chunk].insert(place, score)
            self._member_chunks[chunk].insert(place, member)
        else:  # after every other member: the common case (scores that only grow)
            if not self._lasts:
                self._score_chunks.append([])
                self._member_chunks.append([])
                self._lasts.append(last)
            chunk = len(self._lasts) - 1
            self._score_chunks[chunk].append(score)
            self._member_chunks[chunk].append(member)
            self._lasts[chunk] = last
        if len(self._score_chunks[chunk]) > 2 * _CHUNK:
            self._split(chunk)

    def _take(self, score: float, member: str) -> str:
        """Take (score, member) out of the order; returns the member as stored."""
        chunk, place = self._find(score, member)
        scores, members = self._score_chunks[chunk], self._member_chunks[chunk]
        stored = members.pop(place)
        del scores[place]
        if not scores:
            del self._score_chunks[chunk], self._member_chunks[chunk], self._lasts[chunk]
            return stored
        if place == len(scores):
            self._lasts[chunk] = (scores[-1], members[-1])
        if len(scores) < _CHUNK // 2 and len(self._lasts) > 1:
            self._merge(max(chunk - 1, 0))
        return stored

    def _split(self, chunk: int) -> None:
        """Cut a long chunk in two (slices: lists that hold no spare room)."""
        scores, members = self._score_chunks[chunk], self._member_chunks[chunk]
        self._score_chunks[chunk : chunk + 1] = scores[:_CHUNK], scores[_CHUNK:]
        self._member_chunks[chunk : chunk + 1] = members[:_CHUNK], members[_CHUNK:]
        self._lasts.insert(chunk, (scores[_CHUNK - 1], members[_CHUNK - 1]))

    def _merge(self, chunk: int) -> None:
        """Join a chunk and the next one (split again if that makes it too long)."""
        self._score_chunks[chunk].extend(self._score_chunks.pop(chunk + 1))
        self._member_chunks[chunk].extend(self._member_chunks.pop(chunk + 1))
        del self._lasts[chunk]
        if len(self._score_chunks[chunk]) > 2 * _CHUNK:
            self._split(chunk)


#: Fields that most records of a class hold the very same values in (the
#: provider, the account, the status, the profile's error...), in groups. The
#: store keeps each group's values once, in one tuple that every record with
#: those same objects points at, and a record as a tuple (a row, see ``_Layout``)
#: of its groups and its own fields. A group is shared only between records whose
#: values are the same objects (integers: equal ones; a MediaSpec: one of equal
#: values and types), so a record comes back exactly as it went in. A task with
#: eight params takes 216 bytes so, where its slotted dataclass and its params'
#: dict took 448; a ledger entry 88, not 96.
_SHARED_FIELDS: dict[type, tuple[tuple[str, ...], ...]] = {
    Task: (
        ("provider", "account_id", "credits", "planned", "refund_on_failure", "media",
         "status", "refunded", "error_code", "error_message", "origin", "operation",
         "completion_refund", "pool", "slots", "priority", "bill_on_completion"),
        # those a task sets later, or a queued one only (a group of its own then)
        ("callback_url", "run_seconds", "start_at", "started_at", "deadline", "deleted_at"),
    ),
    LedgerEntry: (("provider", "account_id", "kind", "amount", "note"),),
    IdempotencyRecord: (),
}  # fmt: skip
#: A field whose dict a record keeps at the end of its row: the dict's keys (a
#: tuple shared by the dicts with the very same keys), then its values (a read
#: makes a new dict of them).
_SPREAD_FIELD: dict[type, str] = {Task: "params"}
#: a backend forgets the groups and key tuples it knows past this many (records keep theirs)
_KNOWN = 4096


class _Layout:
    """How one record class is kept as a row, and made again.

    A row is a plain tuple: the layout's number, the record's groups, its own
    fields, then (for a class with a spread field) that field's keys and values.
    Plain, because the garbage collector stops tracking a plain tuple of
    untracked values (strings, numbers, other such tuples): stored tasks, ledger
    entries and idempotency keys then cost a full collection nothing, where
    tuple subclasses and slotted dataclasses made its pauses grow with the store
    (6 ms at 10,000 tasks, 44 ms at 30,000). A field declared ``MediaSpec`` is
    kept as the tuple of its values for the same reason. (A task whose params
    hold a list or a dict, a request's image URLs say, stays tracked.)
    """

    def __init__(
        self, number: int, cls: type, groups: tuple[tuple[str, ...], ...], spread: str | None
    ) -> None:
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        grouped = [name for group in groups for name in group]
        own = [name for name in fields if name not in grouped and name != spread]
        self.number = number
        self.cls = cls
        self.groups = [operator.attrgetter(*group) for group in groups]
        #: the places in each group of the fields declared ``int``, and ``MediaSpec``
        self.ints = [_places(group, fields, "int") for group in groups]
        self.media = [_places(group, fields, "MediaSpec") for group in groups]
        self.own = operator.attrgetter(*own)
        self.spread = spread
        self.keys_at = 1 + len(groups) + len(own)  # where a row holds the spread field's keys
        # unpack reads the groups' values, then the row, then the spread field
        at = {name: i for i, name in enumerate(grouped)}
        at.update((name, len(grouped) + 1 + len(groups) + i) for i, name in enumerate(own))
        if spread is not None:
            at[spread] = -1
        self.order = operator.itemgetter(*(at[name] for name in fields))
        self.group_places = range(1, 1 + len(groups))
        self.media_places = [at[name] for name in grouped if fields[name] == "MediaSpec"]

    def pack(self, record: Any, known: _Known) -> tuple[Any, ...]:
        shared = [
            known.group(get(record), ints, media)
            for get, ints, media in zip(self.groups, self.ints, self.media)  # noqa: B905
        ]
        own = self.own(record)
        if self.spread is None:
            return (self.number, *shared, *own)
        kept = getattr(record, self.spread)
        if type(kept) is not dict:  # kept as it is, after no keys
            return (self.number, *shared, *own, None, kept)
        return (self.number, *shared, *own, known.keys(tuple(kept)), *kept.values())

    def unpack(self, row: tuple[Any, ...]) -> Any:
        values: tuple[Any, ...] = ()
        for place in self.group_places:
            values += row[place]
        values += row
        if self.spread is not None:
            keys, kept = row[self.keys_at], row[self.keys_at + 1 :]
            values += (kept[0],) if keys is None else (dict(zip(keys, kept)),)  # noqa: B905
        if self.media_places:
            values = _unflatten(values, self.media_places)
        return self.cls(*self.order(values))


def _places(names: Sequence[str], fields: dict[str, Any], kind: str) -> tuple[int, ...]:
    return tuple(i for i, name in enumerate(names) if fields[name] == kind)


def _unflatten(values: tuple[Any, ...], places: list[int]) -> tuple[Any, ...]:
    """``values`` with each MediaSpec kept as a tuple at ``places`` made again."""
    whole = list(values)
    for place in places:
        if type(fields := whole[place]) is tuple:
            whole[place] = MediaSpec(*fields)
    return tuple(whole)


_MEDIA_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(MediaSpec)))


class _Known:
    """One backend's shared groups and key tuples, found by the identities of
    their values (each held by what is known, so no other object takes its id)."""

    __slots__ = ("_groups", "_ints", "_keys", "_specs")

    def __init__(self) -> None:
        self._groups: dict[tuple[int, ...], tuple[Any, ...]] = {}
        self._ints: dict[int, int] = {}
        self._keys: dict[tuple[int, ...], tuple[Any, ...]] = {}
        #: one tuple of a MediaSpec's values per distinct values (a spec read back is
        #: a new object: by its identity, each task written again got a group of its own)
        self._specs: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def group(
        self, values: tuple[Any, ...], ints: tuple[int, ...], media: tuple[int, ...] = ()
    ) -> tuple[Any, ...]:
        """The known group of these very values (``values`` made known if none)."""
        found = self._groups.get(tuple(map(id, values)))
        if found is not None:
            return found
        if ints or media:
            same = list(values)
            for place in ints:  # equal integers become one object (a price, a charge's amount)
                if type(value := same[place]) is int:
                    same[place] = self._ints.setdefault(value, value)
            for place in media:  # a spec as the one tuple of its values (and their types)
                if type(spec := same[place]) is MediaSpec:
                    fields = _MEDIA_FIELDS(spec)
                    same[place] = self._specs.setdefault((*fields, *map(type, fields)), fields)
            values = tuple(same)
        return self._known(self._groups, values)

    def keys(self, keys: tuple[Any, ...]) -> tuple[Any, ...]:
        """The known tuple of these very keys (``keys`` made known if none)."""
        return self._known(self._keys, keys)

    def _known(
        self, known: dict[tuple[int, ...], tuple[Any, ...]], values: tuple[Any, ...]
    ) -> tuple[Any, ...]:
        ident = tuple(map(id, values))
        found = known.get(ident)
        if found is None:
            if len(known) >= _KNOWN:
                self._groups.clear()
                self._ints.clear()
                self._keys.clear()
                self._specs.clear()
            known[ident] = found = values
        return found


_LAYOUTS = {
    cls: _Layout(number, cls, groups, _SPREAD_FIELD.get(cls))
    for number, (cls, groups) in enumerate(_SHARED_FIELDS.items())
}
#: the layouts by their numbers (a row's first value)
_BY_NUMBER = [layout.unpack for layout in _LAYOUTS.values()]


class _MemoryTx(BufferedTx):
    def __init__(self, backend: MemoryBackend) -> None:
        super().__init__()
        self._backend = backend

    def _load(self, table: str, key: str) -> Any | None:
        rows = self._backend.tables.get(table)
        found = None if rows is None else rows.get(key)
        if found is None:
            return None
        if type(found) is tuple:
            return _BY_NUMBER[found[0]](found)
        return shallow_copy(found)

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
        return found.scan(start, upto, limit, newest_first)

    def firsts(self, indexes: Sequence[str]) -> list[tuple[str, float] | None]:
        found = [self._backend.indexes.get(index) for index in indexes]
        return [None if index is None else index.first() for index in found]

    def count(self, index: str, *, start: float = -math.inf, upto: float = math.inf) -> int:
        found = self._backend.indexes.get(index)
        return 0 if found is None else found.count(start, upto)

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
        self._known = _Known()
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
        # every row is made before any is written: one that cannot be leaves the store as it was
        kept = [
            (table, key, record if record is DELETED else self._row(table, record))
            for (table, key), record in tx.writes.records.items()
        ]
        for table, key, row in kept:
            rows = self.tables.setdefault(table, {})
            if row is DELETED:
                rows.pop(key, None)
            else:
                rows[key] = row
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

    def _row(self, table: str, record: Any) -> Any:
        """What the store keeps of a record: a row of a known class, else a copy."""
        layout = _LAYOUTS.get(type(record))
        if layout is not None:
            return layout.pack(record, self._known)
        if type(record) is tuple:
            raise TypeError(f"the memory store keeps its own rows as tuples: store {table} "
                            "records as another type")  # fmt: skip
        return shallow_copy(record)

    def read_ahead(self, route: str | None) -> None:
        """Nothing to fetch ahead: a read here is no round trip (see Backend)."""

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
