"""Queues, execution deadlines, cancellation, deletion and postpaid billing, the
same on every backend: a pool's running slots are never oversubscribed, queued
tasks start best priority first then first come, at the exact instant a slot
frees or their wait ends, and every credit movement is in the ledger."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from mockserver.engine.errors import AccountOverdue, QueueFull
from mockserver.engine.model import (
    CANCELLED,
    COMPLETED,
    EXPIRED,
    FAILED,
    PROCESSING,
    QUEUED,
    Account,
    Task,
)
from mockserver.engine.state import State as Store
from tests.engine.backends import DAY, T0, P, assert_ledger_adds_up, balance, make_task


@pytest.fixture
def store(store: Store) -> Iterator[Store]:
    store.create_account(Account(P, "acme", 1000), ["sk_acme"], T0)
    yield store
    opening, entries = store.ledger(P, "acme")
    running = opening
    for entry in entries:  # a postpaid balance may go below zero; the sums still hold
        running += entry.amount
        assert entry.balance == running, entry
    assert running == balance(store)


def queued(
    credits: int = 10,
    *,
    run: float = 100.0,
    wait: float = 0.0,
    slots: int = 2,
    priority: int = 0,
    deadline: float | None = None,
    postpaid: bool = False,
    planned: str = COMPLETED,
) -> Task:
    task = make_task(credits=credits, planned=planned, due_in=run)
    return dataclasses.replace(
        task,
        status=QUEUED,
        pool=f"{P}:acme",
        slots=slots,
        priority=priority,
        run_seconds=run,
        start_at=T0 + wait,
        deadline=None if deadline is None else T0 + deadline,
        bill_on_completion=postpaid,
    )


def statuses(store: Store, tasks: list[Task]) -> list[str]:
    return [found.status for t in tasks if (found := store.get_task(t.id)) is not None]


def test_a_burst_waits_for_the_pools_slots(store: Store) -> None:
    tasks = [store.create_task(queued(run=100.0 + i), None, DAY) for i in range(5)]
    assert statuses(store, tasks) == [QUEUED] * 5
    started = store.settle_due(T0)
    assert [s.task.id for s in started] == [tasks[0].id, tasks[1].id]
    assert statuses(store, tasks) == [PROCESSING, PROCESSING, QUEUED, QUEUED, QUEUED]
    # the first ends at T0+100 and the third starts that instant; the second ends at T0+101
    changes = store.settle_due(T0 + 101)
    assert [(c.task.id, c.task.status, c.task.updated_at) for c in changes] == [
        (tasks[0].id, COMPLETED, T0 + 100),
        (tasks[2].id, PROCESSING, T0 + 100),
        (tasks[1].id, COMPLETED, T0 + 101),
        (tasks[3].id, PROCESSING, T0 + 101),
    ]
    third = store.get_task(tasks[2].id)
    assert third is not None
    assert (third.started_at, third.due_at) == (T0 + 100, T0 + 100 + 102)
    store.settle_due(T0 + 10 * DAY)
    assert statuses(store, tasks) == [COMPLETED] * 5
    assert balance(store) == 1000 - 50


def test_higher_priority_starts_first_then_first_come(store: Store) -> None:
    tasks = [store.create_task(queued(slots=1, priority=p), None, DAY) for p in (0, 5, 5, 9)]
    order = [c.task.id for c in store.settle_due(T0 + 10_000) if c.task.status == PROCESSING]
    assert order == [tasks[3].id, tasks[1].id, tasks[2].id, tasks[0].id]


def test_a_queued_task_waits_at_least_its_drawn_wait(store: Store) -> None:
    task = store.create_task(queued(wait=30.0), None, DAY)
    assert store.next_due() == T0 + 30
    assert store.settle_due(T0 + 29) == []
    [started] = store.settle_due(T0 + 30)
    assert (started.task.status, started.task.started_at) == (PROCESSING, T0 + 30)
    assert store.next_due() == T0 + 130
    assert store.get_task(task.id) == started.task


def test_an_open_task_expires_at_its_deadline_and_frees_its_slot(store: Store) -> None:
    running = store.create_task(queued(slots=1, run=500.0, deadline=100.0), None, DAY)
    waiting = store.create_task(queued(slots=1, run=500.0, deadline=50.0), None, DAY)
    after = store.create_task(queued(slots=1, run=10.0), None, DAY)
    store.settle_due(T0)
    changes = store.settle_due(T0 + 100)
    assert [(c.task.id, c.task.status, c.task.updated_at) for c in changes] == [
        (waiting.id, EXPIRED, T0 + 50),
        (running.id, EXPIRED, T0 + 100),
        (after.id, PROCESSING, T0 + 100),
    ]
    assert [c.refunded for c in changes[:2]] == [10, 10]  # prepaid: given back
    assert balance(store) == 1000 - 10


def test_only_a_queued_task_can_be_cancelled_and_its_charge_comes_back(store: Store) -> None:
    first = store.create_task(queued(slots=1), None, DAY)
    second = store.create_task(queued(slots=1), None, DAY)
    store.settle_due(T0)
    assert store.cancel(first.id, T0 + 1) is None  # running
    cancelled = store.cancel(second.id, T0 + 1)
    assert cancelled is not None
    assert (cancelled.task.status, cancelled.refunded) == (CANCELLED, 10)
    assert store.cancel(second.id, T0 + 2) is None  # already cancelled
    assert [c.task.id for c in store.settle_due(T0 + 1000)] == [first.id]
    assert balance(store) == 1000 - 10


def test_only_an_ended_task_can_be_deleted_and_its_record_stays_for_the_control_plane(
    store: Store,
) -> None:
    task = store.create_task(queued(slots=1), None, DAY)
    assert store.delete_task(task.id, T0) is False
    store.settle_due(T0 + 1000)
    assert store.delete_task(task.id, T0 + 1001) is True
    deleted = store.get_task(task.id)
    assert deleted is not None
    assert (deleted.status, deleted.deleted_at) == (COMPLETED, T0 + 1001)
    assert store.delete_task(task.id, T0 + 1002) is False  # once
    store.expire(T0 + 30 * DAY)
    assert store.get_task(task.id) is None


def test_forcing_a_queued_task_frees_nothing_and_forcing_a_running_one_starts_the_next(
    store: Store,
) -> None:
    running = store.create_task(queued(slots=1), None, DAY)
    waiting = store.create_task(queued(slots=1), None, DAY)
    store.settle_due(T0)
    forced = store.force(running.id, FAILED, T0 + 5, "boom", "It broke.")
    assert forced is not None
    assert (forced.task.status, forced.refunded) == (FAILED, 10)
    found = store.get_task(waiting.id)
    assert found is not None
    assert (found.status, found.started_at) == (PROCESSING, T0 + 5)


def test_a_postpaid_task_is_charged_when_it_completes_and_only_then(store: Store) -> None:
    paid = store.create_task(queued(credits=600, postpaid=True), None, DAY)
    failed = store.create_task(queued(credits=600, postpaid=True, planned=FAILED), None, DAY)
    assert balance(store) == 1000
    store.settle_due(T0 + 1000)
    assert statuses(store, [paid, failed]) == [COMPLETED, FAILED]
    assert balance(store) == 400
    again = store.create_task(queued(credits=600, postpaid=True), None, DAY)
    store.settle_due(T0 + 2000)
    assert statuses(store, [again]) == [COMPLETED]
    assert balance(store) == -200  # postpaid: the balance may go below zero
    with pytest.raises(AccountOverdue):
        store.create_task(queued(credits=1, postpaid=True), None, DAY)
    store.set_credits(P, "acme", 50, T0 + 3000, "top-up")
    store.create_task(queued(credits=1, postpaid=True), None, DAY)


def test_an_account_queues_at_most_max_queued_tasks(store: Store) -> None:
    for _ in range(3):
        store.create_task(queued(slots=1, wait=60.0), None, DAY, max_queued=3)
    with pytest.raises(QueueFull):
        store.create_task(queued(slots=1, wait=60.0), None, DAY, max_queued=3)
    assert balance(store) == 1000 - 30
    store.settle_due(T0 + 60)  # one starts: room for one more
    store.create_task(queued(slots=1, wait=60.0), None, DAY, max_queued=3)
    assert_ledger_adds_up(store)
