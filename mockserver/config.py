"""Settings of one simulator: every command-line flag, environment variable
and Python argument lands here."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from mockserver.engine.accounts import MAX_CREDITS
from mockserver.engine.clock import MODES
from mockserver.settings import setting
from mockserver.spec import PROFILES


@dataclass(frozen=True)
class AccountSeed:
    """An account to create at start (and again on reset)."""

    provider: str
    id: str
    credits: int
    keys: tuple[str, ...]
    purchased: bool = True

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccountSeed:
        unknown = set(data) - {"provider", "id", "credits", "keys", "purchased"}
        if unknown:
            raise ValueError(f"unknown account field(s): {', '.join(sorted(unknown))}")
        if not isinstance(data.get("provider"), str) or not data["provider"]:
            raise ValueError("account provider must be a provider name")
        credits = data.get("credits", 0)
        if (
            not isinstance(credits, int)
            or isinstance(credits, bool)
            or not 0 <= credits <= MAX_CREDITS
        ):
            raise ValueError(f"account credits must be a whole number from 0 to {MAX_CREDITS}")
        keys = data.get("keys", [])
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            raise ValueError("account keys must be a list of non-empty strings")
        return cls(
            data["provider"],
            str(data["id"]),
            credits,
            tuple(keys),
            bool(data.get("purchased", True)),
        )


def load_accounts(path: str | os.PathLike[str]) -> tuple[AccountSeed, ...]:
    """Accounts from a YAML or JSON file: a list, or ``{"accounts": [...]}``."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML or JSON: {exc}") from exc
    if isinstance(data, Mapping):
        data = data.get("accounts")
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of accounts (or {{accounts: [...]}})")
    return tuple(AccountSeed.from_json(item) for item in data)


def parse_setting(assignment: str) -> dict[str, Any]:
    """``"seedance2ai.refunds.on_failure=false"`` as a nested override mapping.

    The value is read as JSON when it parses as JSON, else kept as a string.
    """
    path, sep, raw = assignment.partition("=")
    parts = [p for p in path.strip().split(".") if p]
    if not sep or len(parts) < 2:
        raise ValueError(f"bad setting {assignment!r}: expected PROVIDER.SECTION[.KEY...]=VALUE")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    for part in reversed(parts):
        value = {part: value}
    result: dict[str, Any] = value
    return result


def merge_settings(*overrides: Mapping[str, Any]) -> dict[str, Any]:
    from mockserver.spec.loader import deep_merge

    merged: dict[str, Any] = {}
    for override in overrides:
        merged = deep_merge(merged, override)
    return merged


def _overrides(assignments: list[str]) -> dict[str, Any]:
    return merge_settings(*(parse_setting(a) for a in assignments))


@dataclass(frozen=True)
class Config:
    """One simulator's settings: each field is also a ``serve`` flag and an
    environment variable (see settings.py and ``seedance-mock serve --help``)."""

    profile: str = setting(
        "documented",
        "documented: what the provider documents say; observed: the quirks users saw live "
        "(spec/DECISIONS.md)",
        choices=PROFILES,
    )
    clock: str = setting(
        "real",
        "real: time passes (times --time-scale); manual: only /__admin/clock/advance moves it",
        choices=MODES,
    )
    time_scale: float = setting(
        1.0, "how many simulated seconds pass per real second (60 = a minute per second)"
    )
    clock_start: str | None = setting(None, "ISO 8601 instant the clock starts at (default: now)")
    seed: int | None = setting(
        None,
        "seed for every random choice (task ids, timings, output seeds), for reproducible runs",
    )
    accounts: tuple[AccountSeed, ...] | None = setting(
        None,
        "YAML or JSON file of accounts to create at start and on reset: "
        "[{provider, id, credits, keys}] (default: one demo account per provider)",
        parse=load_accounts,
        metavar="FILE",
    )
    admin_token: str | None = setting(
        None,
        "token required as 'Authorization: Bearer TOKEN' on /__admin (required off loopback)",
    )
    #: per-provider profile.json overrides, e.g. {"seedance2ai": {"refunds": {...}}}
    overrides: Mapping[str, Any] = setting(
        {},
        "override a value of spec/PROVIDER/profile.json, e.g. seedance2ai.refunds.on_failure=false "
        "(values are JSON or strings)",
        parse=_overrides,
        repeat=";",
        flag="set",
        metavar="PROVIDER.SECTION.KEY=VALUE",
    )
    webhook_allow: tuple[str, ...] = setting(
        (),
        "also deliver webhooks to HOST ('*' allows any); loopback is always allowed",
        parse=tuple,
        repeat=",",
        metavar="HOST",
    )
    media_base_url: str | None = setting(
        None, "base URL put in output links (default: the host the client called)"
    )
    media_cache_dir: str | None = setting(
        None, "directory for generated MP4/PNG files (default: a temporary directory)"
    )
    journal_size: int = setting(1000, "how many recent requests the journal keeps")
    #: where state lives: memory, sqlite:PATH or redis://HOST:PORT/DB
    store: str = setting(
        "memory",
        "where state lives: memory (one process), sqlite:PATH (workers on one host; survives "
        "restarts and killed workers; add ?synchronous=normal or =full to survive an operating "
        "system crash too, more slowly) or redis://HOST:PORT/DB (several hosts)",
    )
    auth_failure_limit: int = setting(
        60,
        "failed authentications allowed per client address per minute before 429 (0: no limit)",
    )
    plugins: tuple[str, ...] = setting(
        (),
        "import MODULE as a provider plug-in (it sets NAME and SPEC_DIR; see "
        "mockserver/providers/__init__.py)",
        parse=tuple,
        repeat=",",
        flag="plugin",
        metavar="MODULE",
    )
    #: run the background thread that ends tasks and sends webhooks on time
    background: bool = setting(True, "run the background clock thread", cli=False)
    tick_seconds: float = setting(0.05, "seconds between background ticks", cli=False)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {self.profile!r}")

    def with_changes(self, **changes: Any) -> Config:
        return replace(self, **changes)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
