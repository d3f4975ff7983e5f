"""The report of an exercise run: a terminal table, Markdown, and JUnit XML.

Each row says what the client did in one scenario: its exit and wall time,
the requests it made, how soon it retried what did not get through (in
simulated seconds, next to the Retry-After it was given), whether a retried
submit kept its Idempotency-Key, the tasks and credits it cost, and its
busiest minute; then the verdict and the rules it broke.
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from mockserver.exercise.observe import Observation, Request, short_key
from mockserver.exercise.providers import POLL, SUBMIT
from mockserver.exercise.runner import Exercise, ScenarioResult

#: lines of a failing scenario's timeline
TIMELINE_LENGTH = 40
#: real seconds an answer takes before the timeline says so
SLOW_ANSWER = 0.5
_HEADERS = ("scenario", "verdict", "exit", "time", "requests", "retries", "key", "tasks", "pace")


# what the client did, in a few words --------------------------------------------------


def requests_summary(observed: Observation) -> str:
    submits, polls = len(observed.of(SUBMIT)), len(observed.of(POLL))
    other = len(observed.requests) - submits - polls
    extra = f" +{other}" if other else ""
    return f"{submits} submit, {polls} poll{extra}"


def retries_summary(observed: Observation, shown: int = 2) -> str:
    """How soon each failed request was retried: "429→30.2s (RA 30)"; "none": never."""
    retries = observed.retries()
    if not retries:
        failed = [r for r in observed.requests if not r.readable]
        return "none" if failed else "—"
    parts = []
    for retry in retries[:shown]:
        after = retry.failed.retry_after
        told = f" (RA {after:g})" if after is not None else ""
        parts.append(f"{retry.failed.outcome()}→{retry.gap:.1f}s{told}")
    more = f" +{len(retries) - shown}" if len(retries) > shown else ""
    return ", ".join(parts) + more


def key_summary(observed: Observation) -> str:
    """Whether repeated submits of one body kept their Idempotency-Key."""
    if not observed.provider.idempotent:
        return "n/a"
    submits = observed.of(SUBMIT)
    pairs = [(a, b) for a, b in itertools.pairwise(submits) if a.same_body(b)]
    if not pairs:
        return "—"
    return "same" if all(a.idempotency_key == b.idempotency_key for a, b in pairs) else "new"


def tasks_summary(observed: Observation) -> str:
    net = observed.charged - observed.refunded
    refunded = f", {observed.refunded} back" if observed.refunded else ""
    return f"{len(observed.tasks)} ({observed.charged} cr{refunded}; net {net})"


def pace_summary(observed: Observation, window: float = 60.0) -> str:
    return f"{observed.busiest(window)}/{window:g}s"


def row(result: ScenarioResult) -> tuple[str, ...]:
    observed = result.observed
    return (
        result.scenario.name,
        result.verdict,
        observed.client.exit_text(),
        f"{observed.client.seconds:.1f}s",
        requests_summary(observed),
        retries_summary(observed),
        key_summary(observed),
        tasks_summary(observed),
        pace_summary(observed),
    )


def _call(request: Request) -> str:
    """A request and its answer, without its time: "GET /p → 200 [processing]"."""
    after = f" Retry-After {request.retry_after:g}" if request.retry_after is not None else ""
    key = f" key={short_key(request.idempotency_key)}" if request.idempotency_key else ""
    status = f" [{request.task_status}]" if request.task_status else ""
    return f"{request.method} {request.path} → {request.outcome()}{after}{status}{key}"


def timeline(observed: Observation, length: int = TIMELINE_LENGTH) -> list[str]:
    """The requests in simulated time, one line each, a run of identical calls in one."""
    runs: list[list[Request]] = []
    for request in observed.requests:
        if runs and _call(runs[-1][0]) == _call(request):
            runs[-1].append(request)
        else:
            runs.append([request])
    lines = []
    for run in runs[:length]:
        first, held = run[0], run[0].answered - run[0].arrived
        line = f"{first.arrived:8.1f}s  {_call(first)}"
        slow = held / observed.time_scale >= SLOW_ANSWER
        line += f" (answered {held:.0f} s later)" if slow else ""
        if len(run) > 1:
            pace = (run[-1].arrived - first.arrived) / (len(run) - 1)
            line += f" ×{len(run)}, every {pace:.1f} s until {run[-1].arrived:.1f} s"
        lines.append(line)
    if len(runs) > length:
        lines.append(f"… {sum(len(run) for run in runs[length:])} more requests")
    return lines


def _headline(exercise: Exercise, results: Sequence[ScenarioResult]) -> str:
    failed = sum(not r.passed for r in results)
    settings = exercise.settings
    return (
        f"{exercise.provider.name}: {len(results)} scenarios, {failed} failed "
        f"(time scale {settings.time_scale:g}, time limit {settings.time_limit:g} s; "
        "times in the table are simulated except 'time')"
    )


# terminal -----------------------------------------------------------------------------


def terminal(exercise: Exercise, results: Sequence[ScenarioResult]) -> str:
    """A plain-text table, then each broken rule."""
    rows = [_HEADERS, *(row(r) for r in results)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADERS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    for result in results:
        lines += [f"{result.scenario.name}: not arranged: {p}" for p in result.observed.problems]
        for finding in result.findings:
            lines.append(f"{result.scenario.name}: {finding.rule}: {finding.message}")
    return "\n".join([_headline(exercise, results), "", *lines, ""])


# Markdown -----------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _details(result: ScenarioResult) -> list[str]:
    observed = result.observed
    summary = result.scenario.summary_for(observed.provider)
    lines = [
        f"### {result.scenario.name}",
        "",
        f"{summary[:1].upper()}{summary[1:]}. Arranged: {'; '.join(observed.notes)}.",
        "",
    ]
    lines += [f"- **not arranged**: {_cell(p)}" for p in observed.problems]
    lines += [f"- **{f.rule}**: {_cell(f.message)}" for f in result.findings]
    lines += ["", "```text", *timeline(observed), "```"]
    output = (observed.client.stderr or observed.client.stdout).strip()
    if output:
        lines += ["", "The client's last words:", "", "```text", *output.splitlines()[-8:], "```"]
    return [*lines, ""]


def markdown(exercise: Exercise, results: Sequence[ScenarioResult]) -> str:
    command = " ".join(exercise.command)
    lines = [
        "# seedance-mock exercise",
        "",
        f"`{command}` against {_headline(exercise, results)}.",
        "",
        "| " + " | ".join(_HEADERS) + " |",
        "|" + "---|" * len(_HEADERS),
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row(r)) + " |" for r in results]
    failed = [r for r in results if not r.passed]
    if failed:
        lines += ["", "## What went wrong", ""]
        for result in failed:
            lines += _details(result)
    return "\n".join(lines).rstrip() + "\n"


# JUnit XML ----------------------------------------------------------------------------


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_text(text: str) -> str:
    """``text`` without the control characters XML 1.0 cannot hold (terminal escapes)."""
    return _NOT_XML.sub("", text)


def _testcase(suite: ET.Element, provider: str, result: ScenarioResult) -> None:
    observed = result.observed
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"seedance-mock.exercise.{provider}",
        name=result.scenario.name,
        time=f"{observed.client.seconds:.3f}",
    )
    if observed.problems:
        error = ET.SubElement(case, "error", message=_xml_text("; ".join(observed.problems)))
        error.text = _xml_text("\n".join(observed.problems))
    elif result.findings:
        failure = ET.SubElement(
            case,
            "failure",
            message=_xml_text("; ".join(f"{f.rule}: {f.message}" for f in result.findings)),
            type=result.findings[0].rule,
        )
        failure.text = _xml_text(
            "\n".join(
                [*(f"{f.rule}: {f.message}" for f in result.findings), "", *timeline(observed)]
            )
        )
    ET.SubElement(case, "system-out").text = _xml_text(observed.client.stdout)
    ET.SubElement(case, "system-err").text = _xml_text(observed.client.stderr)


def junit_xml(exercise: Exercise, results: Sequence[ScenarioResult]) -> str:
    """One test case per scenario, failing where the client broke a rule."""
    name = exercise.provider.name
    suite = ET.Element(
        "testsuite",
        name=f"seedance-mock exercise ({name})",
        tests=str(len(results)),
        failures=str(sum(r.verdict == "FAIL" for r in results)),
        errors=str(sum(r.verdict == "ERROR" for r in results)),
        time=f"{sum(r.observed.client.seconds for r in results):.3f}",
    )
    for result in results:
        _testcase(suite, name, result)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
