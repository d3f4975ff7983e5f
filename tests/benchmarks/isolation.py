"""Does one slow request, or one slow client, hold up anybody else? Two checks
run against a live server after its load measurements.

- ``latency_fault``: a fault rule adds 1 s to one request (``POST /__admin/faults
  {"effect": "latency", "latency_ms": 1000, "times": 1, "path": ...}``, pinned to
  a path of its own so it cannot catch a probe); while that request is held,
  four ordinary GETs go out at once, and the worst of their latencies is the
  figure. A server that serves the held request's neighbours meanwhile answers
  them in milliseconds; one that queues them behind it, in about a second.
- ``slow_clients``: 40 connections each send one byte of a request and then
  nothing; meanwhile 20 ordinary GETs go out at once. The figures: how many were
  answered (within 5 s each), the worst latency, and how many of the 40 the
  server still held open (neither closed nor answered) at the end.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from benchlib import ROOT

if str(ROOT) not in sys.path:  # run as a script (python tests/benchmarks/run.py)
    sys.path.insert(0, str(ROOT))
from tests.reliability.attack_helpers import stalled_connections, still_open

FAULT_LATENCY_MS = 1000
HELD_PATH = "/api/v1/tasks/sd2_held_by_a_latency_fault"
NEIGHBOURS = 4
SLOW_CLIENTS = 40  # five times gunicorn's 8 request threads
PROBES = 20
PROBE_TIMEOUT_S = 5.0
#: a neighbour answered in less than half the fault's latency was not queued behind it
NOT_DELAYED_S = FAULT_LATENCY_MS / 1000 / 2


@dataclass(frozen=True)
class Timed:
    status: int | None  # None: no answer within the timeout
    seconds: float


def timed_get(port: int, path: str, headers: Mapping[str, str], timeout: float) -> Timed:
    """One GET on a fresh connection, and how long its answer took."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=dict(headers))
        response = conn.getresponse()
        response.read()
        return Timed(response.status, time.perf_counter() - started)
    except (OSError, http.client.HTTPException):
        return Timed(None, time.perf_counter() - started)
    finally:
        conn.close()


def _concurrent_gets(port: int, path: str, headers: Mapping[str, str], count: int) -> list[Timed]:
    """``count`` GETs at once (so a starved server costs one timeout, not one each)."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [
            pool.submit(timed_get, port, path, headers, PROBE_TIMEOUT_S) for _ in range(count)
        ]
        return [f.result() for f in futures]


@dataclass(frozen=True)
class LatencyCheck:
    """A latency fault held one request; how long its neighbours took."""

    held_s: float
    held_status: int | None
    answered: int
    worst_s: float
    problem: str = ""

    @property
    def met(self) -> bool:
        return not self.problem and self.answered == NEIGHBOURS and self.worst_s < NOT_DELAYED_S

    def describe(self) -> str:
        if self.problem:
            return self.problem
        return (
            f"held request {self.held_s * 1000:,.0f} ms; {self.answered}/{NEIGHBOURS} others "
            f"answered, worst {self.worst_s * 1000:,.0f} ms"
        )


def _add_fault(port: int, rule: Mapping[str, object]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps(rule)
        conn.request("POST", "/__admin/faults", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def latency_fault(port: int, path: str, headers: Mapping[str, str]) -> LatencyCheck:
    """Hold one request with a 1 s latency fault; time four others sent meanwhile."""
    rule = {"effect": "latency", "latency_ms": FAULT_LATENCY_MS, "times": 1, "path": HELD_PATH}
    status = _add_fault(port, rule)
    if status != 201:
        return LatencyCheck(0, None, 0, 0, f"POST /__admin/faults answered {status}")
    held: list[Timed] = []
    holder = threading.Thread(
        target=lambda: held.append(timed_get(port, HELD_PATH, headers, 10 * PROBE_TIMEOUT_S))
    )
    holder.start()
    time.sleep(0.15)  # real time: let the held request reach the server and take its fault
    others = _concurrent_gets(port, path, headers, NEIGHBOURS)
    holder.join()
    answered = sum(t.status == 200 for t in others)
    return LatencyCheck(held[0].seconds, held[0].status, answered, max(t.seconds for t in others))


@dataclass(frozen=True)
class SlowClientsCheck:
    """Probes answered while 40 connections each sent one byte and stalled."""

    opened: int
    still_held: int
    answered: int
    worst_s: float

    @property
    def met(self) -> bool:
        return self.answered == PROBES

    def describe(self) -> str:
        return (
            f"{self.answered}/{PROBES} probes answered, worst {self.worst_s * 1000:,.0f} ms; "
            f"{self.still_held}/{self.opened} stalled connections still open"
        )


def slow_clients(port: int, path: str, headers: Mapping[str, str]) -> SlowClientsCheck:
    """40 stalled one-byte requests held open while 20 probes are sent at once."""
    with stalled_connections(port, SLOW_CLIENTS, b"G") as held:
        time.sleep(0.3)  # real time: let the server take the stalled connections first
        probes = _concurrent_gets(port, path, headers, PROBES)
        still = sum(still_open(sock) for sock in held)
    answered = sum(t.status == 200 for t in probes)
    return SlowClientsCheck(len(held), still, answered, max(t.seconds for t in probes))
