"""``make bench-soak``: is the simulator's memory flat under full load for 10 minutes?

Starts ``seedance-mock serve`` (memory store, real clock sped up by
``--time-scale``) with short task retention and idempotency TTL, so expiry has
to keep up; submits at 32 connections for the whole soak (wrk, distinct
idempotency keys); and samples the gunicorn worker's RSS every ``--interval``
seconds. Memory is flat when the last sample is within 10% of the one taken
half-way (RSS first climbs to a plateau: the live set plus the allocator's
reusable free space).
The first task submitted is read back at the end: 404 shows expiry ran.

    .venv/bin/python tests/benchmarks/bench_soak.py [--minutes 10] [--interval 30]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (
    LIFTED_LIMITS,
    ROOT,
    SIM_KEY,
    STATUS_PATH,
    SUBMIT_PATH,
    VENV_BIN,
    Server,
    descendants,
    free_port,
    parse_wrk,
    pythonpath_env,
    rss_mb,
    write_accounts,
    wrk_command,
)


def status_of(port: int, task_id: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "GET", STATUS_PATH.format(id=task_id), headers={"Authorization": f"Bearer {SIM_KEY}"}
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument(
        "--retention", type=float, default=300.0, help="simulated seconds tasks are kept"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with tempfile.TemporaryDirectory(prefix="seedance-soak-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        argv = [
            str(VENV_BIN / "seedance-mock"), "serve", "--port", str(port),
            "--clock", "real", "--time-scale", str(args.time_scale),
            "--accounts", str(write_accounts(tmp)), *LIFTED_LIMITS,
            "--set", f"seedance2ai.retention.task_seconds={args.retention}",
            "--set", f"seedance2ai.idempotency.ttl_seconds={args.retention}",
        ]  # fmt: skip
        server = Server("soak", argv, port, env=pythonpath_env(), cwd=ROOT, log_dir=tmp)
        server.start()
        load: subprocess.Popen[str] | None = None
        try:
            startup, first = server.wait_ready()
            workers = [p for p in descendants(server.pid) if p != server.pid]
            worker = workers[0]
            seconds = args.minutes * 60
            print(
                f"seedance-mock serve (memory store, time-scale {args.time_scale:g}, task "
                f"retention and idempotency TTL {args.retention:g} simulated s = "
                f"{args.retention / args.time_scale:g} real s); started in {startup:.2f} s; "
                f"POST at 32 connections for {args.minutes:g} min",
                flush=True,
            )
            command = wrk_command(
                f"http://127.0.0.1:{port}{SUBMIT_PATH}",
                connections=32,
                seconds=seconds,
                kind="post",
                script_dir=tmp,
                args=[f"soak{time.time_ns()}"],
            )
            started = time.perf_counter()
            load = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            samples: list[tuple[float, float]] = [(0.0, rss_mb(worker))]
            print("| elapsed s | worker RSS MB |\n|--:|--:|")
            print(f"| 0 | {samples[0][1]:.1f} |", flush=True)
            while (elapsed := time.perf_counter() - started) < seconds:
                time.sleep(min(args.interval, seconds - elapsed))
                samples.append((time.perf_counter() - started, rss_mb(worker)))
                print(f"| {samples[-1][0]:.0f} | {samples[-1][1]:.1f} |", flush=True)
            out, err = load.communicate(timeout=120)
            result = parse_wrk(out, err)
            expired = status_of(port, str(first.get("id")))
        finally:
            if load is not None and load.poll() is None:
                load.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    load.wait(timeout=10)
            server.stop()

    # Python's allocator keeps freed arenas for reuse, so RSS climbs to a plateau
    # (live set plus fragmentation) first; "flat" is judged over the second half.
    half = samples[-1][0] / 2
    second = [(at, rss) for at, rss in samples if at >= half]
    base, last = second[0][1], samples[-1][1]
    minutes = (second[-1][0] - second[0][0]) / 60
    slope = (last - base) / minutes if minutes else 0.0
    flat = last <= base * 1.10
    print(
        f"\n{result.requests - result.non2xx:,} submits accepted ({result.rps:,.0f}/s, "
        f"p99 {result.p99_ms:.1f} ms, {result.errors} errors); the first task now answers "
        f"{expired} ({'expired' if expired == 404 else 'NOT expired'})"
    )
    print(
        f"worker RSS over the second half: {base:.1f} → {last:.1f} MB "
        f"({100 * (last - base) / base:+.1f}%, {slope:+.2f} MB/min): "
        f"{'flat (met)' if flat else 'growing (not met)'}; peak {max(r for _, r in samples):.1f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
