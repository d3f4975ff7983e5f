"""The drift log (contracts/drift.py): one line per cause, the smallest
reproduction, and tests that stop once they have nothing new to find."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from contracts import drift
from contracts.checks import ContractViolation, Finding, KnownDrift
from contracts.drift import DriftLog
from contracts.exchange import Exchange

MISSING = Finding("body_matches_schema", "updated_at", "a required field (Task)", "(missing)",
                  "updated_at is missing")  # fmt: skip
WRONG_TYPE = Finding("body_matches_schema", "credits_used", "type integer (Task)", '"30"',
                     "credits_used breaks the Task schema")  # fmt: skip


def _violation(*findings: Finding, task: str = "sd2_000000000001") -> ContractViolation:
    exchange = Exchange(
        method="GET",
        url=f"http://127.0.0.1:8000/api/v1/tasks/{task}",
        request_headers={"Authorization": "Bearer <redacted>"},
        request_body=None,
        status=200,
        response_body=json.dumps({"id": task}).encode(),
        operation="get_task",
        provider="seedance2ai",
        caller="A",
        credential="SEEDANCE2AI_API_KEY",
    )
    return ContractViolation(exchange, list(findings))


def _record(log: DriftLog, test: str, violation: ContractViolation) -> None:
    log.current_test = test
    log.record(violation)


def test_one_cause_is_one_line_however_many_tests_meet_it() -> None:
    log = DriftLog()
    _record(log, "t1", _violation(MISSING, task="sd2_000000000123"))
    for n in range(2, 6):
        with pytest.raises(KnownDrift):
            _record(log, f"t{n}", _violation(MISSING, task="sd2_1"))
    [entry] = log.entries()
    assert (len(entry.tests), entry.count, entry.checks) == (5, 5, ["body_matches_schema"])
    assert entry.curl.endswith(
        '/api/v1/tasks/sd2_1 -H "Authorization: Bearer $SEEDANCE2AI_API_KEY"'
    )
    report = log.markdown("a test target")
    assert "1 cause(s) of drift, met by 5 test(s) in 5 exchange(s)." in report
    assert report.count("updated_at is missing") == 2  # the table, and its details


def test_a_test_meeting_only_known_drift_stops_at_once() -> None:
    log = DriftLog()
    _record(log, "first", _violation(MISSING))
    _record(log, "first", _violation(MISSING))  # the test that found it goes on (shrinking)
    with pytest.raises(KnownDrift, match="drift already reported by first"):
        _record(log, "second", _violation(MISSING))
    _record(log, "third", _violation(MISSING, WRONG_TYPE))  # something new: no stop
    assert len(log) == 2


def test_a_test_that_found_new_drift_shrinks_for_a_bounded_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = DriftLog(shrink_seconds=0.5)
    now = [100.0]
    monkeypatch.setattr(drift, "time", SimpleNamespace(monotonic=lambda: now[0]))
    _record(log, "t", _violation(MISSING, task="sd2_000000000123"))
    _record(log, "t", _violation(MISSING, task="sd2_000000000124"))  # within the bound
    now[0] += 0.6
    with pytest.raises(KnownDrift, match="stopped shrinking") as stopped:
        _record(log, "t", _violation(MISSING, task="sd2_000000000999999"))
    assert stopped.value.violation.exchange.url.endswith("sd2_000000000123")  # the smallest


def test_without_shrinking_a_new_cause_stops_its_test_at_once() -> None:
    """Over HTTP nothing shrinks: the first failure ends the test before Hypothesis
    could send the failing example's requests again to report it."""
    log = DriftLog(shrink_seconds=0.0)
    with pytest.raises(KnownDrift, match="reported as first seen"):
        _record(log, "t", _violation(MISSING))
    assert log.entries()[0].count == 1


def test_outside_a_test_nothing_stops() -> None:
    log = DriftLog(shrink_seconds=0.0)
    for _ in range(3):
        log.record(_violation(MISSING))
    assert log.entries()[0].count == 3
