"""MemoryStore: exact sliding windows, one task per idempotency key, atomic
charges, lifecycles that end in due order with refunds, expiry that keeps the
ledger auditable, and all of it under real threads. (What every backend promises
alike is tested on this store too, by test_store_backends.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mockserver.engine.errors import InsufficientCredits, UnknownAccount
from mockserver.engine.model import (
    COMPLETED,
    FAILED,
    PROCESSING,
    Account,
    Claimed,
    Conflict,
    IdempotencyScope,
    Replay,
    Window,
)
from mockserver.engine.state import State as MemoryStore
from mockserver.engine.state import open_state
from tests.engine.backends import (
    DAY,
    POLICY,
    T0,
    P,
    assert_ledger_adds_up,
    balance,
    make_task,
    run_threads,
)


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    memory = open_state("memory")
    memory.create_account(Account(P, "acme", 100), ["sk_acme", "sk_acme_2"], T0)
    memory.create_account(Account(P, "other", 100), ["sk_other"], T0)
    yield memory
    for account in ("acme", "other"):
        assert_ledger_adds_up(memory, account)


@pytest.fixture
def scope() -> IdempotencyScope:
    return IdempotencyScope(P, "acme", "key-1")


# accounts and keys ------------------------------------------------------------


def test_opening_balance_is_recorded_as_a_grant(store: MemoryStore) -> None:
    opening, entries = store.ledger(P, "acme")
    assert opening == 0
    assert [(e.kind, e.amount, e.balance) for e in entries] == [("grant", 100, 100)]


def test_keys_resolve_to_their_account_until_revoked(store: MemoryStore) -> None:
    key = store.resolve_key(P, "sk_acme_2")
    assert key is not None
    assert (key.account_id, key.revoked) == ("acme", False)
    store.revoke_key(P, "sk_acme_2")
    revoked = store.resolve_key(P, "sk_acme_2")
    assert revoked is not None
    assert revoked.revoked
    assert store.resolve_key(P, "sk_nobody") is None


def test_set_credits_is_an_adjustment_in_the_ledger(store: MemoryStore) -> None:
    store.set_credits(P, "acme", 40, T0 + 1, "support")
    assert balance(store) == 40
    _, entries = store.ledger(P, "acme")
    assert (entries[-1].kind, entries[-1].amount, entries[-1].balance) == ("adjustment", -60, 40)


def test_ledger_of_an_unknown_account_is_refused(store: MemoryStore) -> None:
    with pytest.raises(UnknownAccount):
        store.ledger(P, "ghost")


# rate limits ------------------------------------------------------------------


def test_window_admits_up_to_the_limit_then_says_how_long_to_wait(store: MemoryStore) -> None:
    assert store.admit([Window("b", 3, 60)], T0) is None
    assert store.admit([Window("b", 3, 60)], T0 + 10) is None
    assert store.admit([Window("b", 3, 60)], T0 + 20) is None
    assert store.admit([Window("b", 3, 60)], T0 + 30) == pytest.approx(30.0)


def test_refused_requests_are_not_counted(store: MemoryStore) -> None:
    for offset in (0, 10, 20):
        store.admit([Window("b", 3, 60)], T0 + offset)
    for _ in range(5):
        assert store.admit([Window("b", 3, 60)], T0 + 30) == pytest.approx(30.0)
    # the oldest slot frees exactly at its 60 s birthday, and only that one
    assert store.admit([Window("b", 3, 60)], T0 + 60) is None
    assert store.admit([Window("b", 3, 60)], T0 + 60) == pytest.approx(10.0)


def test_window_slides_rather_than_resetting(store: MemoryStore) -> None:
    for offset in (0, 50, 55):
        store.admit([Window("b", 3, 60)], T0 + offset)
    assert store.admit([Window("b", 3, 60)], T0 + 61) is None
    assert store.admit([Window("b", 3, 60)], T0 + 62) == pytest.approx(48.0)


def test_fractional_wait_is_exact(store: MemoryStore) -> None:
    store.admit([Window("b", 1, 60)], T0 + 0.25)
    assert store.admit([Window("b", 1, 60)], T0 + 30.5) == pytest.approx(29.75)


def test_buckets_are_independent(store: MemoryStore) -> None:
    store.admit([Window("a", 1, 60)], T0)
    assert store.admit([Window("a", 1, 60)], T0) is not None
    assert store.admit([Window("b", 1, 60)], T0) is None


def test_concurrent_admissions_admit_exactly_the_limit(store: MemoryStore) -> None:
    results = run_threads(50, lambda _i: store.admit([Window("hot", 30, 60)], T0))
    assert sum(r is None for r in results) == 30
    assert all(r == pytest.approx(60.0) for r in results if r is not None)


# idempotency --------------------------------------------------------------------


def test_first_claim_owns_the_key(store: MemoryStore, scope: IdempotencyScope) -> None:
    assert store.claim(scope, "fp", T0, POLICY) == Claimed()


def test_same_key_while_the_first_request_runs_is_in_flight(
    store: MemoryStore, scope: IdempotencyScope
) -> None:
    store.claim(scope, "fp", T0, POLICY)
    assert store.claim(scope, "fp", T0 + 1, POLICY) == Conflict("in_flight")


def test_same_key_different_body_conflicts(store: MemoryStore, scope: IdempotencyScope) -> None:
    store.claim(scope, "fp", T0, POLICY)
    assert store.claim(scope, "other", T0 + 1, POLICY) == Conflict("different_body")
    task = store.create_task(make_task(), scope, DAY)
    assert store.claim(scope, "other", T0 + 2, POLICY) == Conflict("different_body")
    assert store.claim(scope, "fp", T0 + 2, POLICY) == Replay(task.id)


def test_key_bound_to_a_task_replays_it(store: MemoryStore, scope: IdempotencyScope) -> None:
    store.claim(scope, "fp", T0, POLICY)
    task = store.create_task(make_task(), scope, DAY)
    assert store.claim(scope, "fp", T0 + 5, POLICY) == Replay(task.id)
    store.settle_due(T0 + 1000)
    assert store.claim(scope, "fp", T0 + 1000, POLICY) == Replay(task.id)


def test_released_claim_frees_the_key(store: MemoryStore, scope: IdempotencyScope) -> None:
    store.claim(scope, "fp", T0, POLICY)
    store.release(scope)
    assert store.claim(scope, "another body", T0 + 1, POLICY) == Claimed()


def test_release_never_unbinds_a_key_that_made_a_task(
    store: MemoryStore, scope: IdempotencyScope
) -> None:
    store.claim(scope, "fp", T0, POLICY)
    task = store.create_task(make_task(), scope, DAY)
    store.release(scope)
    assert store.claim(scope, "fp", T0 + 1, POLICY) == Replay(task.id)


def test_abandoned_claim_frees_the_key_after_its_lease(
    store: MemoryStore, scope: IdempotencyScope
) -> None:
    store.claim(scope, "fp", T0, POLICY)
    assert store.claim(scope, "fp", T0 + 299, POLICY) == Conflict("in_flight")
    assert store.claim(scope, "fp", T0 + 300, POLICY) == Claimed()


def test_bound_key_is_forgotten_after_its_ttl(store: MemoryStore, scope: IdempotencyScope) -> None:
    store.claim(scope, "fp", T0, POLICY)
    task = store.create_task(make_task(), scope, DAY)
    assert store.claim(scope, "fp", T0 + DAY - 1, POLICY) == Replay(task.id)
    assert store.claim(scope, "fp", T0 + DAY, POLICY) == Claimed()


def test_keys_are_scoped_per_account(store: MemoryStore, scope: IdempotencyScope) -> None:
    store.claim(scope, "fp", T0, POLICY)
    store.create_task(make_task(), scope, DAY)
    elsewhere = IdempotencyScope(P, "other", scope.key)
    assert store.claim(elsewhere, "fp", T0, POLICY) == Claimed()


# creation and charging ----------------------------------------------------------


def test_create_task_charges_and_stores_in_one_step(store: MemoryStore) -> None:
    task = make_task(credits=30)
    created = store.create_task(task, None, DAY)
    assert created.id == task.id
    assert store.get_task(task.id) == task
    assert store.task_by_media_token(task.media_token) == task
    assert balance(store) == 70
    _, entries = store.ledger(P, "acme")
    last = entries[-1]
    assert (last.kind, last.amount, last.balance, last.task_id) == ("charge", -30, 70, task.id)


def test_short_balance_creates_nothing_and_charges_nothing(
    store: MemoryStore, scope: IdempotencyScope
) -> None:
    store.claim(scope, "fp", T0, POLICY)
    _, before = store.ledger(P, "acme")
    task = make_task(credits=101)
    with pytest.raises(InsufficientCredits) as refused:
        store.create_task(task, scope, DAY)
    assert (refused.value.required, refused.value.available) == (101, 100)
    assert store.get_task(task.id) is None
    assert store.task_by_media_token(task.media_token) is None
    assert store.tasks(P, "acme") == []
    assert balance(store) == 100
    assert store.ledger(P, "acme")[1] == before
    # the key of a refused request is free again
    assert store.claim(scope, "fp", T0 + 1, POLICY) == Claimed()


def test_returned_records_are_copies(store: MemoryStore) -> None:
    task = make_task()
    store.create_task(task, None, DAY)
    copy = store.get_task(task.id)
    assert copy is not None
    copy.status = FAILED
    account = store.get_account(P, "acme")
    assert account is not None
    account.credits = 10**6
    again = store.get_task(task.id)
    assert again is not None
    assert again.status == PROCESSING
    assert balance(store) == 70


def test_concurrent_creations_never_overdraw(store: MemoryStore) -> None:
    store.set_credits(P, "acme", 7 * 30 + 10, T0, "test")  # room for exactly 7

    def create(_i: int) -> str:
        try:
            store.create_task(make_task(credits=30), None, DAY)
        except InsufficientCredits:
            return "refused"
        return "created"

    outcomes = run_threads(20, create)
    assert outcomes.count("created") == 7
    assert outcomes.count("refused") == 13
    assert len(store.tasks(P, "acme")) == 7
    assert balance(store) == 10


def test_concurrent_claim_and_create_make_one_task_per_key(
    store: MemoryStore, scope: IdempotencyScope
) -> None:
    def submit(_i: int) -> Any:
        claim = store.claim(scope, "fp", T0, POLICY)
        if isinstance(claim, Claimed):
            return store.create_task(make_task(credits=30), scope, DAY).id
        return claim

    results = run_threads(30, submit)
    created = [r for r in results if isinstance(r, str)]
    assert len(created) == 1
    assert all(isinstance(r, (Conflict, Replay)) for r in results if not isinstance(r, str))
    assert all(r.task_id == created[0] for r in results if isinstance(r, Replay))
    assert balance(store) == 70


# lifecycle --------------------------------------------------------------------------


def test_tasks_end_in_due_order_at_their_due_time(store: MemoryStore) -> None:
    late = store.create_task(make_task(credits=1, due_in=300), None, DAY)
    early = store.create_task(make_task(credits=1, due_in=100), None, DAY)
    middle = store.create_task(make_task(credits=1, due_in=200), None, DAY)
    assert store.next_due() == T0 + 100
    assert store.settle_due(T0 + 99.999) == []
    settled = store.settle_due(T0 + 250)
    assert [s.task.id for s in settled] == [early.id, middle.id]
    assert [s.task.updated_at for s in settled] == [T0 + 100, T0 + 200]
    assert all(s.task.status == COMPLETED for s in settled)
    still = store.get_task(late.id)
    assert still is not None
    assert still.status == PROCESSING
    assert store.next_due() == T0 + 300


def test_failed_task_is_refunded_in_full(store: MemoryStore) -> None:
    task = store.create_task(make_task(credits=30, planned=FAILED), None, DAY)
    (settlement,) = store.settle_due(T0 + 100)
    assert settlement.refunded == 30
    assert settlement.task.status == FAILED
    assert settlement.task.refunded == 30
    assert balance(store) == 100
    _, entries = store.ledger(P, "acme")
    assert (entries[-1].kind, entries[-1].amount, entries[-1].task_id) == ("refund", 30, task.id)
    assert entries[-1].at == T0 + 100


def test_failure_without_refund_keeps_the_charge(store: MemoryStore) -> None:
    store.create_task(make_task(credits=30, planned=FAILED, refund=False), None, DAY)
    (settlement,) = store.settle_due(T0 + 100)
    assert settlement.refunded == 0
    assert settlement.task.refunded == 0
    assert balance(store) == 70
    _, entries = store.ledger(P, "acme")
    assert [e.kind for e in entries] == ["grant", "charge"]


def test_ended_tasks_are_not_settled_twice(store: MemoryStore) -> None:
    store.create_task(make_task(credits=30, planned=FAILED), None, DAY)
    assert len(store.settle_due(T0 + 100)) == 1
    assert store.settle_due(T0 + 10_000) == []
    assert balance(store) == 100


def test_force_completes_a_processing_task_now(store: MemoryStore) -> None:
    task = store.create_task(make_task(due_in=100), None, DAY)
    settlement = store.force(task.id, COMPLETED, T0 + 5, None, None)
    assert settlement is not None
    assert (settlement.task.status, settlement.task.updated_at) == (COMPLETED, T0 + 5)
    assert store.settle_due(T0 + 100) == []
    assert store.next_due() is None


def test_force_failure_refunds_and_carries_its_own_message(store: MemoryStore) -> None:
    task = store.create_task(make_task(credits=30, due_in=100), None, DAY)
    settlement = store.force(task.id, FAILED, T0 + 5, "content_policy", "Nope.")
    assert settlement is not None
    assert settlement.refunded == 30
    assert (settlement.task.error_code, settlement.task.error_message) == (
        "content_policy",
        "Nope.",
    )
    assert balance(store) == 100


def test_force_processing_pins_the_task(store: MemoryStore) -> None:
    task = store.create_task(make_task(due_in=100), None, DAY)
    pinned = store.force(task.id, PROCESSING, T0 + 5, None, None)
    assert pinned is not None
    assert pinned.refunded == 0
    assert store.settle_due(T0 + DAY) == []
    found = store.get_task(task.id)
    assert found is not None
    assert found.status == PROCESSING


def test_force_never_moves_an_ended_task(store: MemoryStore) -> None:
    task = store.create_task(make_task(credits=30, due_in=100), None, DAY)
    store.settle_due(T0 + 100)
    assert store.force(task.id, FAILED, T0 + 200, None, None) is None
    found = store.get_task(task.id)
    assert found is not None
    assert (found.status, found.refunded) == (COMPLETED, 0)
    assert balance(store) == 70
    assert store.force("sd2_unknown", COMPLETED, T0, None, None) is None


def test_force_to_an_unknown_outcome_is_refused(store: MemoryStore) -> None:
    task = store.create_task(make_task(), None, DAY)
    with pytest.raises(ValueError, match="cannot force"):
        store.force(task.id, "queued", T0, None, None)


# expiry -------------------------------------------------------------------------------


def test_expire_forgets_expired_tasks_and_their_media(store: MemoryStore) -> None:
    old = store.create_task(make_task(retention=1000), None, DAY)
    young = store.create_task(make_task(retention=5000), None, DAY)
    assert store.expire(T0 + 999) == 0
    assert store.expire(T0 + 1000) == 1
    assert store.get_task(old.id) is None
    assert store.task_by_media_token(old.media_token) is None
    assert store.get_task(young.id) is not None


def test_expire_forgets_idempotency_records_after_their_ttl(
    store: MemoryStore, scope: IdempotencyScope
) -> None:
    store.claim(scope, "fp", T0, POLICY)
    store.create_task(make_task(), scope, 3600)
    assert store.counts()["idempotency_records"] == 1
    store.expire(T0 + 3600)
    assert store.counts()["idempotency_records"] == 0


def test_expire_folds_the_ledger_and_the_audit_still_holds(store: MemoryStore) -> None:
    gone = store.create_task(make_task(credits=30, retention=1000), None, DAY)
    kept = store.create_task(make_task(credits=20, planned=FAILED, retention=5 * DAY), None, DAY)
    store.settle_due(T0 + 100)
    assert balance(store) == 70
    store.expire(T0 + 2 * DAY)
    opening, entries = store.ledger(P, "acme")
    assert all(e.task_id != gone.id for e in entries)
    assert {e.task_id for e in entries} == {kept.id}
    assert opening + sum(e.amount for e in entries) == 70
    assert_ledger_adds_up(store)
