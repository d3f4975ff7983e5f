"""Records as JSON text, for the backends that keep them outside the process.

JSON keeps any integer exactly (Python reads back what it wrote, however
large) and floats as their shortest exact form, so a record comes back equal.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import operator
from collections.abc import Callable, Mapping
from typing import Any

from mockserver.engine.clock import ClockAnchor
from mockserver.engine.model import (
    Account,
    ApiKey,
    Attempt,
    Delivery,
    IdempotencyRecord,
    LedgerEntry,
    MediaSpec,
    Task,
)
from mockserver.engine.store.base import shallow_copy


@functools.cache
def _getter(cls: type) -> tuple[tuple[str, ...], Callable[[Any], Any] | None]:
    """A record class's field names, and a getter of their values (for two or
    more: attrgetter of one name answers its value, of none fails)."""
    names = tuple(f.name for f in dataclasses.fields(cls))
    return names, operator.attrgetter(*names) if len(names) > 1 else None


def _fields(value: Any) -> dict[str, Any]:
    """A record's fields, for the encoder (which calls this for what JSON has no
    form for, a nested record too): the walk through lists and dicts stays in C."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        raise TypeError(f"{type(value).__name__} is not a record")
    names, get = _getter(type(value))
    if get is None:
        return {name: getattr(value, name) for name in names}
    return dict(zip(names, get(value), strict=True))


_encoder = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False, default=_fields
)


def dump(record: Any) -> str:
    return _encoder.encode(record)


def _task(data: dict[str, Any]) -> Task:
    data["media"] = MediaSpec(**data["media"])
    return Task(**data)


def _delivery(data: dict[str, Any]) -> Delivery:
    data["attempts"] = [Attempt(**a) for a in data["attempts"]]
    return Delivery(**data)


def _record(cls: type) -> Callable[[Any], Any]:
    return lambda data: cls(**data)


def _as_is(data: Any) -> Any:
    return data


#: how each table's JSON becomes its record again
LOADERS: Mapping[str, Callable[[Any], Any]] = {
    "account": _record(Account),
    "apikey": _record(ApiKey),
    "ledger": _record(LedgerEntry),
    "task": _task,
    "idem": _record(IdempotencyRecord),
    "delivery": _delivery,
    "meta": _record(ClockAnchor),
}


def load(table: str, text: str | bytes) -> Any:
    return LOADERS.get(table, _as_is)(json.loads(text))


class Decoded:
    """The records this process decoded last, each with the text it came from,
    so a read of unchanged text costs a comparison and a shallow copy instead of
    a decode (a client polling a task reads the same text again and again; on
    SQLite a task's decode was 43 µs of a poll's 1,000, its copy 3 µs).

    Always as fresh as the store: the text is read every time, and a record is
    reused only for exactly the text it was decoded from. Bounded: past ``size``
    records it starts again from empty.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        # threads share it: each dict operation is atomic, and a race at worst
        # empties it once more or keeps one record fewer
        self._found: dict[tuple[str, str], tuple[str | bytes, Any]] = {}

    def __len__(self) -> int:
        return len(self._found)

    def load(self, table: str, key: str, text: str | bytes) -> Any:
        found = self._found.get((table, key))
        if found is not None and found[0] == text:
            return shallow_copy(found[1])
        record = load(table, text)
        if len(self._found) >= self.size:
            self._found.clear()
        self._found[(table, key)] = (text, shallow_copy(record))
        return record
