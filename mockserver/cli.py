"""The ``seedance-mock`` command line.

Every ``serve`` flag comes from a settings field (Config, ServeOptions; see
settings.py) and has an environment variable (SEEDANCE_MOCK_<FLAG>) and a
documented default; a flag beats its variable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mockserver import contract_cli
from mockserver.config import Config
from mockserver.settings import add_flags, from_args
from mockserver.spec import PROFILES, PROVIDERS, export_openapi, load_provider


def _serve(args: argparse.Namespace) -> int:
    from mockserver.serve import RefusedToStart, ServeOptions, serve

    try:
        serve(from_args(ServeOptions, args), from_args(Config, args))
    except (RefusedToStart, ValueError, OSError) as exc:
        print(f"seedance-mock: {exc}", file=sys.stderr)
        return 2
    return 0


def _add_serve(commands: Any) -> None:
    from mockserver.serve import ServeOptions

    serve = commands.add_parser(
        "serve",
        help="run the simulator for every provider",
        description="Run every provider's API in one server (paths in the banner), with the "
        "control API under /__admin. Stops cleanly on Ctrl-C or SIGTERM. Every flag also "
        "reads an environment variable; a flag beats its variable.",
    )
    add_flags(serve, ServeOptions)
    add_flags(serve, Config)
    serve.set_defaults(run=_serve)


def _openapi(args: argparse.Namespace) -> int:
    document = export_openapi(load_provider(args.provider, args.profile))
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _prices(args: argparse.Namespace) -> int:
    """One table per operation that creates tasks (every operation with a body)."""
    spec = load_provider(args.provider, args.profile)
    submits = [op for op in spec.operations.values() if op.body]
    for number, op in enumerate(submits):
        if number:
            print()
        print(f"{op.method} {op.path} ({op.name})\n")
        keys = spec.profile_for(op.name).pricing.keys
        print("| " + " | ".join(keys) + " | credits | source |")
        print("|" + "---|" * (len(keys) + 2))
        for params, price in spec.price_grid(op.name):
            cells = " | ".join(_price_key(params[k]) for k in keys)
            print(f"| {cells} | {price.credits} | {price.provenance} |")
    return 0


def _price_key(value: Any) -> str:
    """A priced field's value in the table: a list field sent or left out."""
    if value is None:
        return "(not sent)"
    if isinstance(value, list):
        return "(sent)"
    return str(value)


def _add_exercise(commands: Any, wanted: bool) -> None:
    """``exercise`` imports requests and its runner (a fifth of a second): only
    when it is the command given; otherwise a stand-in lists it in the help."""
    if wanted:
        from mockserver.exercise import add_parser

        add_parser(commands)
    else:
        commands.add_parser(
            "exercise",
            help="run a client against every failure the APIs document and judge how it copes",
            add_help=False,
        )


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line; ``argv`` (default: this process's) decides whether the
    ``exercise`` command's full parser is needed."""
    given = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog="seedance-mock",
        description="Offline twin of the seedance2ai and seedanceapi video-generation APIs.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands)
    contract_cli.add_parser(commands)
    _add_exercise(commands, given[:1] == ["exercise"])

    openapi = commands.add_parser(
        "openapi", help="print a provider's OpenAPI 3.1 document, generated from spec/"
    )
    openapi.add_argument("--provider", required=True, choices=PROVIDERS)
    openapi.add_argument(
        "--profile", choices=PROFILES, default="documented", help="default: documented"
    )
    openapi.add_argument("--output", "-o", help="write to this file instead of standard output")
    openapi.set_defaults(run=_openapi)

    prices = commands.add_parser(
        "prices", help="print a provider's price of every valid request, with each price's source"
    )
    prices.add_argument("--provider", required=True, choices=PROVIDERS)
    prices.add_argument(
        "--profile", choices=PROFILES, default="documented", help="default: documented"
    )
    prices.set_defaults(run=_prices)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        code: int = args.run(args)
    except BrokenPipeError:  # the reader (e.g. `| head`) went away: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    raise SystemExit(main())
