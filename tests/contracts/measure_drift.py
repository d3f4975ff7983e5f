"""How long the contract suite takes to fail on a drifting target, against how
long it takes to pass on the same target intact.

    .venv/bin/python -m tests.contracts.measure_drift                 # every kind, both targets
    .venv/bin/python -m tests.contracts.measure_drift --targets url --kinds wrong-type
    .venv/bin/python -m tests.contracts.measure_drift -- -k "lifecycle"   # pytest options

``url``: a ``seedance-mock serve`` (manual clock) behind a DriftProxy, run with
``--target url``; ``inprocess``: the in-process target wrapped in a
DriftMiddleware (tests/contracts/drift_plugin.py). Each run is a fresh pytest
process and a fresh server; the passing run is measured before and after the
drifting ones and averaged (other load on the machine moves both alike). Prints
a Markdown table: wall-clock time, and the CPU time of the pytest process.
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.contracts.drift_proxy import DRIFT_KINDS, DriftProxy
from tests.server import running_server

ROOT = Path(__file__).resolve().parents[2]
SERVE_ARGS = ("--clock", "manual", "--seed", "1234")
#: the goal: a drifting run reports within this many times a passing run
GOAL = 2.0


@dataclass(frozen=True)
class Run:
    target: str
    kind: str
    seconds: float  # wall clock
    cpu: float  # user + system time of the pytest process
    failed: int
    passed: int
    causes: int
    requests: int | None  # through the proxy (url only)


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _pytest(
    args: Sequence[str], folder: Path, paths: Sequence[str]
) -> tuple[float, float, int, int, int]:
    """Run the suite; (seconds, CPU seconds, failed, passed, causes in the drift report)."""
    junit, drift = folder / "junit.xml", folder / "drift.md"
    command = [
        sys.executable, "-m", "pytest", *paths, "-p", "no:cacheprovider", "-q",
        "--junitxml", str(junit), "--drift-report", str(drift), *args,
    ]  # fmt: skip
    started, cpu = time.monotonic(), _cpu()
    subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
    seconds, cpu = time.monotonic() - started, _cpu() - cpu
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    passed = int(suite.get("tests", 0)) - failed - int(suite.get("skipped", 0))
    found = re.search(r"^(\d+) cause", drift.read_text(), re.MULTILINE)
    return seconds, cpu, failed, passed, int(found.group(1)) if found else 0


@contextmanager
def _folder(keep: Path | None, name: str) -> Iterator[Path]:
    if keep is not None:
        (keep / name).mkdir(parents=True, exist_ok=True)
        yield keep / name
        return
    with tempfile.TemporaryDirectory(prefix="drift-") as folder:
        yield Path(folder)


def measure(
    target: str,
    kind: str,
    extra: Sequence[str] = (),
    keep: Path | None = None,
    paths: Sequence[str] = ("contracts",),
) -> Run:
    """One run of the suite (``paths``) against ``target`` drifting the way
    ``kind`` says ("none": intact); its reports stay in ``keep``/target-kind."""
    with _folder(keep, f"{target}-{kind}") as folder:
        if target == "inprocess":
            args = ["-p", "tests.contracts.drift_plugin", "--inject-drift", kind, *extra]
            return Run(target, kind, *_pytest(args, folder, paths), None)
        with running_server(*SERVE_ARGS) as server, DriftProxy(server.base_url, kind) as proxy:
            args = ["--target", "url", "--base-url", proxy.base_url, *extra]
            return Run(target, kind, *_pytest(args, folder, paths), proxy.requests)


def _passing(runs: list[Run]) -> dict[str, Run]:
    """Per target, the mean of its intact runs."""
    found: dict[str, Run] = {}
    for target in dict.fromkeys(r.target for r in runs):
        intact = [r for r in runs if r.target == target and r.kind == "none"]
        n = len(intact)
        found[target] = Run(
            target, "none", sum(r.seconds for r in intact) / n, sum(r.cpu for r in intact) / n,
            intact[0].failed, intact[0].passed, intact[0].causes,
            None if intact[0].requests is None else sum(r.requests or 0 for r in intact) // n,
        )  # fmt: skip
    return found


def table(runs: list[Run]) -> str:
    passing = _passing(runs)
    lines = [
        "| target | drift | failing run | passing run | ratio (wall) | ratio (CPU) "
        "| tests failed | causes | requests (failing / passing) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        if run.kind == "none":
            continue
        base = passing[run.target]
        sent = f"{run.requests} / {base.requests}" if run.requests is not None else "—"
        lines.append(
            f"| {run.target} | {run.kind} | {run.seconds:.1f} s | {base.seconds:.1f} s "
            f"| {run.seconds / base.seconds:.2f}× | {run.cpu / base.cpu:.2f}× "
            f"| {run.failed} | {run.causes} | {sent} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="url,inprocess")
    parser.add_argument("--kinds", default=",".join(DRIFT_KINDS))
    parser.add_argument("--keep", type=Path, help="keep each run's drift report and JUnit here")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    extra = [a for a in options.pytest_args if a != "--"]
    runs: list[Run] = []
    for target in options.targets.split(","):
        for kind in ("none", *options.kinds.split(","), "none"):
            runs.append(measure(target, kind, extra, options.keep))
            print(runs[-1], file=sys.stderr, flush=True)
    print(table(runs))
    passing = _passing(runs)
    worst = max(r.seconds / passing[r.target].seconds for r in runs)
    return 0 if worst <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
