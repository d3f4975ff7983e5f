"""``seedance-mock contract``: run the contract suite against a target.

The suite is the installed ``contracts`` package, run by pytest, so the same
command works from a checkout and from the wheel::

    seedance-mock contract                                  # the simulator, in-process
    seedance-mock contract --target url --base-url http://127.0.0.1:8000
    SEEDANCE2AI_API_KEY=... seedance-mock contract --target live \\
        --provider seedance2ai --max-credits 50 --drift-report drift.md
    seedance-mock contract --target replay -- -k recorded   # anything after -- goes to pytest
    seedance-mock contract --target url --base-url http://127.0.0.1:4010 \
        --pace none --keep-going --drift-report drift.md   # a mock server (Prism): every departure
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mockserver.spec import PROFILES, PROVIDERS

TARGETS = ("inprocess", "url", "live", "replay")


@dataclass(frozen=True)
class SuiteOption:
    """An option of the contract suite, declared once: pytest's (contracts/conftest.py
    adds each one) and this command's (which hands each one set on to pytest)."""

    flag: str
    settings: dict[str, Any]

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def forwarded(self, value: Any) -> list[str]:
        """The pytest arguments that pass ``value`` on (none for the default)."""
        if self.settings.get("action") == "store_true":
            return [self.flag] if value else []
        if value is None or value == self.settings.get("default"):
            return []
        return [self.flag, str(value)]


SUITE_OPTIONS = (
    SuiteOption("--target", {
        "choices": TARGETS, "default": "inprocess",
        "help": "inprocess (default): the simulator in this process; url: any server at "
        "--base-url; live: the real services (keys from SEEDANCE2AI_API_KEY, "
        "SEEDANCEAPI_API_KEY, ARK_API_KEY, +_B for a second account); replay: recorded "
        "cassettes",
    }),
    SuiteOption("--base-url", {"help": "server of the url target, e.g. http://127.0.0.1:8000"}),
    SuiteOption("--provider", {
        "choices": (*PROVIDERS, "all", "both"), "default": "all",
        "help": "one provider, or all of them (default; 'both' is an older name for all)",
    }),
    SuiteOption("--max-credits", {
        "type": int, "default": 0,
        "help": "credits the suite may spend on live (default 0: only calls that cannot cost "
        "anything: refused requests, auth failures, polls of unknown ids)",
    }),
    SuiteOption("--record", {"metavar": "DIR", "help": "save the exchanges as cassettes in DIR"}),
    SuiteOption("--cassettes", {"metavar": "DIR", "help": "cassettes of the replay target"}),
    SuiteOption("--drift-report", {"metavar": "PATH", "help": "write a Markdown drift report"}),
    SuiteOption("--spec-profile", {
        "choices": PROFILES, "default": "documented",
        "help": "hold the target to this profile of spec/ (observed: the live quirks)",
    }),
    SuiteOption("--admin-token", {"help": "control-API token of a url simulator"}),
    SuiteOption("--pace", {
        "choices": ("documented", "none"), "default": "documented",
        "help": "url target without a control API: stay under the documented rate limits "
        "(default), or none (a mock of the provider, e.g. Prism); live is always paced",
    }),
    SuiteOption("--keep-going", {
        "action": "store_true",
        "help": "a test goes on past drift an earlier test reported (and still fails), "
        "to reach what lies behind it: the drift report names every departure",
    }),
    SuiteOption("--max-examples", {
        "type": int, "metavar": "N",
        "help": "Hypothesis examples per test at most (e.g. 1 for a quick survey of a server)",
    }),
    SuiteOption("--task-timeout", {
        "type": float, "metavar": "SECONDS",
        "help": "how long a task may stay in flight before the run reports that it never "
        "ends (default: 1.5 times the longest task of the profile's timing; on a simulator "
        "the wait moves its clock)",
    }),
)  # fmt: skip


def contracts_dir() -> Path:
    """The directory of the installed contract suite (wheel or checkout)."""
    return Path(str(resources.files("contracts")))


def contract_args(
    *,
    provider: str | None,
    target: str,
    base_url: str | None,
    max_credits: int,
    record: str | None,
    junit_xml: str | None,
    drift_report: str | None,
    extra: list[str],
) -> list[str]:
    """The pytest command line of one contract run."""
    args = [*_base_args(), "--target", target, "--max-credits", str(max_credits)]
    options = {
        "--provider": provider,
        "--base-url": base_url,
        "--record": record,
        "--junitxml": junit_xml,
        "--drift-report": drift_report,
    }
    for flag, value in options.items():
        if value:
            args += [flag, value]
    return [*args, *extra]


def _base_args() -> list[str]:
    # No cache: the suite may be installed read-only in site-packages. This module
    # has imported mockserver already, so pytest cannot rewrite its plugin's asserts.
    args = [str(contracts_dir()), "-p", "no:cacheprovider"]
    return [*args, "-W", "ignore::pytest.PytestAssertRewriteWarning"]


def run_contract(args: list[str]) -> int:
    """Run the contract suite with the pytest command line ``args`` (from
    :func:`contract_args`); pytest's exit code (0: the target keeps the contract)."""
    import pytest

    return int(pytest.main(args))


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``contract`` command to ``seedance-mock``'s subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "contract",
        help="check a server against spec/ with the contract suite",
        description="Run the contract suite (pytest) against the simulator in-process, a "
        "server at --base-url, the live services (keys from SEEDANCE2AI_API_KEY, "
        "SEEDANCEAPI_API_KEY and ARK_API_KEY, plus _B variants for a second account) or "
        "recorded cassettes. "
        "Arguments after -- go to pytest.",
    )
    for option in SUITE_OPTIONS:
        parser.add_argument(option.flag, **option.settings)
    parser.add_argument("--junit-xml", metavar="PATH", help="write a JUnit XML report")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then pytest options")
    parser.set_defaults(run=run_from_args)
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    forwarded = [a for o in SUITE_OPTIONS for a in o.forwarded(getattr(args, o.dest))]
    junit = ["--junitxml", args.junit_xml] if args.junit_xml else []
    pytest_args = [a for a in args.pytest_args if a != "--"]
    return run_contract([*_base_args(), *forwarded, *junit, *pytest_args])
