"""Settings declared once: each is a dataclass field with its help, and the
command-line flag and environment variable are derived from it.

``setting(default, "help", ...)`` declares a field of ``Config`` (or of
``ServeOptions``); ``add_flags(parser, cls)`` adds ``--name-with-dashes`` for
each, reading its default from ``SEEDANCE_MOCK_NAME_WITH_DASHES`` (a flag beats
its variable); ``from_args(cls, args)`` builds the object back.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

ENV_PREFIX = "SEEDANCE_MOCK_"

_T = TypeVar("_T")


def setting(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    parse: Callable[[Any], Any] | None = None,
    repeat: str | None = None,
    flag: str | None = None,
    metavar: str | None = None,
    cli: bool = True,
) -> Any:
    """A settings field. ``parse`` turns the flag's text (or list of texts, with
    ``repeat``) into the field's value; ``repeat`` makes the flag repeatable and
    is the separator of its environment variable; ``cli=False`` keeps it Python-only."""
    meta = {
        "help": help,
        "choices": choices,
        "parse": parse,
        "repeat": repeat,
        "flag": flag,
        "metavar": metavar,
        "cli": cli,
    }
    if isinstance(default, (dict, list)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _flag(field: dataclasses.Field[Any]) -> str:
    return str(field.metadata["flag"] or field.name).replace("_", "-")


def env_name(field: dataclasses.Field[Any]) -> str:
    return ENV_PREFIX + _flag(field).upper().replace("-", "_")


def _converter(cls: type, field: dataclasses.Field[Any]) -> Callable[[Any], Any]:
    """Text to the field's type (int, float, bool, str, or optional of them)."""
    kind = typing.get_type_hints(cls)[field.name]
    optional = type(None) in typing.get_args(kind)
    base = next((a for a in typing.get_args(kind) if a is not type(None)), kind)

    def convert(text: Any) -> Any:
        if optional and text in (None, ""):
            return None
        if base is bool:
            return str(text).strip().lower() in ("1", "true", "yes", "on")
        if base in (int, float):
            return base(text)
        return text

    return convert


def add_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """A flag for every field of the settings class ``cls`` shown on the command line."""
    for field in dataclasses.fields(cls):
        meta = field.metadata
        if not meta.get("cli", False):
            continue
        env = env_name(field)
        default = field.default if field.default is not dataclasses.MISSING else None
        shown = "" if default in (None, (), "", False) else f" (default: {default})"
        options: dict[str, Any] = {"dest": field.name, "metavar": meta["metavar"]}
        if meta["repeat"]:
            options["action"] = "append"
            text = f"{meta['help']}{shown}. Repeatable. Env: {env}, '{meta['repeat']}'-separated."
        elif typing.get_type_hints(cls)[field.name] is bool:
            options["action"] = "store_true"
            options.pop("metavar")
            text = f"{meta['help']}. Env: {env}."
        else:
            options["choices"] = meta["choices"]
            text = f"{meta['help']}{shown}. Env: {env}."
        parser.add_argument(f"--{_flag(field)}", help=text, default=None, **options)


def from_args(
    cls: type[_T], args: argparse.Namespace, environ: Mapping[str, str] = os.environ
) -> _T:
    """``cls`` built from parsed flags, then environment variables, then defaults."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        meta = field.metadata
        if not meta.get("cli", False):
            continue
        given = getattr(args, field.name, None)
        env = environ.get(env_name(field))
        if meta["repeat"]:
            items = [i.strip() for i in (env or "").split(meta["repeat"]) if i.strip()]
            items += list(given or [])
            if not items:
                continue
            raw: Any = items
        elif given not in (None, False):
            raw = given
        elif env is not None:
            raw = env
        else:
            continue
        parse = meta["parse"] or _converter(cls, field)
        values[field.name] = parse(raw)
    return cls(**values)
