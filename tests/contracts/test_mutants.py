"""The contract suite catches real faults.

Each mutant below is the simulator broken in one way a real service could
break (a WSGI middleware rewriting its answers, or one engine call patched on
a fresh app; no product code changes). For each, the scenario the contract
suite runs is sent through the same transport and must raise a
ContractViolation naming the check that noticed; the intact simulator must
pass the very same scenario.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from contracts import scenarios
from contracts.checks import ContractViolation
from contracts.conversation import Conversation
from contracts.exchange import ANONYMOUS
from contracts.machine import run_lifecycle
from contracts.strategies import breaches
from contracts.target import Target
from mockserver.engine.errors import TaskNotFound
from mockserver.engine.simulation import Principal
from mockserver.providers.context import EXTENSION
from mockserver.runtime import Runtime
from tests.contracts.drift_proxy import Answer, Rewrite

Edit = Callable[[str, int, list[tuple[str, str]], bytes], tuple[int, list[tuple[str, str]], bytes]]
JsonEdit = Callable[[str, int, Any], Any]


def rewriting(app: Callable[..., Any], edit: Edit) -> Rewrite:
    """``app`` with ``edit(path, status, headers, body)`` applied to every answer."""

    def apply(environ: dict[str, Any], answer: Answer) -> Answer:
        return Answer(*edit(environ["PATH_INFO"], answer.status, answer.headers, answer.body))

    return Rewrite(app, apply)


def on_json(edit: JsonEdit) -> Callable[[Flask], Rewrite]:
    """A mutation editing the JSON answers of the provider paths."""

    def apply(path: str, code: int, headers: list[tuple[str, str]], body: bytes) -> Any:
        if path.startswith("/__") or not body.startswith(b"{"):
            return code, headers, body
        return code, headers, json.dumps(edit(path, code, json.loads(body))).encode()

    return lambda app: rewriting(app, apply)


def _runtime(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions[EXTENSION]
    return runtime


# the mutants ---------------------------------------------------------------------------
def _wrong_code_seedanceapi(path: str, code: int, body: Any) -> Any:
    if code == 400 and body.get("error") == "INVALID_PROMPT":
        body.update(error="INVALID_REQUEST", message="INVALID_REQUEST: bad prompt")
    return body


def _unknown_code_seedance2ai(path: str, code: int, body: Any) -> Any:
    if code == 400 and isinstance(body.get("error"), dict):
        body["error"]["code"] = "bad_request"
    return body


def _missing_field(path: str, code: int, body: Any) -> Any:
    if path.startswith("/api/v1/tasks/") and code == 200:
        body.pop("updated_at")
    return body


def _wrong_type(path: str, code: int, body: Any) -> Any:
    if path == "/api/v1/video/seedance2" and code == 202:
        body["credits_used"] = str(body["credits_used"])
    if path == "/v1/status" and code == 200:
        body["data"]["consumed_credits"] = str(body["data"]["consumed_credits"])
    return body


def _overcharge(path: str, code: int, body: Any) -> Any:
    if path == "/api/v1/video/seedance2" and code == 202:
        body["credits_used"] += 1
    return body


def _refund_beyond_charge(path: str, code: int, body: Any) -> Any:
    if path.startswith("/api/v1/tasks/") and body.get("status") == "failed":
        body["credits_refunded"] = body["credits_used"] + 10
    return body


def _back_to_processing(app: Flask) -> Rewrite:
    """A finished task reads as finished once, then as processing again."""
    finished: set[str] = set()  # of this app only

    def edit(path: str, code: int, body: Any) -> Any:
        task = body.get("data", body) if code == 200 else {}
        if task.get("status") not in ("completed", "SUCCESS"):
            return body
        task_id = task.get("id") or task.get("task_id")
        if task_id in finished:
            gone_back: dict[str, Any] = {"output": None} if "output" in task else {"response": []}
            new_status = "processing" if "output" in task else "IN_PROGRESS"
            task.update(status=new_status, **gone_back)
        finished.add(str(task_id))
        return body

    return on_json(edit)(app)


def _no_retry_after(app: Flask) -> Rewrite:
    def strip(path: str, code: int, headers: list[tuple[str, str]], body: bytes) -> Any:
        return code, [(k, v) for k, v in headers if k.lower() != "retry-after"], body

    return rewriting(app, strip)


def _double_charge_on_replay(app: Flask) -> Flask:
    runtime = _runtime(app)
    submit = runtime.simulation.submit

    def charged_again(principal: Principal, request: Any, *args: Any, **kwargs: Any) -> Any:
        done = submit(principal, request, *args, **kwargs)
        if done.replayed:
            account = runtime.store.get_account(principal.provider, principal.account_id)
            assert account is not None
            credits = account.credits - done.task.credits
            now = runtime.clock.now()
            runtime.store.set_credits(principal.provider, account.id, credits, now, "again")
        return done

    runtime.simulation.submit = charged_again  # type: ignore[method-assign]
    return app


def _foreign_task_visible(app: Flask) -> Flask:
    runtime = _runtime(app)

    def any_task(principal: Principal, task_id: str, *_args: Any) -> Any:
        runtime.simulation.settle_due()
        task = runtime.store.get_task(task_id)
        if task is None:
            raise TaskNotFound(f"No task {task_id!r}.")
        return task

    runtime.simulation.task = any_task  # type: ignore[method-assign,assignment]
    return app


def _anyone_is_demo(app: Flask) -> Flask:
    simulation = _runtime(app).simulation
    authenticate = simulation.authenticate

    def lenient(provider: str, key: str | None, *args: Any, **kwargs: Any) -> Principal:
        if key and simulation.store.resolve_key(provider, key):
            return authenticate(provider, key, *args, **kwargs)
        return Principal(provider, "demo", "anyone")

    simulation.authenticate = lenient  # type: ignore[method-assign]
    return app


# what the suite runs against them ---------------------------------------------------------
Scenario = Callable[[Conversation, st.DataObject], None]


def _example(conv: Conversation) -> dict[str, Any]:
    return dict(next(conv.spec.examples("request", conv.api.submit.name)))


def _breach(name: str) -> Scenario:
    def run(conv: Conversation, data: st.DataObject) -> None:
        definition = str(conv.api.submit.body)
        [breach] = [b for b in breaches(conv.spec, definition) if b.name == name]
        scenarios.broken_request_is_refused(
            conv, breach, data.draw(breach.bodies(conv.spec, definition))
        )

    return run


def _with_example(scenario: Callable[[Conversation, dict[str, Any]], None]) -> Scenario:
    return lambda conv, _data: scenario(conv, _example(conv))


def _failed_task_read_back(conv: Conversation, _data: st.DataObject) -> None:
    task_id = conv.task_id(conv.submit(_example(conv), expect=scenarios.ACCEPTED))
    conv.force(task_id, "fail")
    conv.poll(task_id, expect=scenarios.READ_BACK)


@dataclass(frozen=True)
class Mutant:
    name: str
    provider: str
    mutation: Callable[[Flask], Any]
    scenario: Scenario
    caught_by: str  # the check that must notice


MUTANTS = [
    Mutant("wrong error code", "seedanceapi", on_json(_wrong_code_seedanceapi),
           _breach("prompt.maxLength"), "request_gets_documented_answer"),
    Mutant("undocumented error code", "seedance2ai", on_json(_unknown_code_seedance2ai),
           _breach("prompt.minLength"), "error_envelope_is_documented"),
    Mutant("missing field", "seedance2ai", on_json(_missing_field),
           _with_example(scenarios.valid_request_is_accepted), "body_matches_schema"),
    Mutant("wrong type", "seedance2ai", on_json(_wrong_type),
           _with_example(scenarios.valid_request_is_accepted), "body_matches_schema"),
    Mutant("wrong type", "seedanceapi", on_json(_wrong_type),
           _with_example(scenarios.valid_request_is_accepted), "body_matches_schema"),
    Mutant("no Retry-After", "seedance2ai", _no_retry_after,
           lambda conv, _d: scenarios.rate_limit_answer_has_retry_after(conv),
           "retry_after_on_429"),
    Mutant("double charge on idempotent replay", "seedance2ai", _double_charge_on_replay,
           _with_example(scenarios.replay_returns_same_task),
           "balance_is_start_minus_charges_plus_refunds"),
    Mutant("completed task back to processing", "seedance2ai", _back_to_processing,
           _with_example(scenarios.finished_task_stays_finished), "lifecycle_only_moves_forward"),
    Mutant("completed task back to processing", "seedanceapi", _back_to_processing,
           _with_example(scenarios.finished_task_stays_finished), "lifecycle_only_moves_forward"),
    Mutant("another account's task visible", "seedance2ai", _foreign_task_visible,
           _with_example(scenarios.someone_elses_task_is_404), "someone_elses_task_is_404"),
    Mutant("another account's task visible", "seedanceapi", _foreign_task_visible,
           _with_example(scenarios.someone_elses_task_is_404), "someone_elses_task_is_404"),
    Mutant("charge above the price table", "seedance2ai", on_json(_overcharge),
           _with_example(scenarios.valid_request_is_accepted), "charge_matches_price_table"),
    Mutant("refund above the charge", "seedance2ai", on_json(_refund_beyond_charge),
           _failed_task_read_back, "refund_never_exceeds_charge"),
    Mutant("no credentials accepted", "seedanceapi", _anyone_is_demo,
           lambda conv, _d: scenarios.calls_without_credentials_are_refused(
               conv, "status", ANONYMOUS
           ),
           "no_auth_is_401"),
]  # fmt: skip
IDS = [f"{m.provider}:{m.name}" for m in MUTANTS]

EXAMPLES = settings(
    max_examples=3,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _checks_named(violation: ContractViolation) -> set[str]:
    every: Iterable[ContractViolation] = [violation, *violation.others]
    return {f.check for v in every for f in v.findings}


@pytest.fixture(scope="module")
def mutants(simulator: Callable[..., Target]) -> dict[str, Target]:
    return {i: simulator(m.mutation) for i, m in zip(IDS, MUTANTS, strict=True)}


@pytest.mark.parametrize("mutant", MUTANTS, ids=IDS)
@EXAMPLES
@given(data=st.data())
def test_mutant_is_caught(mutants: dict[str, Target], mutant: Mutant, data: st.DataObject) -> None:
    target = mutants[f"{mutant.provider}:{mutant.name}"]
    with pytest.raises(ContractViolation) as caught:
        mutant.scenario(Conversation(target, mutant.provider), data)
    assert mutant.caught_by in _checks_named(caught.value), str(caught.value)
    assert caught.value.exchange.status != 500, "the mutant crashed instead of misbehaving"


@pytest.mark.parametrize("mutant", MUTANTS, ids=IDS)
@EXAMPLES
@given(data=st.data())
def test_intact_simulator_passes_the_same(
    intact: Target, mutant: Mutant, data: st.DataObject
) -> None:
    mutant.scenario(Conversation(intact, mutant.provider), data)


# the state machine finds them too ---------------------------------------------------------
#: the machine stops at the first violation, so a generous bound costs only the intact runs
MACHINE = settings(EXAMPLES, max_examples=300, stateful_step_count=30)
FOUND_BY_THE_MACHINE = [
    m for m in MUTANTS
    if m.name in ("no Retry-After", "double charge on idempotent replay",
                  "completed task back to processing", "another account's task visible")
]  # fmt: skip


@pytest.mark.parametrize(
    "mutant", FOUND_BY_THE_MACHINE, ids=[f"{m.provider}:{m.name}" for m in FOUND_BY_THE_MACHINE]
)
def test_state_machine_catches(simulator: Callable[..., Target], mutant: Mutant) -> None:
    # A fresh simulator for every run: a replayed run meets the same server.
    with pytest.raises(ContractViolation) as caught:
        run_lifecycle(lambda: simulator(mutant.mutation), mutant.provider, None, MACHINE)
    assert mutant.caught_by in _checks_named(caught.value), str(caught.value)


@pytest.mark.parametrize("provider", ["seedance2ai", "seedanceapi"])
def test_state_machine_passes_the_intact_simulator(
    simulator: Callable[..., Target], provider: str
) -> None:
    run_lifecycle(simulator(), provider, None, settings(MACHINE, max_examples=25))
