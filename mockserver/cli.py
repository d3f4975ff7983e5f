"""The ``seedance-mock`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from mockserver.spec import PROFILES, PROVIDERS, export_openapi, load_provider


def _openapi(args: argparse.Namespace) -> int:
    document = export_openapi(load_provider(args.provider, args.profile))
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seedance-mock",
        description="Offline twin of the seedance2ai and seedanceapi video-generation APIs.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    openapi = commands.add_parser(
        "openapi", help="print a provider's OpenAPI 3.1 document, generated from spec/"
    )
    openapi.add_argument("--provider", required=True, choices=PROVIDERS)
    openapi.add_argument(
        "--profile", choices=PROFILES, default="documented", help="default: documented"
    )
    openapi.add_argument("--output", "-o", help="write to this file instead of standard output")
    openapi.set_defaults(run=_openapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
