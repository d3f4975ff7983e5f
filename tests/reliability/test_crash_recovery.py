"""Faults (issue #8): a SIGKILL under load loses nothing, and webhook receivers
that hang, reset or trickle hold up nothing.

The crash test runs a real server on SQLite with two gunicorn workers, drives
submits and polls from threads, SIGKILLs workers one at a time (gunicorn's
master starts new ones), then SIGKILLs the whole server and starts a new one
on the same file. It then audits, through the new server's control API, what
every client was told: each acknowledged task is there with its charge, no
charge is without its task, balances are the ledger's sum, and a submission
whose answer was lost in a crash, sent again with its Idempotency-Key, ends as
exactly one task.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.reliability.conftest import (
    LIFTED_FLAGS,
    SPECS,
    Figures,
    HttpControl,
    all_tasks,
    ledger_violations,
    listeners,
)
from tests.server import (
    Server,
    _drain,
    _read_base_url,
    _wait_until_answering,
    clean_environment,
    running_server,
    serve_command,
    stop,
)

pytestmark = pytest.mark.slow

CLIENT_THREADS = 8
WORKER_KILLS = 3
ACKS_BETWEEN_KILLS = 100
S2_ACCOUNTS = [f"s2-crash-{n}" for n in range(6)]
SA_ACCOUNTS = [f"sa-crash-{n}" for n in range(2)]
#: how long an unanswered first request holds its key (engine CLAIM_LEASE_SECONDS)
CLAIM_LEASE = 300
WAIT = 30.0


# a server that may be killed -------------------------------------------------------------


@contextlib.contextmanager
def killable_server(*args: str) -> Iterator[Server]:
    """``seedance-mock serve`` that a test may SIGKILL; stopped with SIGTERM if still up."""
    process = subprocess.Popen(
        serve_command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environment(),
    )
    server = Server("", process)
    pipes = ((process.stdout, server.stdout), (process.stderr, server.stderr))
    readers = [
        threading.Thread(target=_drain, args=(pipe, lines, server._changed), daemon=True)
        for pipe, lines in pipes
    ]
    for reader in readers:
        reader.start()
    try:
        server.base_url = _read_base_url(server)
        _wait_until_answering(server)
        yield server
    finally:
        workers = workers_of(process.pid)
        if process.poll() is None:
            stop(server)
        for pid in workers:  # none should be left; never leave one behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for reader in readers:
            reader.join(timeout=5)


def workers_of(master: int) -> set[int]:
    """The live child processes of ``master`` (gunicorn's workers)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == master and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def wait_for_workers(master: int, count: int, not_in: set[int]) -> set[int]:
    """The new workers once ``count`` of them run (polling a starting process)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        fresh = workers_of(master) - not_in
        if len(fresh) >= count:
            return fresh
        time.sleep(0.05)
    raise AssertionError(f"gunicorn did not bring back {count} workers within {WAIT} s")


# the clients and what they were told ----------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    provider: str
    account: str
    key: str  # the API key
    idempotency_key: str
    body: dict[str, Any]


@dataclass
class Book:
    """What the clients were told: acknowledged tasks, and submissions left unanswered."""

    #: task id -> the submission and the credits its answer showed (-1: not shown)
    acknowledged: dict[str, tuple[Submission, int]] = field(default_factory=dict)
    cut: list[Submission] = field(default_factory=list)
    requests: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def sent(self) -> None:
        with self._changed:
            self.requests += 1

    def acknowledge(self, task_id: str, submission: Submission, credits: int) -> None:
        with self._changed:
            self.acknowledged[task_id] = (submission, credits)
            self._changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.acknowledged) >= count, WAIT):
                raise AssertionError(f"the load reached only {len(self.acknowledged)} acks")

    def tasks_of(self, provider: str, account: str) -> list[str]:
        with self._changed:
            return [
                i
                for i, (s, _) in self.acknowledged.items()
                if (s.provider, s.account) == (provider, account)
            ]


def _submit(base_url: str, sub: Submission, session: requests.Session) -> requests.Response:
    op = next(o for o in SPECS[sub.provider].operations.values() if o.body)
    return session.post(
        base_url + op.path,
        json=sub.body,
        headers={"Authorization": f"Bearer {sub.key}", "Idempotency-Key": sub.idempotency_key},
        timeout=WAIT,
    )


def _task_id(provider: str, body: Any) -> str:
    return str(body["id"] if provider == "seedance2ai" else body["data"]["task_id"])


def _poll(base_url: str, provider: str, key: str, task_id: str, session: requests.Session) -> None:
    if provider == "seedance2ai":
        session.get(
            f"{base_url}/api/v1/tasks/{task_id}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=WAIT,
        )
    else:
        session.get(
            f"{base_url}/v1/status",
            params={"task_id": task_id},
            headers={"Authorization": f"Bearer {key}"},
            timeout=WAIT,
        )


def _body(provider: str, n: int) -> dict[str, Any]:
    spec = SPECS[provider]
    op = next(o for o in spec.operations.values() if o.body)
    example = dict(next(iter(spec.examples("request", op.name))))
    durations = spec.validator(op.body or "").schema["properties"]["duration"]["enum"]
    return {
        **example,
        "prompt": f"crash test clip number {n}",
        "duration": durations[n % len(durations)],
    }


ACCOUNTS = [("seedance2ai", a) for a in S2_ACCOUNTS] + [("seedanceapi", a) for a in SA_ACCOUNTS]


def _drive(base_url: str, book: Book, stopped: threading.Event, seed: int) -> None:
    """One client thread: submit, and now and then poll one of the account's tasks."""
    rng = random.Random(seed)
    session = requests.Session()
    for n in itertools.count():
        if stopped.is_set():
            return
        provider, account = rng.choice(ACCOUNTS)
        sub = Submission(
            provider, account, f"key-{account}", f"crash-{seed}-{n}", _body(provider, n)
        )
        book.sent()
        try:
            response = _submit(base_url, sub, session)
        except requests.RequestException:
            book.cut.append(sub)
            continue
        if response.status_code // 100 == 2:
            body = response.json()
            credits = body["credits_used"] if provider == "seedance2ai" else -1
            book.acknowledge(_task_id(provider, body), sub, credits)
        owned = book.tasks_of(provider, account)
        if owned and n % 2:
            book.sent()
            with contextlib.suppress(requests.RequestException):
                _poll(base_url, provider, sub.key, rng.choice(owned), session)


@contextlib.contextmanager
def load(base_url: str, book: Book, seed: int) -> Iterator[None]:
    stopped = threading.Event()
    threads = [
        threading.Thread(target=_drive, args=(base_url, book, stopped, seed * 100 + i), daemon=True)
        for i in range(CLIENT_THREADS)
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stopped.set()
        for thread in threads:
            thread.join(timeout=WAIT)


def _create_accounts(control: HttpControl) -> None:
    for provider, account in ACCOUNTS:
        control.call(
            "POST",
            "/accounts",
            {"provider": provider, "id": account, "credits": 10**7, "keys": [f"key-{account}"]},
            expect=201,
        )


def _retry_cut(base_url: str, book: Book) -> tuple[int, list[str]]:
    """Send every unanswered submission again with its key; each must now be 2xx."""
    problems = []
    session = requests.Session()
    for sub in book.cut:
        response = _submit(base_url, sub, session)
        if response.status_code // 100 != 2:
            problems.append(
                f"retry of {sub.idempotency_key}: {response.status_code} {response.text}"
            )
            continue
        book.acknowledge(_task_id(sub.provider, response.json()), sub, -1)
    return len(book.cut), problems


def _audit(control: HttpControl, book: Book) -> tuple[list[str], list[str]]:
    """(lost acknowledged tasks, every other problem)."""
    tasks = all_tasks(control)
    lost, problems = [], []
    for task_id, (sub, credits) in book.acknowledged.items():
        task = tasks.get(task_id)
        if task is None:
            lost.append(task_id)
        elif (task["provider"], task["account"]) != (sub.provider, sub.account):
            problems.append(f"task {task_id} belongs to {task['account']}, not {sub.account}")
        elif credits >= 0 and task["credits"] != credits:
            problems.append(f"task {task_id} charged {task['credits']}, the 202 said {credits}")
    for provider, account in ACCOUNTS:
        if provider != "seedance2ai":
            continue  # seedanceapi has no idempotency: an unanswered submit may have made a task
        stored = [t for t in tasks.values() if (t["provider"], t["account"]) == (provider, account)]
        keys = {book.acknowledged[i][0].idempotency_key for i in book.tasks_of(provider, account)}
        if len(stored) != len(keys):
            problems.append(f"{account}: {len(stored)} tasks for {len(keys)} idempotency keys")
    return lost, problems + ledger_violations(control)


def test_sigkill_under_load_loses_no_acknowledged_task_and_leaves_no_orphan_charge(
    tmp_path: Path, figures: Figures
) -> None:
    args = ("--store", f"sqlite:{tmp_path / 'state.db'}", "--clock", "manual", *LIFTED_FLAGS)
    book = Book()
    killed_workers = 0
    with killable_server(*args, "--workers", "2") as first:
        _create_accounts(HttpControl(first.base_url))
        master = first.process.pid
        with load(first.base_url, book, seed=1):
            workers = wait_for_workers(master, 2, set())
            for round_ in range(1, WORKER_KILLS + 1):
                book.wait_for(round_ * ACKS_BETWEEN_KILLS)
                victim = random.Random(round_).choice(sorted(workers))
                os.kill(victim, signal.SIGKILL)
                killed_workers += 1
                workers = wait_for_workers(master, 2, not_in={victim})
            book.wait_for((WORKER_KILLS + 1) * ACKS_BETWEEN_KILLS)
            for pid in [master, *workers_of(master)]:  # the whole server, at once
                os.kill(pid, signal.SIGKILL)
            first.process.wait(timeout=WAIT)
    acknowledged_before_restart = len(book.acknowledged)

    with killable_server(*args, "--workers", "2") as second:
        control = HttpControl(second.base_url)
        control.call("POST", "/clock/advance", {"seconds": CLAIM_LEASE + 1})
        retried, retry_problems = _retry_cut(second.base_url, book)
        with load(second.base_url, book, seed=2):  # and it carries on
            book.wait_for(acknowledged_before_restart + ACKS_BETWEEN_KILLS)
        lost, problems = _audit(control, book)

    figures.report(
        "crash",
        f"crash: {killed_workers} workers and 1 whole server killed with SIGKILL under load "
        f"({book.requests} requests); {len(book.acknowledged)} acknowledged tasks, "
        f"{len(lost)} lost, {sum('charge without' in p for p in problems)} orphan charges; "
        f"{retried} submissions cut off by the kills sent again (one task per key)",
    )
    assert lost == []
    assert retry_problems == []
    assert problems == []


# webhook receivers that misbehave ---------------------------------------------------------------

HOOK_TIMEOUT = 3  # seconds a receiver has (B4's 5 s, shortened to keep the test short)


def _instant_task(server: Server, callback: str) -> str:
    response = requests.post(
        server.url("/v1/generate"),
        json={"prompt": "A lighthouse in a storm", "callback_url": callback},
        headers={"Authorization": "Bearer sa_demo_key", "X-Seedance-Mock-Scenario": "instant"},
        timeout=WAIT,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["task_id"])


def _slowest_poll(server: Server, task_id: str, count: int) -> float:
    """The longest of ``count`` concurrent polls, in seconds."""
    took: list[float] = []

    def poll() -> None:
        started = time.monotonic()
        response = requests.get(
            server.url("/v1/status"),
            params={"task_id": task_id},
            headers={"Authorization": "Bearer sa_demo_key"},
            timeout=WAIT,
        )
        assert response.status_code == 200
        took.append(time.monotonic() - started)

    threads = [threading.Thread(target=poll) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT)
    assert len(took) == count
    return max(took)


def test_receivers_that_hang_reset_or_trickle_hold_up_no_request_and_no_delivery(
    figures: Figures,
) -> None:
    timeout = f"seedanceapi.webhooks.timeout_seconds={HOOK_TIMEOUT}"
    with (
        listeners("hang", "reset", "trickle", "ok") as (hang, reset, trickle, ok),
        running_server("--clock", "manual", "--set", timeout) as server,
    ):
        bad = [_instant_task(server, r.url()) for r in (hang, reset, trickle)]
        for receiver in (hang, reset, trickle):
            assert receiver.wait_for(1, WAIT), "the delivery never started"

        sent = time.monotonic()
        good = _instant_task(server, ok.url())
        arrived = ok.wait_for(1, WAIT)
        slowest = _slowest_poll(server, bad[0], 20)
        waited = arrived[0].at - sent if arrived else float("inf")

        figures.report(
            "webhooks",
            f"webhooks: with receivers hanging, resetting and trickling, a healthy one was "
            f"called after {waited:.2f} s and 20 concurrent polls took at most {slowest:.2f} s",
        )
        assert slowest < 1.0, "request handling waited on a webhook receiver"
        assert waited < 1.0, f"a healthy receiver waited {waited:.2f} s behind bad ones"
        outcomes = _outcomes_once_attempted(HttpControl(server.base_url), [*bad, good])
        assert outcomes[good] == ("delivered", None)
        for task_id in bad:
            assert outcomes[task_id][0] == "failed", outcomes


def _outcomes_once_attempted(
    control: HttpControl, task_ids: list[str]
) -> dict[str, tuple[str, str | None]]:
    """Each task's first delivery attempt (outcome, error), once all were recorded."""
    deadline = time.monotonic() + HOOK_TIMEOUT + WAIT
    while True:
        found = {}
        for delivery in control.call("GET", "/webhooks")["deliveries"]:
            if delivery["attempts"]:
                first = delivery["attempts"][0]
                found[delivery["task_id"]] = (first["outcome"], first["error"])
        if all(t in found for t in task_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)  # polling the server for a wall-clock timeout, not a task
