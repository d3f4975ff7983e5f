"""The drift report: every place a target disagreed with spec/, at a glance.

Each violation a check raises during the session is recorded here; identical
disagreements (same operation, check, field and documented value) are counted
once with the first value received, so a live API that changed a field shows
up as one line, not one per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from contracts.checks import ContractViolation


@dataclass
class Drift:
    provider: str
    operation: str
    check: str
    at: str
    documented: str
    received: str
    curl: str
    tests: list[str] = field(default_factory=list)
    count: int = 0


class DriftLog:
    """Collects violations for the report (the contract suite's DriftSink)."""

    def __init__(self) -> None:
        self.current_test = ""
        self._entries: dict[tuple[str, ...], Drift] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, violation: ContractViolation) -> None:
        ex = violation.exchange
        for finding in violation.findings:
            provider, operation = ex.provider or "?", ex.operation or "?"
            key = (provider, operation, finding.check, finding.at, finding.documented)
            entry = self._entries.setdefault(key, Drift(*key, finding.received, ex.curl()))
            entry.count += 1
            if self.current_test and self.current_test not in entry.tests:
                entry.tests.append(self.current_test)

    def entries(self) -> list[Drift]:
        return sorted(self._entries.values(), key=lambda d: (d.provider, d.operation, d.at))

    def markdown(self, target: str) -> str:
        """The report: one table per provider, one line per disagreement."""
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = ["# Contract drift report", "", f"Target: {target}. Written {when}.", ""]
        entries = self.entries()
        if not entries:
            return "\n".join([*lines, "No drift: every exchange matched spec/.", ""])
        lines.append(f"{len(entries)} place(s) where the target disagreed with spec/.")
        for provider in sorted({e.provider for e in entries}):
            lines += [
                "",
                f"## {provider}",
                "",
                "| Operation | Field | Documented | Received | Check | Seen | First test |",
                "|---|---|---|---|---|---|---|",
            ]
            lines += [_row(e) for e in entries if e.provider == provider]
        lines += ["", "## How to reproduce", ""]
        for e in entries:
            lines += [
                f"{e.provider} {e.operation}, `{_cell(e.at)}`:",
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


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _row(entry: Drift) -> str:
    cells = [
        entry.operation,
        f"`{_cell(entry.at)}`",
        _cell(entry.documented),
        f"`{_cell(entry.received)}`",
        entry.check,
        str(entry.count),
        _cell(entry.tests[0] if entry.tests else ""),
    ]
    return "| " + " | ".join(cells) + " |"
