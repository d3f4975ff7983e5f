"""The store's invariants under real concurrency: 4 spawned processes x 25
threads against each shared backend (an SQLite file, a Redis server), and 100
threads against the memory store, which no other process can share.

One task and one charge per idempotency key; exactly the limit admitted per
window; a balance that runs out at exactly zero and never below; every
webhook delivery claimed by exactly one worker; every due task settled and
refunded exactly once.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mockserver.engine.model import FAILED, Account, Conflict, Replay
from mockserver.engine.state import State as Store
from tests.engine.backends import (
    DAY,
    T0,
    Hammer,
    P,
    assert_ledger_adds_up,
    balance,
    make_delivery,
    make_task,
)

WORKERS = 100


@pytest.fixture
def store(hammered: tuple[Store, Hammer]) -> Iterator[Store]:
    found, _ = hammered
    found.create_account(Account(P, "acme", 1000), ["sk_acme"], T0)
    yield found
    assert_ledger_adds_up(found)


@pytest.fixture
def run(hammered: tuple[Store, Hammer]) -> Hammer:
    return hammered[1]


def test_one_task_and_one_charge_per_idempotency_key(store: Store, run: Hammer) -> None:
    results = run("submit")
    created = [r for r in results if isinstance(r, str)]
    assert len(created) == 1, Counter(map(repr, results))
    assert all(isinstance(r, (str, Conflict, Replay)) for r in results)
    assert {r.task_id for r in results if isinstance(r, Replay)} <= set(created)
    assert [t.id for t in store.tasks(P, "acme")] == created
    charges = [e for e in store.ledger(P, "acme")[1] if e.kind == "charge"]
    assert [(e.task_id, e.amount) for e in charges] == [(created[0], -30)]
    assert balance(store) == 970


def test_exactly_the_limit_is_admitted_per_window(store: Store, run: Hammer) -> None:
    results = run("admit")
    assert results.count(None) == 30
    assert all(wait == pytest.approx(60.0) for wait in results if wait is not None)


def test_balance_runs_out_at_exactly_zero(store: Store, run: Hammer) -> None:
    store.set_credits(P, "acme", 13 * 30, T0, "room for exactly 13")
    results = run("create")
    assert (results.count("created"), results.count("refused")) == (13, WORKERS - 13)
    assert len(store.tasks(P, "acme")) == 13
    assert balance(store) == 0
    _, entries = store.ledger(P, "acme")
    assert min(e.balance for e in entries) == 0


def test_each_delivery_is_claimed_by_exactly_one_worker(store: Store, run: Hammer) -> None:
    task = store.create_task(make_task(), None, DAY)
    for n in range(200):
        store.add_delivery(make_delivery(task.id, T0 + n % 7, n=n))
    claimed = [delivery_id for mine in run("claim_deliveries") for delivery_id in mine]
    assert len(claimed) == 200
    assert set(claimed) == {f"whd_{n:06d}" for n in range(200)}
    assert {d.state for d in store.deliveries()} == {"sending"}


def test_each_due_task_is_settled_and_refunded_once(store: Store, run: Hammer) -> None:
    tasks = [
        store.create_task(
            make_task(credits=10, due_in=1 + n % 50, planned=FAILED if n % 3 else "completed"),
            None,
            DAY,
        )
        for n in range(60)
    ]
    assert balance(store) == 1000 - 600
    settled = [pair for mine in run("settle") for pair in mine]
    assert sorted(task_id for task_id, _ in settled) == sorted(t.id for t in tasks)
    assert sum(refund for _, refund in settled) == 40 * 10
    assert balance(store) == 1000 - 200
    refunds = Counter(e.task_id for e in store.ledger(P, "acme")[1] if e.kind == "refund")
    assert set(refunds.values()) == {1}
    assert len(refunds) == 40
    assert store.settle_due(T0 + 10 * DAY) == []


def _open_new_files(paths: list[str], barrier: Any, errors: Any) -> None:
    from mockserver.engine.store.sqlite import SQLiteBackend

    for path in paths:
        barrier.wait(timeout=60)  # every process opens the same brand-new file at once
        try:
            SQLiteBackend(path).close()
        except Exception as exc:  # reported to the test, which fails with it
            errors.put(f"{path}: {exc!r}")


def test_workers_opening_a_new_sqlite_file_together_all_start(tmp_path: Path) -> None:
    """Workers of a fresh server create the file and switch it to WAL side by side."""
    context = multiprocessing.get_context("spawn")
    paths = [str(tmp_path / f"state-{i}.db") for i in range(20)]
    barrier, errors = context.Barrier(6), context.Queue()
    processes = [
        context.Process(target=_open_new_files, args=(paths, barrier, errors)) for _ in range(6)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * 6
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
