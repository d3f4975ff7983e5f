"""Flat as it grows: the same server measured with 10 stored tasks, then filled
to 100,000 over HTTP and measured again.

On one ``seedance-mock serve`` (memory store, gunicorn's one worker):

1. nine more submits after the start-up probe: 10 stored tasks; then a median
   of ``GET /__admin/tasks?limit=10`` (a list that returns 10 tasks, whatever
   is stored) and of ``POST /__admin/clock/advance`` by 1 ms (a settle with
   nothing due); then GET status and POST submit at 32 connections;
2. wrk submits at 32 connections in bounded rounds until the account has paid
   for ``count`` tasks; the worker's RSS is read here (the memory figure);
3. the same list, settle, GET and POST measurements again.

The POST run adds the tasks it creates (a few thousand): "10 stored tasks" is
where it starts. Each run's server CPU per request is kept as well, since it
moves far less than req/s when other work shares the machine.
"""

from __future__ import annotations

import http.client
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import (
    HUGE_CREDITS,
    STATUS_PATH,
    SUBMIT_PATH,
    Load,
    Server,
    StartFailed,
    descendants,
    free_port,
    get_json,
    rss_mb,
    run_wrk,
    submit,
    tree_cpu_seconds,
    tree_memory,
)

SMALL = 10
LIST_PATH = "/__admin/tasks?limit=10"
TIMED_CALLS = 30


@dataclass
class Stage:
    """One server at one number of stored tasks."""

    tasks: int = 0
    get32: Load | None = None
    post32: Load | None = None
    get_cpu_us: float | None = None
    post_cpu_us: float | None = None
    list_ms: float | None = None
    settle_ms: float | None = None


@dataclass
class Growth:
    small: Stage = field(default_factory=Stage)
    big: Stage = field(default_factory=Stage)
    fill_seconds: float = 0.0
    idle_rss_mb: float = 0.0
    rss_mb: float = 0.0
    pss_mb: float = 0.0
    problem: str = ""


def _median_ms(port: int, method: str, path: str, body: str | None = None) -> float:
    """The median wall time of ``TIMED_CALLS`` calls on one kept-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"} if body else {}
    times = []
    try:
        for _ in range(TIMED_CALLS):
            started = time.perf_counter()
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{method} {path} answered {response.status}")
            times.append((time.perf_counter() - started) * 1000)
    finally:
        conn.close()
    return statistics.median(times)


def _measure_stage(stage: Stage, server: Server, path: str, seconds: float, tmp: Path) -> None:
    port = server.port
    get_url = f"http://127.0.0.1:{port}{path}"
    post_url = f"http://127.0.0.1:{port}{SUBMIT_PATH}"
    stage.list_ms = _median_ms(port, "GET", LIST_PATH)
    stage.settle_ms = _median_ms(port, "POST", "/__admin/clock/advance", '{"seconds": 0.001}')
    run_wrk(get_url, connections=32, seconds=2, script_dir=tmp)  # warm-up
    cpu = tree_cpu_seconds(server.pid)
    stage.get32 = run_wrk(get_url, connections=32, seconds=seconds, script_dir=tmp)
    if stage.get32.requests:
        stage.get_cpu_us = (tree_cpu_seconds(server.pid) - cpu) / stage.get32.requests * 1e6
    cpu = tree_cpu_seconds(server.pid)
    stage.post32 = run_wrk(post_url, connections=32, seconds=seconds, kind="post",
                           script_dir=tmp, args=[f"g{time.time_ns()}"])  # fmt: skip
    if stage.post32.requests:
        stage.post_cpu_us = (tree_cpu_seconds(server.pid) - cpu) / stage.post32.requests * 1e6


def _fill(port: int, count: int, stored: Callable[[], int], tmp: Path) -> int:
    """Submit over HTTP until ``stored()`` reaches ``count``; the errors seen."""
    started = time.perf_counter()
    rate, errors = 500.0, 0
    while (have := stored()) < count and time.perf_counter() - started < 1200:
        remaining = count - have
        round_started = time.perf_counter()
        load = run_wrk(
            f"http://127.0.0.1:{port}{SUBMIT_PATH}",
            connections=32,
            threads=2,
            seconds=max(2.0, min(15.0, remaining / rate + 1)),
            kind="fill",
            script_dir=tmp,
            args=[f"fill{time.time_ns()}", str(-(-remaining // 2))],
        )
        errors += load.errors
        if load.counted_ok:
            rate = max(50.0, load.counted_ok / (time.perf_counter() - round_started))
    return errors


def grow(server: Server, count: int, seconds: float, tmp: Path) -> Growth:
    """The small stage, the fill to ``count`` stored tasks, the big stage (see the module)."""
    result = Growth()
    server.start()
    try:
        _, first = server.wait_ready()
        port = server.port
        price = int(first.get("credits_used") or 30)
        workers = [p for p in descendants(server.pid) if p != server.pid]
        if len(workers) != 1:
            result.problem = f"expected one gunicorn worker, found {len(workers)}"
            return result
        worker = workers[0]

        def stored() -> int:
            account = get_json(port, "/__admin/accounts/seedance2ai/bench")
            return int((HUGE_CREDITS - int(account["credits"])) // price)

        while stored() < SMALL:
            submit(port)
        result.idle_rss_mb = rss_mb(worker)
        path = STATUS_PATH.format(id=first.get("id") or "sd2_gS4TQrBffY8E")
        result.small.tasks = stored()
        _measure_stage(result.small, server, path, seconds, tmp)
        started = time.perf_counter()
        errors = _fill(port, count, stored, tmp)
        result.fill_seconds = time.perf_counter() - started
        result.big.tasks = stored()
        if errors:
            result.problem = f"{errors} non-2xx answers or socket errors while filling"
        result.rss_mb = rss_mb(worker)
        result.pss_mb = tree_memory(server.pid).pss_mb
        _measure_stage(result.big, server, path, seconds, tmp)
    except (StartFailed, RuntimeError, OSError, ValueError, KeyError) as exc:
        result.problem = f"failed: {exc}"
    finally:
        server.stop()
    return result


def build_default_server(argv: list[str], tmp: Path, env: dict[str, str], cwd: Path) -> Server:
    """``seedance-mock serve`` on a free port (``argv`` without --port)."""
    port = free_port()
    return Server("simulator-growth", [*argv, "--port", str(port)], port, env=env, cwd=cwd,
                  log_dir=tmp)  # fmt: skip
