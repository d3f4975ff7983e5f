"""The drift report: one finding per way the target departs from spec/.

Every violation a check raises during the session is recorded here, grouped
by cause: the same thing wrong (a field, a code, a status: the finding's
``cause``, which a check words the same whichever request showed it) on the
same operation of the same provider. Checks that meet the same cause share
its line (an undocumented error code is one cause, whether the check on the
envelope or the one on the expected answer saw it). A server that dropped a
field fails every test that reads a task, and the report still shows one
line: the cause, how many tests met it, the smallest request that shows it (a
curl line) and what was received against what is documented.

The log also stops a test that has nothing more to find (checks.KnownDrift):
a test meeting only causes an earlier test reported fails at its first
failing example, without more examples or shrinking; and a test that found a
new cause shrinks it for at most ``shrink_seconds``, then reports the smallest
failing exchange it saw. With ``keep_going`` a test goes on past causes an
earlier test reported (it still fails, ``tolerated``), to reach what lies
behind them: against a server that departs everywhere (a mock), the report
then names every departure, not only the first each test meets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from contracts.checks import ContractViolation, Finding, KnownDrift
from contracts.exchange import Exchange

#: tests named under each cause in the details (the count says how many in all)
TESTS_SHOWN = 5


@dataclass(frozen=True, order=True)
class Cause:
    """One way the target departs from spec/."""

    provider: str
    operation: str
    what: str  # the finding's cause: "updated_at is missing", "status moved back..."

    @classmethod
    def of(cls, exchange: Exchange, finding: Finding) -> Cause:
        return cls(exchange.provider or "?", exchange.operation or "?", finding.cause_text)

    def __str__(self) -> str:
        return f"{self.provider} {self.operation}: {self.what}"


@dataclass
class Drift:
    """A cause, and the smallest exchange that showed it."""

    cause: Cause
    at: str
    documented: str
    received: str
    curl: str
    checks: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    count: int = 0  # exchanges that showed it

    def offer(self, exchange: Exchange, finding: Finding) -> None:
        """Keep ``exchange`` as the reproduction when it is smaller than the one kept."""
        curl = exchange.curl()
        if len(curl) < len(self.curl):
            self.curl, self.at = curl, finding.at
            self.documented, self.received = finding.documented, finding.received


@dataclass
class _Finder:
    """The running test, once it found a cause no earlier test reported."""

    since: float  # time.monotonic() of its first failing exchange
    smallest: ContractViolation


class DriftLog:
    """Collects violations for the report, and stops tests with nothing left
    to find (the contract suite's DriftSink)."""

    def __init__(self, shrink_seconds: float | None = None, keep_going: bool = False) -> None:
        self.current_test = ""
        #: how long a test may shrink a new cause (None: as long as Hypothesis likes)
        self.shrink_seconds = shrink_seconds
        self.keep_going = keep_going
        self._entries: dict[Cause, Drift] = {}
        self._finders: dict[str, _Finder] = {}
        self._tolerated: dict[str, list[ContractViolation]] = {}
        self._exchanges = 0  # that disagreed

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, violation: ContractViolation) -> bool:
        """Keep ``violation``; KnownDrift when the running test should stop now,
        True when it goes on past it (keep_going)."""
        earlier = self._reported_before(violation)
        new = self._add(violation)
        self._exchanges += 1
        test = self.current_test
        if not test:
            return False
        if earlier and self.keep_going:
            self._tolerated.setdefault(test, []).append(violation)
            return True
        if earlier:
            raise KnownDrift(violation, f"drift already reported by {earlier}")
        if new and self.shrink_seconds == 0:
            # no shrinking (over HTTP): stop now, so Hypothesis does not send the
            # failing example's requests again to report it
            raise KnownDrift(violation, "reported as first seen (no shrinking on this target)")
        finder = self._finders.get(test)
        if finder is None:
            if new:
                self._finders[test] = _Finder(time.monotonic(), violation)
            return False
        if _size(violation) < _size(finder.smallest):
            finder.smallest = violation
        spent = time.monotonic() - finder.since
        if self.shrink_seconds is not None and spent > self.shrink_seconds:
            reason = f"stopped shrinking after {spent:.1f} s; the smallest failing exchange seen"
            raise KnownDrift(finder.smallest, reason)
        return False

    def tolerated(self, test: str) -> list[ContractViolation]:
        """The known drift ``test`` went on past (keep_going): it fails with them."""
        return self._tolerated.get(test, [])

    def after_example(self) -> None:
        """KnownDrift when the running test went on past known drift: one whole
        example reached what lies behind it; more would only repeat it."""
        tolerated = self._tolerated.get(self.current_test)
        if tolerated:
            reason = "went on past drift already reported (--keep-going) for one example"
            raise KnownDrift(ContractViolation.combined(tolerated), reason)

    def _add(self, violation: ContractViolation) -> bool:
        """Count ``violation`` under its causes; whether any cause is new."""
        ex, new, counted = violation.exchange, False, set[Cause]()
        for finding in violation.findings:
            cause = Cause.of(ex, finding)
            entry = self._entries.get(cause)
            if entry is None:
                new = True
                entry = self._entries[cause] = Drift(
                    cause, finding.at, finding.documented, finding.received, ex.curl()
                )
            entry.offer(ex, finding)
            entry.count += cause not in counted  # once per exchange
            counted.add(cause)
            if finding.check not in entry.checks:
                entry.checks.append(finding.check)
            if self.current_test and self.current_test not in entry.tests:
                entry.tests.append(self.current_test)
        return new

    def reported(self, provider: str, operation: str, cause: str) -> bool:
        entry = self._entries.get(Cause(provider, operation, cause))
        return entry is not None and bool(entry.tests) and entry.tests[0] != self.current_test

    def _reported_before(self, violation: ContractViolation) -> str | None:
        """The earlier tests that reported every cause of ``violation`` (None when
        a cause is new, or the running test found a cause of its own)."""
        if not self.current_test or self.current_test in self._finders:
            return None
        first: list[str] = []
        for finding in violation.findings:
            entry = self._entries.get(Cause.of(violation.exchange, finding))
            if entry is None or not entry.tests or entry.tests[0] == self.current_test:
                return None
            first.append(entry.tests[0])
        return ", ".join(dict.fromkeys(first)) or None

    def entries(self) -> list[Drift]:
        """Every cause, the one met by the most tests first."""
        return sorted(self._entries.values(), key=lambda d: (-len(d.tests), -d.count, d.cause))

    # the report ------------------------------------------------------------------------
    def table(self) -> list[str]:
        """The lead table: cause, tests that met it, received against documented,
        the smallest reproduction seen."""
        lines = [
            "| # | Cause | Tests | Received | Documented | Reproduce (smallest example seen) |",
            "|---|---|---|---|---|---|",
        ]
        for n, e in enumerate(self.entries(), 1):
            cells = [
                str(n),
                f"{_cell(str(e.cause))} ({', '.join(e.checks)})",
                str(len(e.tests) or e.count),
                f"`{_cell(e.received)}`",
                _cell(e.documented),
                f"`{_cell(e.curl)}`",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        return lines

    def headline(self) -> str:
        tests = {t for e in self._entries.values() for t in e.tests}
        met = f", met by {len(tests)} test(s)" if tests else ""
        return f"{len(self._entries)} cause(s) of drift{met} in {self._exchanges} exchange(s)."

    def markdown(self, target: str) -> str:
        """The report: the lead table, then each cause in detail."""
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = ["# Contract drift report", "", f"Target: {target}. Written {when}.", ""]
        if not self._entries:
            return "\n".join([*lines, "No drift: every exchange matched spec/.", ""])
        lines += [self.headline(), "", *self.table(), "", "## Each cause", ""]
        for n, e in enumerate(self.entries(), 1):
            shown = ", ".join(f"`{t}`" for t in e.tests[:TESTS_SHOWN])
            more = f" and {len(e.tests) - TESTS_SHOWN} more" if len(e.tests) > TESTS_SHOWN else ""
            lines += [
                f"### {n}. {_cell(str(e.cause))}",
                "",
                f"- {_plural('check', e.checks)} {', '.join(f'`{c}`' for c in e.checks)}, "
                f"at `{_cell(e.at)}`",
                f"- received: `{_cell(e.received)}`",
                f"- documented: {_cell(e.documented)}",
                f"- seen in {e.count} exchange(s) by {len(e.tests)} test(s): {shown}{more}",
                "",
                "```sh",
                e.curl,
                "```",
                "",
            ]
        return "\n".join(lines)

    def write(self, path: str | Path, target: str) -> None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.markdown(target), encoding="utf-8")


def _plural(word: str, items: list[str]) -> str:
    return word if len(items) == 1 else f"{word}s"


def _size(violation: ContractViolation) -> int:
    return len(violation.exchange.curl())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")
