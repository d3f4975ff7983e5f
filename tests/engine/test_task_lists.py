"""What keeps a stored task's indexes few changes nothing a caller sees, on
every backend: the lists of all tasks and of a provider's are the accounts'
lists merged, in the order one list would have (newest first, cut at the
limit); a new task's charge, keyed by the task's media token, is a ledger entry
like any other, even when the token is a number as the other keys are; and a store kept
from before still forgets a task from the lists it retired."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from typing import Any

import pytest

from mockserver.engine.model import FAILED, Account, Task
from mockserver.engine.state import State as Store
from mockserver.engine.state._base import RETIRED_TASK_INDEXES
from mockserver.engine.store import Tx
from tests.engine.backends import DAY, T0, P, assert_ledger_adds_up, balance, make_task

OTHER_PROVIDER = "seedanceapi"
#: (provider, account): two providers, and an account id both of them have
ACCOUNTS = ((P, "acme"), (P, "other"), (OTHER_PROVIDER, "acme"), (OTHER_PROVIDER, "solo"))


@pytest.fixture
def store(store: Store) -> Iterator[Store]:
    """The backend's store with ACCOUNTS; their ledgers must add up at the end."""
    for provider, account in ACCOUNTS:
        store.create_account(Account(provider, account, 10_000), [], T0)
    yield store
    for account in ("acme", "other"):
        assert_ledger_adds_up(store, account)


def _create(store: Store, provider: str, account: str, **changes: Any) -> Task:
    task = dataclasses.replace(make_task(account, credits=1), provider=provider, **changes)
    return store.create_task(task, None, DAY)


def test_every_list_is_the_one_list_filtered_and_cut(store: Store) -> None:
    draw = random.Random(7)
    created = [_create(store, *draw.choice(ACCOUNTS)) for _ in range(30)]
    newest_first = created[::-1]
    for provider in (None, P, OTHER_PROVIDER, "nobody"):
        for account in (None, "acme", "other", "solo", "ghost"):
            for limit in (0, 1, 3, 100, -1):
                expected = [
                    t.id
                    for t in newest_first
                    if provider in (None, t.provider) and account in (None, t.account_id)
                ][: max(0, limit)]
                found = store.tasks(provider, account, limit)
                assert [t.id for t in found] == expected, (provider, account, limit)


def test_counts_and_lists_follow_expiry(store: Store) -> None:
    gone = _create(store, P, "acme", expires_at=T0 + 10)
    kept = [_create(store, OTHER_PROVIDER, "solo"), _create(store, P, "other")]
    assert store.counts()["tasks"] == 3
    assert store.expire(T0 + 10) == 1
    assert store.counts()["tasks"] == 2
    assert [t.id for t in store.tasks()] == [kept[1].id, kept[0].id]
    assert gone.id not in [t.id for t in store.tasks(P)]


def test_a_charge_keyed_by_a_numeric_token_takes_no_other_entry(store: Store) -> None:
    # tokens that are numbers, as the ledger's other keys are (the store's next few numbers)
    for n in range(1, 40):
        _create(store, P, "acme", id=str(n), media_token=str(n))
    failed = _create(store, P, "acme", planned=FAILED, due_at=T0 + 1)
    store.settle_due(T0 + 1)  # its refund: one more entry
    _, entries = store.ledger(P, "acme")
    assert [e.kind for e in entries] == ["grant"] + ["charge"] * 40 + ["refund"]
    assert [e.task_id for e in entries[1:]] == [*map(str, range(1, 40)), failed.id, failed.id]
    assert balance(store) == 10_000 - 39


def test_a_kept_store_forgets_a_task_from_the_retired_lists(store: Store) -> None:
    task = _create(store, P, "acme", expires_at=T0 + 10)
    retired = [index.format(provider=task.provider) for index in RETIRED_TASK_INDEXES]

    def list_as_before(tx: Tx) -> None:
        for index in retired:
            tx.add(index, task.id, task.seq)

    store.backend.atomically(list_as_before)
    store.expire(T0 + 10)
    counted = store.backend.read(lambda tx: [tx.count(index) for index in retired])
    assert counted == [0] * len(retired)


def test_an_id_that_comes_back_charges_anew(store: Store) -> None:
    _create(store, P, "acme")  # older and kept: the ledger folds nothing after it
    _create(store, P, "acme", id="sd2_again", expires_at=T0 + 10)
    store.expire(T0 + 10)
    _create(store, P, "acme", id="sd2_again")
    _, entries = store.ledger(P, "acme")
    assert [e.task_id for e in entries].count("sd2_again") == 2
    assert balance(store) == 10_000 - 3
