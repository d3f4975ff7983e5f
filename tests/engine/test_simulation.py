"""The Simulation facade without HTTP: who is calling, how often, what a
submission creates or replays, who may read a task, forced outcomes, and
reproducible draws from a seeded generator."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from mockserver.engine.clock import Clock, parse_instant
from mockserver.engine.errors import (
    IdempotencyConflict,
    InsufficientCredits,
    PurchaseRequired,
    RateLimited,
    TaskNotFound,
    Unauthorized,
)
from mockserver.engine.model import COMPLETED, FAILED, PROCESSING, Task
from mockserver.engine.simulation import Principal, Simulation, TaskRequest
from mockserver.engine.state import open_state
from mockserver.spec import PROVIDERS, load_provider

P = "seedance2ai"
START = parse_instant("2026-06-03T10:00:00Z")


def build(seed: int = 1234) -> Simulation:
    specs = {name: load_provider(name) for name in PROVIDERS}
    clock = Clock("manual", start=START)
    simulation = Simulation(specs, clock, open_state("memory"), random.Random(seed))

    def settle(_now: float) -> None:
        simulation.settle_due()

    clock.on_advance(settle)
    simulation.create_account(P, "acme", 1000, ["sk_acme", "sk_acme_2"])
    simulation.create_account(P, "other", 1000, ["sk_other"])
    return simulation


def task_request(**changes: Any) -> TaskRequest:
    body = changes.pop("body", {"prompt": "A glass train"})
    base = TaskRequest(
        params={"quality_tier": "standard", "channel": "standard", **body},
        body=body,
        credits=30,
        clip_seconds=5,
        resolution="720p",
        aspect_ratio="16:9",
        audio=True,
        origin="http://localhost",
        tier="standard",
    )
    return dataclasses.replace(base, **changes)


def credits_of(simulation: Simulation, account: str = "acme") -> int:
    found = simulation.store.get_account(P, account)
    assert found is not None
    return found.credits


@pytest.fixture
def simulation() -> Simulation:
    return build()


@pytest.fixture
def acme(simulation: Simulation) -> Principal:
    return simulation.authenticate(P, "sk_acme")


@pytest.fixture
def other(simulation: Simulation) -> Principal:
    return simulation.authenticate(P, "sk_other")


@pytest.fixture
def task(simulation: Simulation, acme: Principal) -> Task:
    return simulation.submit(acme, task_request()).task


# authenticate ---------------------------------------------------------------------


def test_valid_key_names_its_account(simulation: Simulation) -> None:
    assert simulation.authenticate(P, "sk_acme_2") == Principal(P, "acme", "sk_acme_2")


@pytest.mark.parametrize(("key", "says"), [(None, "Missing"), ("", "Missing"), ("sk_x", "Invalid")])
def test_missing_or_unknown_key_is_unauthorized(
    simulation: Simulation, key: str | None, says: str
) -> None:
    with pytest.raises(Unauthorized, match=says):
        simulation.authenticate(P, key)


def test_revoked_key_is_unauthorized_but_the_accounts_other_keys_work(
    simulation: Simulation,
) -> None:
    simulation.store.revoke_key(P, "sk_acme")
    with pytest.raises(Unauthorized, match="revoked"):
        simulation.authenticate(P, "sk_acme")
    assert simulation.authenticate(P, "sk_acme_2").account_id == "acme"


def test_keys_belong_to_one_provider(simulation: Simulation) -> None:
    with pytest.raises(Unauthorized):
        simulation.authenticate("seedanceapi", "sk_acme")


# admit --------------------------------------------------------------------------------


def _fill_window(simulation: Simulation, principal: Principal, count: int = 30) -> None:
    for _ in range(count):
        simulation.admit(principal, "read")


def test_thirty_requests_per_minute_are_admitted_then_the_exact_wait_is_given(
    simulation: Simulation, acme: Principal
) -> None:
    _fill_window(simulation, acme)
    simulation.clock.advance(20)
    with pytest.raises(RateLimited) as limited:
        simulation.admit(acme, "submit")
    assert limited.value.retry_after == 40


def test_retry_after_rounds_a_fractional_wait_up(simulation: Simulation, acme: Principal) -> None:
    _fill_window(simulation, acme)
    simulation.clock.advance(30.4)
    with pytest.raises(RateLimited) as limited:
        simulation.admit(acme, "read")
    assert limited.value.retry_after == 30


def test_retry_after_is_never_zero(simulation: Simulation, acme: Principal) -> None:
    _fill_window(simulation, acme)
    simulation.clock.advance(59.9996)
    with pytest.raises(RateLimited) as limited:
        simulation.admit(acme, "read")
    assert limited.value.retry_after == 1


def test_waiting_retry_after_gets_in(simulation: Simulation, acme: Principal) -> None:
    _fill_window(simulation, acme)
    simulation.clock.advance(12.5)
    with pytest.raises(RateLimited) as limited:
        simulation.admit(acme, "read")
    simulation.clock.advance(limited.value.retry_after)
    simulation.admit(acme, "read")


def test_rate_limit_is_per_account_not_per_key(
    simulation: Simulation, acme: Principal, other: Principal
) -> None:
    _fill_window(simulation, acme)
    with pytest.raises(RateLimited):
        simulation.admit(simulation.authenticate(P, "sk_acme_2"), "read")
    simulation.admit(other, "read")


def test_media_validations_have_their_own_limit_of_three(
    simulation: Simulation, acme: Principal
) -> None:
    for _ in range(3):
        simulation.admit(acme, "media")
    simulation.clock.advance(15)
    with pytest.raises(RateLimited, match="reference-media") as limited:
        simulation.admit(acme, "media")
    assert limited.value.retry_after == 45
    simulation.admit(acme, "read")  # the request limit is untouched


# submit and replay ------------------------------------------------------------------


def test_submit_creates_a_processing_task_and_charges(
    simulation: Simulation, acme: Principal
) -> None:
    submission = simulation.submit(acme, task_request(credits=30))
    assert not submission.replayed
    created = submission.task
    assert created.status == PROCESSING
    assert (created.account_id, created.credits, created.created_at) == ("acme", 30, START)
    assert load_provider(P).profile.task_id.matches(created.id)
    assert credits_of(simulation) == 970


def test_submit_short_of_credits_creates_nothing(simulation: Simulation, acme: Principal) -> None:
    with pytest.raises(InsufficientCredits):
        simulation.submit(acme, task_request(credits=1001, idempotency_key="k"))
    assert simulation.store.tasks(P, "acme") == []
    assert credits_of(simulation) == 1000
    # the key was not bound: the same key works once the request fits
    assert not simulation.submit(acme, task_request(idempotency_key="k")).replayed


def test_same_key_and_body_replays_without_a_second_charge(
    simulation: Simulation, acme: Principal
) -> None:
    first = simulation.submit(acme, task_request(idempotency_key="k"))
    again = simulation.submit(acme, task_request(idempotency_key="k"))
    assert again.replayed
    assert again.task.id == first.task.id
    assert len(simulation.store.tasks(P, "acme")) == 1
    assert credits_of(simulation) == 970


def test_body_key_order_does_not_matter_for_replay(simulation: Simulation, acme: Principal) -> None:
    body = {"prompt": "A glass train", "duration": "5"}
    first = simulation.submit(acme, task_request(body=body, idempotency_key="k"))
    shuffled = {"duration": "5", "prompt": "A glass train"}
    assert simulation.submit(acme, task_request(body=shuffled, idempotency_key="k")).task.id == (
        first.task.id
    )


def test_same_key_different_body_conflicts(simulation: Simulation, acme: Principal) -> None:
    simulation.submit(acme, task_request(idempotency_key="k"))
    with pytest.raises(IdempotencyConflict, match="different"):
        simulation.submit(acme, task_request(body={"prompt": "Another"}, idempotency_key="k"))
    assert credits_of(simulation) == 970


def test_any_key_of_the_account_shares_its_idempotency_keys(
    simulation: Simulation, acme: Principal
) -> None:
    first = simulation.submit(acme, task_request(idempotency_key="k"))
    second_key = simulation.authenticate(P, "sk_acme_2")
    assert simulation.submit(second_key, task_request(idempotency_key="k")).task.id == (
        first.task.id
    )


def test_another_account_may_use_the_same_key(
    simulation: Simulation, acme: Principal, other: Principal
) -> None:
    mine = simulation.submit(acme, task_request(idempotency_key="k"))
    theirs = simulation.submit(other, task_request(idempotency_key="k"))
    assert not theirs.replayed
    assert theirs.task.id != mine.task.id
    assert credits_of(simulation, "other") == 970


def test_without_a_key_every_submit_creates_a_task(simulation: Simulation, acme: Principal) -> None:
    ids = {simulation.submit(acme, task_request()).task.id for _ in range(3)}
    assert len(ids) == 3
    assert credits_of(simulation) == 910


def test_purchase_required_for_an_account_that_never_bought_credits(
    simulation: Simulation,
) -> None:
    simulation.create_account(P, "fresh", 500, ["sk_fresh"], purchased=False)
    fresh = simulation.authenticate(P, "sk_fresh")
    with pytest.raises(PurchaseRequired):
        simulation.submit(fresh, task_request(requires_purchase=True))
    assert credits_of(simulation, "fresh") == 500
    assert not simulation.submit(fresh, task_request(requires_purchase=False)).replayed


# reading and isolation --------------------------------------------------------------


def test_owner_reads_its_task_with_any_key(
    simulation: Simulation, acme: Principal, task: Task
) -> None:
    assert simulation.task(acme, task.id).id == task.id
    assert simulation.task(simulation.authenticate(P, "sk_acme_2"), task.id).id == task.id


def test_another_account_cannot_see_the_task(
    simulation: Simulation, other: Principal, task: Task
) -> None:
    with pytest.raises(TaskNotFound):
        simulation.task(other, task.id)


def test_unknown_task_is_not_found(simulation: Simulation, acme: Principal) -> None:
    with pytest.raises(TaskNotFound):
        simulation.task(acme, "sd2_000000000000")


def test_task_completes_when_its_drawn_time_has_passed(
    simulation: Simulation, acme: Principal, task: Task
) -> None:
    assert task.due_at is not None
    profile = load_provider(P).profile
    assert profile.timing.min_seconds <= task.due_at - START <= profile.timing.max_seconds
    simulation.clock.advance_to(task.due_at - 0.001)
    assert simulation.task(acme, task.id).status == PROCESSING
    simulation.clock.advance_to(task.due_at)
    done = simulation.task(acme, task.id)
    assert (done.status, done.updated_at) == (COMPLETED, task.due_at)


# force --------------------------------------------------------------------------------


def test_force_completes_now_and_announces_the_end(
    simulation: Simulation, acme: Principal, task: Task
) -> None:
    ended: list[Task] = []
    simulation.on_task_end.append(ended.append)
    simulation.clock.advance(7)
    forced = simulation.force(task.id, COMPLETED)
    assert (forced.status, forced.updated_at) == (COMPLETED, START + 7)
    assert [t.id for t in ended] == [task.id]


def test_force_failure_refunds_and_uses_the_given_error(
    simulation: Simulation, acme: Principal, task: Task
) -> None:
    forced = simulation.force(task.id, FAILED, "moderation", "Blocked by moderation.")
    assert (forced.status, forced.refunded) == (FAILED, 30)
    assert (forced.error_code, forced.error_message) == ("moderation", "Blocked by moderation.")
    assert credits_of(simulation) == 1000


def test_force_processing_keeps_the_task_running_forever(
    simulation: Simulation, acme: Principal, task: Task
) -> None:
    ended: list[Task] = []
    simulation.on_task_end.append(ended.append)
    simulation.force(task.id, PROCESSING)
    simulation.clock.advance(7 * 86400)
    assert simulation.task(acme, task.id).status == PROCESSING
    assert ended == []


def test_force_refuses_unknown_tasks_outcomes_and_ended_tasks(
    simulation: Simulation, task: Task
) -> None:
    with pytest.raises(TaskNotFound):
        simulation.force("sd2_000000000000", COMPLETED)
    with pytest.raises(ValueError, match="outcome"):
        simulation.force(task.id, "queued")
    simulation.force(task.id, COMPLETED)
    with pytest.raises(ValueError, match="already ended"):
        simulation.force(task.id, FAILED)


# seeds and reproducibility ----------------------------------------------------------


def _draws(simulation: Simulation) -> list[tuple[str, int, float | None]]:
    principal = simulation.authenticate(P, "sk_acme")
    tasks = [simulation.submit(principal, task_request()).task for _ in range(5)]
    return [(t.id, t.seed, t.due_at) for t in tasks]


def test_same_generator_seed_gives_the_same_ids_seeds_and_timings() -> None:
    assert _draws(build(7)) == _draws(build(7))


def test_different_generator_seed_gives_different_draws() -> None:
    assert _draws(build(7)) != _draws(build(8))


@pytest.mark.parametrize("seed", [0, 123, 4294967295])
def test_requested_seed_is_used(simulation: Simulation, acme: Principal, seed: int) -> None:
    assert simulation.submit(acme, task_request(seed=seed)).task.seed == seed


@pytest.mark.parametrize("seed", [None, -1])
def test_missing_or_minus_one_seed_draws_one_in_range(
    simulation: Simulation, acme: Principal, seed: int | None
) -> None:
    drawn = {simulation.submit(acme, task_request(seed=seed)).task.seed for _ in range(5)}
    assert all(0 <= s <= 4294967295 for s in drawn)
    assert len(drawn) == 5
