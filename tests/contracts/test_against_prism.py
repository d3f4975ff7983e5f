"""contracts/against_prism.py without Prism: what it prints from a drift report.
(The run itself: ``python -m contracts.against_prism``, outside ``make test``.)"""

from __future__ import annotations

from pathlib import Path

from contracts.against_prism import Result, find_prism
from contracts.drift import DriftLog
from tests.contracts.test_drift import MISSING, WRONG_TYPE, _violation


def test_the_summary_is_the_reports_lead_table_without_curl_lines(tmp_path: Path) -> None:
    log = DriftLog()
    log.record(_violation(MISSING, WRONG_TYPE))
    log.write(tmp_path / "drift.md", "prism")
    lines = Result("seedance2ai", 1.0, 1, tmp_path / "drift.md", "1 failed").table()
    assert lines[0] == "2 cause(s) of drift in 1 exchange(s)."
    assert lines[1] == "| # | Cause | Tests | Received | Documented |"
    assert lines[2] == "|---|---|---|---|---|"
    assert {line.split(" | ")[1] for line in lines[3:]} == {
        "seedance2ai get_task: updated_at is missing (body_matches_schema)",
        "seedance2ai get_task: credits_used breaks the Task schema (body_matches_schema)",
    }
    assert not [line for line in lines if "curl" in line]


def test_no_report_is_an_empty_summary(tmp_path: Path) -> None:
    assert Result("seedance2ai", 1.0, 4, tmp_path / "missing.md", "error").table() == []


def test_prism_is_looked_up_without_installing() -> None:
    found = find_prism(install=False)
    assert found is None or found.name == "prism"
