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
from importlib import resources
from pathlib import Path
from typing import Any

from mockserver.spec import PROFILES, PROVIDERS

TARGETS = ("inprocess", "url", "live", "replay")


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
    # No cache: the suite may be installed read-only in site-packages. This module
    # has imported mockserver already, so pytest cannot rewrite its plugin's asserts.
    args = [str(contracts_dir()), "-p", "no:cacheprovider", "--target", target]
    args += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    args += ["--max-credits", str(max_credits)]
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
        "server at --base-url, the live services (keys from SEEDANCE2AI_API_KEY and "
        "SEEDANCEAPI_API_KEY, plus _B variants for a second account) or recorded cassettes. "
        "Arguments after -- go to pytest.",
    )
    parser.add_argument("--provider", choices=PROVIDERS, help="default: every provider")
    parser.add_argument("--target", choices=TARGETS, default="inprocess")
    parser.add_argument("--base-url", help="server of the url target")
    parser.add_argument(
        "--max-credits", type=int, default=0,
        help="credits the live run may spend (default 0: free calls only)",
    )  # fmt: skip
    parser.add_argument("--record", metavar="DIR", help="save exchanges as cassettes in DIR")
    parser.add_argument("--junit-xml", metavar="PATH", help="write a JUnit XML report")
    parser.add_argument("--drift-report", metavar="PATH", help="write a Markdown drift report")
    parser.add_argument(
        "--spec-profile", choices=PROFILES, default="documented",
        help="hold the target to this profile of spec/ (observed: the live quirks)",
    )  # fmt: skip
    parser.add_argument("--cassettes", metavar="DIR", help="cassettes of the replay target")
    parser.add_argument("--admin-token", help="control-API token of a url simulator")
    parser.add_argument(
        "--pace", choices=("documented", "none"), default="documented",
        help="url target without a control API: stay under the documented rate limits "
        "(default) or not (a mock of the provider, e.g. Prism); live is always paced",
    )  # fmt: skip
    parser.add_argument(
        "--keep-going", action="store_true",
        help="each test goes on past drift an earlier test reported (it still fails), "
        "so that the drift report names every departure, not only the first",
    )  # fmt: skip
    parser.add_argument(
        "--task-timeout", type=float, metavar="SECONDS",
        help="how long to wait for a task to end before reporting that it never does "
        "(default: 1.5 times the longest task of the profile's timing)",
    )  # fmt: skip
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then pytest options")
    parser.set_defaults(run=run_from_args)
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    extra = ["--spec-profile", args.spec_profile, "--pace", args.pace]
    extra += ["--keep-going"] if args.keep_going else []
    options = (
        ("--cassettes", args.cassettes),
        ("--admin-token", args.admin_token),
        ("--task-timeout", None if args.task_timeout is None else str(args.task_timeout)),
    )
    for flag, value in options:
        extra += [flag, value] if value else []
    extra += [a for a in args.pytest_args if a != "--"]
    return run_contract(
        contract_args(
            provider=args.provider, target=args.target, base_url=args.base_url,
            max_credits=args.max_credits, record=args.record, junit_xml=args.junit_xml,
            drift_report=args.drift_report, extra=extra,
        )
    )  # fmt: skip
