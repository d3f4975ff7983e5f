"""``make bench``: the simulator against its peers, measured in one run on one machine.

Starts each server, times it to its first successful request, drives it over
loopback with wrk for a bounded time, reads its memory, stops it, and prints a
Markdown table, the ratios and every target of the "Speed" issue marked met or
not met (also written to tests/benchmarks/last-run.md). See tests/benchmarks/README.md.

Rows:
- the simulator on each serving option (``seedance-mock serve``: gunicorn with
  its EnvelopeWorker, as users run it; ``--server granian`` with its 4 threads
  and with ``--threads 1``; gunicorn sync workers; waitress), on the memory
  store, each also checked for a latency fault or slow clients holding up
  others; and on the sqlite and redis stores with 1 and 2 workers;
- the scale-out ceiling: the memory store in 2 gunicorn workers, each with its
  own state (plans.ceiling_plan): what 2 workers can serve on this machine with
  nothing shared;
- a one-route Flask app (wsgi_apps.flask) on each serving option: the
  framework's ceiling; and a bare WSGI app (wsgi_apps.bare): the stack's;
- one server filled from 10 to 100,000 stored tasks (growth.py);
- Stoplight Prism mocking ``seedance-mock openapi --provider seedance2ai``, and
  WireMock with static stubs (wiremock/mappings), each as users run it and in
  its fastest documented configuration. A peer that cannot be installed or
  started is skipped, and the report says so.

The simulator runs with ``--clock manual``, a huge credit balance and its rate
limits lifted (``--set seedance2ai.rate_limits.*.limit=1000000000``): this
measures the server, not the limiter (30 requests / 60 s would answer 429).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import (
    HERE,
    PEERS,
    PYDEPS,
    ROOT,
    SIM_KEY,
    STATUS_PATH,
    SUBMIT_PATH,
    VENV_BIN,
    Server,
    StartFailed,
    command_version,
    free_port,
    get_json,
    pythonpath_env,
    run_wrk,
    tree_cpu_seconds,
    tree_memory,
    write_accounts,
    wrk_path,
)
from growth import Growth, build_default_server, grow
from isolation import latency_fault, slow_clients
from plans import Context, plan_rows, redis_problem, sim_flags
from report import CEILING_CONFIG, Plan, Results, Row, render

# --- measuring -------------------------------------------------------------------------


def startup_times(plan: Plan, ctx: Context, count: int) -> list[float]:
    """Seconds from spawn to the first successful request, for ``count`` fresh starts."""
    times = []
    for _ in range(count):
        server: Server = plan.build(free_port(), ctx.tmp)
        server.start()
        try:
            times.append(server.wait_ready()[0])
        finally:
            server.stop()
    return times


def measure(plan: Plan, ctx: Context) -> Row:
    row = Row(plan)
    ctx.log(f"→ {plan.name}")
    try:
        # start-up is the median of several starts: one start is one noisy sample
        startups = startup_times(plan, ctx, ctx.starts - 1)
    except StartFailed as exc:
        row.skipped = f"did not start: {exc}"
        ctx.log(f"  skipped: {row.skipped}")
        return row
    port = free_port()
    server: Server = plan.build(port, ctx.tmp)
    server.start()
    try:
        try:
            startup, first = server.wait_ready()
        except StartFailed as exc:
            row.skipped = f"did not start: {exc}"
            ctx.log(f"  skipped: {row.skipped}")
            return row
        row.startup_s = statistics.median([*startups, startup])
        path = STATUS_PATH.format(id=_status_id(plan, port, first))
        _drive(row, server, path, ctx)
        if plan.group == "simulator" and plan.store == "memory" and plan.workers == 1:
            _isolation(row, port, path, ctx)
        _log_row(row, ctx)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        row.skipped = f"measurement failed: {exc}"
        ctx.log(f"  failed: {exc}")
    finally:
        server.stop()
    return row


def _status_id(plan: Plan, port: int, first: dict[str, Any]) -> str:
    """The task the GETs poll: the start-up probe's; on the ceiling row, whose
    workers each hold their own tasks, the first task of every worker (the same
    id in each, see wsgi_apps.simulator_own_state), the oldest of what one lists."""
    if plan.config == CEILING_CONFIG:
        tasks = get_json(port, "/__admin/tasks")["tasks"]
        return str(tasks[-1]["id"])
    return str(first.get("id") or "sd2_gS4TQrBffY8E")


def _drive(row: Row, server: Server, path: str, ctx: Context) -> None:
    """Warm-up, then GET at 1 and 32 connections and POST at 32; memory after."""
    base = f"http://127.0.0.1:{server.port}"
    get_url, post_url = base + path, base + SUBMIT_PATH
    warmup = row.plan.warmup_s
    if warmup > 10:
        ctx.log(f"  warm-up {warmup:.0f} s (GET, then POST, at 32 connections)")
        run_wrk(get_url, connections=32, seconds=warmup * 2 / 3, script_dir=ctx.tmp)
        run_wrk(post_url, connections=32, seconds=warmup / 3, kind="post", script_dir=ctx.tmp,
                args=[f"w{time.time_ns()}"])  # fmt: skip
    else:
        run_wrk(get_url, connections=32, seconds=warmup, script_dir=ctx.tmp)
    row.get1 = run_wrk(get_url, connections=1, seconds=ctx.duration, script_dir=ctx.tmp)
    cpu = tree_cpu_seconds(server.pid)
    row.get32 = run_wrk(get_url, connections=32, seconds=ctx.duration, script_dir=ctx.tmp)
    if row.get32.requests:
        row.cpu_us = (tree_cpu_seconds(server.pid) - cpu) / row.get32.requests * 1e6
    if row.plan.post:
        row.post32 = run_wrk(post_url, connections=32, seconds=ctx.duration, kind="post",
                             script_dir=ctx.tmp, args=[f"r{time.time_ns()}"])  # fmt: skip
    row.memory = tree_memory(server.pid)
    for label, load in (("GET c1", row.get1), ("GET c32", row.get32), ("POST", row.post32)):
        if load is not None and load.errors:
            row.notes.append(f"{label}: {load.non2xx} non-2xx, {load.socket_errors} errors")


def _log_row(row: Row, ctx: Context) -> None:
    assert row.get1 is not None
    assert row.get32 is not None
    assert row.memory is not None
    ctx.log(
        f"  start-up {row.startup_s:.2f} s · GET c1 {row.get1.rps:,.0f}/s · GET c32 "
        f"{row.get32.rps:,.0f}/s p99 {row.get32.p99_ms:.1f} ms"
        + (f" · POST c32 {row.post32.rps:,.0f}/s p99 {row.post32.p99_ms:.1f} ms"
           if row.post32 else "")
        + f" · PSS {row.memory.pss_mb:.0f} MB"
    )  # fmt: skip
    if row.latency is not None and row.slow is not None:
        ctx.log(f"  latency fault: {row.latency.describe()}")
        ctx.log(f"  slow clients: {row.slow.describe()}")


def _isolation(row: Row, port: int, path: str, ctx: Context) -> None:
    """The latency-fault and slow-client checks (isolation.py), last: a server
    that fails them may stay stuck for a while."""
    ctx.log("  latency fault and slow clients")
    headers = {"Authorization": f"Bearer {SIM_KEY}"}
    row.latency = latency_fault(port, path, headers)
    row.slow = slow_clients(port, path, headers)


def growth(ctx: Context, count: int) -> Growth:
    """10, then ``count`` stored tasks on one seedance-mock serve (growth.py)."""
    ctx.log(f"→ 10, then {count:,} stored tasks (seedance-mock serve, memory store)")
    # the limiter's log kept empty: this measures stored tasks, not admissions (see
    # the limiter rows and bench_inprocess.py for those)
    argv = [str(VENV_BIN / "seedance-mock"), "serve", *sim_flags(ctx, "memory", True)]
    server = build_default_server(argv, ctx.tmp, pythonpath_env(), ROOT)
    result = grow(server, count, ctx.duration, ctx.tmp)
    for stage in (result.small, result.big):
        if stage.get32 and stage.post32:
            ctx.log(
                f"  {stage.tasks:,} tasks: GET c32 {stage.get32.rps:,.0f}/s, POST c32 "
                f"{stage.post32.rps:,.0f}/s, list {stage.list_ms or 0:.1f} ms, "
                f"settle {stage.settle_ms or 0:.1f} ms"
            )
    ctx.log(f"  worker RSS {result.idle_rss_mb:.0f} → {result.rss_mb:.0f} MB {result.problem}")
    return result


def in_process(ctx: Context, seconds: float) -> dict[str, Any]:
    ctx.log("→ in-process round trips and fresh simulators")
    done = subprocess.run(
        [sys.executable, str(HERE / "bench_inprocess.py"), "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=pythonpath_env(),
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        return {"error": " ".join((done.stderr or done.stdout).strip().splitlines()[-1:])}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    ctx.log(f"  {result}")
    return result


def contract_suite(ctx: Context) -> tuple[str, float | None]:
    if not (ROOT / "contracts").is_dir():
        return "not yet available (no contracts/)", None
    ctx.log("→ contract suite (pytest contracts)")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "contracts", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
        check=False,
    )
    elapsed = time.perf_counter() - started
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1].strip("= ")
    ctx.log(f"  {summary} ({elapsed:.1f} s)")
    if done.returncode == 5:
        return f"not yet available (pytest collected no tests: {summary})", None
    if done.returncode != 0:
        return f"ran, but failed (exit {done.returncode}: {summary})", elapsed
    return summary, elapsed


# --- environment -------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": cpu,
        "memory": f"{memory:.0f} GiB",
        "kernel": platform.release(),
        "load average at the start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {"python": platform.python_version()}
    for name in ("seedance-mock", "flask", "werkzeug", "gunicorn"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    found["granian"] = command_version(
        [sys.executable, "-m", "granian", "--version"], pythonpath_env()
    )
    waitress = sorted(PYDEPS.glob("waitress-*.dist-info"))
    found["waitress"] = (
        waitress[-1].name.removesuffix(".dist-info").split("-")[1] if waitress else "absent"
    )
    found["wrk"] = command_version([wrk_path() or "wrk", "--version"]).split(" Copyright")[0]
    found["node"] = command_version(["node", "--version"])
    found["java"] = command_version(["java", "-version"])
    for label, package in (
        ("@stoplight/prism-cli", "@stoplight/prism-cli"),
        ("wiremock (npm package bundling the standalone jar)", "wiremock"),
    ):
        path = PEERS / package / "package.json"
        found[label] = json.loads(path.read_text())["version"] if path.exists() else "absent"
    found["redis-server"] = (
        command_version(["redis-server", "--version"]) if shutil.which("redis-server") else "absent"
    )
    return found


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=4.0, help="seconds per measurement (default 4)"
    )
    parser.add_argument(
        "--starts", type=int, default=3, help="starts per server; start-up is their median"
    )
    parser.add_argument(
        "--wiremock-warmup",
        type=float,
        default=30.0,
        help="seconds of load before WireMock is measured (default 30)",
    )
    parser.add_argument(
        "--tasks",
        type=int,
        default=100_000,
        help="stored tasks for the memory and growth figures (default 100000)",
    )
    parser.add_argument(
        "--only",
        help="regular expression: measure only the matching rows "
        "(and skip the memory, in-process and contract figures)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=[
            "peers",
            "wiremock",
            "granian",
            "sync",
            "waitress",
            "redis",
            "sqlite",
            "limiter",
            "ceiling",
            "fill",
            "inprocess",
            "contracts",
        ],
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "last-run.md",
        help="where the report is written (default tests/benchmarks/last-run.md)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # a SIGTERM (from `timeout`, say) unwinds like Ctrl-C, so every server is stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if wrk_path() is None:
        Context.log("wrk is not installed: run `make bench-deps` (apt-get install wrk)")
        return 2
    given = sys.argv[1:] if argv is None else argv
    command = "make bench" + (f' ARGS="{shlex.join(given)}"' if given else "")
    info = {"machine": machine(), "versions": versions()}
    skipped: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seedance-bench-") as tmp_name:
        tmp = Path(tmp_name)
        ctx = Context(
            tmp, write_accounts(tmp), args.duration, args.wiremock_warmup, max(1, args.starts)
        )
        redis: subprocess.Popen[bytes] | None = None
        if "redis" not in args.skip and redis_problem() is None:
            ctx.redis_port = free_port()
            redis = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(ctx.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            time.sleep(0.5)
        try:
            plans = plan_rows(args, ctx, skipped)
            if args.only:
                plans = [p for p in plans if re.search(args.only, p.name)]
            rows = [measure(plan, ctx) for plan in plans]
        finally:
            if redis is not None:
                redis.terminate()
                redis.wait(timeout=10)
        skipped += [f"{row.name}: {row.skipped}" for row in rows if row.skipped]
        whole = not args.only
        fill = growth(ctx, args.tasks) if whole and "fill" not in args.skip else None
        inproc = in_process(ctx, args.duration) if whole and "inprocess" not in args.skip else None
        contracts = contract_suite(ctx) if whole and "contracts" not in args.skip else None

    results = Results(rows, fill, inproc, contracts, info, command, skipped)
    text = render(results) + f"Whole run: {time.perf_counter() - started:.0f} s\n"
    print(text)
    if whole:
        args.out.write_text(text, encoding="utf-8")
        Context.log(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
