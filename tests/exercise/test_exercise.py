"""``seedance-mock exercise`` judging real clients against a real simulator.

Each test runs ``main(argv)`` the way a user runs the command: it starts a
``seedance-mock serve`` subprocess on a free port, runs the client once per
scenario, and writes the JUnit XML and Markdown reports, from which the
verdicts are read. The clients live in ``clients/``: a good one in Python and
in Node, and four Python clients each with one flaw, which must fail exactly
the scenarios where that flaw shows. The clock runs 600 times faster than
real time, so a task takes well under a second and the good clients give up
on a stuck task after 1200 simulated seconds (2 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from mockserver.exercise import add_parser
from mockserver.exercise.cli import main
from mockserver.exercise.providers import provider_named
from mockserver.exercise.scenarios import scenarios_for
from mockserver.spec import PROVIDERS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NODE_CLIENT = ROOT / "tests" / "exercise" / "clients" / "generate.mjs"
#: a fast clock, a Retry-After (100 ms real) that no retry loop waits by accident,
#: a slow answer longer than the clients' 1 s timeout, a slow task of 1.5 s
FAST = [
    "--time-scale", "600", "--time-limit", "8",
    "--set", "retry_after=60", "--set", "latency_ms=1500", "--set", "slow_task_seconds=900",
]  # fmt: skip


@dataclass(frozen=True)
class Report:
    code: int
    #: scenario -> the rules the client broke there (empty: it passed)
    verdicts: dict[str, set[str]]
    junit: ET.Element
    markdown: str

    def failed(self) -> dict[str, set[str]]:
        return {name: rules for name, rules in self.verdicts.items() if rules}


def python_client(name: str) -> list[str]:
    return [sys.executable, "-m", f"tests.exercise.clients.{name}", "--timeout", "1"]


def _verdicts(junit: ET.Element) -> dict[str, set[str]]:
    """Each test case's broken rules, from its failure text ("rule: message" lines)."""
    verdicts: dict[str, set[str]] = {}
    for case in junit.iter("testcase"):
        failure, error = case.find("failure"), case.find("error")
        assert error is None, f"{case.get('name')} was not arranged: {error.get('message')}"
        lines = (failure.text or "").split("\n\n")[0].splitlines() if failure is not None else []
        verdicts[str(case.get("name"))] = {line.split(":", 1)[0] for line in lines}
    return verdicts


def exercise(
    tmp_path: Path, provider: str, command: Sequence[str], scenarios: Sequence[str] = (),
    options: Sequence[str] = (),
) -> Report:  # fmt: skip
    """Run the exercise command; its exit status and the reports it wrote."""
    junit, markdown = tmp_path / "exercise.xml", tmp_path / "exercise.md"
    argv = ["--provider", provider, *FAST, *options]
    argv += ["--junit-xml", str(junit), "--markdown", str(markdown)]
    for scenario in scenarios:
        argv += ["--scenario", scenario]
    code = main([*argv, "--", *command])
    root = ET.parse(junit).getroot()
    return Report(code, _verdicts(root), root, markdown.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _from_the_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python clients run as ``python -m tests.exercise.clients.NAME``."""
    monkeypatch.chdir(ROOT)


# the good clients pass everything -----------------------------------------------------


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_the_good_python_client_passes_every_scenario(tmp_path: Path, provider: str) -> None:
    report = exercise(tmp_path, provider, python_client("good"))
    everything = {s.name for s in scenarios_for(provider_named(provider))}
    assert set(report.verdicts) == everything
    assert report.failed() == {}, report.markdown
    assert report.code == 0
    assert "## What went wrong" not in report.markdown
    suite = report.junit.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == (str(len(everything)), "0")


def test_the_node_client_passes_every_scenario(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail("node is missing, and CI must run the Node client")
        pytest.skip("node (Node.js 18 or later) is missing: `make node` installs it")
    command = ["node", str(NODE_CLIENT), "--base-url", "{base_url}", "--api-key", "{api_key}"]
    command += ["--provider", "{provider}", "--timeout", "1"]
    report = exercise(tmp_path, "seedance2ai", command)
    assert len(report.verdicts) == len(scenarios_for(provider_named("seedance2ai")))
    assert report.failed() == {}, report.markdown
    assert report.code == 0


# each bad client fails where its flaw shows, and only there ---------------------------

BAD_CLIENTS = {
    "never_retries": (
        ["clean", "rate_limited_poll", "internal_error_poll", "dropped_submit", "failed_task"],
        {
            "rate_limited_poll": {"gets_the_video"},
            "internal_error_poll": {"gets_the_video"},
            "dropped_submit": {"gets_the_video"},
        },
    ),
    "retries_without_waiting": (
        ["clean", "rate_limited_submit", "service_busy_poll", "internal_error_poll"],
        {
            "rate_limited_submit": {"honours_retry_after"},
            "service_busy_poll": {"honours_retry_after"},
        },
    ),
    "new_key_each_retry": (
        [
            "clean",
            "rate_limited_poll",
            "internal_error_submit",
            "dropped_submit",
            "slow_answer_submit",
        ],
        {
            "internal_error_submit": {"retried_submit_keeps_key"},
            "dropped_submit": {"retried_submit_keeps_key"},
            # the held first attempt is processed after all: a second task, a second charge
            "slow_answer_submit": {"no_double_charge"},
        },
    ),
    "polls_forever": (["failed_task", "stuck_task"], {"stuck_task": {"gives_up_in_time"}}),
}


@pytest.mark.parametrize("client", list(BAD_CLIENTS))
def test_a_bad_client_fails_exactly_where_its_flaw_shows(tmp_path: Path, client: str) -> None:
    scenarios, expected = BAD_CLIENTS[client]
    options = ["--time-limit", "3"] if client == "polls_forever" else []
    report = exercise(tmp_path, "seedance2ai", python_client(client), scenarios, options)
    assert report.failed() == expected, report.markdown
    assert report.code == 1
    for scenario in expected:
        assert f"### {scenario}" in report.markdown


def test_a_client_that_dies_without_a_word_is_a_silent_crash(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "raise SystemExit(3)"]
    report = exercise(tmp_path, "seedanceapi", command, ["clean", "failed_task"])
    assert report.failed() == {
        "clean": {"no_silent_crash", "gets_the_video"},
        "failed_task": {"no_silent_crash"},
    }


# what the client is given, and what can be configured ---------------------------------

SHOW_ENVIRONMENT = (
    "import json, os, sys; print(json.dumps({'argv': sys.argv[1:], "
    "'env': {k: v for k, v in os.environ.items() if k.startswith('SEEDANCE')}}))"
)


def test_the_client_gets_the_url_and_key_in_its_environment_and_arguments(tmp_path: Path) -> None:
    command = [sys.executable, "-c", SHOW_ENVIRONMENT, "{provider_base_url}", "{api_key}"]
    report = exercise(tmp_path, "seedanceapi", command, ["clean"], ["--rule-off", "gets_the_video"])
    assert report.code == 0  # exits 0 without the video, but that rule is off
    shown = json.loads(report.junit.findtext(".//system-out") or "")
    url, key = shown["argv"]
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/v1")
    assert key.startswith("sa_exercise_")
    shown = shown["env"]
    assert shown["SEEDANCEAPI_BASE_URL"] == url
    assert shown["SEEDANCEAPI_API_KEY"] == key
    assert shown["SEEDANCE_MOCK_BASE_URL"] + "/v1" == url
    assert (shown["SEEDANCE_MOCK_PROVIDER"], shown["SEEDANCE_MOCK_TIME_SCALE"]) == (
        "seedanceapi",
        "600",
    )


def test_list_scenarios_documents_scenarios_rules_and_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--list-scenarios", "--set", "retry_after=45"]) == 0
    listing = capsys.readouterr().out
    for scenario in scenarios_for(provider_named("seedance2ai")):
        assert f"  {scenario.name}: " in listing
    assert "honours_retry_after: " in listing
    assert "Retry-After 45 s" in listing
    assert "time_limit = 60.0" in listing


def test_add_parser_makes_it_a_subcommand_of_seedance_mock() -> None:
    parser = argparse.ArgumentParser(prog="seedance-mock")
    add_parser(parser.add_subparsers(dest="command", required=True))  # as mockserver/cli.py
    args = parser.parse_args(["exercise", "--provider", "seedanceapi", "--", "node", "gen.mjs"])
    assert (args.command, args.provider) == ("exercise", "seedanceapi")
    assert args.client_command == ["--", "node", "gen.mjs"]
    listing = parser.parse_args(["exercise", "--list-scenarios"])
    assert listing.run(listing) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["--provider", "seedanceapi", "--scenario", "rate_limited_poll", "--", "true"],
        ["--provider", "seedance2ai", "--scenario", "no_such_thing", "--", "true"],
        ["--provider", "seedance2ai", "--rule-off", "be_nice", "--", "true"],
        ["--provider", "seedance2ai", "--set", "retry_after=soon", "--", "true"],
        ["--provider", "seedance2ai"],
    ],
)
def test_a_run_that_cannot_be_made_exits_2_with_a_message(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("seedance-mock exercise: ")
