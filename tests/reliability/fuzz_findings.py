"""What a fuzzer found: inputs tried and the undocumented answers among them.

``Findings.record(answer)`` checks one answer with ``undocumented`` (or takes
the problems a caller found) and keeps the first answer of each kind of
problem with a way to reproduce it; findings of several runs ``merge``.

``wire_problems(answer, wire, server)`` is ``undocumented`` for the answer to
bytes on a socket, with what DECISIONS C10 adds for requests a server cannot
parse: the server answers them in the provider's envelope, 414 and 431
included (the owner's when the request line names a path, any provider's
otherwise), and granian answers them itself with an empty 400.

For ``fuzz_run.py``: an ``Outcome`` is what one part of a run tried and found
(inputs of each kind, findings, the ledger audit), ``Totals`` adds them up by
target (in-process, gunicorn, granian) and ``report`` prints them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from tests.reliability.conftest import SPECS, Answer, Probe, route_of, undocumented
from tests.reliability.framing import FRAMINGS, Wire
from tests.reliability.fuzz_inputs import input_kinds
from tests.reliability.fuzz_simulator import fuzz_accounts, fuzz_serve_args

#: where inputs go, in the order a report shows them
TARGETS = ("in-process", "gunicorn", "granian")
#: an answer slower than this is counted (a server waiting on a client it should not)
SLOW_SECONDS = 2.0
#: the kinds of undocumented answer a report shows, with an example each
SHOWN_KINDS = 10


# answers to bytes on the wire -------------------------------------------------------------------

#: DECISIONS C10: what granian answers by itself to HTTP it cannot parse
GRANIAN_OWN = frozenset({400, 431})  # DECISIONS C10


def servers_own(answer: Answer) -> bool:
    """An answer the HTTP server made up by itself: a 4xx without body or type."""
    return 400 <= answer.status < 500 and not answer.body and not answer.header("Content-Type")


def _as_any_provider(answer: Answer) -> list[str]:
    """[] if ``answer`` is documented on some provider's path (the request line
    was too broken to tell its owner), else the problems of the first provider."""
    found: list[list[str]] = []
    for spec in SPECS.values():
        problems = undocumented(replace(answer, path=spec.path_prefixes[0] + "/"), unparsed=True)
        if not problems:
            return []
        found.append(problems)
    return found[0]


def wire_problems(answer: Answer, wire: Wire, server: str) -> tuple[bool, list[str]]:
    """(whether the server answered by itself without the app, what in the answer
    spec/ and DECISIONS C10 do not document)."""
    if server == "granian" and servers_own(answer):
        if answer.status in GRANIAN_OWN:
            return True, []
        return True, [f"granian's own empty {answer.status} (DECISIONS C10 documents an empty 400)"]
    if wire.path is None:
        return False, _as_any_provider(answer)
    read = replace(answer, path=wire.path, method=wire.method or answer.method)
    problems = undocumented(read, unparsed=True)
    if problems and wire.lenient and not _as_any_provider(answer):
        return False, []
    return False, problems


# what was found ---------------------------------------------------------------------------------


@dataclass
class Kind:
    """One kind of undocumented answer: how often, and the first one seen."""

    count: int
    answer: Answer
    problems: list[str]
    reproduce: str


@dataclass
class Findings:
    """Inputs tried and the undocumented answers among them, grouped by kind."""

    tried: int = 0
    undocumented: int = 0
    kinds: dict[tuple[str, int, str], Kind] = field(default_factory=dict)

    def record(
        self,
        answer: Answer,
        problems: list[str] | None = None,
        *,
        where: str | None = None,
        reproduce: str | None = None,
    ) -> list[str]:
        """Count ``answer`` and keep it if it is undocumented: ``problems`` when
        given, else ``undocumented(answer)``; ``where`` names the kind of input
        (default: a provider path or another path), ``reproduce`` how to send it
        again (default: a curl line). Returns the problems."""
        self.tried += 1
        found = undocumented(answer) if problems is None else problems
        if not found:
            return found
        self.undocumented += 1
        if where is None:
            where = "provider path" if route_of(answer.method, answer.path) else "other path"
        key = (where, answer.status, found[0].split(":")[0])
        kind = self.kinds.get(key)
        if kind is None:
            self.kinds[key] = Kind(1, answer, found, reproduce or answer.curl())
        else:
            kind.count += 1
        return found

    def merge(self, other: Findings) -> None:
        self.tried += other.tried
        self.undocumented += other.undocumented
        for key, kind in other.kinds.items():
            mine = self.kinds.setdefault(key, Kind(0, kind.answer, kind.problems, kind.reproduce))
            mine.count += kind.count

    def summary(self, what: str, ledger: list[str]) -> str:
        return (
            f"fuzz ({what}): {self.tried} HTTP inputs tried, "
            f"{self.undocumented} undocumented answers in {len(self.kinds)} kinds, "
            f"{len(ledger)} ledger violations afterwards"
        )

    def report(self, limit: int | None = None) -> str:
        """The first ``limit`` kinds (all by default): count, problems, an example
        and its reproduction."""
        lines = []
        for (where, status, _), kind in list(self.kinds.items())[:limit]:
            lines += [
                f"{kind.count} x {status} on a {where}: {'; '.join(kind.problems)}",
                f"    e.g. {kind.answer.describe()}",
                f"    reproduce: {kind.reproduce}",
            ]
        return "\n".join(lines)


# a run of several parts ------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a part tried and found."""

    target: str
    findings: Findings = field(default_factory=Findings)
    kinds: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_the_server: int = 0  # answered by granian itself (DECISIONS C10)
    slow: Counter[str] = field(default_factory=Counter)
    ledger: list[str] = field(default_factory=list)
    #: a server that no longer answers a plain read after the fuzz: what it said
    afterwards: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def tally(self, probe: Probe, framing: str | None = None) -> None:
        self.kinds.update(input_kinds(probe).items())
        if framing is not None:
            family = FRAMINGS[framing][0]
            self.kinds[("framing", f"{family}: {framing}")] += 1


@dataclass
class Totals:
    """Outcomes of all parts, by target."""

    by_target: dict[str, Outcome] = field(default_factory=dict)
    audits: int = 0
    failed: list[str] = field(default_factory=list)  # parts that could not run

    def add(self, outcome: Outcome) -> None:
        mine = self.by_target.setdefault(outcome.target, Outcome(outcome.target))
        mine.findings.merge(outcome.findings)
        mine.kinds.update(outcome.kinds)
        mine.by_the_server += outcome.by_the_server
        mine.slow.update(outcome.slow)
        mine.ledger += outcome.ledger
        mine.afterwards += outcome.afterwards
        mine.seconds += outcome.seconds
        self.audits += 1

    def targets(self) -> list[str]:
        return [t for t in TARGETS if t in self.by_target]

    def undocumented(self) -> int:
        return sum(o.findings.undocumented for o in self.by_target.values())

    def ledger(self) -> list[str]:
        return [p for o in self.by_target.values() for p in o.ledger]

    def afterwards(self) -> list[str]:
        return [p for o in self.by_target.values() for p in o.afterwards]

    def passed(self) -> bool:
        return not (self.undocumented() or self.ledger() or self.afterwards() or self.failed)


def _row(label: str, values: list[int | str]) -> str:
    cells = "".join(f"{v:>12,}" if isinstance(v, int) else f"{v:>12}" for v in values)
    return f"  {label[:58]:<58}{cells}"


def _kind_rows(totals: Totals) -> Iterator[str]:
    """A row per kind of input, by dimension: the most frequent first, framings in
    the catalogue's order."""
    targets = totals.targets()
    overall: Counter[tuple[str, str]] = Counter()
    for target in targets:
        overall.update(totals.by_target[target].kinds)
    catalogue = [f"{family}: {name}" for name, (family, _) in FRAMINGS.items()]
    dimensions = dict.fromkeys(dimension for dimension, _ in overall)
    for dimension in dimensions:
        labels = [label for d, label in overall if d == dimension]
        if dimension == "framing":
            labels.sort(key=catalogue.index)
        else:
            labels.sort(key=lambda label: -overall[(dimension, label)])
        yield f"{dimension}:"
        for label in labels:
            counts = [totals.by_target[t].kinds.get((dimension, label), 0) for t in targets]
            yield _row(label, [c or "-" for c in counts])


def report(totals: Totals, count: int, seed: int, elapsed: float) -> str:
    targets = totals.targets()
    outcomes = [totals.by_target[t] for t in targets]
    tried = [o.findings.tried for o in outcomes]
    lines = [
        f"seedance-mock fuzz: --seed {seed} --count {count}, providers {', '.join(SPECS)}",
        "",
        _row("inputs tried, by kind", list(targets)),
        _row("all", list(tried)),
        *_kind_rows(totals),
        "",
        "answers:",
        _row(
            "documented (spec/, DECISIONS.md)",
            [o.findings.tried - o.findings.undocumented for o in outcomes],
        ),
        _row("  of which granian's own empty 400 (C10)", [o.by_the_server for o in outcomes]),
        _row("undocumented (goal 0)", [o.findings.undocumented for o in outcomes]),
        _row(f"slower than {SLOW_SECONDS:g} s", [sum(o.slow.values()) for o in outcomes]),
        "",
        f"ledger audits: {totals.audits} simulators, {len(totals.ledger())} violations",
    ]
    repeated = Counter(totals.ledger())
    lines += [f"  {n} x {problem[:400]}" for problem, n in list(repeated.items())[:SHOWN_KINDS]]
    servers = [t for t in targets if t != "in-process"]
    fine = [t for t in servers if not totals.by_target[t].afterwards]
    lines.append(f"a plain read afterwards answered by: {', '.join(fine) or 'no server'}")
    lines += [f"  but not by {problem}" for problem in totals.afterwards()]
    lines += [f"part that could not run: {failure[:300]}" for failure in totals.failed]
    lines += _undocumented_lines(totals)
    lines.append(f"\n{sum(tried):,} inputs in {elapsed:.0f} s: " + _verdict(totals))
    return "\n".join(lines)


def _undocumented_lines(totals: Totals) -> list[str]:
    merged = Findings()
    for outcome in totals.by_target.values():
        merged.merge(outcome.findings)
    if not merged.kinds:
        return []
    flags = " ".join(fuzz_serve_args("ACCOUNTS.json"))
    return [
        "",
        f"undocumented answers: {merged.undocumented} in {len(merged.kinds)} kinds "
        f"(the first {min(SHOWN_KINDS, len(merged.kinds))}):",
        merged.report(SHOWN_KINDS),
        f"(reproduce against: seedance-mock serve --port 8000 {flags}, [--server granian],"
        f" ACCOUNTS.json holding {json.dumps(fuzz_accounts())})",
    ]


def _verdict(totals: Totals) -> str:
    if totals.passed():
        return "every answer documented, every ledger whole"
    return "FAILED" + (f" ({len(totals.failed)} parts could not run)" if totals.failed else "")
