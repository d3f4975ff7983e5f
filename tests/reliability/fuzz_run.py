"""``make fuzz``: a long fuzz run, outside ``make test`` (issue "Reliability").

    python tests/reliability/fuzz_run.py [--count 100000] [--seed 0] [--jobs 2]

Throws ``--count`` generated requests (``fuzz_inputs.all_probes``: bodies,
headers, paths, query strings, methods) at every operation of every provider
in spec/. Most go through the WSGI app in-process; 5 % go as bytes over
sockets to a real ``seedance-mock serve`` (gunicorn) and 1 % to ``serve
--server granian``, each put on the wire one of the ways of ``framing.FRAMINGS``
(chunked good and broken, Content-Length mismatches, folding, NUL bytes, huge
values, invalid UTF-8, broken request lines...).

Every answer is checked against spec/ (``undocumented``: a documented status
for the operation, the provider's envelope or success schema, Retry-After
where documented); granian's own empty 400 to HTTP it cannot parse is counted
apart (DECISIONS C10). Afterwards every simulator's ledger is audited through
its control API (``ledger_violations``). Prints the inputs of each kind and the
undocumented answers (goal 0), the first few with a reproduction, and exits 1
if any answer is undocumented or any ledger does not add up.

The inputs depend only on ``--seed`` and ``--count``: the same run again
sends the same requests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from traceback import format_exception
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import HypothesisWarning

from mockserver.app import create_app
from mockserver.providers.context import EXTENSION
from tests.reliability.conftest import (
    SPECS,
    Answer,
    HttpControl,
    InProcessControl,
    Probe,
    ledger_violations,
    send_raw,
    undocumented,
)
from tests.reliability.framing import ROTATION, Wire, frame, reproduction
from tests.reliability.fuzz_findings import SLOW_SECONDS, Outcome, Totals, report, wire_problems
from tests.reliability.fuzz_inputs import all_probes
from tests.reliability.fuzz_simulator import (
    FUZZ_KEYS,
    fuzz_accounts,
    fuzz_config,
    fuzz_serve_args,
    seed_tasks,
    through_app,
)
from tests.server import Server, running_server

T = TypeVar("T")

#: the share of inputs sent over sockets to each real server
SOCKET_SHARES = {"gunicorn": 0.05, "granian": 0.01}
#: in-process inputs per shard (one app, one ledger audit, one Hypothesis run)
SHARD = 6000
#: connections a socket run keeps in flight, and the inputs it draws between sends
SENDERS = 8
BATCH = 64
#: Hypothesis runs a part may take to draw its inputs
MAX_ROUNDS = 20


@dataclass(frozen=True)
class Part:
    """A piece of the run one worker process does."""

    target: str  # "in-process", "gunicorn" or "granian"
    index: int
    count: int
    seed: int


# drawing inputs --------------------------------------------------------------------------------


def derived_seed(*parts: object) -> int:
    return random.Random("/".join(map(str, parts))).getrandbits(64)


def draw(strategy: st.SearchStrategy[T], count: int, seed: int, each: Callable[[T], None]) -> None:
    """Call ``each`` on ``count`` values drawn by Hypothesis from ``strategy``,
    the same values for the same ``seed`` (no shrinking, no example database).
    Hypothesis may stop a run early (it thinks it has seen enough); then another
    run, from a seed derived from ``seed``, draws the rest."""
    done = 0
    for round_ in range(MAX_ROUNDS):

        @hypothesis_seed(derived_seed(seed, round_))
        @settings(
            max_examples=count - done,
            database=None,
            phases=[Phase.generate],
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def run(value: T) -> None:
            nonlocal done
            if done < count:
                each(value)
                done += 1

        run()
        if done >= count:
            return
    raise RuntimeError(f"Hypothesis drew {done} of {count} inputs in {MAX_ROUNDS} runs")


# the parts ----------------------------------------------------------------------------------


def in_process(part: Part) -> Outcome:
    """``part.count`` probes through the WSGI app of a fresh simulator, then its audit."""
    outcome = Outcome(part.target)
    app = create_app(fuzz_config())
    try:
        client = app.test_client()
        send = through_app(client)
        control = InProcessControl(client)

        def each(probe: Probe) -> None:
            outcome.tally(probe)
            outcome.findings.record(send(probe))

        draw(all_probes(seed_tasks(send, control)), part.count, part.seed, each)
        outcome.ledger = ledger_violations(control)
    finally:
        app.extensions[EXTENSION].close()
    return outcome


def _exchange(server: Server, probe: Probe, wire: Wire) -> tuple[Answer, float]:
    started = time.monotonic()
    read = replace(probe, method=wire.method or probe.method)  # how to read the answer (HEAD)
    answer = send_raw(server, read, wire.data, half_close=wire.half_close)
    return answer, time.monotonic() - started


def _still_answers(server: Server, known: dict[str, tuple[str, ...]]) -> list[str]:
    """After the fuzz, a plain read of a real task of each provider must be a
    documented 200; what else came back."""
    problems = []
    for provider, spec in SPECS.items():
        op = next(o for o in spec.operations.values() if o.method == "GET")
        task = known[provider][0]
        query = ""
        if op.query:
            query = f"{spec.validator(op.query).schema['required'][0]}={task}"
        path = re.sub(r"\{[^}]+\}", task, op.path)
        headers = {"Authorization": f"Bearer {FUZZ_KEYS[provider]}"}
        answer = send_raw(server, Probe("GET", path, query, headers))
        if answer.status != 200 or undocumented(answer):
            problems.append(f"{server.base_url}: {answer.describe()}")
    return problems


@dataclass
class _Sender:
    """Sends drawn inputs to a server in batches, SENDERS at a time, and records them."""

    server: Server
    outcome: Outcome
    pool: ThreadPoolExecutor
    pending: list[tuple[Probe, Wire]] = field(default_factory=list)

    def add(self, probe: Probe, wire: Wire) -> None:
        self.outcome.tally(probe, wire.framing)
        self.pending.append((probe, wire))
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        sent = self.pool.map(lambda item: _exchange(self.server, *item), self.pending)
        for (_, wire), (answer, seconds) in zip(self.pending, sent, strict=True):
            self._record(wire, answer, seconds)
        self.pending.clear()

    def _record(self, wire: Wire, answer: Answer, seconds: float) -> None:
        target = self.outcome.target
        by_the_server, problems = wire_problems(answer, wire, target)
        self.outcome.by_the_server += by_the_server and not problems
        if seconds > SLOW_SECONDS:
            self.outcome.slow[wire.framing] += 1
        where = f"{target}, {wire.framing}"
        self.outcome.findings.record(answer, problems, where=where, reproduce=reproduction(wire))


def over_sockets(part: Part) -> Outcome:
    """``part.count`` probes as bytes to a real server (``part.target``), each framed
    one of the ``FRAMINGS`` ways, then the server's audit."""
    outcome = Outcome(part.target)
    with tempfile.TemporaryDirectory() as folder:
        accounts = Path(folder) / "accounts.json"
        accounts.write_text(json.dumps(fuzz_accounts()))
        args = (*fuzz_serve_args(str(accounts)), "--server", part.target)
        with running_server(*args) as server, ThreadPoolExecutor(SENDERS) as pool:
            control = HttpControl(server.base_url)
            known = seed_tasks(lambda probe: send_raw(server, probe), control)
            host = f"127.0.0.1:{server.port}"
            sender = _Sender(server, outcome, pool)
            drawn = st.tuples(all_probes(known), st.integers(0, 2**20))
            turn = iter(range(part.count))

            def each(value: tuple[Probe, int]) -> None:
                probe, n = value
                name = ROTATION[next(turn) % len(ROTATION)]  # every framing as often
                sender.add(probe, frame(name, probe, host, n))

            draw(drawn, part.count, part.seed, each)
            sender.flush()
            outcome.ledger = ledger_violations(control)
            outcome.afterwards = _still_answers(server, known)
    return outcome


def run_part(part: Part) -> Outcome:
    warnings.simplefilter("ignore", HypothesisWarning)  # reprs of 1 MB inputs
    started = time.monotonic()
    try:
        outcome = in_process(part) if part.target == "in-process" else over_sockets(part)
    except pytest.fail.Exception as exc:  # a server that would not start (tests/server.py)
        raise RuntimeError(str(exc)) from None  # pytest's own exception does not pickle
    outcome.seconds = time.monotonic() - started
    return outcome


# the plan and the report -----------------------------------------------------------------------


def plan(count: int, seed: int) -> list[Part]:
    """The parts of a run of ``count`` inputs: the socket shares first (they start
    servers), then in-process shards of at most SHARD inputs."""
    parts = []
    for target, share in SOCKET_SHARES.items():
        wanted = max(1, math.ceil(count * share))
        parts.append(Part(target, 0, wanted, derived_seed(seed, target)))
    rest = max(0, count - sum(p.count for p in parts))
    shards = max(1, math.ceil(rest / SHARD))
    for index in range(shards):
        size = rest // shards + (1 if index < rest % shards else 0)
        parts.append(Part("in-process", index, size, derived_seed(seed, "in-process", index)))
    return [p for p in parts if p.count > 0]


def run(count: int, seed: int, jobs: int) -> Totals:
    started = time.monotonic()
    totals = Totals()
    with ProcessPoolExecutor(jobs) as pool:
        futures: dict[Future[Outcome], Part] = {
            pool.submit(run_part, p): p for p in plan(count, seed)
        }
        for future in as_completed(futures):
            part = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:
                totals.failed.append(f"{part.target} #{part.index}: {type(exc).__name__}: {exc}")
                _progress(started, part, "could not run:\n" + "".join(format_exception(exc)))
                continue
            totals.add(outcome)
            _progress(
                started,
                part,
                f"{outcome.findings.tried:,} inputs, {outcome.findings.undocumented} undocumented, "
                f"{len(outcome.ledger)} ledger violations ({outcome.seconds:.0f} s)",
            )
    return totals


def _progress(started: float, part: Part, line: str) -> None:
    elapsed = time.monotonic() - started
    print(f"[{elapsed:5.0f} s] {part.target} #{part.index}: {line}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=100_000, help="inputs to send in all")
    parser.add_argument("--seed", type=int, default=0, help="the same seed sends the same inputs")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 2, help="worker processes (default: CPUs)"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    totals = run(args.count, args.seed, max(1, args.jobs))
    print(report(totals, args.count, args.seed, time.monotonic() - started))
    return 0 if totals.passed() else 1


if __name__ == "__main__":
    sys.exit(main())
