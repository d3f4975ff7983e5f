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
from contracts.exchange import EMPTY_ACCOUNT
from contracts.policy import Budget, Pacer, SimulatorTime, TargetTime, WallTime
from contracts.transport import HTTPTransport, Transport, WSGITransport
from mockserver.app import create_app
from mockserver.config import Config
from mockserver.spec import PROVIDERS, ProviderSpec, load_provider

#: credits of each account the suite opens on a simulator
SIMULATOR_CREDITS = 10**15  # ample in any unit (Ark bills micro-units of a currency)
#: the in-process simulator renders outputs this many times smaller (file sizes
#: are not part of the HTTP contract; small files keep the suite fast)
MEDIA_SHRINK = 20


#: Hypothesis examples of each target relative to the in-process suite: a real
#: server is slower, and every live request counts against a rate limit
EXAMPLE_SCALE = {"inprocess": 1.0, "url": 0.5, "live": 0.2, "replay": 1.0}


#: how long a test may shrink a failure it found, per target (0: no shrinking).
#: Over HTTP every shrink step is more requests (on live, paid ones), so the
#: failing example is reported as first seen; in-process, a short shrink finds a
#: smaller one, and the drift report keeps the smallest seen across the run.
SHRINK_SECONDS = {"inprocess": 0.5, "url": 0.0, "live": 0.0, "replay": 0.5}


def contract_settings(
    target: str, examples: int, shrink: bool = True, cap: int | None = None, **extra: Any
) -> settings:
    """Hypothesis settings of a contract test on ``target`` (at most ``cap``
    examples): the first failure ends the search (no hunt for other bugs), and
    only the in-process target shrinks it; elsewhere the failing example is
    reported as it was seen."""
    shrink = shrink and SHRINK_SECONDS[target] > 0
    phases = [p for p in Phase if shrink or p is not Phase.shrink]
    scaled = max(1, round(examples * EXAMPLE_SCALE[target]))
    return settings(
        max_examples=min(scaled, cap) if cap else scaled,
        deadline=None,
        phases=phases,
        report_multiple_bugs=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        **extra,
    )


def key_env(provider: str, label: str = "A") -> str:
    """The environment variable holding a live key: SEEDANCE2AI_API_KEY(_B, _EMPTY)."""
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

    def empty(self, provider: str) -> Credential:
        """An account with no credits (skips the test where there is none)."""
        ...


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

    def empty(self, provider: str) -> Credential:
        account_id = f"contract-{secrets.token_hex(5)}-empty"
        key = f"sk_contract_{secrets.token_hex(12)}"
        self._controls.create_account(provider, account_id, 0, key)
        return Credential(EMPTY_ACCOUNT, key, key_env(provider, EMPTY_ACCOUNT), account_id)


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

    def empty(self, provider: str) -> Credential:
        env = key_env(provider, EMPTY_ACCOUNT)
        if not self._environ.get(env):
            pytest.skip(f"needs a key of an account with no credits: set {env}")
        return Credential(EMPTY_ACCOUNT, self._environ[env], env)

    def secrets(self) -> list[str]:
        labels = ("A", "B", EMPTY_ACCOUNT)
        return [
            v for p in PROVIDERS for label in labels if (v := self._environ.get(key_env(p, label)))
        ]


class NoAccounts:
    def __init__(self, reason: str) -> None:
        self._reason = reason

    def accounts(self, provider: str) -> Accounts:
        pytest.skip(self._reason)

    def empty(self, provider: str) -> Credential:
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
    #: how long to wait for a task to end before reporting that it never does
    #: (None: half as long again as the longest task the profile's timing allows)
    task_timeout: float | None = None
    #: Hypothesis examples per test at most (None: what each test asks for)
    max_examples: int | None = None
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
    *,
    pace: bool = True,
) -> Target:
    """Any running server: a simulator when it has a control API, else keys from
    the environment and a hard budget, as on live (paced under the documented
    rate limits unless ``pace`` is False: a mock of the provider, e.g. Prism)."""
    transport = HTTPTransport(base_url)
    controls = Controls.probe(transport, admin_token)
    if controls is not None:
        description = f"simulator at {base_url} (profile {profile})"
        token = [admin_token] if admin_token else []
        return _simulator(
            "url", description, transport, controls, profile=profile, secret_values=token
        )
    accounts = EnvironmentAccounts(environ or {}, "url")
    return Target(
        "url", f"{base_url} (profile {profile})", dict.fromkeys(PROVIDERS, transport), accounts,
        Budget(max_credits), Pacer(WallTime(), pace), profile=profile, reserved_hosts=True,
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
