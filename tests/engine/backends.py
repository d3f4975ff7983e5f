"""Every store backend behind one fixture, and helpers to hammer a shared one
from real processes.

``store`` is parametrized over memory, sqlite (a file in tmp_path) and redis (a
session redis-server, a fresh key prefix per test), each bootstrapped with the
clock at T0. ``hammered`` is the same store with a way to run one operation
from 100 workers at once: real processes where the backend is shared.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mockserver.engine.clock import ClockAnchor
from mockserver.engine.errors import InsufficientCredits
from mockserver.engine.model import (
    COMPLETED,
    FAILED,
    Claimed,
    ClaimPolicy,
    Delivery,
    IdempotencyScope,
    MediaSpec,
    Task,
    Window,
)
from mockserver.engine.state import State as Store
from mockserver.engine.state import open_state
from mockserver.engine.store.redis import RedisBackend
from tests.redis_server import RedisServer, running_redis_server

P = "seedance2ai"
T0 = 1_780_480_800.0  # 2026-06-03T10:00:00Z
DAY = 86400.0
ANCHOR = ClockAnchor(wall=1_700_000_000.0, virtual=T0)
POLICY = ClaimPolicy(ttl_seconds=DAY, lease_seconds=300, conflict_while_processing=False)
TASK_POLICY = ClaimPolicy(ttl_seconds=DAY, lease_seconds=300, conflict_while_processing=True)

BACKENDS = ("memory", "sqlite", "redis")

_ids = itertools.count()


# fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session (skipped without one, failed under CI)."""
    with running_redis_server() as server:
        yield server


@pytest.fixture
def backend(url: str) -> Iterator[RedisBackend]:
    """A Redis backend on the test module's ``url`` fixture, emptied and closed after."""
    opened = RedisBackend(url)
    yield opened
    opened.clear()
    opened.close()


def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store of ``backend``, as a --store URL."""
    if backend == "memory":
        return "memory"
    if backend == "sqlite":
        return f"sqlite:{tmp_path / 'state.db'}"
    server: RedisServer = request.getfixturevalue("redis_server")
    return f"{server.url}?prefix=test-{uuid.uuid4().hex[:12]}"


def open_backend(url: str) -> Store:
    """The store ``url`` names."""
    return open_state(url)


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request.param, tmp_path, request)


@pytest.fixture
def store(backend_url: str) -> Iterator[Store]:
    """An empty store of each backend, its clock at T0."""
    opened = open_backend(backend_url)
    assert opened.bootstrap(ANCHOR)
    yield opened
    opened.clear()
    opened.close()


#: runs WORK[name] from many workers at once and returns every worker's result
Hammer = Callable[[str], list[Any]]


@pytest.fixture(params=BACKENDS)
def hammered(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Hammer]]:
    """A bootstrapped store of each backend, and its Hammer: 4 spawned processes
    x 25 threads on the backends processes share, 100 threads on memory."""
    url = store_url(request.param, tmp_path, request)
    opened = open_backend(url)
    opened.bootstrap(ANCHOR)
    if url == "memory":
        yield opened, lambda work: run_threads(100, lambda _i: WORK[work](opened))
    else:
        workers: WorkerProcesses = request.getfixturevalue("worker_processes")
        yield opened, lambda work: workers.run(url, work)
    opened.clear()
    opened.close()


# records -------------------------------------------------------------------------


def make_task(
    account: str = "acme",
    credits: int = 30,
    *,
    at: float = T0,
    due_in: float | None = 100.0,
    planned: str = COMPLETED,
    refund: bool = True,
    retention: float = 14 * DAY,
) -> Task:
    """A task of ``account``; ids are unique across processes."""
    tag = f"{uuid.uuid4().hex[:8]}{next(_ids):06d}"
    return Task(
        id=f"sd2_{tag}",
        provider=P,
        account_id=account,
        params={"prompt": "abc"},
        credits=credits,
        created_at=at,
        updated_at=at,
        due_at=None if due_in is None else at + due_in,
        planned=planned,
        refund_on_failure=refund,
        seed=7,
        media=MediaSpec(64, 36, 24, 24, audio=False),
        media_token=f"token{tag}",
        expires_at=at + retention,
        error_code="generation_failed" if planned == FAILED else None,
        error_message="It failed." if planned == FAILED else None,
    )


def make_delivery(task_id: str, due_at: float = T0, n: int | None = None) -> Delivery:
    tag = n if n is not None else next(_ids)
    return Delivery(
        id=f"whd_{tag:06d}",
        task_id=task_id,
        provider=P,
        account_id="acme",
        url="https://hooks.example.com/in",
        due_at=due_at,
        created_at=T0,
    )


def balance(store: Store, account: str = "acme") -> int:
    found = store.get_account(P, account)
    assert found is not None
    return found.credits


def assert_ledger_adds_up(store: Store, account: str = "acme") -> None:
    """opening + every amount == the balance, each entry's balance is the running
    sum, and no balance is ever negative."""
    opening, entries = store.ledger(P, account)
    running = opening
    for entry in entries:
        running += entry.amount
        assert entry.balance == running, entry
        assert entry.balance >= 0, entry
    assert running == balance(store, account)


# concurrency ---------------------------------------------------------------------


def run_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` in ``count`` real threads released together."""
    barrier = threading.Barrier(count)

    def started(i: int) -> Any:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(started, range(count)))


def submit_once(store: Store, scope: IdempotencyScope) -> Any:
    """One client request: claim the key, create the task if it is ours."""
    claim = store.claim(scope, "fp", T0, POLICY)
    if isinstance(claim, Claimed):
        return store.create_task(make_task(credits=30), scope, DAY).id
    return claim


def create_or_refuse(store: Store) -> str:
    try:
        store.create_task(make_task(credits=30), None, DAY)
    except InsufficientCredits:
        return "refused"
    return "created"


def claim_all_deliveries(store: Store) -> list[str]:
    """Claim due deliveries a few at a time until none is left."""
    mine: list[str] = []
    while batch := store.claim_deliveries(T0 + 10, limit=3):
        mine.extend(d.id for d in batch)
    return mine


def settle_all(store: Store) -> list[tuple[str, int]]:
    return [(s.task.id, s.refunded) for s in store.settle_due(T0 + 1000)]


#: what one thread of a hammering process does, by name (spawned processes
#: receive names, not closures)
WORK: dict[str, Callable[[Store], Any]] = {
    "submit": lambda store: submit_once(store, IdempotencyScope(P, "acme", "hot-key")),
    "admit": lambda store: store.admit([Window("hot", 30, 60)], T0),
    "create": create_or_refuse,
    "claim_deliveries": claim_all_deliveries,
    "settle": settle_all,
}


def _serve(inbox: Any, start: Any, results: Any, threads: int) -> None:
    """A spawned worker: for each (url, work) received, open the store, wait for
    the other workers, run ``threads`` threads of WORK[work], send the results."""
    while (command := inbox.get()) is not None:
        url, work = command
        store = open_backend(url)
        try:
            start.wait(timeout=60)
            outcome: Any = ("ok", _run_work(store, work, threads))
        except BaseException as exc:  # reported to the parent, never lost
            outcome = ("error", repr(exc))
        finally:
            store.close()
        results.put(outcome)


def _run_work(store: Store, work: str, threads: int) -> list[Any]:
    return run_threads(threads, lambda _i: WORK[work](store))


class WorkerProcesses:
    """Spawned processes kept for the session (starting them is the slow part);
    ``run`` hands one command to each and they start it together."""

    def __init__(self, processes: int = 4, threads: int = 25) -> None:
        context = multiprocessing.get_context("spawn")
        self._start = context.Barrier(processes)
        self._results = context.Queue()
        self._inboxes = [context.Queue() for _ in range(processes)]
        self._processes = [
            context.Process(
                target=_serve, args=(inbox, self._start, self._results, threads), daemon=True
            )
            for inbox in self._inboxes
        ]
        for process in self._processes:
            process.start()

    def run(self, url: str, work: str) -> list[Any]:
        """Every thread's result of WORK[work] on the store at ``url``."""
        for inbox in self._inboxes:
            inbox.put((url, work))
        outcomes = [self._results.get(timeout=120) for _ in self._inboxes]
        errors = [detail for status, detail in outcomes if status == "error"]
        if errors:
            self._start.reset()
        assert not errors, errors
        return [result for _, per_process in outcomes for result in per_process]

    def close(self) -> None:
        for inbox in self._inboxes:
            inbox.put(None)
        for process in self._processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


@pytest.fixture(scope="session")
def worker_processes() -> Iterator[WorkerProcesses]:
    """4 spawned processes x 25 threads, for the backends processes share."""
    workers = WorkerProcesses(processes=4, threads=25)
    yield workers
    workers.close()
