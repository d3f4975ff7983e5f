"""The request journal on a store several processes share (an SQLite file, a
Redis server), through real servers: every answer is in the journal, exactly
once and in order, by the time the client has it, whichever process then reads
the journal; the journal keeps the newest ``--journal-size`` entries; and a
worker killed with SIGKILL under load loses none of the answers it had sent.

Two servers of one worker each on one store stand for two workers: a request
then goes to the process the test chooses. Below them, threads appending at
once to each backend get each an id, and the id of the place their entry holds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mockserver.engine.state import State, open_state
from tests.engine.backends import run_threads
from tests.server import Server, running_server

KEY = {"Authorization": "Bearer sk_live_demo"}
LIFTED = ("--set", f"seedance2ai.rate_limits.requests.limit={10**9}")
WAIT = 30.0


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store of each shared backend, as a --store URL."""
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'state.db'}"
        return
    url = f"{request.getfixturevalue('redis_server').url}?prefix=journal-{uuid.uuid4().hex[:12]}"
    yield url
    state = open_state(url)
    state.clear()
    state.close()


@contextlib.contextmanager
def servers_on(store_url: str, *args: str, count: int = 2) -> Iterator[list[Server]]:
    """``count`` servers on one store, started one after the other."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(
                running_server("--store", store_url, "--clock", "manual", *LIFTED, *args)
            )
            for _ in range(count)
        ]


def ask(server: Server, probe: str, session: Any = requests, *, submit: bool = False) -> int:
    """One provider request marked with ``probe`` (a submit, or a read of an
    unknown task); its status."""
    headers = {**KEY, "X-Probe": probe}
    if submit:
        response = session.post(
            server.url("/api/v1/video/seedance2"),
            json={"prompt": "A lighthouse at dusk"},
            headers={**headers, "Idempotency-Key": probe},
            timeout=WAIT,
        )
    else:
        response = session.get(
            server.url("/api/v1/tasks/sd2_missing"), headers=headers, timeout=WAIT
        )
    return int(response.status_code)


def journal(server: Server, limit: int = 1000) -> list[dict[str, Any]]:
    """The journal as ``server`` reads it, oldest first."""
    response = requests.get(server.url("/__admin/journal"), params={"limit": limit}, timeout=WAIT)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["entries"]))


def probe_of(entry: dict[str, Any]) -> str:
    return str(entry["request_headers"].get("X-Probe"))


@pytest.mark.slow
def test_each_answer_is_in_the_journal_once_it_is_sent_whichever_process_reads_it(
    store_url: str,
) -> None:
    with servers_on(store_url) as servers:
        sent = []
        for n in range(16):
            here, there = servers[n % 2], servers[(n + 1) % 2]
            status = ask(here, f"p{n}", submit=n % 4 == 0)
            newest = journal(there, limit=1)
            assert [(probe_of(e), e["status"]) for e in newest] == [(f"p{n}", status)]
            sent.append(f"p{n}")
        entries = journal(servers[0])
        assert entries == journal(servers[1])
        assert [probe_of(e) for e in entries] == sent
        assert [e["id"] for e in entries] == list(range(1, len(sent) + 1))


@pytest.mark.slow
def test_the_journal_keeps_the_newest_entries_across_processes(store_url: str) -> None:
    with servers_on(store_url, "--journal-size", "5") as servers:
        for n in range(12):
            ask(servers[n % 2], f"p{n}")
        for server in servers:
            entries = journal(server)
            assert [probe_of(e) for e in entries] == [f"p{n}" for n in range(7, 12)]
            assert [e["id"] for e in entries] == list(range(8, 13))


@pytest.mark.slow
def test_concurrent_requests_through_both_processes_are_each_journaled_once_in_order(
    store_url: str,
) -> None:
    clients, each = 6, 15
    with servers_on(store_url) as servers:

        def client(c: int) -> None:
            with requests.Session() as session:
                for n in range(each):
                    ask(servers[(c + n) % 2], f"c{c}-{n}", session, submit=n % 5 == 0)

        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=WAIT)
        entries = journal(servers[1])

    probes = [probe_of(e) for e in entries]
    assert sorted(probes) == sorted(f"c{c}-{n}" for c in range(clients) for n in range(each))
    assert [e["id"] for e in entries] == list(range(1, clients * each + 1))
    for c in range(clients):  # a client's next request left after its last answer came
        assert [p for p in probes if p.startswith(f"c{c}-")] == [f"c{c}-{n}" for n in range(each)]


def test_concurrent_appends_each_get_the_id_of_the_place_they_hold(store: State) -> None:
    ids = run_threads(50, lambda n: (store.journal_append({"n": n}, 30), n))
    assert sorted(ident for ident, _ in ids) == list(range(1, 51))
    appended = dict(ids)
    kept = store.journal()
    assert [e["id"] for e in kept] == list(range(21, 51))
    assert [e["n"] for e in kept] == [appended[e["id"]] for e in kept]


# a worker killed under load ------------------------------------------------------------------


def workers_of(master: int) -> list[int]:
    """The live child processes of ``master`` (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == master and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


class Load:
    """Client threads sending marked reads and submits until stopped, noting
    which of them were answered."""

    def __init__(self, server: Server, clients: int = 6) -> None:
        self.answered: list[str] = []
        self._changed = threading.Condition()
        self._stopped = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(server, c)) for c in range(clients)
        ]

    def _client(self, server: Server, c: int) -> None:
        n = 0
        while not self._stopped.is_set():
            probe, n = f"c{c}-{n}", n + 1
            try:
                with requests.Session() as session:
                    ask(server, probe, session, submit=n % 3 == 0)
            except requests.RequestException:
                continue  # cut off by the kill: not answered, so nothing is promised
            with self._changed:
                self.answered.append(probe)
                self._changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.answered) >= count, WAIT)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=WAIT)


@pytest.mark.slow
def test_a_worker_killed_under_load_loses_no_answered_request_from_the_journal(
    store_url: str,
) -> None:
    with servers_on(store_url, "--workers", "2", "--journal-size", "100000", count=1) as (server,):
        with Load(server) as load:
            load.wait_for(100)
            victim = workers_of(server.process.pid)[0]
            os.kill(victim, signal.SIGKILL)
            load.wait_for(len(load.answered) + 100)  # and it carries on
        assert victim not in workers_of(server.process.pid)
        probes = [probe_of(e) for e in journal(server, limit=100000)]

    assert sorted(set(load.answered) - set(probes)) == []
    assert len(probes) == len(set(probes))  # none twice, answered or cut off
