"""The scenarios: one failure each, arranged through the control API.

Each scenario is data: the fault rules it adds (on the submit or the status
call), the account it sets up (balance, revoked key), what happens to the
client's task once it exists, and what a client can at best achieve there
(``expect``: the video, a reported failure, or either). :func:`arrange` builds
it on a freshly reset simulator; a :class:`TaskWatcher` acts on the task.

A scenario with ``on_task`` runs on a *held* simulator, whose tasks never end
on their own (see :mod:`~mockserver.exercise.simulator`): the watcher's call
decides the task's fate, however late it comes.

Injected errors are the provider's documented ones, with the provider's own
codes and envelope (the simulator renders them); real conditions are used
where the control API can make them: an empty balance for insufficient
credits, a revoked key for unauthorized. A 429 comes from a fault rule, with
an exact Retry-After, because a real burst up to the documented limit would
itself take simulated time on a fast clock; the real limiter still runs
throughout.

A scenario applies to a provider whose spec documents each condition it
arranges on the call it arranges it on (the operation's api.json
``responses``; see :class:`~mockserver.exercise.providers.Provider`).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from mockserver.exercise.control import ControlClient, instant
from mockserver.exercise.providers import POLL, SUBMIT, Provider
from mockserver.exercise.settings import Settings

#: the account every scenario creates and hands to the client
ACCOUNT = "exercise"

SUCCESS, FAILURE, EITHER = "success", "failure", "either"
EXPECTATIONS = {
    SUCCESS: "the video: the fault is one-off and a retry gets through",
    FAILURE: "a reported failure: no video can be had",
    EITHER: "either: waiting and giving up are both fair",
}


@dataclass(frozen=True)
class Fault:
    """One fault rule on the submit or the status call."""

    operation: str  # SUBMIT | POLL
    effect: str = "error"  # "error" | "drop" | "malformed" | "latency"
    error: str | None = None  # the condition, e.g. "rate_limited"
    times: int | None = 1  # None: every matching request

    def rule(self, provider: Provider, settings: Settings) -> dict[str, Any]:
        """The fault rule's JSON for ``POST /__admin/faults``."""
        rule: dict[str, Any] = {
            "provider": provider.name,
            "method": provider.call(self.operation).method,
            "path": provider.glob(self.operation),
            "effect": self.effect,
        }
        if self.times is not None:
            rule["times"] = self.times
        if self.error is not None:
            rule["error"] = self.error
            if provider.sends_retry_after(self.error):
                rule["retry_after"] = settings.retry_after
        if self.effect == "latency":
            rule["latency_ms"] = settings.latency_ms
        return rule

    def describe(self, settings: Settings, provider: Provider) -> str:
        what = {
            "error": f"{self.error}{self._retry_after(settings, provider)}",
            "drop": "connection dropped",
            "malformed": "body cut off",
            "latency": f"answer held {settings.latency_ms} ms",
        }[self.effect]
        when = {None: "every time", 1: "once"}.get(self.times, f"{self.times} times")
        return f"{self.operation}: {what}, {when}"

    def _retry_after(self, settings: Settings, provider: Provider) -> str:
        sends = self.error is not None and provider.sends_retry_after(self.error)
        return f" (Retry-After {settings.retry_after} s)" if sends else ""


@dataclass(frozen=True)
class Scenario:
    name: str
    #: what happens, in words; ``{status}`` stands for the HTTP status of the
    #: condition arranged (the provider's errors table gives it)
    summary: str
    faults: tuple[Fault, ...] = ()
    #: (call, condition) the client meets for real: a balance of 0, a revoked key
    meets: tuple[tuple[str, str], ...] = ()
    #: the balance; None: Settings.credits
    credits: int | None = None
    revoked_key: bool = False
    #: what happens to the client's first task: fail, stall, slow, revoke_key
    on_task: str | None = None
    expect: str = SUCCESS
    #: the expectation where submits are not idempotent (a blind retry could pay twice)
    expect_without_idempotency: str | None = None

    def applies_to(self, provider: Provider) -> bool:
        """Whether ``provider`` documents every error this scenario arranges, on the
        call it arranges it on."""
        injected = [(f.operation, f.error) for f in self.faults if f.error is not None]
        return all(provider.documents(call, error) for call, error in [*injected, *self.meets])

    def summary_for(self, provider: Provider) -> str:
        """The summary, with the status ``provider`` answers the arranged condition with."""
        conditions = [f.error for f in self.faults if f.error is not None]
        conditions += [condition for _call, condition in self.meets]
        kind = provider.spec.errors.get(conditions[0]) if conditions else None
        return self.summary.format(status=kind.status if kind else "an error")

    def expectation(self, provider: Provider) -> str:
        if not provider.idempotent and self.expect_without_idempotency:
            return self.expect_without_idempotency
        return self.expect

    def arranged(self, settings: Settings, provider: Provider) -> str:
        """What the scenario sets up on ``provider``, in words."""
        parts = [fault.describe(settings, provider) for fault in self.faults]
        if self.credits is not None:
            parts.append(f"balance {self.credits}")
        if self.revoked_key:
            parts.append("key revoked")
        if self.on_task:
            parts.append(_ON_TASK[self.on_task].format(seconds=f"{settings.slow_task_seconds:g}"))
        return "; ".join(parts) or "nothing"


_ON_TASK = {
    "revoke_key": "key revoked once the task exists",
    "fail": "task failed (and refunded) once it exists",
    "stall": "task held processing forever",
    "slow": "task completed {seconds} s after creation",
}


def _once(operation: str, error: str) -> Fault:
    return Fault(operation, "error", error)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("clean", "no fault: the baseline"),
    Scenario("rate_limited_submit", "{status} on the submit", (_once(SUBMIT, "rate_limited"),)),
    Scenario("rate_limited_poll", "{status} on a status call", (_once(POLL, "rate_limited"),)),
    Scenario("service_busy_submit", "{status} on the submit", (_once(SUBMIT, "service_busy"),)),
    Scenario("service_busy_poll", "{status} on a status call", (_once(POLL, "service_busy"),)),
    Scenario("internal_error_submit", "{status} on the submit", (_once(SUBMIT, "internal_error"),)),
    Scenario("internal_error_poll", "{status} on a status call", (_once(POLL, "internal_error"),)),
    Scenario(
        "insufficient_credits",
        "{status}: the balance is 0",
        meets=((SUBMIT, "insufficient_credits"),),
        credits=0,
        expect=FAILURE,
    ),
    Scenario(
        "unauthorized_submit",
        "{status}: the key is revoked before the run",
        meets=((SUBMIT, "unauthorized"),),
        revoked_key=True,
        expect=FAILURE,
    ),
    Scenario(
        "unauthorized_poll",
        "{status}: the key is revoked once the task exists",
        meets=((POLL, "unauthorized"),),
        on_task="revoke_key",
        expect=FAILURE,
    ),
    Scenario(
        "not_found_poll",
        "{status} on every status call",
        (Fault(POLL, "error", "not_found", times=None),),
        expect=FAILURE,
    ),
    Scenario(
        "idempotency_conflict_submit",
        "{status} (key still in use) on the submit",
        (_once(SUBMIT, "idempotency_conflict"),),
        expect=EITHER,
    ),
    Scenario(
        "dropped_submit",
        "connection closed without an answer on the submit",
        (Fault(SUBMIT, "drop"),),
        expect_without_idempotency=EITHER,
    ),
    Scenario("dropped_poll", "connection closed on a status call", (Fault(POLL, "drop"),)),
    Scenario(
        "cut_off_submit",
        "200 with a cut-off JSON body on the submit",
        (Fault(SUBMIT, "malformed"),),
        expect_without_idempotency=EITHER,
    ),
    Scenario(
        "cut_off_poll",
        "200 with a cut-off JSON body on a status call",
        (Fault(POLL, "malformed"),),
    ),
    Scenario(
        "slow_answer_submit",
        "the submit's answer held latency_ms (then the task is made)",
        (Fault(SUBMIT, "latency"),),
        expect_without_idempotency=EITHER,
    ),
    Scenario(
        "failed_task",
        "the task fails as soon as it exists (credits refunded)",
        on_task="fail",
        expect=FAILURE,
    ),
    Scenario(
        "slow_task",
        "the task takes slow_task_seconds (simulated) to complete",
        on_task="slow",
        expect=EITHER,
    ),
    Scenario("stuck_task", "the task stays processing forever", on_task="stall", expect=FAILURE),
)

BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}


def scenarios_for(provider: Provider, names: list[str] | None = None) -> list[Scenario]:
    """The scenarios that apply to ``provider`` (only ``names``, when given, in list order);
    ValueError for an unknown name or one that does not apply."""
    if not names:
        return [s for s in SCENARIOS if s.applies_to(provider)]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(unknown)} (see --list-scenarios)")
    missing = [n for n in names if not BY_NAME[n].applies_to(provider)]
    if missing:
        raise ValueError(f"not a {provider.name} scenario: {', '.join(missing)}")
    chosen = set(names)
    return [s for s in SCENARIOS if s.name in chosen]


# arranging ----------------------------------------------------------------------------


@dataclass
class Arrangement:
    """A scenario set up on the simulator: the client's key and what was done."""

    scenario: Scenario
    provider: Provider
    key: str
    account: str = ACCOUNT
    faults: dict[str, Fault] = field(default_factory=dict)  # rule id -> fault
    notes: list[str] = field(default_factory=list)
    #: what could not be arranged (the scenario then says nothing about the client)
    problems: list[str] = field(default_factory=list)
    watcher: TaskWatcher | None = None


def arrange(
    scenario: Scenario, provider: Provider, control: ControlClient, settings: Settings
) -> Arrangement:
    """Reset the simulator and set ``scenario`` up; the watcher is not started yet."""
    control.reset()
    key = f"{provider.key_prefix}exercise_{secrets.token_hex(8)}"
    credits = settings.credits if scenario.credits is None else scenario.credits
    control.create_account(provider.name, ACCOUNT, credits, key)
    arranged = Arrangement(scenario, provider, key, notes=[f"balance {credits} credits"])
    if scenario.revoked_key:
        control.revoke_key(provider.name, ACCOUNT, key)
        arranged.notes.append("key revoked")
    for fault in scenario.faults:
        arranged.faults[control.add_fault(fault.rule(provider, settings))] = fault
        arranged.notes.append(fault.describe(settings, provider))
    if scenario.on_task:
        arranged.watcher = TaskWatcher(control.another(), arranged, settings)
    return arranged


class TaskWatcher(threading.Thread):
    """Waits for the client's first task and does ``on_task`` to it: fail it, stall
    it, stall it and complete it ``slow_task_seconds`` after its creation, or
    revoke the client's key."""

    #: how often (real seconds) the task list is read until the task exists
    LOOK_EVERY = 0.02

    def __init__(self, control: ControlClient, arranged: Arrangement, settings: Settings) -> None:
        super().__init__(daemon=True, name=f"exercise-{arranged.scenario.name}")
        self._control = control
        self._arranged = arranged
        self._settings = settings
        self._halt = threading.Event()

    def halt(self) -> None:
        self._halt.set()
        self.join(timeout=10)
        self._control.close()

    def run(self) -> None:
        try:
            task = self._first_task()
            if task is not None:
                self._act(task)
        except Exception as exc:  # reported with the scenario: a silent thread would mislead
            action = self._arranged.scenario.on_task
            self._arranged.problems.append(f"could not {action} the task: {exc}")

    def _first_task(self) -> dict[str, Any] | None:
        arranged = self._arranged
        while not self._halt.wait(self.LOOK_EVERY):
            tasks = self._control.tasks(arranged.provider.name, arranged.account)
            if tasks:
                return min(tasks, key=lambda t: str(t["created_at"]))
        return None

    def _act(self, task: dict[str, Any]) -> None:
        action, notes, task_id = self._arranged.scenario.on_task, self._arranged.notes, task["id"]
        if action == "revoke_key":
            arranged = self._arranged
            self._control.revoke_key(arranged.provider.name, arranged.account, arranged.key)
            notes.append(f"key revoked once {task_id} existed")
        elif action == "fail":
            self._control.force(task_id, "fail", "Generation failed (seedance-mock exercise).")
            notes.append(f"{task_id} failed on purpose")
        elif action in ("stall", "slow"):
            self._control.force(task_id, "stall")
            notes.append(f"{task_id} held processing")
            if action == "slow":
                self._complete_later(task_id, instant(task["created_at"]))

    def _complete_later(self, task_id: str, created: float) -> None:
        due = created + self._settings.slow_task_seconds
        while True:
            remaining = due - self._control.now()
            if remaining <= 0:
                self._control.force(task_id, "complete")
                self._arranged.notes.append(
                    f"{task_id} completed {self._settings.slow_task_seconds:g} s after creation"
                )
                return
            if self._halt.wait(min(remaining / self._settings.time_scale, 0.5)):
                return
