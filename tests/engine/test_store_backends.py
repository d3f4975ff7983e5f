"""The store's behaviour, the same on every backend (memory, sqlite, redis):
accounts and an auditable ledger, exact sliding windows, one task per
idempotency key, atomic charges, lifecycles that end in due order with refunds,
webhook deliveries, fault rules, the journal, expiry, the shared clock; and the
Redis store's own promises (its key prefix, clear errors while Redis is down,
normal service after it restarts)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from mockserver.app import create_app
from mockserver.config import Config
from mockserver.engine.clock import ClockAnchor
from mockserver.engine.errors import (
    AccountExists,
    InsufficientCredits,
    KeyInUse,
    ServiceBusy,
    UnknownAccount,
)
from mockserver.engine.model import (
    COMPLETED,
    FAILED,
    PROCESSING,
    Account,
    Attempt,
    Claimed,
    Conflict,
    IdempotencyScope,
    Replay,
    Window,
)
from mockserver.engine.state import State as Store
from mockserver.engine.state import open_state as open_store
from mockserver.engine.store import redis as redis_store
from mockserver.engine.store.redis import RedisBackend
from mockserver.providers.context import EXTENSION
from tests.engine.backends import (
    ANCHOR,
    DAY,
    POLICY,
    T0,
    TASK_POLICY,
    P,
    assert_ledger_adds_up,
    balance,
    make_delivery,
    make_task,
    open_backend,
    run_threads,
)
from tests.redis_server import RedisServer, running_redis_server


@pytest.fixture
def store(store: Store) -> Iterator[Store]:
    """The backend's store with two accounts; their ledgers must add up at the end."""
    store.create_account(Account(P, "acme", 100), ["sk_acme", "sk_acme_2"], T0)
    store.create_account(Account(P, "other", 100), ["sk_other"], T0)
    yield store
    for account in ("acme", "other"):
        assert_ledger_adds_up(store, account)


@pytest.fixture
def scope() -> IdempotencyScope:
    return IdempotencyScope(P, "acme", "key-1")


# life of the store ----------------------------------------------------------------


def test_bootstrap_is_done_once(store: Store, backend_url: str) -> None:
    assert store.bootstrap(ClockAnchor(0.0, 0.0)) is False
    assert store.clock_state().read() == ANCHOR
    if backend_url != "memory":  # another worker opening the same state
        other = open_backend(backend_url)
        assert other.bootstrap(ClockAnchor(0.0, 0.0)) is False
        other.close()


def test_concurrent_bootstraps_after_clear_have_one_winner(store: Store) -> None:
    store.clear()
    assert sum(run_threads(20, lambda _i: store.bootstrap(ANCHOR))) == 1
    store.create_account(Account(P, "acme", 100), [], T0)
    store.create_account(Account(P, "other", 100), [], T0)


def test_clear_forgets_everything(store: Store, scope: IdempotencyScope) -> None:
    store.claim(scope, "fp", T0, POLICY)
    task = store.create_task(make_task(), scope, DAY)
    store.add_delivery(make_delivery(task.id))
    store.add_fault({"id": "f1"})
    store.journal_append({"path": "/x"}, 10)
    store.clear()
    assert store.bootstrap(ANCHOR) is True
    assert store.accounts() == []
    assert store.get_task(task.id) is None
    assert store.resolve_key(P, "sk_acme") is None
    assert (store.faults(), store.journal(), store.deliveries()) == ([], [], [])
    assert set(store.counts().values()) == {0}
    store.create_account(Account(P, "acme", 100), [], T0)
    store.create_account(Account(P, "other", 100), [], T0)
    assert store.claim(scope, "fp", T0, POLICY) == Claimed()


def test_shared_clock_moves_by_exactly_what_is_added(store: Store, backend_url: str) -> None:
    clock = store.clock_state()
    clock.add(5)
    clock.add(0.1)
    clock.add(0.2)
    assert clock.read() == ClockAnchor(ANCHOR.wall, ANCHOR.virtual, 5 + 0.1 + 0.2)
    if backend_url != "memory":
        other = open_backend(backend_url)
        assert other.clock_state().read() == clock.read()
        other.close()


# accounts, keys and the ledger -------------------------------------------------------


def test_opening_balance_is_recorded_as_a_grant(store: Store) -> None:
    opening, entries = store.ledger(P, "acme")
    assert opening == 0
    assert [(e.kind, e.amount, e.balance, e.at) for e in entries] == [("grant", 100, 100, T0)]
    account = store.get_account(P, "acme")
    assert account == Account(P, "acme", 100, True, T0)


def test_accounts_are_listed_in_creation_order(store: Store) -> None:
    store.create_account(Account("seedanceapi", "acme", 5, purchased=False), [], T0 + 1)
    assert [(a.provider, a.id) for a in store.accounts()] == [
        (P, "acme"),
        (P, "other"),
        ("seedanceapi", "acme"),
    ]
    assert [a.id for a in store.accounts("seedanceapi")] == ["acme"]
    assert store.get_account("seedanceapi", "acme") == Account(
        "seedanceapi", "acme", 5, False, T0 + 1
    )
    assert store.get_account(P, "ghost") is None


def test_an_account_or_key_is_never_created_twice(store: Store) -> None:
    with pytest.raises(AccountExists):
        store.create_account(Account(P, "acme", 1), [], T0)
    with pytest.raises(KeyInUse):
        store.create_account(Account(P, "new", 1), ["sk_fresh", "sk_other"], T0)
    assert store.get_account(P, "new") is None
    assert store.resolve_key(P, "sk_fresh") is None
    with pytest.raises(KeyInUse):
        store.add_key(P, "acme", "sk_other")
    with pytest.raises(UnknownAccount):
        store.add_key(P, "ghost", "sk_ghost")


def test_keys_resolve_to_their_account_until_revoked(store: Store) -> None:
    store.add_key(P, "acme", "sk_acme_3")
    assert [k.key for k in store.keys_of(P, "acme")] == ["sk_acme", "sk_acme_2", "sk_acme_3"]
    revoked = store.revoke_key(P, "sk_acme_2")
    assert revoked is not None
    assert (revoked.account_id, revoked.revoked) == ("acme", True)
    found = store.resolve_key(P, "sk_acme_2")
    assert found is not None
    assert found.revoked
    assert store.revoke_key(P, "sk_nobody") is None
    assert store.resolve_key(P, "sk_nobody") is None
    assert store.resolve_key("seedanceapi", "sk_acme") is None  # keys are per provider


def test_set_credits_and_purchased(store: Store) -> None:
    account = store.set_credits(P, "acme", 40, T0 + 1, "support")
    assert account.credits == 40
    _, entries = store.ledger(P, "acme")
    last = entries[-1]
    assert (last.kind, last.amount, last.balance, last.note) == ("adjustment", -60, 40, "support")
    assert store.set_purchased(P, "acme", False).purchased is False
    found = store.get_account(P, "acme")
    assert found is not None
    assert (found.credits, found.purchased) == (40, False)
    with pytest.raises(UnknownAccount):
        store.set_credits(P, "ghost", 1, T0, "x")
    with pytest.raises(UnknownAccount):
        store.set_purchased(P, "ghost", True)
    with pytest.raises(UnknownAccount):
        store.ledger(P, "ghost")


def test_returned_records_are_copies(store: Store) -> None:
    task = store.create_task(make_task(), None, DAY)
    task.status = FAILED
    account = store.get_account(P, "acme")
    assert account is not None
    account.credits = 10**6
    again = store.get_task(task.id)
    assert again is not None
    assert again.status == PROCESSING
    assert balance(store) == 70
    # read again, a record unchanged in the store is one decoded before: still a copy
    for _ in range(2):
        read = store.get_task(task.id)
        assert read is not None
        assert read.status == PROCESSING
        read.status = FAILED
    assert balance(store) == 70


@pytest.mark.parametrize("backend_url", ["sqlite", "redis"], indirect=True)
def test_a_record_changed_by_another_process_reads_as_changed(
    store: Store, backend_url: str
) -> None:
    """A record read before (and kept decoded) is read afresh once another
    process's step changed it in the store (another store opened on the same
    file or prefix stands for the process: the shared backends only)."""
    task = store.create_task(make_task(due_in=10), None, DAY)
    assert balance(store) == 70  # read twice: the second read is of a decoded record
    assert balance(store) == 70
    assert store.get_task(task.id).status == PROCESSING  # type: ignore[union-attr]
    other = open_store(backend_url)
    try:
        other.set_credits(P, "acme", 5, T0 + 1, "support")
        assert other.force(task.id, FAILED, T0 + 2, "content_policy", "Nope.") is not None
    finally:
        other.close()
    assert balance(store) == 5 + 30  # the refund of the failure
    assert store.get_task(task.id).status == FAILED  # type: ignore[union-attr]


def test_ledger_adds_up_after_every_kind_of_operation(store: Store) -> None:
    steps: list[Callable[[], object]] = [
        lambda: store.create_task(make_task(credits=30, planned=FAILED, due_in=10), None, DAY),
        lambda: store.create_task(make_task(credits=25, due_in=20, retention=500), None, DAY),
        lambda: store.settle_due(T0 + 15),
        lambda: store.set_credits(P, "acme", 90, T0 + 16, "top-up"),
        lambda: store.settle_due(T0 + 30),
        lambda: store.expire(T0 + 2 * DAY),
        lambda: store.create_task(make_task(credits=90, at=T0 + 2 * DAY), None, DAY),
    ]
    for step in steps:
        step()
        assert_ledger_adds_up(store)
    assert balance(store) == 0


# rate limits ----------------------------------------------------------------------------


def admit(
    store: Store, bucket: str, at: float, limit: int = 3, seconds: float = 60
) -> float | None:
    return store.admit([Window(bucket, limit, seconds)], at)


def test_window_admits_up_to_the_limit_then_says_how_long_to_wait(store: Store) -> None:
    assert [admit(store, "b", T0 + s) for s in (0, 10, 20)] == [None, None, None]
    assert admit(store, "b", T0 + 30) == pytest.approx(30.0)


def test_refused_requests_are_not_counted(store: Store) -> None:
    for offset in (0, 10, 20):
        admit(store, "b", T0 + offset)
    for _ in range(5):
        assert admit(store, "b", T0 + 30) == pytest.approx(30.0)
    assert admit(store, "b", T0 + 60) is None  # the oldest slot frees at 60 s
    assert admit(store, "b", T0 + 60) == pytest.approx(10.0)


def test_window_slides_and_waits_are_exact(store: Store) -> None:
    for offset in (0.25, 50, 55):
        admit(store, "b", T0 + offset)
    assert admit(store, "b", T0 + 61) is None
    assert admit(store, "b", T0 + 62) == (T0 + 50) + 60 - (T0 + 62)
    assert admit(store, "c", T0 + 0.25, limit=1) is None
    assert admit(store, "c", T0 + 30.5, limit=1) == (T0 + 0.25) + 60 - (T0 + 30.5)


def test_buckets_are_independent(store: Store) -> None:
    admit(store, "a", T0, limit=1)
    assert admit(store, "a", T0, limit=1) is not None
    assert admit(store, "b", T0, limit=1) is None


def test_several_windows_admit_all_or_none(store: Store) -> None:
    minute, hour = Window("minute", 2, 60), Window("hour", 3, 3600)
    assert store.admit([minute, hour], T0) is None
    assert store.admit([minute, hour], T0 + 10) is None
    assert store.admit([minute, hour], T0 + 20) == pytest.approx(40.0)  # minute full
    assert store.admit([hour], T0 + 30) is None  # the refusal counted in neither
    assert store.admit([minute, hour], T0 + 70) == pytest.approx(3530.0)  # hour full
    assert store.admit([minute], T0 + 70) is None
    assert store.admit([], T0) is None


def test_windows_agree_with_a_plain_log_of_every_admission(store: Store) -> None:
    """Admissions at random instants, many at the same one (a frozen clock), in
    windows of 0 s to 90 s: every answer is the one a list of every admission
    time gives."""
    rng = random.Random(17)
    admitted: dict[str, list[float]] = {}
    now = T0
    for _ in range(300):
        now += rng.choice((0.0, 0.0, 0.5, 1.0, 7.25, 30.0, 61.0))
        bucket = rng.choice("abcd")
        limit, seconds = {"a": (3, 60.0), "b": (5, 10.0), "c": (2, 0.0), "d": (4, 90.0)}[bucket]
        inside = sorted(t for t in admitted.get(bucket, []) if t > now - seconds)
        expected = None if len(inside) < limit else inside[len(inside) - limit] + seconds - now
        assert store.admit([Window(bucket, limit, seconds)], now) == expected, (bucket, now)
        if expected is None:
            admitted.setdefault(bucket, []).append(now)


def test_admissions_at_one_instant_share_one_log_entry(store: Store) -> None:
    """On a frozen clock the log does not grow with the traffic: a thousand
    admissions at one instant are one member counted a thousand times."""
    for _ in range(1000):
        assert admit(store, "b", T0, limit=1000) is None
    assert admit(store, "b", T0, limit=1000) == pytest.approx(60.0)
    assert store.backend.read(lambda tx: tx.count("window:b")) == 1
    assert admit(store, "b", T0 + 60, limit=1000) is None  # all of them left together


def test_a_window_log_kept_from_before_run_lengths_still_admits(store: Store) -> None:
    """A store written by an earlier version holds one member per admission,
    "<time>:<random>", and no record of the total: it is read, and expires, as
    admissions of one each."""
    store.backend.atomically(lambda tx: tx.add("window:b", f"{T0!r}:3f2a9c1d0b7e", T0))
    assert [admit(store, "b", T0 + s, limit=2) for s in (1, 2)] == [None, None]
    assert admit(store, "b", T0 + 61) is None  # the old member left the window, unread


def test_idle_windows_are_forgotten_by_expire(store: Store) -> None:
    admit(store, "b", T0, limit=1)
    store.expire(T0 + 3600)
    assert admit(store, "b", T0 + 3600, limit=1, seconds=7200) is None


# idempotency ------------------------------------------------------------------------------


def test_claims_in_flight_conflict_replay(store: Store, scope: IdempotencyScope) -> None:
    assert store.claim(scope, "fp", T0, POLICY) == Claimed()
    assert store.claim(scope, "fp", T0 + 1, POLICY) == Conflict("in_flight")
    assert store.claim(scope, "other", T0 + 1, POLICY) == Conflict("different_body")
    task = store.create_task(make_task(), scope, DAY)
    assert store.claim(scope, "other", T0 + 2, POLICY) == Conflict("different_body")
    assert store.claim(scope, "fp", T0 + 2, POLICY) == Replay(task.id)
    assert store.claim(IdempotencyScope(P, "other", scope.key), "fp", T0, POLICY) == Claimed()


def test_task_reading_conflicts_while_the_task_processes(
    store: Store, scope: IdempotencyScope
) -> None:
    store.claim(scope, "fp", T0, TASK_POLICY)
    task = store.create_task(make_task(due_in=100), scope, DAY)
    assert store.claim(scope, "fp", T0 + 99, TASK_POLICY) == Conflict("task_processing")
    store.settle_due(T0 + 100)
    assert store.claim(scope, "fp", T0 + 100, TASK_POLICY) == Replay(task.id)


def test_release_frees_an_unfinished_claim_only(store: Store, scope: IdempotencyScope) -> None:
    store.claim(scope, "fp", T0, POLICY)
    store.release(scope)
    assert store.claim(scope, "another body", T0 + 1, POLICY) == Claimed()
    task = store.create_task(make_task(), scope, DAY)
    store.release(scope)
    assert store.claim(scope, "another body", T0 + 2, POLICY) == Replay(task.id)


def test_claims_expire(store: Store, scope: IdempotencyScope) -> None:
    store.claim(scope, "fp", T0, POLICY)
    assert store.claim(scope, "fp", T0 + 299, POLICY) == Conflict("in_flight")
    assert store.claim(scope, "fp", T0 + 300, POLICY) == Claimed()  # the lease ran out
    task = store.create_task(make_task(at=T0 + 300), scope, DAY)
    assert store.claim(scope, "fp", T0 + 300 + DAY - 1, POLICY) == Replay(task.id)
    assert store.claim(scope, "fp", T0 + 300 + DAY, POLICY) == Claimed()  # the ttl ran out


def test_concurrent_claims_give_the_key_to_exactly_one(
    store: Store, scope: IdempotencyScope
) -> None:
    results = run_threads(20, lambda _i: store.claim(scope, "fp", T0, POLICY))
    assert results.count(Claimed()) == 1
    assert results.count(Conflict("in_flight")) == 19


# creation and charging -----------------------------------------------------------------------


def test_create_task_charges_and_stores_in_one_step(store: Store) -> None:
    task = make_task(credits=30)
    assert store.create_task(task, None, DAY) == task
    assert store.get_task(task.id) == task
    assert store.task_by_media_token(task.media_token) == task
    assert balance(store) == 70
    last = store.ledger(P, "acme")[1][-1]
    assert (last.kind, last.amount, last.balance, last.task_id) == ("charge", -30, 70, task.id)


def test_times_keep_their_full_precision(store: Store) -> None:
    at = T0 + 0.123456789
    task = store.create_task(make_task(at=at, due_in=12.000001, planned=FAILED), None, DAY)
    (settled,) = store.settle_due(at + 13)
    assert settled.task.updated_at == at + 12.000001
    assert store.ledger(P, "acme")[1][-1].at == at + 12.000001
    found = store.get_task(task.id)
    assert found is not None
    assert (found.created_at, found.expires_at) == (at, task.expires_at)


def test_exact_balance_can_be_spent(store: Store) -> None:
    store.create_task(make_task(credits=100), None, DAY)
    assert balance(store) == 0


def test_short_balance_creates_nothing_and_charges_nothing(
    store: Store, scope: IdempotencyScope, request: pytest.FixtureRequest, backend_url: str
) -> None:
    store.claim(scope, "fp", T0, POLICY)
    before = store.ledger(P, "acme")
    task = make_task(credits=101)
    with pytest.raises(InsufficientCredits) as refused:
        store.create_task(task, scope, DAY)
    assert (refused.value.required, refused.value.available) == (101, 100)
    assert store.get_task(task.id) is None
    assert store.task_by_media_token(task.media_token) is None
    assert store.tasks(P, "acme") == []
    assert store.ledger(P, "acme") == before
    assert store.claim(scope, "fp", T0 + 1, POLICY) == Claimed()  # the key is free again
    with pytest.raises(UnknownAccount):
        store.create_task(make_task(account="ghost"), None, DAY)


def test_tasks_are_listed_newest_first(store: Store) -> None:
    first = store.create_task(make_task(credits=1), None, DAY)
    second = store.create_task(make_task(account="other", credits=1), None, DAY)
    third = store.create_task(make_task(credits=1), None, DAY)
    assert [t.id for t in store.tasks()] == [third.id, second.id, first.id]
    assert [t.id for t in store.tasks(P, "acme")] == [third.id, first.id]
    assert [t.id for t in store.tasks(account_id="other")] == [second.id]
    assert [t.id for t in store.tasks(P, limit=2)] == [third.id, second.id]
    assert store.tasks("seedanceapi") == []


def test_concurrent_creations_never_overdraw(store: Store) -> None:
    store.set_credits(P, "acme", 7 * 30 + 10, T0, "test")  # room for exactly 7

    def create(_i: int) -> str:
        try:
            store.create_task(make_task(credits=30), None, DAY)
        except InsufficientCredits:
            return "refused"
        return "created"

    outcomes = run_threads(20, create)
    assert (outcomes.count("created"), outcomes.count("refused")) == (7, 13)
    assert len(store.tasks(P, "acme")) == 7
    assert balance(store) == 10


# lifecycle ------------------------------------------------------------------------------------


def test_tasks_end_in_due_order_at_their_due_time(store: Store) -> None:
    late = store.create_task(make_task(credits=1, due_in=300), None, DAY)
    early = store.create_task(make_task(credits=1, due_in=100), None, DAY)
    middle = store.create_task(make_task(credits=1, due_in=200), None, DAY)
    tie = store.create_task(make_task(credits=1, due_in=100), None, DAY)
    assert store.next_due() == T0 + 100
    assert store.settle_due(T0 + 99.999) == []
    settled = store.settle_due(T0 + 250)
    assert [s.task.id for s in settled] == [early.id, tie.id, middle.id]
    assert [s.task.updated_at for s in settled] == [T0 + 100, T0 + 100, T0 + 200]
    assert all(s.task.status == COMPLETED and s.task.due_at is None for s in settled)
    still = store.get_task(late.id)
    assert still is not None
    assert still.status == PROCESSING
    assert store.next_due() == T0 + 300


def test_failures_are_refunded_once_in_settle_order(store: Store) -> None:
    one = store.create_task(make_task(credits=30, planned=FAILED, due_in=20), None, DAY)
    two = store.create_task(make_task(credits=20, planned=FAILED, due_in=10), None, DAY)
    kept = store.create_task(make_task(credits=5, planned=FAILED, refund=False), None, DAY)
    settled = store.settle_due(T0 + 100)
    assert [(s.task.id, s.refunded, s.task.refunded) for s in settled] == [
        (two.id, 20, 20),
        (one.id, 30, 30),
        (kept.id, 0, 0),
    ]
    assert all(s.task.error_code == "generation_failed" for s in settled)
    refunds = [
        (e.task_id, e.amount, e.at) for e in store.ledger(P, "acme")[1] if e.kind == "refund"
    ]
    assert refunds == [(two.id, 20, T0 + 10), (one.id, 30, T0 + 20)]
    assert balance(store) == 95
    assert store.settle_due(T0 + 10_000) == []
    assert balance(store) == 95


def test_stuck_task_is_never_due(store: Store) -> None:
    task = store.create_task(make_task(due_in=None), None, DAY)
    assert store.next_due() is None
    assert store.settle_due(T0 + 10 * DAY) == []
    found = store.get_task(task.id)
    assert found is not None
    assert found.status == PROCESSING


def test_force_completes_or_fails_a_processing_task_now(store: Store) -> None:
    done = store.create_task(make_task(credits=30, due_in=100), None, DAY)
    settlement = store.force(done.id, COMPLETED, T0 + 5, None, None)
    assert settlement is not None
    assert (settlement.task.status, settlement.task.updated_at, settlement.refunded) == (
        COMPLETED,
        T0 + 5,
        0,
    )
    failed = store.create_task(make_task(credits=30, due_in=100), None, DAY)
    settlement = store.force(failed.id, FAILED, T0 + 6, "content_policy", "Nope.")
    assert settlement is not None
    assert settlement.refunded == 30
    assert (settlement.task.error_code, settlement.task.error_message) == (
        "content_policy",
        "Nope.",
    )
    assert store.settle_due(T0 + 100) == []
    assert store.next_due() is None
    assert balance(store) == 70


def test_force_processing_pins_the_task(store: Store) -> None:
    task = store.create_task(make_task(due_in=100), None, DAY)
    pinned = store.force(task.id, PROCESSING, T0 + 5, None, None)
    assert pinned is not None
    assert (pinned.task.status, pinned.task.due_at, pinned.refunded) == (PROCESSING, None, 0)
    assert store.settle_due(T0 + DAY) == []
    assert store.next_due() is None


def test_force_never_moves_an_ended_task(store: Store) -> None:
    task = store.create_task(make_task(credits=30, due_in=100), None, DAY)
    store.settle_due(T0 + 100)
    assert store.force(task.id, FAILED, T0 + 200, None, None) is None
    found = store.get_task(task.id)
    assert found is not None
    assert (found.status, found.refunded) == (COMPLETED, 0)
    assert store.force("sd2_unknown", COMPLETED, T0, None, None) is None
    live = store.create_task(make_task(), None, DAY)
    with pytest.raises(ValueError, match="cannot force"):
        store.force(live.id, "queued", T0, None, None)


def test_concurrent_settle_and_force_refund_once(store: Store) -> None:
    task = store.create_task(make_task(credits=30, planned=FAILED, due_in=100), None, DAY)

    def end(i: int) -> int:
        if i % 2:
            return sum(s.refunded for s in store.settle_due(T0 + 100))
        forced = store.force(task.id, FAILED, T0 + 100, None, None)
        return forced.refunded if forced else 0

    assert sum(run_threads(20, end)) == 30
    assert balance(store) == 100


# webhook deliveries ----------------------------------------------------------------------------


def test_due_deliveries_are_claimed_once_and_marked_sending(store: Store) -> None:
    task = store.create_task(make_task(), None, DAY)
    early, late = make_delivery(task.id, T0 + 5), make_delivery(task.id, T0 + 50)
    store.add_delivery(late)
    store.add_delivery(early)
    assert store.next_due() == T0 + 5
    assert store.claim_deliveries(T0 + 4, 10) == []
    (claimed,) = store.claim_deliveries(T0 + 10, 10)
    assert (claimed.id, claimed.state, claimed.attempts) == (early.id, "sending", [])
    assert store.claim_deliveries(T0 + 10, 10) == []
    assert [d.id for d in store.claim_deliveries(T0 + 50, 10)] == [late.id]


def test_claims_stop_at_the_limit_in_due_order(store: Store) -> None:
    task = store.create_task(make_task(), None, DAY)
    for n, due in enumerate((3, 1, 2, 1)):
        store.add_delivery(make_delivery(task.id, T0 + due, n=900 + n))
    assert [d.id for d in store.claim_deliveries(T0 + 5, 2)] == ["whd_000901", "whd_000903"]
    assert [d.id for d in store.claim_deliveries(T0 + 5, 5)] == ["whd_000902", "whd_000900"]


def test_attempts_are_recorded_and_retries_rescheduled(
    store: Store, request: pytest.FixtureRequest, backend_url: str
) -> None:
    task = store.create_task(make_task(), None, DAY)
    delivery = make_delivery(task.id, T0)
    store.add_delivery(delivery)
    store.claim_deliveries(T0, 1)
    failed = Attempt(1, T0 + 0.5, "failed", 500, "boom", 12.345)
    retry = store.record_attempt(delivery.id, failed, "pending", T0 + 30.25)
    assert (retry.state, retry.due_at, retry.attempts) == ("pending", T0 + 30.25, [failed])
    assert store.claim_deliveries(T0 + 30, 5) == []
    (again,) = store.claim_deliveries(T0 + 30.25, 5)
    delivered = Attempt(2, T0 + 31, "delivered", 200, None, 3.0)
    done = store.record_attempt(again.id, delivered, "delivered", None)
    assert (done.state, done.attempts) == ("delivered", [failed, delivered])
    assert store.deliveries(task_id=task.id) == [done]
    assert store.deliveries(account_id="other") == []
    with pytest.raises(KeyError):
        store.record_attempt("whd_missing", delivered, "delivered", None)


# fault rules and the journal ---------------------------------------------------------------


def test_fault_rules_round_trip_and_count_their_firings(store: Store) -> None:
    once = {"id": "f1", "effect": "error", "times": 2, "probability": 0.1, "methods": []}
    always = {"id": "f2", "effect": "latency", "times": None, "hits": 0, "match": {"a": [1.5]}}
    store.add_fault(once)
    store.add_fault(always)
    assert store.faults() == [once, always]
    assert store.spend_fault("f1") is True
    assert store.faults()[0] == {**once, "times": 1, "hits": 1}
    assert store.spend_fault("f1") is True
    assert [r["id"] for r in store.faults()] == ["f2"]  # used up
    assert store.spend_fault("f1") is False
    assert [store.spend_fault("f2") for _ in range(3)] == [True, True, True]
    assert store.faults() == [{**always, "hits": 3}]
    assert store.remove_fault("f2") is True
    assert store.remove_fault("f2") is False
    store.add_fault(once)
    store.clear_faults()
    assert store.faults() == []


def test_concurrent_firings_never_exceed_times(store: Store) -> None:
    store.add_fault({"id": "f", "times": 5})
    assert sum(run_threads(20, lambda _i: store.spend_fault("f"))) == 5


def test_journal_keeps_the_newest_entries_oldest_first(store: Store) -> None:
    ids = [store.journal_append({"n": n, "body": "é"}, 3) for n in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    assert store.journal() == [{"n": n, "body": "é", "id": n + 1} for n in (2, 3, 4)]
    store.clear_journal()
    assert store.journal() == []
    assert store.journal_append({"n": 5}, 0) == 6  # ids keep counting; size 0 keeps one
    assert store.journal() == [{"n": 5, "id": 6}]


# expiry ------------------------------------------------------------------------------------


def test_expire_forgets_expired_tasks_their_media_and_deliveries(store: Store) -> None:
    old = store.create_task(make_task(retention=1000, due_in=2000), None, DAY)
    young = store.create_task(make_task(retention=5000), None, DAY)
    store.add_delivery(make_delivery(old.id))
    store.add_delivery(make_delivery(young.id))
    assert store.expire(T0 + 999) == 0
    assert store.expire(T0 + 1000) == 1
    assert store.get_task(old.id) is None
    assert store.task_by_media_token(old.media_token) is None
    assert [d.task_id for d in store.deliveries()] == [young.id]
    assert store.next_due() == T0  # the young task's delivery
    assert store.counts()["tasks"] == 1


def test_expire_forgets_idempotency_records_after_their_ttl(
    store: Store, scope: IdempotencyScope
) -> None:
    store.claim(scope, "fp", T0, POLICY)
    store.create_task(make_task(), scope, 3600)
    store.claim(IdempotencyScope(P, "acme", "abandoned"), "fp", T0, POLICY)
    assert store.counts()["idempotency_records"] == 2
    assert store.expire(T0 + 300) == 1
    assert store.expire(T0 + 3600) == 1
    assert store.counts()["idempotency_records"] == 0


def test_expire_folds_the_ledger_and_the_audit_still_holds(store: Store) -> None:
    gone = store.create_task(make_task(credits=30, retention=1000), None, DAY)
    kept = store.create_task(make_task(credits=20, planned=FAILED, retention=5 * DAY), None, DAY)
    store.settle_due(T0 + 100)
    store.expire(T0 + 2 * DAY)
    opening, entries = store.ledger(P, "acme")
    assert {e.task_id for e in entries} == {kept.id}
    assert gone.id not in {e.task_id for e in entries}
    assert opening + sum(e.amount for e in entries) == 70
    assert store.counts()["ledger_entries"] == 2  # the grant and gone's charge: folded
    assert_ledger_adds_up(store)


def test_the_ledger_stays_bounded_within_the_first_day(store: Store) -> None:
    """A soak found the ledger growing one entry per task: the opening grant,
    younger than a day, held folding back. Grants never do now."""
    for _ in range(50):
        store.create_task(make_task(credits=1, retention=60), None, DAY)
    live = store.create_task(make_task(credits=1, retention=3600), None, DAY)
    store.expire(T0 + 120)  # well within the first day
    opening, entries = store.ledger(P, "acme")
    assert [e.task_id for e in entries] == [live.id]
    assert opening + sum(e.amount for e in entries) == balance(store)
    assert_ledger_adds_up(store)


# the Redis store's own promises ------------------------------------------------------------------


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    url = f"{redis_server.url}?prefix=own-{next(_prefixes)}"
    yield url
    RedisBackend(url).clear()


_prefixes = itertools.count()


def test_open_store_opens_redis_urls(redis_url: str) -> None:
    opened = open_store(redis_url)
    assert isinstance(opened.backend, RedisBackend)
    opened.close()


def test_clear_touches_only_its_own_prefix(redis_server: RedisServer, redis_url: str) -> None:
    mine = open_store(redis_url)
    prefix = RedisBackend(redis_url).prefix
    neighbour = open_store(f"{redis_server.url}?prefix={prefix.split(':')[1]}-x")
    raw = redis_server.client()
    raw.set("user:data", "kept")
    for store in (mine, neighbour):
        store.bootstrap(ANCHOR)
        store.create_account(Account(P, "acme", 10), ["sk"], T0)
    mine.clear()
    assert raw.keys(prefix + "*") == []
    assert raw.get("user:data") == b"kept"
    assert neighbour.get_account(P, "acme") is not None
    neighbour.clear()
    raw.delete("user:data")


def test_a_retried_create_task_never_charges_twice(redis_url: str) -> None:
    store = open_store(redis_url)
    store.bootstrap(ANCHOR)
    store.create_account(Account(P, "acme", 100), [], T0)
    task = make_task(credits=30)
    store.create_task(task, None, DAY)
    store.create_task(task, None, DAY)  # as redis-py would resend it after a lost reply
    assert balance(store) == 70
    assert [t.id for t in store.tasks()] == [task.id]
    assert_ledger_adds_up(store)


def test_prefix_must_be_a_plain_name(redis_server: RedisServer) -> None:
    assert RedisBackend(f"{redis_server.url}?prefix=a.b-c_1").prefix == "seedance-mock:a.b-c_1:"
    assert RedisBackend(redis_server.url).prefix == "seedance-mock:default:"
    with pytest.raises(ValueError, match="prefix"):
        RedisBackend(f"{redis_server.url}?prefix=a:b")


@pytest.fixture
def lone_server() -> Iterator[RedisServer]:
    """A redis-server of this test alone, free to be stopped."""
    with running_redis_server() as server:
        yield server


def test_store_is_busy_while_redis_is_down_and_recovers(lone_server: RedisServer) -> None:
    store = open_store(lone_server.url)
    store.bootstrap(ANCHOR)
    store.create_account(Account(P, "acme", 100), ["sk"], T0)
    task = store.create_task(make_task(), None, DAY)
    lone_server.stop(save=True)
    calls: list[Callable[[], Any]] = [
        lambda: store.get_task(task.id),
        lambda: store.create_task(make_task(), None, DAY),
        lambda: admit(store, "b", T0),
        lambda: store.settle_due(T0 + 100),
        lambda: store.clock_state().read(),
        lambda: store.clock_state().add(1),
    ]
    for call in calls:
        with pytest.raises(ServiceBusy) as busy:
            call()
        assert busy.value.retry_after == 1
        assert isinstance(busy.value.__cause__, redis.ConnectionError)
    lone_server.start()
    assert store.get_task(task.id) == task
    assert [s.task.id for s in store.settle_due(T0 + 100)] == [task.id]
    assert balance(store) == 70
    store.close()


def test_http_answers_503_while_redis_is_down_then_serves(lone_server: RedisServer) -> None:
    app = create_app(Config(store=lone_server.url, clock="manual", background=False, seed=1))
    client = app.test_client()
    created = client.post(
        "/api/v1/video/seedance2",
        json={"prompt": "A calm lake"},
        headers={"Authorization": "Bearer sk_live_demo", "Idempotency-Key": "k1"},
    )
    assert created.status_code == 202, created.get_json()
    task_id = created.get_json()["id"]
    lone_server.stop(save=True)

    down = client.get(f"/api/v1/tasks/{task_id}", headers={"Authorization": "Bearer sk_live_demo"})
    assert down.status_code == 503
    assert down.get_json()["error"]["code"] == "service_busy"
    assert down.headers["Retry-After"] == "1"
    other = client.get(
        "/v1/status",
        query_string={"task_id": "x"},
        headers={"Authorization": "Bearer sa_demo_key"},
    )
    assert other.status_code == 503
    assert other.get_json()["error"] == "SERVICE_UNAVAILABLE"
    assert other.headers["Retry-After"] == "1"

    lone_server.start()
    again = client.get(f"/api/v1/tasks/{task_id}", headers={"Authorization": "Bearer sk_live_demo"})
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["id"] == task_id
    app.extensions[EXTENSION].close()


# fetch: a step's records read together ---------------------------------------------


def test_fetched_records_are_what_a_get_reads_and_writes_still_come_first(
    store: Store, backend_url: str
) -> None:
    """``tx.fetch`` reads records ahead in a step (one round trip on Redis); a
    ``get`` then answers as it would have, each time a copy, and the step's own
    writes still win."""
    task = make_task("t-fetched")
    store.backend.atomically(lambda tx: tx.put("task", task.id, task))

    def step(tx: Any) -> tuple[Any, ...]:
        tx.fetch([("task", task.id), ("task", "missing"), ("counter", "n")])
        first, second = tx.get("task", task.id), tx.get("task", task.id)
        assert first == second == task
        assert first is not second
        missing = tx.get("task", "missing")
        tx.put("counter", "n", 7)
        return missing, tx.get("counter", "n")

    assert store.backend.atomically(step) == (None, 7)


def test_a_number_taken_with_a_fetch_is_the_steps_next_number(store: Store) -> None:
    """``tx.fetch(..., number=True)`` takes the step's next number in the same go
    (on Redis, its INCR rides with the WATCH and the reads): each is new, in order,
    and a step that asks for more than one gets fresh ones after it."""

    def step(tx: Any) -> list[int]:
        tx.fetch([("counter", "n")], number=True)
        return [tx.next_number(), tx.next_number()]

    first, second = store.backend.atomically(step), store.backend.atomically(step)
    numbers = [*first, *second]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 4
    assert store.backend.atomically(lambda tx: tx.next_number()) > max(numbers)


def test_a_redis_submit_takes_its_number_with_its_reads(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task's creation reads its task and account and takes its number in one
    round trip, then commits in a second."""
    store = open_store(f"{redis_server.url}?prefix=number-{random.randrange(10**9)}")
    try:
        store.bootstrap(ANCHOR)
        store.create_account(Account(P, "acme", 100), [], T0)
        sent: list[list[str]] = []
        exchange = redis_store._exchange

        def counted(connection: Any, commands: Any, **options: Any) -> list[Any]:
            sent.append([str(command[0]) for command in commands])
            return exchange(connection, commands, **options)

        monkeypatch.setattr(redis_store, "_exchange", counted)
        store.create_task(make_task(credits=30), None, DAY)
        assert sent[0] == ["WATCH", "MGET", "INCR"]
        assert sent[1][0] == "MULTI"
        assert sent[1][-1] == "EXEC"
        assert len(sent) == 2
        assert balance(store) == 70
    finally:
        store.clear()
        store.close()


def test_a_fetched_record_changed_by_another_client_runs_the_step_again(
    redis_server: RedisServer,
) -> None:
    """Fetching WATCHes what it reads: a change by another client before the
    step commits runs it again on the new value (no lost update)."""
    url = f"{redis_server.url}?prefix=fetch-{random.randrange(10**9)}"
    backend, other = RedisBackend(url), RedisBackend(url)
    try:
        backend.atomically(lambda tx: tx.put("counter", "c", 1))
        runs = itertools.count(1)

        def bump(tx: Any) -> None:
            tx.fetch([("counter", "c")])
            seen = tx.get("counter", "c")
            if next(runs) == 1:  # another worker bumps it meanwhile
                other.atomically(lambda other_tx: other_tx.put("counter", "c", seen + 10))
            tx.put("counter", "c", tx.get("counter", "c") + 1)

        backend.atomically(bump)
        assert backend.read(lambda tx: tx.get("counter", "c")) == 12
        assert next(runs) == 3  # ran twice
    finally:
        backend.clear()
        backend.close()
        other.close()
