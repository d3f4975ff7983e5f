"""Settings of one simulator: every command-line flag, environment variable
and Python argument lands here."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from mockserver.spec import PROFILES, PROVIDERS

#: the keys created when no accounts file is given (printed by ``serve``)
DEMO_ACCOUNTS: tuple[dict[str, Any], ...] = (
    {"provider": "seedance2ai", "id": "demo", "credits": 10000, "keys": ["sk_live_demo"]},
    {"provider": "seedanceapi", "id": "demo", "credits": 10000, "keys": ["sa_demo_key"]},
)


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
        if data.get("provider") not in PROVIDERS:
            raise ValueError(f"account provider must be one of {', '.join(PROVIDERS)}")
        credits = data.get("credits", 0)
        if not isinstance(credits, int) or isinstance(credits, bool) or credits < 0:
            raise ValueError("account credits must be a whole number >= 0")
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
    if not sep or len(parts) < 2 or parts[0] not in PROVIDERS:
        raise ValueError(
            f"bad setting {assignment!r}: expected PROVIDER.SECTION[.KEY...]=VALUE, "
            f"PROVIDER one of {', '.join(PROVIDERS)}"
        )
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


@dataclass(frozen=True)
class Config:
    """One simulator's settings (see ``seedance-mock serve --help``)."""

    profile: str = "documented"
    clock: str = "real"
    time_scale: float = 1.0
    #: ISO 8601 instant the clock starts at (default: now)
    clock_start: str | None = None
    seed: int | None = None
    accounts: tuple[AccountSeed, ...] | None = None
    admin_token: str | None = None
    #: per-provider profile.json overrides, e.g. {"seedance2ai": {"refunds": {...}}}
    overrides: Mapping[str, Any] = field(default_factory=dict)
    webhook_allow: tuple[str, ...] = ()
    media_base_url: str | None = None
    media_cache_dir: str | None = None
    journal_size: int = 1000
    #: where state lives: memory, sqlite:PATH or redis://HOST:PORT/DB
    store: str = "memory"
    #: failed authentications allowed per client address per minute (0: unlimited)
    auth_failure_limit: int = 60
    #: run the background thread that ends tasks and sends webhooks on time
    background: bool = True
    tick_seconds: float = 0.05

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {self.profile!r}")
        unknown = set(self.overrides) - set(PROVIDERS)
        if unknown:
            raise ValueError(f"overrides for unknown provider(s): {', '.join(sorted(unknown))}")

    def initial_accounts(self) -> tuple[AccountSeed, ...]:
        if self.accounts is not None:
            return self.accounts
        return tuple(AccountSeed.from_json(a) for a in DEMO_ACCOUNTS)

    def with_changes(self, **changes: Any) -> Config:
        return replace(self, **changes)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
