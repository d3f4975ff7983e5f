"""The contract suite against Stoplight Prism mocking the exported OpenAPI documents.

    python -m contracts.against_prism                    # every provider
    python -m contracts.against_prism --provider seedance2ai --out prism-drift/

Why not just run Prism on the OpenAPI document? Prism answers each request
with the document's example (or one drawn from the schema) and remembers
nothing, so it departs from the contract wherever behaviour matters. This run
names each departure: for every provider it writes the document
(``seedance-mock openapi``), starts ``prism mock`` on it (127.0.0.1, a free
port), runs the suite with ``--target url`` (no control API; made-up keys;
``--pace none``, as for any mock; a 20 s task timeout; ``--keep-going`` and
``--max-examples 1``, so that each test goes on past drift already reported
for one example and the report names every departure) and prints the lead
table of the drift report it writes to ``--out`` (with the JUnit XML).

Prism comes from npm (``@stoplight/prism-cli``); like ``make bench-deps`` it
lives in ``$SEEDANCE_BENCH_HOME/peers`` (default
``~/.cache/seedance-mock-bench/peers``, outside the work tree) and is installed
there when missing. Exit status: 0 when every run finished and reported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mockserver.contract_cli import contract_args
from mockserver.spec import PROVIDERS, export_openapi, load_provider

PRISM_PACKAGE = "@stoplight/prism-cli@5"
#: seconds the suite waits for a Prism task to end (its tasks never change)
TASK_TIMEOUT = 20
#: Hypothesis examples per test: each test goes on past known drift for one
#: example, which reaches what lies behind it; more would repeat it
EXAMPLES = 1
START_TIMEOUT = 60.0
#: keys of made-up accounts: Prism checks that a bearer token is present, not which
KEYS = {"A": "prism-key-a", "B": "prism-key-b", "EMPTY": "prism-key-empty"}


def peers_dir() -> Path:
    home = os.environ.get("SEEDANCE_BENCH_HOME") or str(Path.home() / ".cache/seedance-mock-bench")
    return Path(home) / "peers"


def find_prism(install: bool = True) -> Path | None:
    """The prism executable: on PATH, else in peers_dir() (installed there with
    npm when ``install`` and npm is available)."""
    on_path = shutil.which("prism")
    if on_path:
        return Path(on_path)
    local = peers_dir() / "node_modules" / ".bin" / "prism"
    if local.exists() or not install or shutil.which("npm") is None:
        return local if local.exists() else None
    local.parent.parent.parent.mkdir(parents=True, exist_ok=True)
    manifest = peers_dir() / "package.json"
    if not manifest.exists():
        manifest.write_text('{"private": true}\n')
    print(f"installing {PRISM_PACKAGE} into {peers_dir()}", file=sys.stderr)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", PRISM_PACKAGE],
        cwd=peers_dir(), check=False,
    )  # fmt: skip
    return local if local.exists() else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def prism_mock(prism: Path, document: Path, log: Path) -> Iterator[str]:
    """``prism mock document`` on 127.0.0.1 for the ``with`` block; its base URL."""
    port = _free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(prism), "mock", "-h", "127.0.0.1", "-p", str(port), str(document)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_for_port(port, process)
            yield f"http://127.0.0.1:{port}"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prism exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)  # a starting process, not a task
    raise RuntimeError(f"prism did not listen on {port} within {START_TIMEOUT:g} s")


@dataclass(frozen=True)
class Result:
    provider: str
    seconds: float
    exit_code: int
    report: Path
    summary: str  # pytest's last line

    def table(self) -> list[str]:
        """The drift report's headline and lead table, without the curl column."""
        text = self.report.read_text(encoding="utf-8") if self.report.exists() else ""
        lead = text.split("## Each cause")[0].splitlines()
        head = [line for line in lead if re.match(r"^\d+ cause", line) or "No drift" in line]
        rows = [
            line.rsplit(" | `curl", 1)[0].rstrip(" |") + " |" for line in lead if line[:1] == "|"
        ]
        rows[:2] = [r.replace(" Reproduce (smallest example seen) |", "") for r in rows[:2]]
        if len(rows) > 1:
            rows[1] = "|---" * (rows[0].count("|") - 1) + "|"
        return head + rows


def run_provider(provider: str, prism: Path, out: Path) -> Result:
    document = out / f"{provider}.openapi.json"
    document.write_text(json.dumps(export_openapi(load_provider(provider)), indent=1))
    report, junit = out / f"{provider}.drift.md", out / f"{provider}.junit.xml"
    env = {**os.environ, **{_key_env(provider, label): key for label, key in KEYS.items()}}
    started = time.monotonic()
    with prism_mock(prism, document, out / f"{provider}.prism.log") as base_url:
        args = contract_args(
            provider=provider, target="url", base_url=base_url, max_credits=10**9, record=None,
            junit_xml=str(junit), drift_report=str(report),
            extra=["-q", "--keep-going", "--max-examples", str(EXAMPLES), "--pace", "none",
                   "--task-timeout", str(TASK_TIMEOUT)],
        )  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *args], env=env, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = next((line for line in reversed(lines) if " in " in line), "(no summary)")
    return Result(provider, time.monotonic() - started, done.returncode, report, summary)


def _key_env(provider: str, label: str) -> str:
    from contracts.target import key_env

    return key_env(provider, label)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", action="append", choices=PROVIDERS)
    parser.add_argument("--out", type=Path, help="where the reports go (default: a temp dir)")
    parser.add_argument("--prism", type=Path, help="the prism executable")
    options = parser.parse_args(argv)
    prism = options.prism or find_prism()
    if prism is None:
        print(f"prism not found and not installable (npm install {PRISM_PACKAGE})", file=sys.stderr)
        return 2
    out = options.out or Path(tempfile.mkdtemp(prefix="prism-drift-"))
    out.mkdir(parents=True, exist_ok=True)
    finished = True
    for provider in options.provider or PROVIDERS:
        result = run_provider(provider, prism, out)
        finished &= result.exit_code in (0, 1)  # 1: drift found, as expected
        print(f"\n## Prism mocking {provider}: {result.summary} ({result.seconds:.0f} s)\n")
        print("\n".join(result.table()))
    print(f"\nreports: {out}")
    return 0 if finished else 1


if __name__ == "__main__":
    raise SystemExit(main())
