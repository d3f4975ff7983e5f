"""A target: where the contract suite sends requests, and on what terms.

``inprocess`` (the simulator app in this process), ``url`` (any running
server), ``live`` (the real services, keys from the environment) and
``replay`` (recorded cassettes) differ only in the objects built here: a
transport per provider, where keys come from, the controls (simulator only),
the budget and how time passes. Test bodies never ask which target they run on.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest
from hypothesis import HealthCheck, Phase, settings

from contracts.cassettes import Cassette, Recorder
from contracts.controls import Controls
from contracts.policy import Budget, Pacer, SimulatorTime, TargetTime, WallTime
from contracts.transport import HTTPTransport, Transport, WSGITransport
from mockserver.app import create_app
from mockserver.config import Config
from mockserver.spec import PROVIDERS, ProviderSpec, load_provider

TARGETS = ("inprocess", "url", "live", "replay")
#: credits of each account the suite opens on a simulator
SIMULATOR_CREDITS = 10_000_000
#: the in-process simulator renders outputs this many times smaller (file sizes
#: are not part of the HTTP contract; small files keep the suite fast)
MEDIA_SHRINK = 20


#: Hypothesis examples of each target relative to the in-process suite: a real
#: server is slower, and every live request counts against a rate limit
EXAMPLE_SCALE = {"inprocess": 1.0, "url": 0.5, "live": 0.2, "replay": 1.0}


def contract_settings(target: str, examples: int, shrink: bool = True, **extra: Any) -> settings:
    """Hypothesis settings of a contract test on ``target`` (never shrinking on live:
    every replayed example is another paid, rate-limited request)."""
    shrink = shrink and target != "live"
    phases = [p for p in Phase if shrink or p is not Phase.shrink]
    return settings(
        max_examples=max(1, round(examples * EXAMPLE_SCALE[target])),
        deadline=None,
        phases=phases,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        **extra,
    )


def key_env(provider: str, label: str = "A") -> str:
    """The environment variable holding a live key: SEEDANCE2AI_API_KEY(_B)."""
    return f"{provider.upper()}_API_KEY" + ("" if label == "A" else f"_{label}")


@dataclass(frozen=True)
class Credential:
    """A key of one of the suite's accounts ("A", or "B" for isolation tests)."""

    label: str
    key: str = field(repr=False)
    env: str  # named in curl lines instead of the key
    account_id: str | None = None  # known on a simulator


@dataclass(frozen=True)
class Accounts:
    a: Credential
    b: Credential | None
    openings: dict[str, int]  # starting balance per label, when known


class AccountSource(Protocol):
    def accounts(self, provider: str) -> Accounts: ...


class MintedAccounts:
    """Fresh accounts A and B for every conversation, opened through the controls."""

    def __init__(self, controls: Controls, credits: int = SIMULATOR_CREDITS) -> None:
        self._controls = controls
        self._credits = credits

    def accounts(self, provider: str) -> Accounts:
        run = secrets.token_hex(5)
        minted = {}
        for label in ("A", "B"):
            account_id, key = (
                f"contract-{run}-{label.lower()}",
                f"sk_contract_{secrets.token_hex(12)}",
            )
            self._controls.create_account(provider, account_id, self._credits, key)
            minted[label] = Credential(label, key, key_env(provider, label), account_id)
        return Accounts(minted["A"], minted["B"], {"A": self._credits, "B": self._credits})


class EnvironmentAccounts:
    """The user's own keys, from SEEDANCE2AI_API_KEY / SEEDANCEAPI_API_KEY (+ _B)."""

    def __init__(self, environ: Mapping[str, str], target: str) -> None:
        self._environ = environ
        self._target = target

    def accounts(self, provider: str) -> Accounts:
        env, env_b = key_env(provider), key_env(provider, "B")
        key, key_b = self._environ.get(env, ""), self._environ.get(env_b, "")
        if not key:
            pytest.skip(
                f"the {self._target} target needs an API key for {provider}: set {env} "
                f"(and {env_b}, a key of a second account, for the isolation tests); "
                "calls that cost credits also need --max-credits N"
            )
        b = Credential("B", key_b, env_b) if key_b else None
        return Accounts(Credential("A", key, env), b, {})

    def secrets(self) -> list[str]:
        return [
            v for p in PROVIDERS for label in "AB" if (v := self._environ.get(key_env(p, label)))
        ]


class NoAccounts:
    def __init__(self, reason: str) -> None:
        self._reason = reason

    def accounts(self, provider: str) -> Accounts:
        pytest.skip(self._reason)


@dataclass
class Target:
    name: str
    description: str
    transports: Mapping[str, Transport]  # per provider
    accounts: AccountSource
    budget: Budget
    pacer: Pacer
    profile: str = "documented"
    controls: Controls | None = None
    recorder: Recorder | None = None
    cassettes: tuple[Cassette, ...] = ()
    #: replace user-supplied URLs with reserved example domains (never reach third parties)
    reserved_hosts: bool = False
    secret_values: list[str] = field(default_factory=list, repr=False)

    def spec(self, provider: str) -> ProviderSpec:
        return load_provider(provider, self.profile)

    def transport(self, provider: str) -> Transport:
        """The transport to ``provider``; skips the test on a target that sends
        no new requests (replay)."""
        if provider not in self.transports:
            self.accounts.accounts(provider)  # skips, saying why
            raise LookupError(f"{self.name} target has no transport to {provider}")
        return self.transports[provider]

    @property
    def clock(self) -> TargetTime:
        return self.pacer.clock


def _tiny_media(profile: str) -> dict[str, Any]:
    def small(n: int) -> int:
        return max(2, n // MEDIA_SHRINK // 2 * 2)

    return {
        name: {
            "media": {
                "geometry": {
                    res: {ratio: [small(w), small(h)] for ratio, (w, h) in sizes.items()}
                    for res, sizes in load_provider(name, profile).profile.media.geometry.items()
                }
            }
        }
        for name in PROVIDERS
    }


def simulator_config(profile: str = "documented", seed: int | None = None, **kw: Any) -> Config:
    """The in-process simulator: manual clock, no background thread, small media files."""
    return Config(
        profile=profile, clock="manual", background=False, seed=seed,
        overrides=_tiny_media(profile), **kw,
    )  # fmt: skip


def _simulator(
    name: str, description: str, transport: Transport, controls: Controls, **kw: Any
) -> Target:
    return Target(
        name, description, dict.fromkeys(PROVIDERS, transport), MintedAccounts(controls),
        Budget(None), Pacer(SimulatorTime(controls)), controls=controls, **kw,
    )  # fmt: skip


def inprocess_target(profile: str = "documented", app: Any = None, **config: Any) -> Target:
    """The simulator app in this process (``app``: any WSGI wrapper of one)."""
    transport = WSGITransport(app or create_app(simulator_config(profile, **config)))
    description = f"in-process simulator (profile {profile})"
    return _simulator("inprocess", description, transport, Controls(transport), profile=profile)


def url_target(
    base_url: str,
    profile: str = "documented",
    admin_token: str | None = None,
    max_credits: int = 0,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """Any running server: a simulator when it has a control API, else keys from
    the environment and a hard budget, as on live."""
    transport = HTTPTransport(base_url)
    controls = Controls.probe(transport, admin_token)
    if controls is not None:
        description = f"simulator at {base_url} (profile {profile})"
        return _simulator("url", description, transport, controls, profile=profile)
    accounts = EnvironmentAccounts(environ or {}, "url")
    return Target(
        "url", f"{base_url} (profile {profile})", dict.fromkeys(PROVIDERS, transport), accounts,
        Budget(max_credits), Pacer(WallTime()), profile=profile, reserved_hosts=True,
        secret_values=accounts.secrets(),
    )  # fmt: skip


def live_target(
    profile: str = "documented", max_credits: int = 0, environ: Mapping[str, str] | None = None
) -> Target:
    """The real services, with the user's keys and a hard credit budget."""
    # The last server of api.json: seedance2ai's apex redirects to www and drops
    # Authorization on the way (observed), so live calls go to www directly.
    transports = {p: HTTPTransport(load_provider(p).api["servers"][-1]["url"]) for p in PROVIDERS}
    accounts = EnvironmentAccounts(environ or {}, "live")
    hosts = ", ".join(t.base_url for t in transports.values())
    return Target(
        "live", f"live services ({hosts}), budget {max_credits} credits",
        dict(transports), accounts, Budget(max_credits), Pacer(WallTime()), profile=profile,
        reserved_hosts=True, secret_values=accounts.secrets(),
    )  # fmt: skip


def replay_target(cassettes: tuple[Cassette, ...], profile: str = "documented") -> Target:
    """Recorded exchanges, re-checked against today's schemas without keys."""
    reason = "the replay target only re-checks recorded cassettes (test_recorded.py)"
    return Target(
        "replay", f"{len(cassettes)} recorded cassette(s) (profile {profile})", {},
        NoAccounts(reason), Budget(None), Pacer(WallTime()), profile=profile, cassettes=cassettes,
    )  # fmt: skip
