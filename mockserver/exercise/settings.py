"""The knobs of an exercise run: time, the arranged faults, and verdict thresholds.

Every field has a default chosen for a client written for the real services
(waits of seconds to minutes) run on a clock 60 times faster than real time.
``--time-scale`` and ``--time-limit`` set the first two; ``--set KEY=VALUE``
any of them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mockserver.exercise.providers import Provider


def _setting(default: object, meaning: str) -> Any:
    return field(default=default, metadata={"help": meaning})


@dataclass(frozen=True)
class Settings:
    time_scale: float = _setting(60.0, "simulated seconds per real second (serve --time-scale)")
    time_limit: float = _setting(
        60.0, "wall-clock seconds a client may run in one scenario before it is killed"
    )
    retry_after: int = _setting(
        30, "Retry-After, in simulated seconds, of the injected errors that carry one"
    )
    latency_ms: int = _setting(3000, "real milliseconds the slow answer is held")
    slow_task_seconds: float = _setting(
        1800.0, "simulated seconds the slow task takes (far beyond a normal one)"
    )
    retry_after_tolerance: float = _setting(
        1.0, "simulated seconds a retry may come before Retry-After has passed"
    )
    rate_limit: str = _setting(
        "documented",
        "pace to keep: documented (the provider's profile.json rate limit on every request, "
        "if it has one), N/SECONDS or off",
    )
    credits: int = _setting(10000, "the exercised account's balance where a scenario sets none")

    def assign(self, assignments: list[str]) -> Settings:
        """A copy with each ``KEY=VALUE`` applied; ValueError naming what is wrong."""
        changes: dict[str, object] = {}
        names = {f.name for f in dataclasses.fields(self)}
        for assignment in assignments:
            key, sep, value = assignment.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in names:
                known = ", ".join(sorted(names))
                raise ValueError(f"--set {assignment!r}: expected KEY=VALUE, KEY one of {known}")
            kind = type(getattr(self, key))
            try:
                changes[key] = kind(value.strip())
            except ValueError as exc:
                raise ValueError(f"--set {key}: {value!r} is not a {kind.__name__}") from exc
        updated = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        updated.validate()
        return updated

    def validate(self) -> None:
        if self.time_scale <= 0 or self.time_limit <= 0:
            raise ValueError("time_scale and time_limit must be > 0")
        if self.retry_after < 1 or self.latency_ms < 1 or self.slow_task_seconds <= 0:
            raise ValueError("retry_after, latency_ms and slow_task_seconds must be > 0")
        if self.rate_limit not in ("documented", "off"):
            _parse_rate(self.rate_limit)

    def rate_limit_for(self, provider: Provider) -> tuple[int, float] | None:
        """The pace a client must keep: (requests, simulated seconds), or None."""
        if self.rate_limit == "documented":
            return provider.rate_limit
        if self.rate_limit == "off":
            return None
        return _parse_rate(self.rate_limit)

    def describe(self) -> dict[str, str]:
        """Each field and its value, for reports."""
        return {f.name: str(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _parse_rate(text: str) -> tuple[int, float]:
    count, sep, seconds = text.partition("/")
    try:
        parsed = int(count), float(seconds)
    except ValueError:
        parsed = (0, 0.0)
    if not sep or parsed[0] < 1 or parsed[1] <= 0:
        raise ValueError(f"rate_limit must be 'documented', 'off' or N/SECONDS, not {text!r}")
    return parsed


def field_help() -> list[tuple[str, str, str]]:
    """(name, default, meaning) of every setting."""
    defaults = Settings()
    return [
        (f.name, str(getattr(defaults, f.name)), str(f.metadata["help"]))
        for f in dataclasses.fields(Settings)
    ]
