"""The stateful contract test: a Hypothesis rule-based state machine per provider.

It submits, replays, reuses keys with other bodies, polls (as the owner, as
another account, without credentials, for ids never issued) and, on a
simulator, moves the clock, forces outcomes and injects one-shot faults. Every
answer runs through every check; after every step the invariants hold: each
balance is start − charges + refunds, and no task's status went backwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from contracts import scenarios
from contracts.context import DriftSink, Expectation
from contracts.conversation import Conversation
from contracts.dialect import Body, moved_forward
from contracts.strategies import valid_bodies
from contracts.target import Target

#: how far one step moves a simulator's clock (tasks take 45–360 s)
CLOCK_STEPS = (1, 30, 90, 200, 400)
OUTCOMES = ("complete", "fail")


@dataclass(frozen=True)
class Submitted:
    id: str
    body: Body  # as sent
    key: str | None


class TaskLifecycle(RuleBasedStateMachine):
    tasks = Bundle("tasks")

    def __init__(self, target: Target, provider: str, drift: DriftSink | None) -> None:
        super().__init__()
        self.conv = Conversation(target, provider, drift)
        self.api = self.conv.api
        self.definition = str(self.api.submit.body)
        grid = self.conv.spec.price_grid(self.api.submit.name)
        self.cheapest = min(price.credits for _combo, price in grid)

    def _body(self, data: st.DataObject) -> Body:
        return data.draw(valid_bodies(self.conv.spec, self.definition))

    def _affordable(self) -> bool:
        return self.conv.target.budget.remaining() >= self.cheapest

    def _has_controls(self) -> bool:
        return self.conv.target.controls is not None

    def _idempotent(self) -> bool:
        return self.api.idempotency_header is not None and self._affordable()

    @initialize()
    def open_accounts(self) -> None:
        _ = self.conv.accounts  # skips the test when the target has no keys

    def teardown(self) -> None:
        if self.conv.ctx.drift is not None:
            self.conv.ctx.drift.after_example()

    # the caller's requests -------------------------------------------------------
    @precondition(_affordable)
    @rule(target=tasks, data=st.data())
    def submit(self, data: st.DataObject) -> Submitted:
        key = self.conv.new_idempotency_key()
        accepted = self.conv.submit(
            self._body(data), idempotency_key=key, expect=scenarios.ACCEPTED
        )
        return Submitted(self.conv.task_id(accepted), accepted.request_body, key)

    @precondition(_idempotent)
    @rule(task=tasks)
    def replay(self, task: Submitted) -> None:
        again = Expectation.accepted("the same body again under the same Idempotency-Key")
        self.conv.submit(task.body, idempotency_key=task.key, expect=again)

    @precondition(_idempotent)
    @rule(task=tasks, data=st.data())
    def reuse_key_with_another_body(self, task: Submitted, data: st.DataObject) -> None:
        other = self.conv.prepare(self._body(data))
        assume(other != task.body)
        kind = self.api.error_kind(self.api.submit, 409)
        assert kind is not None
        self.conv.submit(
            other, idempotency_key=task.key, expect=Expectation.refused(kind, "a used key")
        )

    @rule(task=tasks)
    def poll(self, task: Submitted) -> None:
        self.conv.poll(task.id, expect=scenarios.READ_BACK)

    @precondition(lambda self: bool(self.conv.ctx.tasks))
    @rule()
    def poll_every_task(self) -> None:
        """What a client's status loop does: read every task it created."""
        for task_id in list(self.conv.ctx.tasks):
            self.conv.poll(task_id, expect=scenarios.READ_BACK)

    @rule()
    def poll_unknown_task(self) -> None:
        scenarios.unknown_task_is_404(self.conv)

    @precondition(lambda self: self.conv.has_second_account)
    @rule(task=tasks)
    def poll_as_another_account(self, task: Submitted) -> None:
        kind = self.api.error_kind(self.api.poll, 404)
        assert kind is not None
        expect = Expectation.refused(kind, "another account's task")
        self.conv.poll(task.id, caller="B", expect=expect)

    @rule(data=st.data())
    def call_without_credentials(self, data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(sorted(self.conv.spec.operations)))
        caller = data.draw(st.sampled_from(scenarios.CALLERS_WITHOUT_CREDENTIALS))
        scenarios.calls_without_credentials_are_refused(self.conv, operation, caller)

    # the simulator's controls ----------------------------------------------------------
    @precondition(_has_controls)
    @rule(seconds=st.sampled_from(CLOCK_STEPS))
    def advance_clock(self, seconds: int) -> None:
        self.conv.advance_clock(seconds)

    @precondition(_has_controls)
    @rule(task=tasks, outcome=st.sampled_from(OUTCOMES))
    def force_outcome(self, task: Submitted, outcome: str) -> None:
        self.conv.force(task.id, outcome)

    @precondition(lambda self: self._has_controls() and self._affordable())
    @rule(data=st.data())
    def submit_during_fault(self, data: st.DataObject) -> None:
        condition = data.draw(st.sampled_from(self.api.fault_conditions(self.api.submit)))
        with self.conv.fault(condition, self.api.submit) as kind:
            expect = Expectation.refused(kind, f"an injected {condition}")
            self.conv.submit(self._body(data), expect=expect)

    @precondition(_has_controls)
    @rule(task=tasks, data=st.data())
    def poll_during_fault(self, task: Submitted, data: st.DataObject) -> None:
        condition = data.draw(st.sampled_from(self.api.fault_conditions(self.api.poll)))
        with self.conv.fault(condition, self.api.poll) as kind:
            self.conv.poll(task.id, expect=Expectation.refused(kind, f"an injected {condition}"))

    # invariants --------------------------------------------------------------------------
    @invariant()
    def balance_is_start_minus_charges_plus_refunds(self) -> None:
        self.conv.verify_balance()

    @invariant()
    def lifecycle_only_moves_forward(self) -> None:
        for task_id, seen in self.conv.ctx.statuses.items():
            assert moved_forward(seen, self.api.in_flight), f"{task_id} went back: {seen}"


def run_lifecycle(
    target: Target | Callable[[], Target],
    provider: str,
    drift: DriftSink | None,
    run_settings: settings,
) -> None:
    """Run the state machine against ``provider`` of ``target`` (or of a fresh
    target for every run, which makes a replayed run meet the same server)."""

    class Bound(TaskLifecycle):
        def __init__(self) -> None:
            super().__init__(target if isinstance(target, Target) else target(), provider, drift)

    run_state_machine_as_test(Bound, settings=run_settings)
