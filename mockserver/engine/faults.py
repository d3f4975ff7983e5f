"""Fault injection: rules that match requests and make them misbehave on purpose.

A rule matches on provider, method, path (a glob such as ``/api/v1/tasks/*``),
account and key, and fires on every matching request, on the next ``times``
ones, or with a ``probability``. Its effect is a documented error of that
provider (with Retry-After where the provider sends one), added latency, a
dropped connection, or a malformed body.
"""

from __future__ import annotations

import fnmatch
import random
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mockserver.engine.errors import SimulatorError
from mockserver.engine.state import State
from mockserver.spec import ProviderSpec

EFFECTS = ("error", "latency", "drop", "malformed")
_MATCH_FIELDS = ("provider", "method", "path", "account", "key")


class InjectedError(SimulatorError):
    """A documented error chosen by a fault rule."""

    def __init__(
        self, condition: str, message: str | None, retry_after: int | None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.condition = condition
        self.retry_after = retry_after

    @classmethod
    def named(
        cls, spec: ProviderSpec, error: str, message: str | None, retry_after: int | None
    ) -> InjectedError:
        """``error`` is a condition ("rate_limited") or any code the provider documents
        ("INVALID_PROMPT"); a code outside the errors table is a bad-request code."""
        if error in spec.errors:
            return cls(error, message, retry_after)
        kind = next((k for k in spec.errors.values() if k.code == error), None)
        return cls(kind.condition if kind else "invalid_request", message, retry_after, error)


def error_names(specs: Iterable[ProviderSpec]) -> set[str]:
    """What a fault may name as its error: the conditions and documented codes
    that every one of ``specs`` has."""
    return set.intersection(*({*s.errors, *s.error_codes()} for s in specs))


@dataclass(frozen=True)
class RequestFacts:
    """What a rule can match on."""

    provider: str
    method: str
    path: str
    account: str | None
    key: str | None


@dataclass
class FaultRule:
    id: str
    effect: str
    provider: str | None = None
    method: str | None = None
    path: str | None = None
    account: str | None = None
    key: str | None = None
    times: int | None = None  # None: every matching request
    probability: float = 1.0
    error: str | None = None  # the condition, e.g. "rate_limited"
    message: str | None = None
    retry_after: int | None = None
    latency_ms: int = 0
    hits: int = 0

    def matches(self, facts: RequestFacts) -> bool:
        if self.provider not in (None, facts.provider):
            return False
        if self.method is not None and self.method.upper() != facts.method.upper():
            return False
        if self.path is not None and not fnmatch.fnmatchcase(facts.path, self.path):
            return False
        return self.account in (None, facts.account) and self.key in (None, facts.key)

    def describe(self) -> dict[str, Any]:
        data = asdict(self)
        if data["key"]:
            data["key"] = data["key"][:4] + "…"  # never echo a whole API key
        return data


def parse_rule(data: Mapping[str, Any], conditions: Iterable[str]) -> FaultRule:
    """A rule from its JSON description; ValueError saying what is wrong."""
    allowed = {
        *_MATCH_FIELDS,
        "effect",
        "times",
        "probability",
        "error",
        "message",
        "retry_after",
        "latency_ms",
    }
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
    effect = data.get("effect", "error" if "error" in data else None)
    if effect not in EFFECTS:
        raise ValueError(f"effect must be one of {', '.join(EFFECTS)}")
    known = sorted(set(conditions))
    if effect == "error" and data.get("error") not in known:
        raise ValueError(f"error must be one of {', '.join(known)} (for this provider)")
    times = data.get("times")
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
        raise ValueError("times must be a whole number >= 1 (omit it for every request)")
    probability = data.get("probability", 1.0)
    if not isinstance(probability, (int, float)) or not 0 < probability <= 1:
        raise ValueError("probability must be a number in (0, 1]")
    latency = data.get("latency_ms", 0)
    if not isinstance(latency, int) or not 0 <= latency <= 600_000:
        raise ValueError("latency_ms must be a whole number of milliseconds, 0..600000")
    if effect == "latency" and latency == 0:
        raise ValueError("a latency fault needs latency_ms > 0")
    retry_after = data.get("retry_after")
    if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 1):
        raise ValueError("retry_after must be a whole number of seconds >= 1")
    for name in _MATCH_FIELDS:
        if data.get(name) is not None and not isinstance(data[name], str):
            raise ValueError(f"{name} must be a string")
    return FaultRule(
        id="flt_" + secrets.token_hex(6),
        effect=effect,
        provider=data.get("provider"),
        method=data.get("method"),
        path=data.get("path"),
        account=data.get("account"),
        key=data.get("key"),
        times=times,
        probability=float(probability),
        error=data.get("error"),
        message=data.get("message"),
        retry_after=retry_after,
        latency_ms=latency,
    )


class Faults:
    """The active rules, kept in the store (so every worker sees them) and
    consulted in the order they were added."""

    def __init__(self, store: State, rng: random.Random) -> None:
        self._store = store
        self._rng = rng
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultRule:
        self._store.add_fault(asdict(rule))
        return rule

    def remove(self, rule_id: str) -> bool:
        return self._store.remove_fault(rule_id)

    def clear(self) -> None:
        self._store.clear_faults()

    def rules(self) -> list[FaultRule]:
        return [FaultRule(**data) for data in self._store.faults()]

    def fire(self, facts: RequestFacts) -> FaultRule | None:
        """The first rule that fires for this request (counting it), if any."""
        for rule in self.rules():
            if not rule.matches(facts):
                continue
            with self._lock:
                draw = self._rng.random()
            if draw < rule.probability and self._store.spend_fault(rule.id):
                return rule
        return None
