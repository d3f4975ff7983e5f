"""How a target is treated: how time passes for it, how fast it may be called,
and how many credits the suite may spend on it.

On a simulator, waiting advances its clock (a test never sleeps); on a live
service it is a real sleep. The budget is unlimited where the suite minted the
accounts, and a hard limit where the credits are real.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Mapping
from typing import Any, Protocol

import pytest

from contracts.controls import Controls
from contracts.dialect import Body
from mockserver.spec import Operation, ProviderSpec
from mockserver.spec.formats import CUSTOM_FORMATS

#: the longest Retry-After the suite waits out before giving up
MAX_WAIT_SECONDS = 300.0


class TargetTime(Protocol):
    """The passing of time as the target sees it."""

    def now(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class WallTime:
    """A real service: time passes by itself; waiting is sleeping."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class SimulatorTime:
    """A simulator: waiting advances its clock (never a sleep in a test)."""

    def __init__(self, controls: Controls) -> None:
        self._controls = controls
        clock = controls.clock()
        self._scale = float(clock.get("time_scale", 1.0)) if clock.get("mode") == "real" else 0.0
        self._started = time.monotonic()
        self._advanced = 0.0

    def now(self) -> float:
        return self._advanced + (time.monotonic() - self._started) * self._scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._controls.advance(seconds)
            self._advanced += seconds


class Pacer:
    """Keeps each account under its documented rate limits (unless ``limits`` is
    False), and waits out Retry-After."""

    def __init__(self, clock: TargetTime, limits: bool = True) -> None:
        self.clock = clock
        self.limits = limits
        self._sent: dict[tuple[str, ...], collections.deque[float]] = {}

    def before(self, spec: ProviderSpec, account: str, operation: Operation) -> None:
        """Wait until one more request of ``operation`` fits every paced window."""
        for rule in spec.profile.rate_limits if self.limits else ():
            if not _counted(rule.counts, operation):
                continue
            sent = self._sent.setdefault((spec.name, account, rule.name), collections.deque())
            while sent and sent[0] <= self.clock.now() - rule.window_seconds:
                sent.popleft()
            if len(sent) >= rule.limit:
                self.clock.sleep(sent[0] + rule.window_seconds - self.clock.now() + 0.5)
                sent.popleft()
            sent.append(self.clock.now())

    def retry_after(self, value: str | None) -> None:
        """Wait as long as a refusal's Retry-After asked (at least a second)."""
        try:
            seconds = float(value or 1)
        except ValueError:
            seconds = 1.0
        self.clock.sleep(min(MAX_WAIT_SECONDS, max(1.0, math.ceil(seconds))))


def _counted(counts: str, operation: Operation) -> bool:
    """Whether a rule counting ``counts`` counts this request in a way the pacer
    can foresee; other rules (media validations) are met with Retry-After."""
    return counts == "every_operation" or (counts == "submissions" and operation.body is not None)


class Budget:
    """The credits the suite may spend: None is unlimited (the simulator's own
    accounts); a number is a hard limit (real credits)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.spent = 0
        self.stopped: str | None = None

    @property
    def limited(self) -> bool:
        return self.limit is not None

    def remaining(self) -> float:
        return math.inf if self.limit is None else self.limit - self.spent

    def reserve(self, credits: int, what: str) -> None:
        """Count ``credits`` as spent, or skip the test when they would break the budget."""
        if credits > self.remaining():
            self.stopped = self.stopped or (
                f"stopped paid calls: {what} may cost {credits} credits and "
                f"{self.spent} of the {self.limit} allowed are spent"
            )
            pytest.skip(f"{self.stopped}; raise --max-credits to run it")
        self.spent += credits

    def release(self, credits: int) -> None:
        """Give back a reservation the server did not charge (the request was refused)."""
        self.spent -= credits

    def shape(self, spec: ProviderSpec, definition: str, body: Body, keep: set[str]) -> Body:
        """With a limit, ``body`` in the cheapest configuration that changes nothing
        else about it (same violations, ``keep`` fields untouched)."""
        if self.limit is None:
            return body
        validator = spec.validator(definition)
        before = validator.violations(body)
        fitting: list[tuple[int, Body]] = []
        for combo in _combinations(spec):
            shaped = {**body, **{k: v for k, v in combo.items() if k not in keep}}
            price = _price(spec, {**validator.defaults(), **shaped})
            if price is not None and validator.violations(shaped) == before:
                fitting.append((price, shaped))
        return min(fitting, key=lambda pair: pair[0])[1] if fitting else body


def _combinations(spec: ProviderSpec) -> list[Mapping[str, Any]]:
    """Every combination of the priced fields the price table knows."""
    submit = next(op for op in spec.operations.values() if op.body)
    return [combo for combo, _price in spec.price_grid(submit.name)]


def _price(spec: ProviderSpec, params: Body) -> int | None:
    try:
        return spec.price(params).credits
    except (LookupError, ValueError, TypeError):
        return None


#: reserved for documentation (RFC 2606): never a third party's server
RESERVED_HOST = "example.com"


def on_reserved_hosts(spec: ProviderSpec, definition: str, body: Body) -> Body:
    """``body`` with the host of every URL field moved to example.com, so a live
    service is never sent to fetch from (or call back) a real third party.
    A field whose move would change what the body breaks is left alone."""
    validator = spec.validator(definition)
    before = validator.violations(body)
    moved = dict(body)
    for name, value in body.items():
        if _url_field(spec, definition, name):
            candidate = {**moved, name: _rehost(value)}
            if validator.violations(candidate) == before:
                moved = candidate
    return moved


def _url_field(spec: ProviderSpec, definition: str, name: str) -> bool:
    """Whether the schema gives field ``name`` (or its items) a URL format."""
    schema = spec.validator(definition).schema.get("properties", {}).get(name, {})
    for sub in (schema, schema.get("items", {})):
        ref = sub.get("$ref", "")
        resolved = spec.schema["$defs"][ref.rsplit("/", 1)[-1]] if ref else sub
        if {sub.get("format"), resolved.get("format")} & set(CUSTOM_FORMATS):
            return True
    return False


def _rehost(value: Any) -> Any:
    if isinstance(value, list):
        return [_rehost(v) for v in value]
    if isinstance(value, str) and "://" in value:
        scheme, _, rest = value.partition("://")
        path = rest.partition("/")[2]
        return f"{scheme}://{RESERVED_HOST}/{path}"
    return value
