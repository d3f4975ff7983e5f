"""The Redis store reads a request's first reads in one round trip (store/redis.py
``_Ahead``, DECISIONS C21), and no read is older than what the request has seen.

A request of a route fetches, with its first read, the reads the route's last
request made before its first step. What it fetches is taken at most once, and
only until the request's first step, its first wait, or its end: so a request
sees another client's writes made before it started, every read after a step or
a wait is fresh (a step that only read, too), and a second read of a record
reads it again. A read that fails when fetched ahead fails when it is made.
The first read of a request's first step (a rate window, for its admission)
is fetched with them too, under WATCH: the step takes that answer if its first
read is the same, and its EXEC (an empty one for a step that writes nothing)
checks it as it would a read made in the step. Through the app, a status poll
costs 3 round trips instead of 9.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.connection import AbstractConnection

from mockserver.app import create_app
from mockserver.config import AccountSeed, Config
from mockserver.engine.store.redis import RedisBackend
from mockserver.providers.context import EXTENSION
from tests.engine.backends import make_task
from tests.redis_server import RedisServer

ROUTE = "GET /things/<id>"


@pytest.fixture
def url(redis_server: RedisServer) -> str:
    return f"{redis_server.url}?prefix=ahead-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times this process sent Redis something (one per round trip)."""
    sent = [0]
    send: Any = AbstractConnection.send_packed_command

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def put(backend: RedisBackend, key: str, value: Any) -> None:
    backend.atomically(lambda tx: tx.put("thing", key, value))


def get(backend: RedisBackend, key: str) -> Any:
    return backend.read(lambda tx: tx.get("thing", key))


def first_of(backend: RedisBackend, index: str) -> Any:
    return backend.read(lambda tx: tx.firsts([index]))[0]


def learn(backend: RedisBackend, *keys: str) -> None:
    """One request of ROUTE that reads ``keys`` (and the index "due") and ends."""
    backend.read_ahead(ROUTE)
    for key in keys:
        get(backend, key)
    first_of(backend, "due")
    backend.read_ahead(None)


def test_a_routes_first_reads_are_one_round_trip(
    backend: RedisBackend, round_trips: list[int]
) -> None:
    put(backend, "a", [1])
    put(backend, "b", [2])
    learn(backend, "a", "b")
    round_trips[0] = 0
    backend.read_ahead(ROUTE)
    assert [get(backend, "a"), get(backend, "b"), first_of(backend, "due")] == [[1], [2], None]
    backend.read_ahead(None)
    assert round_trips[0] == 1


def test_another_clients_write_before_the_request_is_seen(backend: RedisBackend, url: str) -> None:
    put(backend, "a", "old")
    learn(backend, "a", "b")
    other = RedisBackend(url)
    try:
        put(other, "b", "written by another worker")
        backend.read_ahead(ROUTE)
        assert get(backend, "a") == "old"
        assert get(backend, "b") == "written by another worker"
    finally:
        backend.read_ahead(None)
        other.close()


def test_after_a_step_that_only_read_every_read_is_fresh(backend: RedisBackend, url: str) -> None:
    """A step reads afresh (under WATCH): a read after it must not be older
    than what the step saw (a poll whose settle step found the task already
    settled by another worker answered it still processing)."""
    put(backend, "a", "old")
    learn(backend, "x", "a")
    other = RedisBackend(url)
    try:
        backend.read_ahead(ROUTE)
        assert get(backend, "x") is None  # "a" fetched with it
        put(other, "a", "settled elsewhere")
        assert backend.atomically(lambda tx: tx.get("thing", "a")) == "settled elsewhere"
        assert get(backend, "a") == "settled elsewhere"
    finally:
        backend.read_ahead(None)
        other.close()


def test_a_request_sees_its_own_writes(backend: RedisBackend) -> None:
    put(backend, "a", "old")
    put(backend, "b", "old")
    learn(backend, "a", "b")
    backend.read_ahead(ROUTE)
    assert get(backend, "a") == "old"  # "b" fetched with it
    put(backend, "b", "mine")
    assert get(backend, "b") == "mine"
    backend.read_ahead(None)


def test_what_is_fetched_ahead_is_taken_once(backend: RedisBackend, url: str) -> None:
    put(backend, "a", 1)
    learn(backend, "x", "a")
    other = RedisBackend(url)
    try:
        backend.read_ahead(ROUTE)
        assert get(backend, "x") is None  # "a" fetched with it
        assert get(backend, "a") == 1
        put(other, "a", 2)
        assert get(backend, "a") == 2  # read again, not the answer fetched for the first
    finally:
        backend.read_ahead(None)
        other.close()


def test_nothing_is_fetched_ahead_outside_a_request_or_after_it(
    backend: RedisBackend, url: str, round_trips: list[int]
) -> None:
    put(backend, "a", 1)
    put(backend, "b", 1)
    learn(backend, "a", "b")
    other = RedisBackend(url)
    try:
        backend.read_ahead(ROUTE)
        assert get(backend, "a") == 1  # "b" fetched with it, never taken
        backend.read_ahead(None)
        put(other, "b", 2)
        round_trips[0] = 0
        assert get(backend, "b") == 2
        assert get(backend, "a") == 1
        assert round_trips[0] == 2
    finally:
        other.close()


def test_a_read_that_fails_ahead_fails_when_it_is_made(
    backend: RedisBackend, redis_server: RedisServer
) -> None:
    put(backend, "a", 1)
    put(backend, "b", 1)
    learn(backend, "a", "b")
    raw = redis.Redis.from_url(redis_server.url)
    try:
        name = backend.record_key("thing", "b")
        raw.delete(name)
        raw.rpush(name, "not a string")  # GET on it: WRONGTYPE
        backend.read_ahead(ROUTE)
        assert get(backend, "a") == 1
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            get(backend, "b")
    finally:
        backend.read_ahead(None)
        raw.delete(backend.record_key("thing", "b"))
        raw.close()


def test_a_status_poll_over_the_app_takes_three_round_trips(
    url: str, round_trips: list[int]
) -> None:
    """The clock, what is due, the fault rules, the caller's key, the task and
    the admission's rate window (WATCHed) in one round trip; then the admission's
    EXEC and the journal. Every poll answers the same as the first."""
    key = "sk_ahead"
    app = create_app(
        Config(
            clock="manual",
            background=False,
            store=url,
            accounts=(AccountSeed("seedance2ai", "ahead", 10**6, (key,)),),
        )
    )
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    try:
        created = client.post(
            "/api/v1/video/seedance2",
            headers={**headers, "Idempotency-Key": "one"},
            json={"prompt": "a red kite"},
        )
        assert created.status_code == 202, created.data
        path = f"/api/v1/tasks/{created.get_json()['id']}"
        answers, trips = [], []
        for _ in itertools.repeat(None, 4):
            round_trips[0] = 0
            answer = client.get(path, headers=headers)
            trips.append(round_trips[0])
            answers.append((answer.status_code, answer.get_json()))
        assert answers[1:] == answers[:1] * 3
        assert answers[0][0] == 200
        assert trips[1:] == [3, 3, 3], trips  # the first poll learns (9)
    finally:
        app.extensions[EXTENSION].store.clear()
        app.extensions[EXTENSION].close()


def _redis_app(url: str) -> Any:
    return create_app(Config(clock="manual", background=False, store=url))


def test_a_wait_ends_what_was_fetched_ahead(url: str) -> None:
    """A request that waits (a latency fault, a first render) reads afresh
    after: the runtime's gate stops the store's read-ahead on that thread."""
    app = _redis_app(url)
    runtime = app.extensions[EXTENSION]
    backend = runtime.store.backend
    other = RedisBackend(url)
    try:
        put(backend, "a", "before the wait")
        learn(backend, "x", "a")
        backend.read_ahead(ROUTE)
        assert get(backend, "x") is None  # "a" fetched with it
        with runtime.gate.waiting():
            put(other, "a", "during the wait")
        assert get(backend, "a") == "during the wait"
    finally:
        backend.read_ahead(None)
        other.close()
        runtime.store.clear()
        runtime.close()


def test_after_a_request_nothing_it_fetched_is_read(url: str) -> None:
    """What a request fetched and never took is not read after it ends, by
    anything on its thread (an in-process test's own calls to the simulator)."""
    app = _redis_app(url)
    runtime = app.extensions[EXTENSION]
    client = app.test_client()
    other = RedisBackend(url)
    try:
        assert client.get("/__admin/tasks/a").status_code == 404  # the route learns: task "a"
        assert client.get("/__admin/tasks/b").status_code == 404  # fetches "a", never takes it
        task = make_task("a")
        other.atomically(lambda tx: tx.put("task", "a", task))
        assert runtime.store.get_task("a") == task
    finally:
        other.close()
        runtime.store.clear()
        runtime.close()


# the first step's first read, read ahead under WATCH ---------------------------------


@pytest.fixture
def other(url: str) -> Iterator[RedisBackend]:
    """Another worker's view of the same store."""
    opened = RedisBackend(url)
    yield opened
    opened.close()


STEP_ROUTE = "POST /things/<id>"


def _bump(backend: RedisBackend, runs: list[int]) -> int:
    """A request of STEP_ROUTE: a read, then a step that reads a counter and
    writes it one higher."""

    def step(tx: Any) -> int:
        runs.append(1)
        value = int(tx.get("counter", "c") or 0) + 1
        tx.put("counter", "c", value)
        return value

    backend.read_ahead(STEP_ROUTE)
    try:
        backend.read(lambda tx: tx.get("thing", "a"))
        return backend.atomically(step)
    finally:
        backend.read_ahead(None)


def test_a_steps_first_read_comes_with_the_first_read_and_is_checked_at_exec(
    backend: RedisBackend, url: str, round_trips: list[int]
) -> None:
    other = RedisBackend(url)
    try:
        runs: list[int] = []
        assert _bump(backend, runs) == 1  # learns
        round_trips[0] = 0
        assert _bump(backend, runs) == 2
        assert round_trips[0] == 2  # the read with the counter's WATCH and GET; the EXEC
        # another client changes the counter between the read ahead and the EXEC
        read = backend.read

        def read_then_change(work: Any) -> Any:
            answer = read(work)
            other.atomically(lambda tx: tx.put("counter", "c", 10))
            return answer

        backend.read = read_then_change  # type: ignore[method-assign]
        runs.clear()
        assert _bump(backend, runs) == 11  # not 3: the EXEC failed, the step ran again
        assert len(runs) == 2
        backend.read = read  # type: ignore[method-assign]
        assert backend.read(lambda tx: tx.get("counter", "c")) == 11
    finally:
        other.close()


def test_a_step_that_only_reads_what_was_read_ahead_checks_it_too(
    backend: RedisBackend, other: RedisBackend
) -> None:
    backend.atomically(lambda tx: tx.put("counter", "c", 1))

    def request(change: bool) -> Any:
        backend.read_ahead(STEP_ROUTE)
        try:
            backend.read(lambda tx: tx.get("thing", "a"))
            if change:
                other.atomically(lambda tx: tx.put("counter", "c", 5))
            return backend.atomically(lambda tx: tx.get("counter", "c"))
        finally:
            backend.read_ahead(None)

    assert request(change=False) == 1  # learns
    assert request(change=False) == 1
    assert request(change=True) == 5  # the empty EXEC failed: read again


def test_a_watch_read_ahead_and_not_taken_is_ended_before_anything_else(
    backend: RedisBackend, other: RedisBackend
) -> None:
    """A request that never reaches its step (refused before it) leaves the WATCH
    it read ahead on the connection: the thread's next MULTI or WATCH ends it
    first, so another client's change voids no later MULTI/EXEC of this thread."""
    runs: list[int] = []
    _bump(backend, runs)  # learns
    backend.read_ahead(STEP_ROUTE)
    backend.read(lambda tx: tx.get("thing", "a"))  # the counter WATCHed ahead
    backend.read_ahead(None)  # refused: no step
    other.atomically(lambda tx: tx.put("counter", "c", 7))
    assert backend.append_log({"entry": 1}, 5) >= 1  # a MULTI/EXEC of the journal
    tries: list[int] = []

    def blind(tx: Any) -> None:
        tries.append(1)
        tx.put("thing", "z", 1)

    backend.atomically(blind)
    assert tries == [1]
    runs.clear()
    assert _bump(backend, runs) == 8
    assert runs == [1]


def test_a_first_step_reading_something_else_reads_it_afresh(
    backend: RedisBackend, other: RedisBackend
) -> None:
    runs: list[int] = []
    _bump(backend, runs)  # learns the counter
    backend.read_ahead(STEP_ROUTE)
    try:
        backend.read(lambda tx: tx.get("thing", "a"))  # the counter WATCHed ahead
        other.atomically(lambda tx: tx.put("thing", "b", "fresh"))
        runs.clear()

        def other_step(tx: Any) -> Any:
            runs.append(1)
            value = tx.get("thing", "b")
            # the counter changes now: its WATCH, read ahead, was ended with this
            # step's first read, so the change voids nothing
            other.atomically(lambda other_tx: other_tx.put("counter", "c", 99))
            tx.put("thing", "c", value)
            return value

        assert backend.atomically(other_step) == "fresh"
        assert runs == [1]
    finally:
        backend.read_ahead(None)
    assert backend.read(lambda tx: tx.get("thing", "c")) == "fresh"


def test_a_read_between_the_read_ahead_and_the_step_keeps_the_step_checked(
    backend: RedisBackend, other: RedisBackend
) -> None:
    """A read that was not fetched ahead goes to Redis on the same connection
    between the read ahead and the step: the WATCH read ahead still holds, so a
    change by another client meanwhile still voids the step's EXEC."""
    runs: list[int] = []
    _bump(backend, runs)  # learns
    backend.read_ahead(STEP_ROUTE)
    try:
        backend.read(lambda tx: tx.get("thing", "a"))  # the counter WATCHed ahead
        backend.read(lambda tx: tx.get("thing", "never-read-before"))  # a round trip
        other.atomically(lambda tx: tx.put("counter", "c", 40))
        runs.clear()

        def step(tx: Any) -> int:
            runs.append(1)
            value = int(tx.get("counter", "c")) + 1
            tx.put("counter", "c", value)
            return value

        assert backend.atomically(step) == 41
        assert len(runs) == 2  # the EXEC failed once
    finally:
        backend.read_ahead(None)
    # a MULTI of someone else (the journal) in between ends the WATCH: the step
    # then reads afresh
    backend.read_ahead(STEP_ROUTE)
    try:
        backend.read(lambda tx: tx.get("thing", "a"))
        backend.append_log({"entry": 1}, 5)
        other.atomically(lambda tx: tx.put("counter", "c", 50))
        runs.clear()
        assert backend.atomically(step) == 51
        assert len(runs) == 1
    finally:
        backend.read_ahead(None)


def test_two_servers_polling_admit_exactly_the_limit(url: str) -> None:
    """Two simulators on one Redis, four threads each, polling three tasks in
    turn (so a poll often reads a task its route's last request did not): of the
    polls, exactly as many as the window has room for are admitted (30 per 60 s
    per account, the 3 submits included), the others answer 429."""
    key = "sk_limit"
    config = Config(
        clock="manual",
        background=False,
        store=url,
        accounts=(AccountSeed("seedance2ai", "limited", 10**6, (key,)),),
    )
    apps = [create_app(config), create_app(config)]
    headers = {"Authorization": f"Bearer {key}"}
    try:
        client = apps[0].test_client()
        paths = []
        for n in range(3):
            created = client.post(
                "/api/v1/video/seedance2",
                headers={**headers, "Idempotency-Key": f"k{n}"},
                json={"prompt": "a red kite"},
            )
            assert created.status_code == 202, created.data
            paths.append(f"/api/v1/tasks/{created.get_json()['id']}")
        codes: list[int] = []
        lock = threading.Lock()

        def poll(app: Any, offset: int) -> None:
            local = app.test_client()
            for n in range(8):
                answer = local.get(paths[(n + offset) % 3], headers=headers)
                with lock:
                    codes.append(answer.status_code)

        threads = [
            threading.Thread(target=poll, args=(app, offset)) for app in apps for offset in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(set(codes)) == [200, 429]
        assert codes.count(200) == 27
        assert codes.count(429) == 64 - 27
    finally:
        apps[0].extensions[EXTENSION].store.clear()
        for app in apps:
            app.extensions[EXTENSION].close()
