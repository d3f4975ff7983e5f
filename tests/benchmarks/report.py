"""The Markdown report of one run: the tables, the ratios, and the targets of
the "Speed" issue (targets.py) marked met or not met."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchlib import Load, Memory
from growth import Growth
from isolation import LatencyCheck, SlowClientsCheck

#: the serving options: how a WSGI app is served (see run.py for the command lines)
GTHREAD = "gunicorn"  # seedance-mock serve: EnvelopeWorker (requests on its loop, 8 threads)
GRANIAN = "granian"  # seedance-mock serve --server granian: 4 threads behind the gate
GRANIAN1 = "granian --threads 1"
SYNC = "gunicorn sync"
WAITRESS = "waitress"

#: how a simulator row names its serving option
SIMULATOR_LABEL = {
    GTHREAD: "seedance-mock serve (gunicorn)",
    GRANIAN: "seedance-mock serve --server granian (4 threads)",
    GRANIAN1: "seedance-mock serve --server granian --threads 1",
    SYNC: "gunicorn sync",
    WAITRESS: "waitress (4 threads)",
}
#: the config and name suffix of a row with the limiter's log kept empty
EMPTY_CONFIG = "limiter log kept empty"
EMPTY_LABEL = " · limiter log kept empty"
#: the config and name suffix of the scale-out ceiling: memory store, 2 workers with
#: nothing shared (plans.ceiling_plan)
CEILING_CONFIG = "each worker its own state"
CEILING_LABEL = " · each worker its own state (nothing shared: the ceiling)"
#: how a target names a serving option
SHORT_LABEL = {
    GTHREAD: "serve (gunicorn)",
    GRANIAN: "serve --server granian",
    GRANIAN1: "serve --server granian --threads 1",
    SYNC: "gunicorn sync",
    WAITRESS: "waitress",
}
#: how a bare or one-route Flask row names the same server
SERVER_LABEL = {
    GTHREAD: "gunicorn (EnvelopeWorker, 8 threads)",
    GRANIAN: "granian (4 threads behind a gate)",
    GRANIAN1: "granian (1 thread)",
    SYNC: "gunicorn sync",
    WAITRESS: "waitress (4 threads)",
}


@dataclass
class Plan:
    """One server to measure; ``build(port, tmp)`` returns its (unstarted) Server."""

    name: str
    group: str  # simulator | bare | flask | prism | wiremock
    server: str
    store: str
    workers: int
    config: str  # default | fastest
    build: Callable[..., Any]
    post: bool = True
    warmup_s: float = 2.0


@dataclass
class Row:
    plan: Plan
    startup_s: float | None = None
    get1: Load | None = None
    get32: Load | None = None
    post32: Load | None = None
    memory: Memory | None = None
    #: the server's CPU time (all its processes) per GET at 32 connections, in µs
    cpu_us: float | None = None
    latency: LatencyCheck | None = None
    slow: SlowClientsCheck | None = None
    skipped: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def ok(self) -> bool:
        return not self.skipped and self.get32 is not None

    def rps(self, which: str = "get32") -> float | None:
        load: Load | None = getattr(self, which)
        return None if load is None else load.rps


@dataclass
class Results:
    rows: list[Row]
    growth: Growth | None
    inproc: dict[str, Any] | None
    contracts: tuple[str, float | None] | None
    info: dict[str, dict[str, str]]
    command: str
    skipped: list[str]

    def find(self, group: str, config: str | None = None) -> Row | None:
        """The row of a peer in a configuration (of several "fastest" candidates, the fastest)."""
        found = [
            row
            for row in self.rows
            if row.ok and row.plan.group == group and config in (None, row.plan.config)
        ]
        return max(found, key=lambda r: r.rps() or 0.0, default=None)

    def simulator(
        self, server: str, store: str = "memory", workers: int = 1, config: str = "default"
    ) -> Row | None:
        wanted = (server, store, workers, config)
        return next(
            (
                r
                for r in self.rows
                if r.ok
                and r.plan.group == "simulator"
                and (r.plan.server, r.plan.store, r.plan.workers, r.plan.config) == wanted
            ),
            None,
        )

    @property
    def default(self) -> Row | None:
        """The simulator as users run it: ``seedance-mock serve`` (gunicorn, memory)."""
        return self.simulator(GTHREAD)

    @property
    def options(self) -> list[Row]:
        """The simulator on each serving option, memory store, one worker."""
        return [r for s in SIMULATOR_LABEL if (r := self.simulator(s)) is not None]

    def bare_for(self, row: Row, group: str = "bare") -> Row | None:
        """The bare WSGI app (group="flask": the one-route Flask app) on the same server
        with the same number of workers."""
        for bare in self.rows:
            if (
                bare.ok
                and bare.plan.group == group
                and (bare.plan.server, bare.plan.workers) == (row.plan.server, row.plan.workers)
            ):
                return bare
        return None


# --- helpers -----------------------------------------------------------------------------


def num(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _lat(load: Load | None) -> str:
    return "—" if load is None else f"{load.p50_ms:.2f} / {load.p99_ms:.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}×"


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**not met**")


# --- sections ----------------------------------------------------------------------------


def table(rows: list[Row]) -> list[str]:
    out = [
        "| server · configuration · store · workers | start-up s | GET c1 req/s "
        "| GET c1 p50 / p99 ms | GET c32 req/s | GET c32 p50 / p99 ms | server CPU µs per GET "
        "| POST c32 req/s | POST c32 p50 / p99 ms | PSS after load MB | notes |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        if row.skipped:
            out.append(f"| {row.name} |" + " — |" * 9 + f" skipped: {row.skipped} |")
            continue
        out.append(
            f"| {row.name} | {num(row.startup_s, 2)} | {num(row.rps('get1'))} "
            f"| {_lat(row.get1)} | {num(row.rps())} | {_lat(row.get32)} | {num(row.cpu_us)} "
            f"| {num(row.rps('post32'))} | {_lat(row.post32)} "
            f"| {num(row.memory.pss_mb if row.memory else None)} | {'; '.join(row.notes)} |"
        )
    return out


def options_table(res: Results) -> list[str]:
    """The serving options side by side: speed, and whether one slow request or
    slow client holds up the others."""
    out = [
        "| serving option (memory store, 1 worker) | start-up s | GET c1 p50 ms "
        "| GET c32 req/s (p99 ms) | POST c32 req/s (p99 ms) | server CPU µs per GET "
        "| GET c32 as % of one-route Flask on it | latency fault on one request "
        "| 40 slow clients, 20 probes |",
        "|---|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for row in res.options:
        assert row.get1 is not None
        assert row.get32 is not None
        flask = res.bare_for(row, "flask")
        share = (
            f"{100 * row.get32.rps / flask.get32.rps:.0f}% of {flask.get32.rps:,.0f}"
            if flask and flask.get32 and flask.get32.rps
            else "—"
        )
        post = "—" if row.post32 is None else f"{row.post32.rps:,.0f} ({row.post32.p99_ms:.1f})"
        latency = "—" if row.latency is None else row.latency.describe()
        slow = "—" if row.slow is None else row.slow.describe()
        if row.latency is not None:
            latency += f": {verdict(row.latency.met)}"
        if row.slow is not None:
            slow += f": {verdict(row.slow.met)}"
        out.append(
            f"| {SIMULATOR_LABEL[row.plan.server]} | {num(row.startup_s, 2)} "
            f"| {row.get1.p50_ms:.2f} | {row.get32.rps:,.0f} ({row.get32.p99_ms:.1f}) | {post} "
            f"| {num(row.cpu_us)} | {share} | {latency} | {slow} |"
        )
    return out


def ratios(res: Results) -> list[str]:
    out = [
        "| simulator | against | GET c32 | GET c1 | POST c32 |",
        "|---|---|--:|--:|--:|",
    ]
    for sim in (res.default, res.simulator(GRANIAN)):
        if sim is None:
            continue
        label = SERVER_LABEL[sim.plan.server]
        peers = (
            ("Prism, as users run it", res.find("prism", "default")),
            ("Prism, fastest", res.find("prism", "fastest")),
            ("WireMock, default, after warm-up", res.find("wiremock", "default")),
            ("WireMock, fastest, after warm-up", res.find("wiremock", "fastest")),
            (f"bare WSGI, {label}", res.bare_for(sim)),
            (f"one-route Flask app, {label}", res.bare_for(sim, "flask")),
        )
        for peer_label, peer in peers:
            if peer is None:
                continue
            out.append(
                f"| {sim.name} | {peer_label} | {_ratio(sim.rps(), peer.rps())} "
                f"| {_ratio(sim.rps('get1'), peer.rps('get1'))} "
                f"| {_ratio(sim.rps('post32'), peer.rps('post32'))} |"
            )
    return out


def limiter_table(res: Results) -> list[str]:
    """Each row measured twice: as run (limits lifted, 60 s windows: every admission
    since the start stays in the log) and with the limiter's log kept empty."""
    out = [
        "| simulator · store · workers | GET c1 p50 ms | GET c32 req/s (p99 ms) "
        "| POST c32 req/s (p99 ms) | server CPU µs per GET |",
        "|---|--:|--:|--:|--:|",
    ]

    def cells(row: Row) -> str:
        assert row.get1 is not None
        assert row.get32 is not None
        post = "—" if row.post32 is None else f"{row.post32.rps:,.0f} ({row.post32.p99_ms:.1f})"
        return (
            f"{row.get1.p50_ms:.2f} | {row.get32.rps:,.0f} ({row.get32.p99_ms:.1f}) | {post} "
            f"| {num(row.cpu_us)}"
        )

    for empty in res.rows:
        if not empty.ok or empty.plan.config != EMPTY_CONFIG:
            continue
        plan = empty.plan
        as_run = res.simulator(plan.server, plan.store, plan.workers)
        where = f"{SHORT_LABEL[plan.server]} · {plan.store} · {plan.workers}w"
        if as_run is not None:
            out.append(f"| {where}, as run | {cells(as_run)} |")
        out.append(f"| {where}, limiter log kept empty | {cells(empty)} |")
    return out


def growth_table(growth: Growth) -> list[str]:
    out = [
        "| stored tasks (at the start of the stage) | GET c32 req/s (p99 ms) | CPU µs per GET "
        "| POST c32 req/s (p99 ms) | CPU µs per POST | GET /__admin/tasks?limit=10, median ms "
        "| settle with nothing due (clock advance 1 ms), median ms |",
        "|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for stage in (growth.small, growth.big):
        if stage.get32 is None or stage.post32 is None:
            continue
        out.append(
            f"| {stage.tasks:,} | {stage.get32.rps:,.0f} ({stage.get32.p99_ms:.1f}) "
            f"| {num(stage.get_cpu_us)} | {stage.post32.rps:,.0f} ({stage.post32.p99_ms:.1f}) "
            f"| {num(stage.post_cpu_us)} | {num(stage.list_ms, 2)} | {num(stage.settle_ms, 2)} |"
        )
    return out


IN_PROCESS_LABELS = {
    "test_client_get": "Flask test client, GET status, round trips/s",
    "test_client_post": "Flask test client, POST submit, round trips/s",
    "requests_get": "requests through seedance_mock() (responses), GET, round trips/s",
    "requests_post": "requests through seedance_mock() (responses), POST, round trips/s",
    "fresh_app_ms_first": "first create_app + close in the process, ms",
    "fresh_app_ms_median": "create_app + close, median ms",
    "fresh_app_ms_p90": "create_app + close, p90 ms",
    "fresh_app_cpu_ms_median": "create_app + close, median CPU ms",
    "fresh_mock_ms_median": "with seedance_mock(): pass, median ms",
    "admissions_window60_get_us_at_10": "GET CPU µs after 10 requests (60 s windows, as run)",
    "admissions_window60_get_us_at_20000": "GET CPU µs after 20,000 more (60 s windows)",
    "admissions_window0_get_us_at_10": "GET CPU µs after 10 requests (windows at 0 s)",
    "admissions_window0_get_us_at_20000": "GET CPU µs after 20,000 more (windows at 0 s)",
}


def in_process(inproc: dict[str, Any]) -> list[str]:
    if "error" in inproc:
        return [f"failed: {inproc['error']}"]
    out = ["| figure | by the wall clock | per CPU time |", "|---|--:|--:|"]
    for key, label in IN_PROCESS_LABELS.items():
        if f"{key}_per_s" in inproc:
            wall, cpu = float(inproc[f"{key}_per_s"]), float(inproc[f"{key}_cpu_per_s"])
            out.append(f"| {label} | {wall:,.0f} | {cpu:,.0f} |")
        elif key in inproc:
            out.append(f"| {label} | {float(inproc[key]):,.1f} | |")
    return out


ABOUT = (
    "All figures come from this one run on this machine. The load generator (wrk, one "
    "thread, over loopback) shares the cores with the server under test. The simulator "
    "runs with `--clock manual`, a 10^12-credit account and its rate limits lifted "
    "(`--set seedance2ai.rate_limits.requests.limit=1000000000`, the same for "
    "media_validations), so the figures measure the server, not the limiter. GET is "
    "`GET /api/v1/tasks/{id}` of a stored task; POST is a valid "
    "`POST /api/v1/video/seedance2` with a distinct Idempotency-Key per request; req/s "
    "counts 2xx answers only. Start-up is the median of three starts, each from spawn to "
    "the first 2xx answer to a valid submit. Server CPU µs per GET is the CPU time all "
    "the server's processes used during the GET c32 run divided by its requests: it moves "
    "far less than req/s when other work shares the machine. PSS is the proportional set "
    "size of the whole process tree (master and workers, or node and java), after the load."
)


LIMITER_ABOUT = (
    "The rate limits are lifted (a limit of 10^9) but still counted: each window keeps "
    "the time of every admission within its 60 s, and with the manual clock that is every "
    "admission since the start, which each request reads, filters and writes back. The "
    "same rows with the windows set to 0 s (`--set seedance2ai.rate_limits.*."
    "window_seconds=0`: the log forgets each admission at the next request) show the "
    "server without that cost."
)


def render(res: Results) -> str:
    from targets import targets

    lines = ["# seedance-mock benchmark", "", f"Command: `{res.command}`", ""]
    lines += ["## Machine and versions", ""]
    for section in res.info.values():
        lines += [f"- {k}: {v}" for k, v in section.items()]
    lines += ["", ABOUT, ""]
    if res.skipped:
        lines += ["Skipped:", "", *[f"- {s}" for s in res.skipped], ""]
    lines += ["## Serving options", "", *options_table(res), ""]
    lines += ["## Targets (issue: Speed)", "", "| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {name} | {text} | {verdict(met)} |" for name, text, met in targets(res)]
    lines.append("")
    lines += ["## Servers", "", *table(res.rows), ""]
    lines += ["## Ratios", "", *ratios(res), ""]
    limiter = limiter_table(res)
    if len(limiter) > 2:
        lines += ["## What the rate limiter's log costs", "", LIMITER_ABOUT, "", *limiter, ""]
    if res.growth is not None:
        lines += ["## Flat as it grows (seedance-mock serve, memory store)", ""]
        lines += [
            "One server, measured with 10 stored tasks, filled over HTTP, measured again; "
            "with the limiter's log kept empty, so that it measures stored tasks, not "
            "admissions (see the section above and the in-process admissions figure).",
            "",
        ]
        lines += [*growth_table(res.growth), ""]
    if res.inproc is not None:
        lines += ["## In-process", "", *in_process(res.inproc), ""]
    if res.contracts is not None:
        text, seconds = res.contracts
        took = "" if seconds is None else f", {seconds:.1f} s wall"
        lines += ["## Contract suite (in-process)", ""]
        lines += [f"`python -m pytest contracts -q -p no:cacheprovider`: {text}{took}", ""]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines.append(f"Load average at the end: {load}")
    return "\n".join(lines) + "\n"
