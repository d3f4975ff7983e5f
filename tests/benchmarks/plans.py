"""What ``make bench`` measures: one Plan per row (see run.py), each knowing how
to build its server on a given port.

The simulator on each serving option (run.py's docstring lists them), the
one-route Flask and bare WSGI apps on the same servers, the shared-store and
limiter rows, and the peers. ``Context`` carries what every plan shares: the
temporary directory, the accounts file, the redis-server's port.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import (
    EMPTY_WINDOWS,
    HERE,
    LIFTED_LIMITS,
    PEERS,
    PYDEPS,
    ROOT,
    VENV_BIN,
    Server,
    pythonpath_env,
)
from report import (
    CEILING_CONFIG,
    CEILING_LABEL,
    EMPTY_CONFIG,
    EMPTY_LABEL,
    GRANIAN,
    GRANIAN1,
    GTHREAD,
    SERVER_LABEL,
    SIMULATOR_LABEL,
    SYNC,
    WAITRESS,
    Plan,
)

#: request threads per worker: seedance-mock serve's defaults (mockserver/serve.py)
GUNICORN_THREADS = 8
GRANIAN_THREADS = {GRANIAN: 4, GRANIAN1: 1}
WAITRESS_THREADS = 4  # waitress's own default

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


def _store_url(store: str, ctx: Context, name: str) -> str:
    if store == "memory":
        return "memory"
    if store == "sqlite":
        safe = re.sub(r"\W+", "-", name)
        return f"sqlite:{ctx.tmp / (safe + '.db')}"
    return f"redis://127.0.0.1:{ctx.redis_port}/{next(ctx.redis_db)}"


def sim_flags(ctx: Context, store_url: str, empty_windows: bool = False) -> list[str]:
    return [
        "--clock",
        "manual",
        "--accounts",
        str(ctx.accounts),
        *LIFTED_LIMITS,
        *(EMPTY_WINDOWS if empty_windows else ()),
        "--store",
        store_url,
    ]


def _gunicorn(port: int, workers: int, worker_class: str, app: str) -> list[str]:
    """gunicorn with the settings of mockserver/serve.py (GTHREAD: its EnvelopeWorker)."""
    argv = [str(VENV_BIN / "gunicorn"), "-w", str(workers)]
    if worker_class == "gthread":
        argv += ["-k", "mockserver.serve.EnvelopeWorker", "--threads", str(GUNICORN_THREADS)]
    else:
        argv += ["-k", worker_class]
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
        "--keep-alive",
        "5",
        app,
    ]


def _granian(port: int, workers: int, app: str, threads: int) -> list[str]:
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
        str(threads),
        "--runtime-threads",
        "1",
        "--http",
        "1",
        "--no-ws",
        "--log-level",
        "warning",
        app,
    ]


def _waitress(port: int, app: str) -> list[str]:
    return [
        str(VENV_BIN / "python"),
        "-m",
        "waitress",
        f"--listen=127.0.0.1:{port}",
        f"--threads={WAITRESS_THREADS}",
        app,
    ]


def simulator_plan(
    ctx: Context, server: str, store: str, workers: int, empty_windows: bool = False
) -> Plan:
    """The simulator; with ``empty_windows``, with its rate-limit log kept empty
    (benchlib.EMPTY_WINDOWS): the same server without the limiter's growing cost."""
    name = f"simulator · {SIMULATOR_LABEL[server]} · {store} · {workers}w"
    name += EMPTY_LABEL if empty_windows else ""
    # one store per row, every start
    flags = sim_flags(ctx, _store_url(store, ctx, name), empty_windows)

    def build(port: int, tmp: Path) -> Server:
        if server in (GTHREAD, GRANIAN, GRANIAN1):  # as users run it
            argv = [
                str(VENV_BIN / "seedance-mock"),
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
                *(["--server", "granian"] if server != GTHREAD else []),
                *(["--threads", "1"] if server == GRANIAN1 else []),
                *flags,
            ]
            return Server(name, argv, port, env=pythonpath_env(), cwd=ROOT, log_dir=tmp)
        env = pythonpath_env({"SEEDANCE_BENCH_ARGS": shlex.join(flags)})
        if server == WAITRESS:
            argv = _waitress(port, "wsgi_apps:simulator")
        else:
            argv = _gunicorn(port, workers, "sync", "wsgi_apps:simulator")
        return Server(name, argv, port, env=env, cwd=HERE, log_dir=tmp)

    config = EMPTY_CONFIG if empty_windows else "default"
    return Plan(name, "simulator", server, store, workers, config, build)


def ceiling_plan(ctx: Context) -> Plan:
    """The simulator on the memory store in 2 gunicorn workers (EnvelopeWorker, 8
    threads, as ``seedance-mock serve`` runs it), each with its own state
    (wsgi_apps.simulator_own_state): what 2 workers serve at most on this machine,
    beside which the shared stores' scale-out is read. ``seedance-mock serve``
    refuses this configuration (a client would see two different states)."""
    name = f"simulator · {SERVER_LABEL[GTHREAD]} · memory · 2w{CEILING_LABEL}"
    flags = [*sim_flags(ctx, "memory"), "--seed", "7"]

    def build(port: int, tmp: Path) -> Server:
        env = pythonpath_env({"SEEDANCE_BENCH_ARGS": shlex.join(flags)})
        argv = _gunicorn(port, 2, "gthread", "wsgi_apps:simulator_own_state")
        return Server(name, argv, port, env=env, cwd=HERE, log_dir=tmp)

    return Plan(name, "simulator", GTHREAD, "memory", 2, CEILING_CONFIG, build)


def bare_plan(server: str, workers: int, app: str = "bare") -> Plan:
    """The bare WSGI callable (or, with app="flask", a one-route Flask app), served
    the way the simulator is on ``server`` (on granian with 4 threads: behind a gate)."""
    label = "bare WSGI" if app == "bare" else "minimal Flask route"
    name = f"{label} · {SERVER_LABEL[server]} · {workers}w"

    def build(port: int, tmp: Path) -> Server:
        if server in GRANIAN_THREADS:
            threads = GRANIAN_THREADS[server]
            target = f"wsgi_apps:{app}_gated" if threads > 1 else f"wsgi_apps:{app}"
            argv = _granian(port, workers, target, threads)
        elif server == WAITRESS:
            argv = _waitress(port, f"wsgi_apps:{app}")
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


def _servings(args: argparse.Namespace, skipped: list[str]) -> list[str]:
    """The serving options to measure, in the order of the table."""
    servings = [GTHREAD]
    if "granian" in args.skip:
        pass
    elif importlib.util.find_spec("granian"):
        servings += [GRANIAN, GRANIAN1]
    else:
        skipped.append("granian rows: granian is not installed (make bench-deps)")
    if "sync" not in args.skip:
        servings.append(SYNC)
    if "waitress" in args.skip:
        pass
    elif (PYDEPS / "waitress").is_dir():
        servings.append(WAITRESS)
    else:
        skipped.append("waitress rows: waitress is not installed (make bench-deps)")
    return servings


#: the shared-store rows per serving option: the default server on both stores with
#: 1 and 2 workers; granian with 2 (scale-out); the others on the memory store only
SHARED_ROWS = {GTHREAD: ((1, 2), ("sqlite", "redis")), GRANIAN: ((2,), ("sqlite", "redis"))}


#: rows measured again with the limiter's log kept empty: what the limiter costs
LIMITER_ROWS = (
    (GTHREAD, "memory", 1),
    (GTHREAD, "sqlite", 2),
    (GTHREAD, "redis", 1),
    (GTHREAD, "redis", 2),
    (GRANIAN, "memory", 1),
)


def _server_plans(args: argparse.Namespace, ctx: Context, skipped: list[str]) -> list[Plan]:
    shared = [s for s in ("sqlite", "redis") if s not in args.skip]
    problem = "--skip redis" if "redis" in args.skip else redis_problem()
    if "redis" in shared and (problem is not None or ctx.redis_port is None):
        shared.remove("redis")
        skipped.append(f"redis rows: {problem}")
    skipped.append(
        "seedance-mock serve · memory store · 2 workers: refused by design (each worker "
        "would hold its own state; the ceiling row runs it through gunicorn to measure "
        "what 2 workers can do at most)"
    )
    plans: list[Plan] = []
    for server in _servings(args, skipped):
        if server in (GTHREAD, SYNC, GRANIAN1):
            plans.append(bare_plan(server, 1))
        plans += [bare_plan(server, 1, "flask"), simulator_plan(ctx, server, "memory", 1)]
        workers, stores = SHARED_ROWS.get(server, ((), ()))
        for store in stores:
            if store in shared:
                plans += [simulator_plan(ctx, server, store, w) for w in workers]
        if server == GTHREAD and "ceiling" not in args.skip:
            plans.append(ceiling_plan(ctx))
    if "limiter" not in args.skip:
        plans += [
            simulator_plan(ctx, server, store, workers, empty_windows=True)
            for server, store, workers in LIMITER_ROWS
            if server in {p.server for p in plans} and store in ("memory", *shared)
        ]
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
    if "wiremock" in args.skip:
        skipped.append("WireMock: --skip wiremock")
    elif (PEERS / ".bin" / "wiremock").exists() and shutil.which("java"):
        plans += [wiremock_plan(ctx, False), wiremock_plan(ctx, True)]
    else:
        skipped.append("WireMock: the wiremock npm package or java is missing (bench-deps)")
    return plans


def plan_rows(args: argparse.Namespace, ctx: Context, skipped: list[str]) -> list[Plan]:
    return _server_plans(args, ctx, skipped) + _peer_plans(args, ctx, skipped)
