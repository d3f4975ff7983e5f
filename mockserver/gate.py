"""One request at a time in a worker's Python, however many threads it has.

Under a server that hands requests to several threads (granian's blocking
threads), requests that all want the CPU only contend for the GIL: each one
takes several times longer and the tail latency explodes. The gate lets one
request run at a time, and a request that waits (an injected latency fault, a
create latency of the observed profile, a first render of a large video, the
webhooks of a clock advance) opens the gate while it waits, so the worker's
other threads serve everyone else meanwhile. granian's threads always pass the
gate, gunicorn's on an SQLite store (serve.build_app says why); elsewhere
(gunicorn on another store, in-process) it is never closed and ``waiting``
costs nothing.

A server that runs requests on its event loop's own thread (gunicorn's
EnvelopeWorker) registers a hand-over with ``on_wait``: a request about to wait
calls it first, so the loop goes on in another thread while this one waits.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: what a request about to wait calls first (see on_wait): at most one per process
_HAND_OVER: list[Callable[[], None]] = []


def on_wait(hand_over: Callable[[], None] | None) -> None:
    """Have every request of this process call ``hand_over`` before it waits
    (a server's worker sets it once; None removes it)."""
    _HAND_OVER[:] = [hand_over] if hand_over is not None else []


def before_waiting() -> None:
    """Tell the server that the current request is about to wait."""
    for hand_over in _HAND_OVER:
        hand_over()


class Gate:
    def __init__(self, on_wait: Callable[[], None] | None = None) -> None:
        """``on_wait``: what the current thread does before it waits (the
        runtime's store stops reading ahead: what it fetched would be stale)."""
        self._lock = threading.Lock()
        self._holder = threading.local()
        self._on_wait = on_wait

    def serialize(self, app: WSGIApp) -> WSGIApp:
        """``app`` behind the gate (its response body is sent outside it)."""

        def gated(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            with self._lock:
                self._holder.inside = True
                try:
                    return app(environ, start_response)
                finally:
                    self._holder.inside = False

        return gated

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Open the gate while the current request waits for something."""
        before_waiting()
        if self._on_wait is not None:
            self._on_wait()
        if not getattr(self._holder, "inside", False):
            yield
            return
        self._holder.inside = False
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._holder.inside = True

    def sleep(self, seconds: float) -> None:
        """``time.sleep`` with the gate open."""
        import time

        with self.waiting():
            time.sleep(seconds)
