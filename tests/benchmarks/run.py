"""``make bench``: the simulator against its peers, measured in one run on one machine.

Starts each server, times it to its first successful request, drives it over
loopback with wrk for a bounded time, reads its memory, stops it, and prints a
Markdown table, the ratios and every target of issue #7 marked met or not met
(also written to tests/benchmarks/last-run.md). See tests/benchmarks/README.md.

Rows:
- the simulator on gunicorn gthread (``seedance-mock serve``, as users run it),
  gunicorn sync workers and granian, on each store, with 1 and 2 workers;
- a bare WSGI app (wsgi_apps.bare) on each of those servers: the stack's ceiling;
  and a one-route Flask app (wsgi_apps.flask): the framework's ceiling;
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
import importlib.util
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import (
    HERE,
    HUGE_CREDITS,
    LIFTED_LIMITS,
    PEERS,
    PYDEPS,
    ROOT,
    STATUS_PATH,
    SUBMIT_PATH,
    VENV_BIN,
    Server,
    StartFailed,
    command_version,
    descendants,
    free_port,
    get_json,
    pythonpath_env,
    rss_mb,
    run_wrk,
    tree_cpu_seconds,
    tree_memory,
    write_accounts,
    wrk_path,
)
from report import GRANIAN, GTHREAD, SYNC, Fill, Plan, Results, Row, render

#: granian serves WSGI from a pool of blocking threads; one per worker measured
#: fastest here (the GIL serialises the Python work; more threads only contend),
#: and `seedance-mock serve --server granian` uses one too
GRANIAN_THREADS = 1
GUNICORN_THREADS = 16  # seedance-mock serve's default

#: Prism's performance-relevant flags from `prism mock --help`: no CORS headers, no
#: violation errors, no per-request log lines; and --multiprocess ("forks the http
#: server from the CLI for faster log processing"), measured with and without, since
#: with logging silenced it can cost more than it saves
PRISM_FAST = ("--cors", "false", "--errors", "false", "-v", "silent")
PRISM_FAST_MP = ("--multiprocess", *PRISM_FAST)
#: WireMock's documented switches for load: no request journal, no request
#: logging ("useful when performance testing"), no gzip, no templating, async responses
WIREMOCK_FAST = (
    "--no-request-journal",
    "--disable-request-logging",
    "--disable-banner",
    "--disable-gzip",
    "--disable-response-templating",
    "--async-response-enabled",
    "true",
)


@dataclass
class Context:
    tmp: Path
    accounts: Path
    duration: float
    wiremock_warmup: float
    starts: int = 3
    openapi: Path | None = None
    redis_port: int | None = None
    redis_db: Iterator[int] = field(default_factory=lambda: iter(range(1, 16)))

    @staticmethod
    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)


# --- plans -----------------------------------------------------------------------------


def _store_url(store: str, ctx: Context, name: str) -> str:
    if store == "memory":
        return "memory"
    if store == "sqlite":
        safe = re.sub(r"\W+", "-", name)
        return f"sqlite:{ctx.tmp / (safe + '.db')}"
    return f"redis://127.0.0.1:{ctx.redis_port}/{next(ctx.redis_db)}"


def _sim_flags(ctx: Context, store_url: str) -> list[str]:
    return [
        "--clock",
        "manual",
        "--accounts",
        str(ctx.accounts),
        *LIFTED_LIMITS,
        "--store",
        store_url,
    ]


def _gunicorn(port: int, workers: int, worker_class: str, app: str) -> list[str]:
    """gunicorn with the settings of mockserver/serve.py."""
    argv = [str(VENV_BIN / "gunicorn"), "-k", worker_class, "-w", str(workers)]
    if worker_class == "gthread":
        argv += ["--threads", str(GUNICORN_THREADS)]
    return [
        *argv,
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--timeout",
        "120",
        "--graceful-timeout",
        "5",
        app,
    ]


def _granian(port: int, workers: int, app: str) -> list[str]:
    return [
        str(VENV_BIN / "python"),
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(GRANIAN_THREADS),
        "--runtime-threads",
        "1",
        "--http",
        "1",
        "--no-ws",
        "--log-level",
        "warning",
        app,
    ]


def simulator_plan(ctx: Context, server: str, store: str, workers: int) -> Plan:
    label = {
        GTHREAD: "seedance-mock serve (gunicorn gthread)",
        GRANIAN: "seedance-mock serve --server granian",
    }.get(server, server)
    name = f"simulator · {label} · {store} · {workers}w"

    flags = _sim_flags(ctx, _store_url(store, ctx, name))  # one store per row, every start

    def build(port: int, tmp: Path) -> Server:
        if server in (GTHREAD, GRANIAN):  # as users run it
            argv = [
                str(VENV_BIN / "seedance-mock"),
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
                *(["--server", "granian"] if server == GRANIAN else []),
                *flags,
            ]
            return Server(name, argv, port, env=pythonpath_env(), cwd=ROOT, log_dir=tmp)
        env = pythonpath_env({"SEEDANCE_BENCH_ARGS": shlex.join(flags)})
        argv = _gunicorn(port, workers, "sync", "wsgi_apps:simulator")
        return Server(name, argv, port, env=env, cwd=HERE, log_dir=tmp)

    return Plan(name, "simulator", server, store, workers, "default", build)


def bare_plan(server: str, workers: int, app: str = "bare") -> Plan:
    """The bare WSGI callable (or, with app="flask", a one-route Flask app)."""
    label = "bare WSGI" if app == "bare" else "minimal Flask route"
    name = f"{label} · {server} · {workers}w"

    def build(port: int, tmp: Path) -> Server:
        if server == GRANIAN:
            argv = _granian(port, workers, f"wsgi_apps:{app}")
        else:
            kind = "gthread" if server == GTHREAD else "sync"
            argv = _gunicorn(port, workers, kind, f"wsgi_apps:{app}")
        return Server(name, argv, port, env=pythonpath_env(), cwd=HERE, log_dir=tmp)

    return Plan(name, app, server, "-", workers, "default", build, post=False)


def prism_plan(ctx: Context, flags: tuple[str, ...]) -> Plan:
    config = "fastest" if flags else "default"
    name = f"Prism · {config} ({' '.join(flags) or 'no flags'})"

    def build(port: int, tmp: Path) -> Server:
        assert ctx.openapi is not None
        argv = [str(PEERS / ".bin" / "prism"), "mock", str(ctx.openapi), "-p", str(port), *flags]
        return Server(name, argv, port, cwd=tmp, log_dir=tmp)

    return Plan(name, "prism", "prism (node)", "-", 1, config, build)


def wiremock_plan(ctx: Context, fastest: bool) -> Plan:
    config = "fastest" if fastest else "default"
    name = f"WireMock · {config} ({' '.join(WIREMOCK_FAST) if fastest else 'no flags'})"

    def build(port: int, tmp: Path) -> Server:
        root = tmp / f"wiremock-{config}"
        shutil.copytree(HERE / "wiremock", root, dirs_exist_ok=True)
        (root / "__files").mkdir(exist_ok=True)
        argv = [str(PEERS / ".bin" / "wiremock"), "--port", str(port), "--root-dir", str(root)]
        # loopback only, in both configurations (WireMock binds every interface by default)
        argv += ["--bind-address", "127.0.0.1"]
        argv += list(WIREMOCK_FAST) if fastest else []
        return Server(name, argv, port, cwd=tmp, log_dir=tmp)

    return Plan(
        name, "wiremock", "wiremock (jetty)", "-", 1, config, build, warmup_s=ctx.wiremock_warmup
    )


def redis_problem() -> str | None:
    """Why the redis rows cannot run, or None."""
    if importlib.util.find_spec("mockserver.engine.store.redis") is None:
        return "the redis store (mockserver/engine/store/redis.py) is not there yet"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (make bench-deps installs it)"
    return None


def _server_plans(args: argparse.Namespace, ctx: Context, skipped: list[str]) -> list[Plan]:
    servers = [GTHREAD]
    if "sync" not in args.skip:
        servers.append(SYNC)
    if "granian" in args.skip:
        pass
    elif importlib.util.find_spec("granian") or (PYDEPS / "granian").exists():
        servers.append(GRANIAN)
    else:
        skipped.append("granian rows: granian is not installed (make bench-deps)")
    stores = [("memory", 1)]
    skipped.append(
        "memory store · 2 workers: refused by design (each worker would hold its own state)"
    )
    if "sqlite" not in args.skip:
        stores += [("sqlite", 1), ("sqlite", 2)]
    problem = "--skip redis" if "redis" in args.skip else redis_problem()
    if problem is None and ctx.redis_port is not None:
        stores += [("redis", 1), ("redis", 2)]
    else:
        skipped.append(f"redis rows: {problem}")
    plans: list[Plan] = []
    for server in servers:
        plans += [bare_plan(server, 1), bare_plan(server, 2), bare_plan(server, 1, "flask")]
        for store, workers in stores:
            # sync and granian: the memory store, and the shared stores with 2 workers
            if server != GTHREAD and store != "memory" and workers == 1:
                continue
            plans.append(simulator_plan(ctx, server, store, workers))
    return plans


def _peer_plans(args: argparse.Namespace, ctx: Context, skipped: list[str]) -> list[Plan]:
    if "peers" in args.skip:
        skipped.append("Prism and WireMock: --skip peers")
        return []
    plans: list[Plan] = []
    if (PEERS / ".bin" / "prism").exists():
        ctx.openapi = ctx.tmp / "seedance2ai.openapi.json"
        subprocess.run(
            [str(VENV_BIN / "seedance-mock"), "openapi", "--provider", "seedance2ai",
             "-o", str(ctx.openapi)],
            check=True, capture_output=True,
        )  # fmt: skip
        plans += [prism_plan(ctx, ()), prism_plan(ctx, PRISM_FAST), prism_plan(ctx, PRISM_FAST_MP)]
    else:
        skipped.append("Prism: @stoplight/prism-cli is not installed (npm failed in bench-deps)")
    if (PEERS / ".bin" / "wiremock").exists() and shutil.which("java"):
        plans += [wiremock_plan(ctx, False), wiremock_plan(ctx, True)]
    else:
        skipped.append("WireMock: the wiremock npm package or java is missing (bench-deps)")
    return plans


def plan_rows(args: argparse.Namespace, ctx: Context, skipped: list[str]) -> list[Plan]:
    return _server_plans(args, ctx, skipped) + _peer_plans(args, ctx, skipped)


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
        base = f"http://127.0.0.1:{port}"
        get_url = base + STATUS_PATH.format(id=first.get("id") or "sd2_gS4TQrBffY8E")
        post_url = base + SUBMIT_PATH
        if plan.warmup_s > 10:
            ctx.log(f"  warm-up {plan.warmup_s:.0f} s (GET, then POST, at 32 connections)")
            run_wrk(get_url, connections=32, seconds=plan.warmup_s * 2 / 3, script_dir=ctx.tmp)
            run_wrk(
                post_url,
                connections=32,
                seconds=plan.warmup_s / 3,
                kind="post",
                script_dir=ctx.tmp,
                args=[f"w{time.time_ns()}"],
            )
        else:
            run_wrk(get_url, connections=32, seconds=plan.warmup_s, script_dir=ctx.tmp)
        row.get1 = run_wrk(get_url, connections=1, seconds=ctx.duration, script_dir=ctx.tmp)
        cpu = tree_cpu_seconds(server.pid)
        row.get32 = run_wrk(get_url, connections=32, seconds=ctx.duration, script_dir=ctx.tmp)
        if row.get32.requests:
            row.cpu_us = (tree_cpu_seconds(server.pid) - cpu) / row.get32.requests * 1e6
        if plan.post:
            row.post32 = run_wrk(
                post_url,
                connections=32,
                seconds=ctx.duration,
                kind="post",
                script_dir=ctx.tmp,
                args=[f"r{time.time_ns()}"],
            )
        row.memory = tree_memory(server.pid)
        for label, load in (("GET c1", row.get1), ("GET c32", row.get32), ("POST", row.post32)):
            if load is not None and load.errors:
                row.notes.append(f"{label}: {load.non2xx} non-2xx, {load.socket_errors} errors")
        ctx.log(
            f"  start-up {row.startup_s:.2f} s · GET c1 {row.get1.rps:,.0f}/s · GET c32 "
            f"{row.get32.rps:,.0f}/s p99 {row.get32.p99_ms:.1f} ms"
            + (f" · POST c32 {row.post32.rps:,.0f}/s" if row.post32 else "")
            + f" · PSS {row.memory.pss_mb:.0f} MB"
        )
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        row.skipped = f"measurement failed: {exc}"
        ctx.log(f"  failed: {exc}")
    finally:
        server.stop()
    return row


def fill_memory(ctx: Context, count: int) -> Fill:
    """RSS of the gunicorn worker (memory store) after ``count`` submits over HTTP.

    wrk submits at 32 connections in bounded rounds (its threads stop at their
    share, but wrk itself ends only with its duration) until the account has
    paid for ``count`` tasks."""
    result = Fill()
    port = free_port()
    argv = [str(VENV_BIN / "seedance-mock"), "serve", "--port", str(port)]
    argv += _sim_flags(ctx, "memory")
    server = Server("simulator-fill", argv, port, env=pythonpath_env(), cwd=ROOT, log_dir=ctx.tmp)
    ctx.log(f"→ {count:,} stored tasks (seedance-mock serve, memory store)")
    server.start()
    try:
        _, first = server.wait_ready()
        price = int(first.get("credits_used") or 30)
        workers = [p for p in descendants(server.pid) if p != server.pid]
        if len(workers) != 1:
            result.problem = f"expected one gunicorn worker, found {len(workers)}"
            return result
        worker = workers[0]
        result.idle_rss_mb = rss_mb(worker)

        def stored() -> int:
            account = get_json(port, "/__admin/accounts/seedance2ai/bench")
            return int((HUGE_CREDITS - int(account["credits"])) // price)

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
                script_dir=ctx.tmp,
                args=[f"fill{time.time_ns()}", str(-(-remaining // 2))],
            )
            errors += load.errors
            if load.counted_ok:
                rate = max(50.0, load.counted_ok / (time.perf_counter() - round_started))
        result.seconds = time.perf_counter() - started
        result.tasks = stored()
        if errors:
            result.problem = f"{errors} non-2xx answers or socket errors while filling"
        result.rss_mb = rss_mb(worker)
        result.pss_mb = tree_memory(server.pid).pss_mb
        ctx.log(
            f"  {result.tasks:,} tasks in {result.seconds:.0f} s: worker RSS "
            f"{result.idle_rss_mb:.0f} → {result.rss_mb:.0f} MB"
        )
    except (StartFailed, RuntimeError, OSError, ValueError, KeyError) as exc:
        result.problem = f"failed: {exc}"
        ctx.log(f"  {result.problem}")
    finally:
        server.stop()
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
        help="stored tasks for the memory figure (default 100000)",
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
        choices=["peers", "granian", "sync", "redis", "sqlite", "fill", "inprocess", "contracts"],
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
        fill = fill_memory(ctx, args.tasks) if whole and "fill" not in args.skip else None
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
