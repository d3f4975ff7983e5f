"""One test's talk with a target about one provider.

Requests go out through the target's transport, paced under the documented
rate limits and within the credit budget; every answer (a refusal that is
retried included) runs through every check against the model of what the
conversation did so far. Tests say what they send and what the spec expects;
they never ask which target they are talking to.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from contracts.checks import Finding, report, run_checks
from contracts.context import CheckContext, DriftSink, Expectation
from contracts.controls import Controls
from contracts.dialect import Body, ProviderAPI
from contracts.exchange import ANONYMOUS, EMPTY_ACCOUNT, Exchange
from contracts.policy import on_reserved_hosts
from contracts.target import Accounts, Credential, Target
from contracts.transport import Transport
from mockserver.spec import PROFILES, ErrorKind, Operation, load_provider

#: attempts of one request that keeps being refused with Retry-After
MAX_ATTEMPTS = 4
#: the property of a conversation (not of one exchange) that tasks end, and its cause
TASK_ENDS, NEVER_ENDS = "task_ends_in_time", "a task never ends"
#: a task still running after this many times the profile's longest task never ends
TASK_TIMEOUT_FACTOR = 1.5
_RETRYABLE = (429, 503)


class Conversation:
    """Requests to one provider of a target, each answer checked against spec/."""

    def __init__(
        self,
        target: Target,
        provider: str,
        drift: DriftSink | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.target = target
        self.spec = target.spec(provider)
        self.api = ProviderAPI(self.spec)
        self.transport = transport or target.transport(provider)
        self.ctx = CheckContext(self.api, transport=self.transport, drift=drift)
        self._accounts: Accounts | None = None
        self._empty: Credential | None = None

    # who is talking ----------------------------------------------------------
    @property
    def accounts(self) -> Accounts:
        """Accounts A and B (opened on first use; skips the test without keys)."""
        if self._accounts is None:
            self._accounts = self.target.accounts.accounts(self.api.name)
            self.ctx.openings = dict(self._accounts.openings)
            if self.target.recorder is not None:
                keys = (c.key for c in (self._accounts.a, self._accounts.b) if c is not None)
                self.target.recorder.keep_secret(*keys)
        return self._accounts

    @property
    def has_second_account(self) -> bool:
        return self.accounts.b is not None

    @property
    def controls(self) -> Controls:
        """The simulator's control API; skips the test on a target without one."""
        if self.target.controls is None:
            pytest.skip(
                f"needs the simulator's control API (/__admin); {self.target.name} has none"
            )
        return self.target.controls

    def _credential(self, caller: str) -> Credential | None:
        if caller == "A":
            return self.accounts.a
        if caller == "B":
            if self.accounts.b is None:
                pytest.skip(f"needs a second account: set {self.api.name.upper()}_API_KEY_B")
            return self.accounts.b
        if caller == EMPTY_ACCOUNT:
            if self._empty is None:
                self._empty = self.target.accounts.empty(self.api.name)
            return self._empty
        return None

    def _auth(self, caller: str) -> dict[str, str]:
        if caller == ANONYMOUS:
            return {}
        credential = self._credential(caller)
        key = credential.key if credential else f"sk_contract_unknown_{secrets.token_hex(8)}"
        if self.target.recorder is not None:
            self.target.recorder.keep_secret(key)
        return {"Authorization": f"Bearer {key}"}

    # what is sent ------------------------------------------------------------
    def new_idempotency_key(self) -> str | None:
        return f"contract-{uuid.uuid4().hex}" if self.api.idempotency_header else None

    def unknown_task_id(self) -> str:
        """An id of the documented shape that was never issued."""
        shape = self.spec.profile.task_id
        return shape.prefix + "".join(secrets.choice(shape.alphabet) for _ in range(shape.length))

    def prepare(self, body: Body, keep: frozenset[str] = frozenset()) -> Body:
        """``body`` as this target may receive it: on a budget, the cheapest
        configuration; on a real service, only reserved hosts in URLs."""
        definition = str(self.api.submit.body)
        shaped = self.target.budget.shape(self.spec, definition, body, set(keep))
        if self.target.reserved_hosts:
            return on_reserved_hosts(self.spec, definition, shaped)
        return shaped

    def cost(self, body: Body) -> int:
        """What ``body`` may be charged: its price when any profile would accept it
        (the observed profile is what the live service really accepts)."""
        definition = str(self.api.submit.body)
        profiles = [load_provider(self.api.name, p) for p in PROFILES]
        if not any(spec.validator(definition).is_valid(body) for spec in profiles):
            return 0
        price = self.api.price_of(body)
        if price is None:  # spec/ alone cannot price it: assume the dearest
            return max(p.credits for _c, p in self.spec.price_grid(self.api.submit.name))
        return price

    # requests ------------------------------------------------------------------
    def submit(
        self,
        body: Body,
        *,
        expect: Expectation,
        caller: str = "A",
        idempotency_key: str | None = None,
        keep: frozenset[str] = frozenset(),
    ) -> Exchange:
        """Create a task with ``body`` (prepared for the target); a fresh
        idempotency key unless one is given."""
        _ = self.accounts  # without keys, skip before anything is spent
        body = self.prepare(body, keep)
        header, key = self.api.idempotency_header, idempotency_key or self.new_idempotency_key()
        cost = 0 if caller == EMPTY_ACCOUNT else self.cost(body)  # nothing to charge it from
        self.target.budget.reserve(cost, f"{self.api.name} {self.api.submit.name}")
        known = set(self.ctx.tasks)
        exchange = self.send(
            self.api.submit, caller=caller, expect=expect, body=body,
            headers={header: key} if header and key else {},
        )  # fmt: skip
        accepted = self.api.accepted_id(exchange.json()) if exchange.is_json else None
        if exchange.status // 100 != 2 or accepted in known:  # refused, or a free replay
            self.target.budget.release(cost)
        return exchange

    def poll(self, task_id: str, *, expect: Expectation, caller: str = "A") -> Exchange:
        path, params = self.api.poll_request(task_id)
        return self.send(self.api.poll, caller=caller, expect=expect, path=path, params=params)

    def send(
        self,
        op: Operation,
        *,
        caller: str,
        expect: Expectation | None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        path: str | None = None,
        params: Mapping[str, str] | None = None,
        paced: bool = True,
    ) -> Exchange:
        """Send one request of ``op`` and check the answer. A paced request waits
        for room under the rate limits and is retried after Retry-After (unless
        that refusal is what the test expects); an unpaced one is sent once."""
        _ = self.accounts  # a target without keys for this provider skips here
        sent = {**self._auth(caller), **(headers or {})}
        credential = self._credential(caller) if caller in ("A", "B") else None
        who = credential.account_id or credential.label if credential else caller
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if paced:
                self.target.pacer.before(self.spec, who, op)
            got = self.transport.request(
                op.method, path or op.path, headers=sent, json=body, params=params
            )
            exchange = replace(
                got, operation=op.name, provider=self.api.name, caller=caller,
                credential=credential.env if credential else None,
            )  # fmt: skip
            expected_refusal = expect is not None and expect.status == exchange.status
            last = not paced or attempt == MAX_ATTEMPTS
            if exchange.status not in _RETRYABLE or expected_refusal or last:
                break
            self.check(exchange)  # the refusal itself must keep the contract
            self.target.pacer.retry_after(exchange.header("Retry-After"))
        self.check(exchange, expect)
        return exchange

    def resend(self, recorded: Exchange) -> Exchange:
        """Send a recorded request again (replay target) and check the answer."""
        got = self.transport.request(
            recorded.method, recorded.url, headers=recorded.request_headers,
            json=recorded.request_body,
        )  # fmt: skip
        exchange = replace(
            got, operation=recorded.operation, provider=self.api.name, caller=recorded.caller,
            credential=recorded.credential,
        )  # fmt: skip
        self.check(exchange)
        return exchange

    def check(self, exchange: Exchange, expect: Expectation | None = None) -> None:
        """Every check on ``exchange``, then let the model learn from it."""
        self.ctx.expectation = expect
        try:
            run_checks(self.ctx, exchange)
        finally:
            self.ctx.expectation = None
            self.ctx.observe(exchange)
            if self.target.recorder is not None and self.api.operation(exchange.operation):
                self.target.recorder.add(exchange)

    # tasks -----------------------------------------------------------------------
    def task_id(self, accepted: Exchange) -> str:
        found = self.api.accepted_id(accepted.json())
        assert found is not None, f"no task id in {accepted.text()[:200]}"
        return found

    def status_of(self, polled: Exchange) -> str | None:
        task = self.api.task(polled.json() if polled.is_json else None)
        return None if task is None else str(task.get(self.api.status_field))

    def wait_until_done(self, task_id: str, step: float = 15.0) -> Exchange:
        """Poll until the task leaves its in-flight states (queued, running...: on
        a simulator, waiting advances its clock; on a real service it is a real
        wait). A task still in flight after the target's task timeout is drift
        ("a task never ends"),
        and once a test has reported that, the others stop at their first poll."""
        started, timeout = self.target.clock.now(), self._task_timeout()
        while True:
            polled = self.poll(task_id, expect=Expectation.accepted("polling until the task ends"))
            if self.status_of(polled) not in self.api.in_flight:
                return polled
            waited = self.target.clock.now() - started
            known = self.ctx.drift is not None and self.ctx.drift.reported(
                self.api.name, self.api.poll.name, NEVER_ENDS
            )
            if waited >= timeout or known:
                documented = f"an end after {'/'.join(self.api.in_flight)} within {timeout:g} s"
                received = f"{self.status_of(polled)} after {waited:g} s"
                found = Finding(TASK_ENDS, self.api.status_field, documented, received, NEVER_ENDS)
                report(self.ctx, polled, [found])
                return polled  # going on past it: stop waiting
            self.target.clock.sleep(step)

    def _task_timeout(self) -> float:
        if self.target.task_timeout is not None:
            return self.target.task_timeout
        return TASK_TIMEOUT_FACTOR * self.spec.profile.timing.max_seconds

    # simulator only ------------------------------------------------------------------
    def advance_clock(self, seconds: float) -> None:
        _ = self.controls  # skips the test on a target without controls
        self.target.clock.sleep(seconds)  # the pacer's clock, so it knows time moved

    def force(self, task_id: str, outcome: str) -> Exchange:
        """Complete or fail a task now ("complete" or "fail")."""
        exchange = self.controls.force(self.api.name, task_id, outcome)
        self.check(exchange)
        return exchange

    @contextmanager
    def fault(self, condition: str, op: Operation) -> Iterator[ErrorKind]:
        """The next request of ``op`` from account A fails with ``condition``."""
        fault_id = self.controls.add_fault(
            provider=self.api.name, method=op.method, path=re.sub(r"\{\w+\}", "*", op.path),
            account=self.accounts.a.account_id, times=1, effect="error", error=condition,
        )  # fmt: skip
        try:
            yield self.spec.errors[condition]
        finally:
            self.controls.remove_fault(fault_id)

    def verify_balance(self) -> None:
        """Each account's balance is start − charges + refunds (where the target
        shows balances: a simulator; the live APIs have no balance endpoint)."""
        if self.target.controls is None:
            return
        for credential in (self.accounts.a, self.accounts.b):
            if credential is not None and credential.account_id:
                account = self.target.controls.account(
                    self.api.name, credential.account_id, credential.label
                )
                self.check(account)
