"""The Markdown report of one run: table, ratios, targets (met / not met)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchlib import Load, Memory

GTHREAD = "gunicorn gthread"
SYNC = "gunicorn sync"
GRANIAN = "granian"


@dataclass
class Plan:
    """One server to measure; ``build(port, tmp)`` returns its (unstarted) Server."""

    name: str
    group: str  # simulator | bare | prism | wiremock
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
class Fill:
    """The simulator's memory with many stored tasks."""

    tasks: int = 0
    seconds: float = 0.0
    idle_rss_mb: float = 0.0
    rss_mb: float = 0.0
    pss_mb: float = 0.0
    problem: str = ""


@dataclass
class Results:
    rows: list[Row]
    fill: Fill | None
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

    @property
    def simulators(self) -> list[Row]:
        return [r for r in self.rows if r.ok and r.plan.group == "simulator"]

    @property
    def default(self) -> Row | None:
        """The simulator as users run it: ``seedance-mock serve`` (gunicorn gthread, memory)."""
        return next(
            (r for r in self.simulators if r.plan.server == GTHREAD and r.plan.store == "memory"),
            None,
        )

    @property
    def fastest(self) -> Row | None:
        """The simulator configuration with the highest GET throughput at 32 connections."""
        return max(self.simulators, key=lambda r: r.rps() or 0.0, default=None)

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


def _num(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _lat(load: Load | None) -> str:
    return "—" if load is None else f"{load.p50_ms:.2f} / {load.p99_ms:.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}×"


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**not met**")


# --- sections ----------------------------------------------------------------------------


def table(rows: list[Row]) -> list[str]:
    out = [
        "| server · configuration · store · workers | start-up s | GET c1 req/s "
        "| GET c1 p50 / p99 ms | GET c32 req/s | GET c32 p50 / p99 ms | server CPU µs per GET "
        "| POST c32 req/s | PSS after load MB | notes |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        if row.skipped:
            out.append(f"| {row.name} |" + " — |" * 8 + f" skipped: {row.skipped} |")
            continue
        out.append(
            f"| {row.name} | {_num(row.startup_s, 2)} | {_num(row.rps('get1'))} "
            f"| {_lat(row.get1)} | {_num(row.rps())} | {_lat(row.get32)} | {_num(row.cpu_us)} "
            f"| {_num(row.rps('post32'))} | {_num(row.memory.pss_mb if row.memory else None)} "
            f"| {'; '.join(row.notes)} |"
        )
    return out


def ratios(res: Results) -> list[str]:
    out = [
        "| simulator | against | GET c32 | GET c1 | POST c32 |",
        "|---|---|--:|--:|--:|",
    ]
    seen: set[str] = set()
    for label, sim in (("as users run it", res.default), ("fastest", res.fastest)):
        if sim is None or sim.name in seen:
            continue
        seen.add(sim.name)
        peers = (
            ("Prism, as users run it", res.find("prism", "default")),
            ("Prism, fastest", res.find("prism", "fastest")),
            ("WireMock, default, after warm-up", res.find("wiremock", "default")),
            ("WireMock, fastest, after warm-up", res.find("wiremock", "fastest")),
            (f"bare WSGI, {sim.plan.server}, {sim.plan.workers}w", res.bare_for(sim)),
            (f"one-route Flask app, {sim.plan.server}, {sim.plan.workers}w",
             res.bare_for(sim, "flask")),
        )  # fmt: skip
        for peer_label, peer in peers:
            if peer is None:
                continue
            out.append(
                f"| {label}: {sim.name} | {peer_label} | {_ratio(sim.rps(), peer.rps())} "
                f"| {_ratio(sim.rps('get1'), peer.rps('get1'))} "
                f"| {_ratio(sim.rps('post32'), peer.rps('post32'))} |"
            )
    return out


Judged = tuple[str, bool | None]


def _vs_prism(res: Results, sim: Row, which: str, factor: float) -> Judged:
    prism = res.find("prism", "default")
    mine, theirs = sim.rps(which), prism.rps(which) if prism else None
    if mine is None or not theirs:
        return "Prism not measured", None
    return f"{mine:,.0f} vs {theirs:,.0f} req/s = {mine / theirs:.2f}×", mine >= factor * theirs


def _p99(res: Results, sim: Row) -> Judged:
    assert sim.get32 is not None
    return f"p99 {sim.get32.p99_ms:.1f} ms (p50 {sim.get32.p50_ms:.1f} ms)", sim.get32.p99_ms <= 25


def _vs_bare(res: Results, sim: Row) -> Judged:
    bare = res.bare_for(sim)
    mine, theirs = sim.rps(), bare.rps() if bare else None
    if mine is None or not theirs:
        return "bare app not measured on this server", None
    flask = res.bare_for(sim, "flask")
    framework = flask.rps() if flask else None
    context = (
        f" (a one-route Flask app on it: {framework:,.0f} req/s = {100 * framework / theirs:.0f}%)"
        if framework
        else ""
    )
    return (
        f"{mine:,.0f} vs {theirs:,.0f} req/s = {100 * mine / theirs:.0f}%{context}",
        mine >= 0.75 * theirs,
    )


def _vs_wiremock(res: Results, sim: Row) -> Judged:
    parts = []
    for label in ("default", "fastest"):
        peer = res.find("wiremock", label)
        if peer is None or peer.get32 is None or sim.get32 is None:
            continue
        parts.append(
            f"{label}: {peer.get32.rps:,.0f} req/s, p99 {peer.get32.p99_ms:.1f} ms → "
            f"ours {sim.get32.rps / peer.get32.rps:.2f}× (p99 {sim.get32.p99_ms:.1f} ms)"
        )
    return ("; ".join(parts) or "WireMock not measured"), None


def _startup_vs_wiremock(res: Results, sim: Row) -> Judged:
    peer = res.find("wiremock", "default")
    if peer is None or peer.startup_s is None or sim.startup_s is None:
        return "WireMock not measured", None
    return f"{sim.startup_s:.2f} s vs {peer.startup_s:.2f} s", sim.startup_s < peer.startup_s


def _memory_vs_wiremock(res: Results, sim: Row) -> Judged:
    peer = res.find("wiremock", "default")
    if peer is None or peer.memory is None or sim.memory is None:
        return "WireMock not measured", None
    return (
        f"{sim.memory.pss_mb:.0f} MB vs {peer.memory.pss_mb:.0f} MB",
        sim.memory.pss_mb < peer.memory.pss_mb,
    )


def _startup(res: Results, sim: Row) -> Judged:
    assert sim.startup_s is not None
    return f"{sim.startup_s:.2f} s", sim.startup_s <= 0.5


PER_CONFIGURATION: tuple[tuple[str, Callable[[Results, Row], Judged]], ...] = (
    (
        "GET status ≥ 2× Prism's throughput (as users run it), c32",
        lambda res, sim: _vs_prism(res, sim, "get32", 2.0),
    ),
    ("GET status p99 at 32 connections ≤ 25 ms", _p99),
    ("GET status ≥ 75% of the bare WSGI app on the same server, c32", _vs_bare),
    ("GET status against WireMock after a 30 s warm-up (reported, no target)", _vs_wiremock),
    ("start-up beats WireMock (default)", _startup_vs_wiremock),
    ("memory beats WireMock (default): PSS after the same load", _memory_vs_wiremock),
    (
        "POST submit ≥ 1.5× Prism's throughput (as users run it), c32",
        lambda res, sim: _vs_prism(res, sim, "post32", 1.5),
    ),
    ("start-up to the first successful request ≤ 0.5 s", _startup),
)


def targets(res: Results) -> list[tuple[str, str, bool | None]]:
    judged: list[tuple[str, str, bool | None]] = []
    configurations = [("as users run it", res.default)]
    if res.fastest is not None and res.fastest is not res.default:
        configurations.append(("fastest", res.fastest))
    for label, judge in PER_CONFIGURATION:
        for which, sim in configurations:
            if sim is None:
                judged.append((f"{label} [{which}]", "not measured", None))
                continue
            where = f"{sim.plan.server}, {sim.plan.store}, {sim.plan.workers}w"
            text, met = judge(res, sim)
            judged.append((f"{label} [{which}: {where}]", text, met))
    fill = res.fill
    if fill is not None:
        if not fill.rss_mb:
            judged.append(("100,000 stored tasks ≤ 200 MB resident", fill.problem, None))
        else:
            rate = fill.tasks / max(fill.seconds, 1e-9)
            judged.append(
                (
                    f"{fill.tasks:,} stored tasks ≤ 200 MB resident "
                    "(RSS of the gunicorn worker, memory store)",
                    f"{fill.rss_mb:.0f} MB (idle {fill.idle_rss_mb:.0f} MB; filled over HTTP at "
                    f"32 connections in {fill.seconds:.0f} s = {rate:,.0f} submits/s)"
                    + (f"; {fill.problem}" if fill.problem else ""),
                    fill.rss_mb <= 200 and fill.tasks >= 100_000,
                )
            )
    judged.append(
        (
            "memory flat over a 10-minute soak at full load",
            "not part of `make bench`: `make bench-soak` measures it",
            None,
        )
    )
    inproc = res.inproc
    if inproc is not None and "error" not in inproc:
        for key, label in (
            ("test_client_get", "Flask test client"),
            ("requests_get", "plain requests through seedance_mock()"),
        ):
            value = float(inproc[f"{key}_per_s"])
            cpu = float(inproc.get(f"{key}_cpu_per_s", 0))
            judged.append(
                (
                    f"in-process ≥ 1,500 round trips/s on one thread ({label}, GET status)",
                    f"{value:,.0f}/s by the wall clock ({cpu:,.0f}/s of CPU time)",
                    value >= 1500,
                )
            )
        fresh = float(inproc["fresh_app_ms_median"])
        cpu_ms = float(inproc.get("fresh_app_cpu_ms_median", 0))
        judged.append(
            (
                "a fresh simulator per test ≤ 20 ms (create_app + close, median of 60)",
                f"{fresh:.1f} ms (p90 {float(inproc['fresh_app_ms_p90']):.1f} ms; "
                f"CPU time {cpu_ms:.1f} ms)",
                fresh <= 20,
            )
        )
    return judged


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


def render(res: Results) -> str:
    lines = ["# seedance-mock benchmark", "", f"Command: `{res.command}`", ""]
    lines += ["## Machine and versions", ""]
    for section in res.info.values():
        lines += [f"- {k}: {v}" for k, v in section.items()]
    lines += [
        "",
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
        "far less than "
        "req/s when other work shares the machine. PSS is the proportional set size of the "
        "whole process tree "
        "(master and workers, or node and java), after the load.",
        "",
    ]
    if res.skipped:
        lines += ["Skipped:", "", *[f"- {s}" for s in res.skipped], ""]
    lines += ["## Servers", "", *table(res.rows), ""]
    lines += ["## Ratios", "", *ratios(res), ""]
    lines += ["## Targets (issue #7)", "", "| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {name} | {text} | {_verdict(met)} |" for name, text, met in targets(res)]
    lines.append("")
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
