"""The simulator a fuzzer throws requests at, in process or served.

- ``fuzz_config()`` / ``fuzz_serve_args(accounts_file)``: a simulator with no
  rate limit, no failed-authentication limit and a balance no fuzzer can spend,
  on ``FUZZ_KEYS`` (each provider's demo key where it has one); every provider
  of spec/ and every rate limit of its profile, so a new one needs no change.
- ``through_app(client)``: sending a ``Probe`` through the WSGI app.
- ``seed_tasks(send, control)``: real tasks (processing, completed, failed and
  another account's) whose ids the probes sometimes name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from flask.testing import FlaskClient

from mockserver.config import AccountSeed, Config
from mockserver.spec import ProviderSpec
from tests.reliability.conftest import (
    SPECS,
    Answer,
    ControlPlane,
    Probe,
    lifted_config,
    send,
)

# the simulator ------------------------------------------------------------------------------


def _key_of(spec: ProviderSpec) -> str:
    demo = spec.profile.demo_account or {}
    keys = demo.get("keys") or [f"fuzz_{spec.name}_key"]
    return str(keys[0])


#: the key of each provider's fuzz account: its demo key where it has one
FUZZ_KEYS = {name: _key_of(spec) for name, spec in SPECS.items()}
#: a second account of each provider, whose tasks the fuzz account must not see
OTHER_KEYS = {name: f"{key}_other" for name, key in FUZZ_KEYS.items()}
FUZZ_CREDITS = 10**12
HUGE_LIMIT = 10**9
CLOCK_START = "2026-06-03T10:00:00Z"


def _lifted(spec: ProviderSpec) -> dict[str, Any]:
    rules = spec.profile_json.get("rate_limits", {})
    names = [n for n, rule in rules.items() if isinstance(rule, Mapping) and "limit" in rule]
    return {"rate_limits": {name: {"limit": HUGE_LIMIT} for name in names}} if names else {}


#: every rate limit of every provider out of the way
LIFTED_OVERRIDES = {name: lifted for name, spec in SPECS.items() if (lifted := _lifted(spec))}


def fuzz_accounts() -> list[dict[str, Any]]:
    """The fuzz accounts, as an ``--accounts`` file lists them."""
    return [
        {"provider": p, "id": "fuzz", "credits": FUZZ_CREDITS, "keys": [k]}
        for p, k in FUZZ_KEYS.items()
    ]


def fuzz_config() -> Config:
    """An in-process simulator like the one ``fuzz_serve_args`` serves."""
    accounts = tuple(
        AccountSeed(a["provider"], a["id"], a["credits"], tuple(a["keys"])) for a in fuzz_accounts()
    )
    return lifted_config(accounts=accounts, overrides=LIFTED_OVERRIDES)


def fuzz_serve_args(accounts_file: str) -> tuple[str, ...]:
    """``seedance-mock serve`` flags for the simulator of ``fuzz_config`` (the file
    holds ``fuzz_accounts()``)."""
    sets = [
        ("--set", f"{provider}.rate_limits.{rule}.limit={HUGE_LIMIT}")
        for provider, lifted in LIFTED_OVERRIDES.items()
        for rule in lifted["rate_limits"]
    ]
    return (
        *("--clock", "manual", "--clock-start", CLOCK_START, "--seed", "8"),
        *("--auth-failure-limit", "0", "--accounts", accounts_file),
        *(flag for pair in sets for flag in pair),
    )


# sending probes, and tasks for them to find ----------------------------------------------------


def through_app(client: FlaskClient) -> Callable[[Probe], Answer]:
    """Sending a probe through the app's WSGI interface."""

    def sent(probe: Probe) -> Answer:
        return send(
            client,
            probe.method,
            probe.path,
            query=probe.query,
            headers=probe.headers,
            body=probe.body,
        )

    return sent


def seed_tasks(
    send: Callable[[Probe], Answer], control: ControlPlane
) -> dict[str, tuple[str, ...]]:
    """A processing, a completed and a failed task per provider, and one of another
    account, so fuzzed ids sometimes name real tasks; their ids, per provider."""
    known: dict[str, tuple[str, ...]] = {}
    for provider, key in FUZZ_KEYS.items():
        spec = SPECS[provider]
        op = next(o for o in spec.operations.values() if o.body)
        example = next(iter(spec.examples("request", op.name)))
        other = {"provider": provider, "id": "other", "credits": 10**6}
        control.call("POST", "/accounts", {**other, "keys": [OTHER_KEYS[provider]]}, expect=201)
        ids = []
        for n, owner_key in enumerate([key, key, key, OTHER_KEYS[provider]]):
            sent = {
                "Authorization": f"Bearer {owner_key}",
                "Idempotency-Key": f"seed-{n}",
                "Content-Type": "application/json",
            }
            answer = send(Probe(op.method, op.path, "", sent, json.dumps(example).encode()))
            assert answer.status // 100 == 2, answer.describe()
            data = answer.json()
            ids.append(data.get("id") or data["data"]["task_id"])
        control.call("POST", f"/tasks/{ids[1]}/complete")
        control.call("POST", f"/tasks/{ids[2]}/fail", {})
        known[provider] = tuple(ids)
    return known
