"""How the Redis store talks to Redis (store/redis.py ``_exchange``, ``talk``):
each thread sends a round trip's commands in one write on its own connection and
reads every reply, so no unread reply is carried into the next round trip and no
stale WATCH reaches a later MULTI/EXEC, whatever failed; a forked child makes its
own; a step whose WATCH is lost never commits unchecked; RESP2 and RESP3 servers
give the same answers.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis

from mockserver.engine.store import redis as redis_store
from mockserver.engine.store.redis import RedisBackend
from tests.redis_server import RedisServer


@pytest.fixture(params=["3", "2"], ids=["resp3", "resp2"])
def url(redis_server: RedisServer, request: pytest.FixtureRequest) -> str:
    return f"{redis_server.url}?protocol={request.param}&prefix=conn-{uuid.uuid4().hex[:12]}"


def clients_of(raw: redis.Redis, name: str) -> int:
    return sum(1 for c in raw.client_list() if c.get("name") == name)


def put_n(n: int) -> Callable[[Any], None]:
    return lambda tx: tx.put("things", "a", {"n": n})


def named(backend: RedisBackend, name: str) -> None:
    """Name this thread's connection, so CLIENT LIST shows whose it is."""
    (answer,) = backend.talk([("CLIENT", "SETNAME", name)])
    assert answer in ("OK", b"OK", True)


def test_a_thread_keeps_one_connection_for_its_reads_and_steps(
    backend: RedisBackend, redis_server: RedisServer
) -> None:
    named(backend, "mine")
    for n in range(20):
        backend.atomically(put_n(n))
        assert backend.read(lambda tx: tx.get("things", "a")) == {"n": n}
        backend.append_log({"n": n}, 5)
    assert clients_of(redis_server.client(), "mine") == 1
    others: list[int] = []

    def other_thread() -> None:
        named(backend, "theirs")
        backend.read(lambda tx: tx.get("things", "a"))
        others.append(clients_of(redis_server.client(), "theirs"))

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert others == [1]
    backend.close()
    assert clients_of(redis_server.client(), "mine") == 0
    assert clients_of(redis_server.client(), "theirs") == 0


def test_a_step_that_only_read_leaves_no_watch_behind(
    backend: RedisBackend, redis_server: RedisServer
) -> None:
    backend.atomically(lambda tx: tx.put("things", "a", {"n": 1}))
    assert backend.atomically(lambda tx: tx.get("things", "a")) == {"n": 1}
    # another client changes what that step read: had its WATCH reached this
    # thread's next MULTI/EXEC (the journal's), that would fail
    redis_server.client().set(backend.record_key("things", "a"), '{"n": 2}')
    assert backend.append_log({"entry": 1}, 5) >= 1
    assert backend.read(lambda tx: tx.get("things", "a")) == {"n": 2}


def test_a_step_that_failed_leaves_no_watch_behind(
    backend: RedisBackend, redis_server: RedisServer
) -> None:
    backend.atomically(lambda tx: tx.put("things", "a", {"n": 1}))

    def fails(tx: Any) -> None:
        tx.get("things", "a")
        raise LookupError("a rule refused")

    with pytest.raises(LookupError):
        backend.atomically(fails)
    redis_server.client().set(backend.record_key("things", "a"), '{"n": 2}')
    tries: list[int] = []

    def writes(tx: Any) -> None:
        tries.append(1)
        tx.put("things", "b", {"n": 3})

    backend.atomically(writes)
    assert tries == [1]  # no EXEC voided by the failed step's WATCH
    assert backend.read(lambda tx: tx.get("things", "b")) == {"n": 3}


def test_an_error_reply_leaves_no_reply_unread(
    backend: RedisBackend, redis_server: RedisServer
) -> None:
    raw = redis_server.client()
    raw.rpush(backend.index_key("wrong"), "a list, not a sorted set")
    backend.atomically(lambda tx: tx.put("things", "a", {"n": 1}))
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        backend.read(lambda tx: tx.count("wrong"))
    backend.atomically(lambda tx: tx.add("due", "m", 5.0))
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):  # an error, then a reply
        backend.read(lambda tx: tx.firsts(["wrong", "due"]))
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        backend.atomically(lambda tx: tx.add("wrong", "m", 1.0))
    # every later answer is the answer to its own command
    assert backend.read(lambda tx: tx.get("things", "a")) == {"n": 1}
    assert backend.atomically(lambda tx: tx.get("things", "a")) == {"n": 1}
    assert backend.read(lambda tx: tx.next_number()) + 1 == backend.read(
        lambda tx: tx.next_number()
    )


def test_scores_read_the_same_on_resp2_and_resp3(backend: RedisBackend) -> None:
    def fill(tx: Any) -> None:
        tx.add("due", "late", 30.5)
        tx.add("due", "early", 10.25)
        tx.add("due", "middle", 20.0)

    backend.atomically(fill)
    everything = [("early", 10.25), ("middle", 20.0), ("late", 30.5)]
    for read in (backend.read, backend.atomically):
        assert read(lambda tx: tx.scan("due")) == everything
        assert read(lambda tx: tx.scan("due", newest_first=True, limit=2)) == everything[::-1][:2]
        assert read(lambda tx: tx.firsts(["due", "nothing"])) == [("early", 10.25), None]
        assert read(lambda tx: tx.count("due", start=11, upto=30.5)) == 2
        assert all(isinstance(score, float) for _, score in read(lambda tx: tx.scan("due")))


def test_a_step_whose_connection_breaks_at_its_commit_runs_again_once(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.atomically(lambda tx: tx.put("counters", "c", {"n": 0}))
    exchange = redis_store._exchange
    breaks = [1]

    def breaking(connection: Any, commands: Any, **options: Any) -> list[Any]:
        if commands[0] == ("MULTI",) and breaks:
            breaks.pop()
            connection.disconnect()  # as a Redis restart would: the WATCH is gone
            raise redis.ConnectionError("lost at the commit")
        return exchange(connection, commands, **options)

    monkeypatch.setattr(redis_store, "_exchange", breaking)
    runs: list[int] = []

    def increment(tx: Any) -> int:
        runs.append(1)
        n = int(tx.get("counters", "c")["n"]) + 1
        tx.put("counters", "c", {"n": n})
        return n

    assert backend.atomically(increment) == 1
    assert len(runs) == 2
    assert backend.read(lambda tx: tx.get("counters", "c")) == {"n": 1}

    def always_breaking(connection: Any, commands: Any, **options: Any) -> list[Any]:
        if commands[0] == ("MULTI",):
            raise redis.ConnectionError("Redis is away")
        return exchange(connection, commands, **options)

    monkeypatch.setattr(redis_store, "_exchange", always_breaking)
    runs.clear()
    with pytest.raises(Exception, match="unreachable"):
        backend.atomically(increment)
    assert len(runs) == 2  # run again once, then the store answers busy


def test_a_forked_child_makes_its_own_connection(backend: RedisBackend) -> None:
    backend.atomically(lambda tx: tx.put("things", "a", {"n": 1}))
    parent = backend.read(lambda tx: tx.get("things", "a"))
    (parent_client,) = backend.talk([("CLIENT", "ID")])
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's socket is not its to use
        try:
            mine = backend.read(lambda tx: tx.get("things", "a"))
            backend.atomically(lambda tx: tx.put("things", "b", {"from": "child"}))
            (client,) = backend.talk([("CLIENT", "ID")])
            os.write(writer, b"ok" if mine == parent and client != parent_client else b"wrong")
        finally:
            os._exit(0)
    os.close(writer)
    _, status = os.waitpid(pid, 0)
    assert os.read(reader, 10) == b"ok"
    os.close(reader)
    assert status == 0
    assert backend.read(lambda tx: tx.get("things", "b")) == {"from": "child"}
    for n in range(5):  # the parent's connection still answers its own commands
        backend.atomically(put_n(n))
        assert backend.read(lambda tx: tx.get("things", "a")) == {"n": n}


def test_a_thread_that_ends_leaves_no_connection_open(
    backend: RedisBackend, redis_server: RedisServer
) -> None:
    def short_lived(n: int) -> None:
        named(backend, f"short-{n}")
        backend.read(lambda tx: tx.get("things", "a"))

    for n in range(10):
        thread = threading.Thread(target=short_lived, args=(n,))
        thread.start()
        thread.join()
    gc.collect()
    raw = redis_server.client()
    assert [c["name"] for c in raw.client_list() if str(c.get("name")).startswith("short-")] == []


def test_threads_past_the_pools_max_connections_still_talk(redis_server: RedisServer) -> None:
    """Each thread's connection is its own, not counted against the pool's
    ``max_connections`` (it is never given back to the pool)."""
    limited = RedisBackend(f"{redis_server.url}?max_connections=2&prefix=max-{uuid.uuid4().hex}")
    try:
        limited.atomically(lambda tx: tx.put("things", "a", {"n": 1}))
        answers: list[Any] = []

        def reader() -> None:
            answers.append(limited.read(lambda tx: tx.get("things", "a")))

        for _ in range(5):
            thread = threading.Thread(target=reader)
            thread.start()
            thread.join()
        assert answers == [{"n": 1}] * 5
    finally:
        limited.clear()
        limited.close()


@pytest.mark.parametrize("how", ["closed here", "killed, health check due", "journal between"])
def test_a_step_that_lost_its_watch_never_commits_unchecked(
    backend: RedisBackend, redis_server: RedisServer, how: str
) -> None:
    """Whatever ends a step's WATCH before its EXEC (its connection closed here,
    one killed by Redis and re-made by a health check, a MULTI of someone else on
    the thread's connection), the step fails or runs again on fresh reads: it
    never commits what it read unchecked (1, losing the other client's 100)."""
    backend.atomically(lambda tx: tx.put("counters", "c", {"n": 0}))
    (ident,) = backend.talk([("CLIENT", "ID")])  # this thread's connection
    connection = backend._connection()
    raw = redis_server.client()
    runs: list[int] = []

    def increment(tx: Any) -> int:
        runs.append(1)
        n = int(tx.get("counters", "c")["n"]) + 1
        if len(runs) == 1:
            if how == "closed here":
                connection.disconnect()
            elif how == "killed, health check due":
                raw.client_kill_filter(_id=ident)
                connection.next_health_check = 0
            else:
                backend.append_log({"entry": 1}, 5)
            raw.set(backend.record_key("counters", "c"), '{"n": 100}')
        tx.put("counters", "c", {"n": n})
        return n

    with contextlib.suppress(Exception):
        backend.atomically(increment)
    assert backend.read(lambda tx: tx.get("counters", "c")) in ({"n": 100}, {"n": 101})


def test_a_step_that_only_reads_reads_one_state(
    backend: RedisBackend, redis_server: RedisServer
) -> None:
    """A step that writes nothing still ends with an (empty) EXEC: a change to
    what it read before its last read runs it again, so its reads are one state."""
    backend.atomically(lambda tx: (tx.put("things", "a", 1), tx.put("things", "b", 1)))
    raw = redis_server.client()
    runs: list[int] = []

    def both(tx: Any) -> tuple[Any, Any]:
        runs.append(1)
        first = tx.get("things", "a")
        if len(runs) == 1:  # another client moves both on, between the two reads
            raw.set(backend.record_key("things", "a"), "2")
            raw.set(backend.record_key("things", "b"), "2")
        return first, tx.get("things", "b")

    assert backend.atomically(both) == (2, 2)  # never (1, 2)
    assert len(runs) == 2
