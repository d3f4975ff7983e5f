"""The settings every in-process test simulator starts from: a manual clock at
the documents' example instant, a fixed seed, and no background thread (tests
move time with ``runtime.clock.advance``)."""

from __future__ import annotations

from typing import Any

from mockserver.config import Config

EXAMPLE_START = "2026-06-03T10:00:00Z"


def simulator_config(**changes: Any) -> Config:
    """Those settings, with ``changes``."""
    base: dict[str, Any] = {
        "clock": "manual",
        "seed": 1234,
        "background": False,
        "clock_start": EXAMPLE_START,
    }
    return Config(**{**base, **changes})
