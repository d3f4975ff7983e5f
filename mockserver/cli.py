"""The ``seedance-mock`` command line.

Every ``serve`` flag has an environment variable (SEEDANCE_MOCK_<FLAG>) and a
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
from mockserver.config import Config, load_accounts, merge_settings, parse_setting
from mockserver.engine.clock import MODES
from mockserver.spec import PROFILES, PROVIDERS, export_openapi, load_provider

ENV_PREFIX = "SEEDANCE_MOCK_"


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(ENV_PREFIX + name, default)


def _flag(
    parser: argparse.ArgumentParser, flag: str, help_text: str, default: Any = None, **kw: Any
) -> None:
    """Add ``--flag`` whose default comes from SEEDANCE_MOCK_FLAG, then ``default``."""
    env = flag.lstrip("-").upper().replace("-", "_")
    shown = "" if default is None else f" (default: {default})"
    parser.add_argument(
        flag, default=_env(env, default), help=f"{help_text}{shown}. Env: {ENV_PREFIX}{env}.", **kw
    )


def _split_env(name: str, separator: str) -> list[str]:
    return [item.strip() for item in _env(name, "").split(separator) if item.strip()]


def config_from_args(args: argparse.Namespace) -> Config:
    settings = [parse_setting(s) for s in _split_env("SET", ";") + list(args.set or [])]
    allowed = _split_env("WEBHOOK_ALLOW", ",") + list(args.webhook_allow or [])
    return Config(
        profile=args.profile,
        clock=args.clock,
        time_scale=float(args.time_scale),
        clock_start=args.clock_start,
        seed=None if args.seed in (None, "") else int(args.seed),
        accounts=load_accounts(args.accounts) if args.accounts else None,
        admin_token=args.admin_token or None,
        overrides=merge_settings(*settings),
        webhook_allow=tuple(allowed),
        media_base_url=args.media_base_url,
        media_cache_dir=args.media_cache_dir,
        journal_size=int(args.journal_size),
        store=args.store,
        auth_failure_limit=int(args.auth_failure_limit),
    )


def _serve(args: argparse.Namespace) -> int:
    from mockserver.serve import RefusedToStart, ServeOptions, serve

    try:
        config = config_from_args(args)
        options = ServeOptions(
            host=args.host,
            port=int(args.port),
            threads=None if args.threads in (None, "") else int(args.threads),
            access_log=bool(args.access_log),
            workers=int(args.workers),
            server=args.server,
        )
        serve(options, config)
    except (RefusedToStart, ValueError, OSError) as exc:
        print(f"seedance-mock: {exc}", file=sys.stderr)
        return 2
    return 0


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the simulator for both providers",
        description="Run seedance2ai (/api/v1/...) and seedanceapi (/v1/...) in one server, "
        "with the control API under /__admin. Stops cleanly on Ctrl-C or SIGTERM.",
    )
    _flag(
        serve,
        "--host",
        "address to listen on; anything but loopback needs --admin-token",
        "127.0.0.1",
    )
    _flag(serve, "--port", "port to listen on; 0 picks a free one", 8000)
    _flag(
        serve,
        "--clock",
        "real: time passes (times --time-scale); manual: only /__admin/clock/advance moves it",
        "real",
        choices=MODES,
    )
    _flag(
        serve,
        "--time-scale",
        "how many simulated seconds pass per real second (60 = a minute per second)",
        1.0,
    )
    _flag(serve, "--clock-start", "ISO 8601 instant the clock starts at (default: now)")
    _flag(
        serve,
        "--profile",
        "documented: what the provider documents say; observed: the quirks users saw live "
        "(spec/DECISIONS.md)",
        "documented",
        choices=PROFILES,
    )
    _flag(
        serve,
        "--accounts",
        "YAML or JSON file of accounts to create at start and on reset: "
        "[{provider, id, credits, keys}] (default: one demo account per provider)",
    )
    _flag(
        serve,
        "--seed",
        "seed for every random choice (task ids, timings, output seeds), for reproducible runs",
    )
    _flag(
        serve,
        "--admin-token",
        "token required as 'Authorization: Bearer TOKEN' on /__admin (required off loopback)",
    )
    _flag(
        serve,
        "--media-base-url",
        "base URL put in output links (default: the host the client called)",
    )
    _flag(
        serve,
        "--media-cache-dir",
        "directory for generated MP4/PNG files (default: a temporary directory)",
    )
    _flag(serve, "--journal-size", "how many recent requests the journal keeps", 1000)
    _flag(
        serve,
        "--threads",
        "request threads per worker (default: 16 with gunicorn, 1 with granian)",
    )
    _flag(
        serve,
        "--server",
        "the WSGI server: gunicorn (threads per worker; unparsable requests answered in the "
        "provider's envelope) or granian (about 3x the requests per second, for load tests; one "
        "thread per worker, so a latency fault delays the worker's other requests)",
        "gunicorn",
        choices=("gunicorn", "granian"),
    )
    _flag(
        serve,
        "--auth-failure-limit",
        "failed authentications allowed per client address per minute before 429 (0: no limit)",
        60,
    )
    _flag(
        serve,
        "--store",
        "where state lives: memory (one process), sqlite:PATH (workers on one host; survives "
        "restarts) or redis://HOST:PORT/DB (several hosts)",
        "memory",
    )
    _flag(serve, "--workers", "worker processes; more than 1 needs a sqlite or redis store", 1)
    serve.add_argument(
        "--access-log",
        action="store_true",
        default=bool(_env("ACCESS_LOG")),
        help="log every request to standard output. Env: SEEDANCE_MOCK_ACCESS_LOG.",
    )
    serve.add_argument(
        "--set",
        action="append",
        metavar="PROVIDER.SECTION.KEY=VALUE",
        help="override a value of spec/PROVIDER/profile.json, "
        "e.g. seedance2ai.refunds.on_failure=false "
        "(repeatable; values are JSON or strings). Env: SEEDANCE_MOCK_SET, ';'-separated.",
    )
    serve.add_argument(
        "--webhook-allow",
        action="append",
        metavar="HOST",
        help="also deliver webhooks to HOST (repeatable; '*' allows any). "
        "Loopback is always allowed. "
        "Env: SEEDANCE_MOCK_WEBHOOK_ALLOW, comma-separated.",
    )
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
    spec = load_provider(args.provider, args.profile)
    operation = next(iter(spec.operations))
    keys = spec.profile.pricing.keys
    print("| " + " | ".join(keys) + " | credits | source |")
    print("|" + "---|" * (len(keys) + 2))
    for params, price in spec.price_grid(operation):
        cells = " | ".join(str(params[k]) for k in keys)
        source = "estimate" if price.estimate else price.provenance
        print(f"| {cells} | {price.credits} | {source} |")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seedance-mock",
        description="Offline twin of the seedance2ai and seedanceapi video-generation APIs.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands)
    contract_cli.add_parser(commands)

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
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except BrokenPipeError:  # the reader (e.g. `| head`) went away: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    raise SystemExit(main())
