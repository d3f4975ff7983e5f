"""``seedance-mock exercise``: how does a client cope when the API misbehaves?

Runs any command once per scenario against a fresh simulator state, with one
failure arranged each time, and reports what the client did::

    seedance-mock exercise --provider seedance2ai -- node generate.mjs
    seedance-mock exercise --provider seedanceapi --scenario stuck_task \\
        --time-limit 30 --markdown report.md --junit-xml exercise.xml -- python gen.py
    seedance-mock exercise --list-scenarios

The client finds the simulator in SEEDANCE_MOCK_BASE_URL / SEEDANCE_MOCK_API_KEY
(and SEEDANCE2AI_* or SEEDANCEAPI_*), or in its arguments through ``{base_url}``
and ``{api_key}``. Exit status: 0 when no scenario failed, 1 when one did,
2 when the run could not be made.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from mockserver.exercise.control import ControlError
from mockserver.exercise.providers import Provider, provider_named
from mockserver.exercise.report import junit_xml, markdown, terminal
from mockserver.exercise.runner import PLACEHOLDERS, Exercise, ScenarioResult, run_exercise
from mockserver.exercise.scenarios import EXPECTATIONS, SCENARIOS, scenarios_for
from mockserver.exercise.settings import Settings, field_help
from mockserver.exercise.simulator import SimulatorFailed
from mockserver.exercise.verdicts import RULES, enabled_rules
from mockserver.spec import PROFILES, PROVIDERS

_DESCRIPTION = (
    "Run COMMAND once per scenario against a simulator with one failure arranged (errors "
    "of the provider's documents, dropped connections, slow answers, cut-off bodies, "
    "failed, slow and stuck tasks) and report what the client did: retries and their "
    "timing against Retry-After, Idempotency-Key reuse, charges, giving up. The base URL "
    "and key are in SEEDANCE_MOCK_BASE_URL and SEEDANCE_MOCK_API_KEY (also "
    + " / ".join(f"{name.upper()}_*" for name in PROVIDERS)
    + ") and replace {base_url} and {api_key} in COMMAND's arguments. "
    "Exit status: 0 when no scenario failed, 1 when one did, 2 when the run could not be made."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    parser.add_argument("--provider", choices=sorted(PROVIDERS), help="the API the client calls")
    parser.add_argument(
        "--scenario", action="append", metavar="NAME",
        help="run only this scenario (repeatable; default: all of the provider's)",
    )  # fmt: skip
    parser.add_argument(
        "--time-limit", type=float, default=defaults.time_limit, metavar="SECONDS",
        help="wall-clock seconds per scenario before the client is killed "
        f"(default: {defaults.time_limit:g})",
    )  # fmt: skip
    parser.add_argument(
        "--time-scale", type=float, default=defaults.time_scale,
        help=f"simulated seconds per real second (default: {defaults.time_scale:g})",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE",
        help="change a setting or threshold, e.g. retry_after=60 (see --list-scenarios)",
    )  # fmt: skip
    parser.add_argument(
        "--rule-off", action="append", metavar="RULE", help="do not apply this verdict rule"
    )
    parser.add_argument(
        "--profile", choices=PROFILES, default=PROFILES[0],
        help="the simulator's profile (default: documented)",
    )  # fmt: skip
    parser.add_argument("--markdown", metavar="FILE", help="write the report in Markdown")
    parser.add_argument(
        "--junit-xml", metavar="FILE", help="write JUnit XML: one test case per scenario"
    )
    parser.add_argument(
        "--list-scenarios", action="store_true",
        help="describe the scenarios, verdict rules and settings, and exit",
    )  # fmt: skip
    # not "command": seedance-mock's subparsers keep the subcommand's name there
    parser.add_argument(
        "client_command", nargs=argparse.REMAINDER, metavar="-- COMMAND",
        help="the client to run, with its arguments",
    )  # fmt: skip


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``exercise`` command to ``seedance-mock``'s subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "exercise",
        help="run a client against every failure the APIs document and judge how it copes",
        description=_DESCRIPTION,
    )
    add_arguments(parser)
    parser.set_defaults(run=run_from_args)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seedance-mock exercise", description=_DESCRIPTION)
    add_arguments(parser)
    return parser


# --list-scenarios -----------------------------------------------------------------------


def _by_provider(values: dict[str, str]) -> str:
    """One value when every provider has it, else each with its provider's name."""
    if not values:
        return "-"
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return " / ".join(f"{value} ({name})" for name, value in values.items())


def catalogue(settings: Settings, profile: str = PROFILES[0]) -> str:
    """The scenarios, rules, settings and client variables, as plain text."""
    providers = [provider_named(name, profile) for name in PROVIDERS]
    lines = ["Scenarios (providers: where it applies; expect: the best a client can do):", ""]
    for scenario in SCENARIOS:
        where = [p for p in providers if scenario.applies_to(p)]
        summary = _by_provider({p.name: scenario.summary_for(p) for p in where})
        arranged = _by_provider({p.name: scenario.arranged(settings, p) for p in where})
        expect = _by_provider({p.name: scenario.expectation(p) for p in where})
        lines += [
            f"  {scenario.name}: {summary}",
            f"      arranged: {arranged}",
            f"      providers: {', '.join(p.name for p in where) or 'none'}; expect: {expect}",
        ]
    lines += ["", "Expectations:", *(f"  {k}: {v}" for k, v in EXPECTATIONS.items())]
    lines += ["", "Verdict rules (--rule-off NAME):"]
    lines += [f"  {rule.__name__}: {(rule.__doc__ or '').strip()}" for rule in RULES]
    lines += ["", "Settings (--set KEY=VALUE; --time-scale and --time-limit set the first two):"]
    lines += [f"  {name} = {default}: {meaning}" for name, default, meaning in field_help()]
    lines += [
        "",
        "The client gets SEEDANCE_MOCK_BASE_URL, SEEDANCE_MOCK_API_KEY, SEEDANCE_MOCK_PROVIDER, "
        "SEEDANCE_MOCK_TIME_SCALE",
        "and " + " or ".join(_provider_variables(p) for p in providers) + ".",
        "Placeholders in COMMAND's arguments: "
        + ", ".join("{" + name + "}" for name in PLACEHOLDERS),
    ]
    return "\n".join(lines) + "\n"


def _provider_variables(provider: Provider) -> str:
    prefix, path = provider.env_prefix, provider.base_path
    ending = f" (ending in {path}, as its document gives the base URL)" if path else ""
    return f"{prefix}_BASE_URL{ending} / {prefix}_API_KEY"


# running ------------------------------------------------------------------------------


def _progress(result: ScenarioResult) -> None:
    verdict = result.verdict
    if result.findings:
        verdict += ": " + ", ".join(f.rule for f in result.findings)
    seconds = result.observed.client.seconds
    print(f"  {result.scenario.name:<28} {seconds:6.1f}s  {verdict}", file=sys.stderr, flush=True)


def _exercise(args: argparse.Namespace, provider: Provider, command: list[str]) -> Exercise:
    settings = Settings(time_scale=args.time_scale, time_limit=args.time_limit)
    settings = settings.assign(args.set or [])
    return Exercise(
        provider=provider,
        command=tuple(command),
        scenarios=tuple(scenarios_for(provider, args.scenario)),
        settings=settings,
        rules=enabled_rules(args.rule_off or []),
        profile=args.profile,
    )


def _write(path: str | None, text: str) -> None:
    if path:
        Path(path).write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)


def run_from_args(args: argparse.Namespace) -> int:
    command = list(args.client_command)
    if command[:1] == ["--"]:
        command = command[1:]
    try:
        if args.list_scenarios:
            settings = Settings(time_scale=args.time_scale, time_limit=args.time_limit)
            sys.stdout.write(catalogue(settings.assign(args.set or []), args.profile))
            return 0
        if not args.provider or not command:
            raise ValueError("needs --provider and a command after --, e.g. -- node generate.mjs")
        exercise = _exercise(args, provider_named(args.provider, args.profile), command)
        print(f"exercising {' '.join(command)} ({args.provider})", file=sys.stderr)
        results = run_exercise(exercise, on_result=_progress)
    except (ValueError, SimulatorFailed, ControlError, requests.RequestException, OSError) as exc:
        print(f"seedance-mock exercise: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(terminal(exercise, results))
    _write(args.markdown, markdown(exercise, results))
    _write(args.junit_xml, junit_xml(exercise, results))
    return 0 if all(r.passed for r in results) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``seedance-mock exercise`` on its own (until it is wired into ``seedance-mock``)."""
    return run_from_args(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
