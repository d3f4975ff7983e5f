"""Records as JSON text, for the backends that keep them outside the process.

JSON keeps any integer exactly (Python reads back what it wrote, however
large) and floats as their shortest exact form, so a record comes back equal.
"""

from __future__ import annotations

import dataclasses
import functools
import json
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

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


@functools.cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _plain(value: Any) -> Any:
    """A record as JSON-ready values (shallow: nested records are converted too)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _names(type(value))}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def dump(record: Any) -> str:
    return _encoder.encode(_plain(record))


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
