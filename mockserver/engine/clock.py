"""The one clock every part of the simulator reads.

Nothing else in the simulator calls ``time.time()`` or ``datetime.now()``:
task lifecycles, rate-limit windows, idempotency expiry and webhook retries
all ask this clock, so advancing it moves everything together.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

MODES = ("real", "manual")


def parse_instant(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 instant ("2026-06-03T10:00:00Z")."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_instant(seconds: float, precision: str = "milliseconds") -> str:
    """ISO 8601 UTC with a Z: ``2026-06-03T10:00:00.000Z`` (or whole seconds,
    truncated), milliseconds rounded to the nearest."""
    whole = math.floor(seconds)
    millis = round((seconds - whole) * 1000)
    if millis == 1000 and precision != "seconds":
        whole, millis = whole + 1, 0
    stamp = _second(int(whole))
    return f"{stamp}Z" if precision == "seconds" else f"{stamp}.{millis:03d}Z"


@functools.lru_cache(maxsize=4096)
def _second(whole: int) -> str:
    """``2026-06-03T10:00:00`` (an answer formats up to three instants, mostly
    within the same few seconds: each second is formatted once)."""
    t = time.gmtime(whole)  # converts the given instant; reads no clock
    date = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
    return f"{date}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


@dataclass(frozen=True)
class ClockAnchor:
    """Where simulated time stands: at wall instant ``wall`` it was ``virtual``,
    plus every second advanced since (``offset``)."""

    wall: float
    virtual: float
    offset: float = 0.0


class ClockState(Protocol):
    """Where a clock keeps its anchor: in the process, or in a shared store so
    that every worker of one simulator reads the same time."""

    def read(self) -> ClockAnchor: ...
    def add(self, seconds: float) -> None: ...


class LocalClockState:
    def __init__(self, anchor: ClockAnchor) -> None:
        self._anchor = anchor
        self._lock = threading.Lock()

    def read(self) -> ClockAnchor:
        return self._anchor

    def add(self, seconds: float) -> None:
        with self._lock:
            a = self._anchor
            self._anchor = ClockAnchor(a.wall, a.virtual, a.offset + seconds)


class Clock:
    """Simulated time in seconds since the epoch.

    ``real`` follows the wall clock, ``time_scale`` times as fast (60 = a minute
    per second); ``manual`` stands still until :meth:`advance` is called. Both
    can be advanced; listeners run after every jump so that everything due in
    the skipped span happens before :meth:`advance` returns.
    """

    def __init__(
        self,
        mode: str = "real",
        *,
        time_scale: float = 1.0,
        start: float | None = None,
        wall: Callable[[], float] = time.time,
        sleeper: Callable[[float], None] = time.sleep,
        state: ClockState | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"clock mode must be one of {', '.join(MODES)}, not {mode!r}")
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, not {time_scale}")
        self.mode = mode
        self.time_scale = time_scale
        self._wall = wall
        self._sleep = sleeper
        self._state = state or LocalClockState(self.anchor_for(start, wall))
        self._listeners: list[Callable[[float], None]] = []
        self._pinned = threading.local()

    @staticmethod
    def anchor_for(start: float | None, wall: Callable[[], float] = time.time) -> ClockAnchor:
        """A fresh anchor: now on the wall clock, starting at ``start`` (default: now)."""
        now = wall()
        return ClockAnchor(now, round(now if start is None else start, 3))

    def now(self) -> float:
        """The current simulated instant."""
        pin = self._pinned
        anchor = getattr(pin, "anchor", None)
        if anchor is None:
            anchor = self._state.read()
            if getattr(pin, "active", False):
                pin.anchor = anchor
        if self.mode == "manual":
            return anchor.virtual + anchor.offset
        return anchor.virtual + (self._wall() - anchor.wall) * self.time_scale + anchor.offset

    def iso(self, precision: str = "milliseconds") -> str:
        return format_instant(self.now(), precision)

    def on_advance(self, listener: Callable[[float], None]) -> None:
        """Call ``listener(now)`` after every :meth:`advance`."""
        self._listeners.append(listener)

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Read the anchor once for the caller's thread until the block ends: a
        request reads the shared clock once, not at every ``now()`` (real time
        still passes within it; only jumps by other workers wait for the next).
        It is read at the first ``now()``, with the request's other first reads
        (a Redis store fetches those in one round trip, Backend.read_ahead); a
        store that is away fails that ``now()``."""
        pin = self._pinned
        pin.anchor, pin.active = None, True
        try:
            yield
        finally:
            pin.anchor, pin.active = None, False

    def advance(self, seconds: float) -> float:
        """Jump ``seconds`` ahead, run everything that fell due, return the new now."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._state.add(seconds)
        if getattr(self._pinned, "anchor", None) is not None:
            self._pinned.anchor = self._state.read()
        now = self.now()
        for listener in self._listeners:
            listener(now)
        return now

    def advance_to(self, instant: float) -> float:
        """Jump to ``instant`` (never backwards)."""
        return self.advance(max(0.0, instant - self.now()))

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass for the caller.

        Real clock: a wall-clock sleep of ``seconds / time_scale``. Manual clock:
        returns at once, since time there moves only when advanced.
        """
        if self.mode == "real" and seconds > 0:
            self._sleep(seconds / self.time_scale)
