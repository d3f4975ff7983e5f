"""The Redis backend: simulator instances on any number of hosts share one state.

Each step is an optimistic transaction: every key it reads is WATCHed (in the
read's round trip), its writes go in one MULTI/EXEC, and when another client
changed a watched key in between, EXEC does nothing and the step runs again on
fresh reads. The steps of one process take turns (its threads would only void
each other's EXEC). Records are JSON strings, indexes sorted sets. Keys live
under ``seedance-mock:<name>:`` (``?prefix=<name>`` in the URL, default
``default``), so the rest of the database is never touched, ``clear()`` included.

A request's reads before its first step, and that step's first read (under
WATCH, checked by its EXEC), are one round trip where its route's last request
read the same (see ``_Ahead``, DECISIONS C21). Each thread talks to Redis on its
own connection, a round trip's commands in one write and every reply read
(``_exchange``), past redis-py's client and pipeline layers.
While Redis cannot be reached every call raises ServiceBusy, which every
provider answers with its 503 and a Retry-After; redis-py reconnects on the
next call once Redis is back. Needs Redis 6.2 or later, not Redis Cluster.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import hiredis
import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from mockserver.engine.errors import ServiceBusy
from mockserver.engine.store import codec
from mockserver.engine.store.base import DELETED, BufferedTx, T

_ROOT = "seedance-mock"
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
#: short, so a request fails fast with 503 rather than hanging while Redis is away
_SOCKET_TIMEOUT = 2.0
_HEALTH_CHECK_SECONDS = 10
_CLEAR_BATCH = 500
#: how long a step waits for this process's earlier steps before it answers 503
_STEP_WAIT_SECONDS = 2 * _SOCKET_TIMEOUT

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _busy_while_down(method: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(method)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise ServiceBusy(
                "The simulator's state store (Redis) is unreachable; retry shortly.",
                retry_after=1,
            ) from exc

    return guarded


def split_url(url: str) -> tuple[str, str]:
    """The redis-py URL and the key prefix a ``--store`` URL names."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = [value for key, value in query if key == "prefix"] or ["default"]
    if not _NAME.fullmatch(names[-1]):
        raise ValueError(f"redis store prefix {names[-1]!r}: use letters, digits, '_', '.', '-'")
    rest = urlencode([(key, value) for key, value in query if key != "prefix"])
    return urlunsplit(parts._replace(query=rest)), f"{_ROOT}:{names[-1]}:"


def _bound(value: float, exclusive: str = "") -> str:
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return exclusive + repr(value)


#: one read: its commands (one, or several sent together) with redis-py's options
_Read = tuple[tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]], ...]
#: the most reads of a request's start that are learned and fetched together
_AHEAD_READS = 16
#: commands that a WATCH left on the connection by someone else would disturb
_TRANSACTIONAL = frozenset({"MULTI", "WATCH"})


class _Held(threading.local):
    """This thread's connection to Redis, and the process that made it (a forked
    child makes its own: the socket is its parent's)."""

    connection: Any = None
    pid = 0
    #: whether the connection holds a WATCH (a step's, or one read ahead for it)
    watching = False


#: a step's first read: the keys it WATCHes, its command, redis-py's options
_StepRead = tuple[tuple[str, ...], tuple[Any, ...], tuple[tuple[str, Any], ...]]


class _Ahead(threading.local):
    """This thread's request, from its start to its first step, its first wait
    or its end. A request reads the same records as the request of the same
    route before it (the clock, what is due, the fault rules, the caller's key
    and rate window, the task it polls) and each read is a round trip: so its
    first read also fetches, in the same round trip, every read the route's
    last request made before its first step (up to _AHEAD_READS), and a later
    read that is one of them takes that answer (once). Such an answer is what
    the read would have seen a moment earlier, which is all a read outside a
    step promises. It is never older than anything the request has seen: a
    step (which reads afresh, under WATCH) or a wait (the runtime's gate calls
    Backend.read_ahead(None)) ends it, and every read after reads afresh. A read
    nobody asks for again costs Redis a command.

    The first read of the route's last request's first step goes in the same
    round trip, after a WATCH of its keys: the request's first step takes that
    answer if its own first read is the same, and its EXEC (an empty one if it
    writes nothing) fails, running it again on fresh reads, if another client
    changed those keys since. Not taken, the WATCH is ended in the same write as
    the thread's next MULTI or WATCH (``RedisBackend.talk``), and the answer
    with it: nothing takes an answer whose WATCH is gone."""

    route: str | None = None
    #: the reads made since the request started (None: not reading ahead)
    made: list[_Read] | None = None
    #: reads the route's last request made, fetched with this request's first read
    due: tuple[_Read, ...] = ()
    #: the answers fetched ahead, each taken once
    fetched: dict[_Read, list[Any]] | None = None
    #: the first read of the route's last request's first step, due to be fetched
    step_due: _StepRead | None = None
    #: that read, WATCHed and answered ahead, for the request's first step
    prewatched: tuple[_StepRead, Any] | None = None


def _exchange(
    connection: Any, commands: Sequence[tuple[Any, ...]], check_health: bool = True
) -> list[Any]:
    """Send ``commands`` in one write and read their replies, in order: one round
    trip through redis-py's connection (hiredis packs and parses), without the
    client's layers per command (response callbacks, observability, retries, the
    pipeline's bookkeeping), which cost more CPU than the round trip itself (a
    WATCH and a GET, then a MULTI/EXEC of two SETs: 225 µs through redis-py 8.1's
    pipeline; the store's whole step doing them, JSON included, 113 µs this way).
    An error reply comes back in its place, not raised, so no reply is ever left
    unread; a connection failing on the way is closed."""
    try:
        packed = b"".join(map(hiredis.pack_command, commands))
        connection.send_packed_command([packed], check_health=check_health)
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(connection.read_response())
            except ResponseError as error:
                replies.append(error)
    except BaseException:
        connection.disconnect()
        raise
    return replies


def _executed(replies: Sequence[Any]) -> list[Any]:
    """The replies of a MULTI ... EXEC exchange: what EXEC answered, each command's
    reply; WatchError when a watched key changed; any error reply raised."""
    done = replies[-1]
    if done is None:
        raise WatchError("a watched key changed")
    for reply in (*replies[:-1], *(done if isinstance(done, list) else [done])):
        if isinstance(reply, Exception):
            raise reply
    return list(done)


def _shaped(reply: Any, options: tuple[tuple[str, Any], ...]) -> Any:
    """A read's reply as redis-py's callback would give it: for WITHSCORES, pairs
    of member and float score (RESP3 sends pairs, RESP2 a flat list)."""
    if not options or isinstance(reply, Exception) or not dict(options).get("withscores"):
        return reply
    if reply and not isinstance(reply[0], list | tuple):
        flat = iter(reply)
        reply = list(zip(flat, flat, strict=True))
    return [(member, float(score)) for member, score in reply]


class _RedisTx(BufferedTx):
    """Reads go to Redis at once (WATCHing what they read when it is a step's);
    writes wait for ``commit``."""

    def __init__(self, backend: RedisBackend, step: bool = False, first: str | None = None) -> None:
        super().__init__()
        self._backend = backend
        #: a step's (on this thread's connection), or the reader
        self._step = step
        #: whether the step holds a WATCH (from its first read to EXEC)
        self.watching = False
        #: the route of the request whose first step this is: its first read is
        #: learned, and taken if it was read ahead (then checked at EXEC)
        self._first = first
        #: a step's records read by fetch, as Redis answered (each get decodes anew)
        self._fetched: dict[tuple[str, str], str | None] = {}
        #: numbers taken by fetch, for next_number
        self._numbers: list[int] = []

    def _query(self, watch: Sequence[str], *command: Any, **options: Any) -> Any:
        """Run one read command; within a step, WATCH the keys it reads first."""
        if not self._step:
            answers = self._backend.read_now(((command, tuple(sorted(options.items()))),))
            return answers[0]
        return self._watched(watch, command, tuple(options.items()))

    def _watched(
        self,
        watch: Sequence[str],
        command: tuple[Any, ...],
        options: tuple[tuple[str, Any], ...],
        also: tuple[tuple[Any, ...], ...] = (),
    ) -> Any:
        """WATCH ``watch`` and run ``command`` (then the commands ``also``, whose
        replies are returned after its own) in one round trip; or, for the step's
        first read, take it as read ahead under the same WATCH. A connection
        found closed before the step watched anything (a Redis restart) is tried
        once more; once keys are watched a lost connection lost them too, so the
        step fails (Redis is away: 503)."""
        if not self.watching and not also:
            read: _StepRead = (tuple(watch), command, options)
            route, self._first = self._first, None
            if route is not None:
                self._backend.learn_step(route, read)
                found, answer = self._backend.take_prewatched(read)
                if found:
                    self.watching = True
                    return answer
        replies = self._backend.talk([("WATCH", *watch), command, *also], self)
        self.watching = True
        self._backend.holds_watch(True)
        for answer in replies:
            if isinstance(answer, Exception):
                raise answer
        reply = _shaped(replies[1], options)
        return (reply, *replies[2:]) if also else reply

    def fetch(self, records: Sequence[tuple[str, str]], *, number: bool = False) -> None:
        """In a step, WATCH and read every record in one round trip, with the
        INCR of ``next_number`` when asked (the reader, shared by every read,
        keeps nothing)."""
        if not self._step:
            return
        wanted = [r for r in dict.fromkeys(records) if r not in self._fetched]
        if not wanted:
            return
        names = [self._backend.record_key(table, key) for table, key in wanted]
        if number:
            incr = ("INCR", self._backend.prefix + "seq")
            texts, taken = self._watched(names, ("MGET", *names), (), (incr,))
            self._numbers.append(int(taken))
        else:
            texts = self._query(names, "MGET", *names)
        self._fetched.update(zip(wanted, texts, strict=True))

    def _load(self, table: str, key: str) -> Any | None:
        if (table, key) in self._fetched:
            text = self._fetched[(table, key)]
        else:
            name = self._backend.record_key(table, key)
            text = self._query([name], "GET", name)
        return None if text is None else self._backend.decoded.load(table, key, text)

    def _load_many(self, table: str, keys: Sequence[str]) -> list[Any | None]:
        if not keys:
            return []
        names = [self._backend.record_key(table, key) for key in keys]
        texts = self._query(names, "MGET", *names)
        decoded = self._backend.decoded
        return [
            None if t is None else decoded.load(table, k, t)
            for k, t in zip(keys, texts, strict=True)
        ]

    def scan(
        self,
        index: str,
        *,
        start: float = -math.inf,
        upto: float = math.inf,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[tuple[str, float]]:
        if limit == 0:
            return []
        name = self._backend.index_key(index)
        command: list[Any]
        if newest_first:
            command = ["ZREVRANGEBYSCORE", name, _bound(upto), _bound(start)]
        else:
            command = ["ZRANGEBYSCORE", name, _bound(start), _bound(upto)]
        if limit is not None:
            command += ["LIMIT", 0, limit]
        found = self._query([name], *command, "WITHSCORES", withscores=True, score_cast_func=float)
        return [(member, float(score)) for member, score in found]

    def firsts(self, indexes: Sequence[str]) -> list[tuple[str, float] | None]:
        if self._step:
            return super().firsts(indexes)
        options = (("score_cast_func", float), ("withscores", True))
        read = tuple(
            (("ZRANGE", self._backend.index_key(index), 0, 0, "WITHSCORES"), options)
            for index in indexes
        )
        found = self._backend.read_now(read)
        return [(first[0][0], float(first[0][1])) if first else None for first in found]

    def count(self, index: str, *, start: float = -math.inf, upto: float = math.inf) -> int:
        name = self._backend.index_key(index)
        return int(self._query([name], "ZCOUNT", name, _bound(start), _bound(upto)))

    def next_number(self) -> int:
        # INCR runs at once, outside the transaction: a step run again takes a
        # new number, and the one it took first is simply never used.
        if self._numbers:
            return self._numbers.pop(0)
        (number,) = self._backend.talk([("INCR", self._backend.prefix + "seq")], self)
        if isinstance(number, Exception):
            raise number
        return int(number)

    def commit(self) -> None:
        """The step's writes in one MULTI/EXEC, on the connection holding its
        WATCH (none: an empty one checks the WATCH). WatchError when another
        client changed what the step read."""
        backend = self._backend
        commands: list[tuple[Any, ...]] = [("MULTI",)]
        for (table, key), record in self.writes.records.items():
            name = backend.record_key(table, key)
            if record is DELETED:
                commands.append(("DEL", name))
            else:
                commands.append(("SET", name, codec.dump(record)))
        for index, upto in self.writes.trims.items():
            commands.append(("ZREMRANGEBYSCORE", backend.index_key(index), "-inf", _bound(upto)))
        for (index, member), score in self.writes.members.items():
            name = backend.index_key(index)
            if score is None:
                commands.append(("ZREM", name, member))
            else:
                commands.append(("ZADD", name, score, member))
        commands.append(("EXEC",))
        try:
            replies = self._backend.talk(commands, self)
        finally:
            self.watching = False  # EXEC ends the WATCH, so does a lost connection
            self._backend.holds_watch(False)
        _executed(replies)


class RedisBackend:
    """State in Redis under one key prefix (see the module docstring)."""

    shared = True

    def __init__(self, url: str) -> None:
        client_url, self.prefix = split_url(url)
        self.client: redis.Redis = redis.Redis.from_url(
            client_url,
            decode_responses=True,
            socket_timeout=_SOCKET_TIMEOUT,
            socket_connect_timeout=_SOCKET_TIMEOUT,
            health_check_interval=_HEALTH_CHECK_SECONDS,
            # One quick retry on a fresh connection (clear() and a connection's
            # connect; the round trips of talk() retry once by themselves).
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        # This process's steps take turns: its threads cannot run Python side by
        # side anyway, and two of them watching the same keys (an account's rate
        # window) would only void each other's EXEC and run again. Steps of other
        # processes and hosts still meet as optimistic transactions.
        self._steps = threading.Lock()
        self.decoded = codec.Decoded()
        self._reader = _RedisTx(self)  # reads write nothing, so one serves every read
        self._held = _Held()
        self._lock = threading.Lock()
        #: every thread's, to close (a thread's goes when the thread ends)
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._ahead = _Ahead()
        #: each route's reads before its first step, as its last request made them
        self._learned: dict[str, tuple[_Read, ...]] = {}
        #: each route's first step's first read, as its last request made it
        self._learned_steps: dict[str, _StepRead] = {}
        self._journal = self.prefix + "journal-entries"  # newest last
        self._journal_id = self.prefix + "journal-id"

    def record_key(self, table: str, key: str) -> str:
        return f"{self.prefix}{table}:{key}"

    def index_key(self, index: str) -> str:
        return f"{self.prefix}idx:{index}"

    def read_ahead(self, route: str | None) -> None:
        ahead = self._ahead
        self._stop_ahead()
        ahead.prewatched = None  # its WATCH stays until this thread's next MULTI or WATCH
        if route is not None:
            ahead.route, ahead.made = route, []
            ahead.due = self._learned.get(route, ())
            ahead.step_due = self._learned_steps.get(route)

    def _stop_ahead(self) -> None:
        """The request's first step, wait or end: learn its reads, fetch no more."""
        ahead = self._ahead
        if ahead.made is not None and ahead.route is not None:
            self._learned[ahead.route] = tuple(ahead.made[:_AHEAD_READS])
        ahead.route = ahead.made = ahead.fetched = None
        ahead.due, ahead.step_due = (), None

    def learn_step(self, route: str, read: _StepRead) -> None:
        """The first read of the first step of a request of ``route``."""
        self._learned_steps[route] = read

    def holds_watch(self, watching: bool) -> None:
        """Whether this thread's connection now holds a WATCH."""
        self._held.watching = watching
        if not watching:
            self._ahead.prewatched = None  # what it protected is unchecked now

    def take_prewatched(self, read: _StepRead) -> tuple[bool, Any]:
        """The answer to ``read`` if it was read ahead and is still WATCHed (taken
        once); else (False, None)."""
        prewatched, self._ahead.prewatched = self._ahead.prewatched, None
        if prewatched is not None and prewatched[0] == read and self._held.watching:
            return True, prewatched[1]
        return False, None

    def read_now(self, read: _Read) -> list[Any]:
        """The answers to one read's commands (sent together, outside any
        transaction), fetched ahead or with the reads the route is due to make."""
        ahead = self._ahead
        answers: list[Any] | None
        if ahead.made is None:
            return self._send_one(read)
        if len(ahead.made) < _AHEAD_READS:
            ahead.made.append(read)
        if ahead.due or ahead.step_due:
            due, ahead.due = list(ahead.due), ()
            if read in due:
                due.remove(read)
            step, ahead.step_due = ahead.step_due, None
            also: list[_Read] = []
            if step is not None:  # WATCHed now, taken by the first step if it reads it
                keys, command, options = step
                also = [((("WATCH", *keys), ()), (command, options))]
            fetched = self._send([read, *due, *also], raise_on_error=False)
            if step is not None:
                self.holds_watch(True)
                if fetched[-1] is not None:
                    ahead.prewatched = (step, fetched[-1][1])
                fetched = fetched[:-1]
            ahead.fetched = {}
            for other, answer in zip(due, fetched[1:], strict=True):
                if answer is not None:
                    ahead.fetched.setdefault(other, []).append(answer)
            answers = fetched[0]
        else:
            kept = ahead.fetched.get(read) if ahead.fetched else None
            answers = kept.pop(0) if kept else None
        # None: not fetched, or it failed (asked again, it raises its exception)
        return self._send_one(read) if answers is None else answers

    def _send_one(self, read: _Read) -> list[Any]:
        answers: list[Any] = self._send([read])[0]
        return answers

    def _send(self, reads: Sequence[_Read], raise_on_error: bool = True) -> list[Any]:
        """Each read's answers, in one round trip (None for a read that failed,
        unless ``raise_on_error``)."""
        replies = iter(self.talk([command for read in reads for command, _ in read]))
        answers: list[Any] = []
        for read in reads:
            got = [_shaped(next(replies), options) for _, options in read]
            failed = [a for a in got if isinstance(a, Exception)]
            if failed and raise_on_error:
                raise failed[0]
            answers.append(None if failed else got)
        return answers

    def talk(self, commands: Sequence[tuple[Any, ...]], step: _RedisTx | None = None) -> list[Any]:
        """``commands`` on this thread's connection, in one round trip (see
        _exchange); for ``step``, a step's. A WATCH the connection holds that is
        not the step's own (one read ahead and not taken) is ended first, in the
        same write, before a MULTI or a WATCH. A closed connection holds no
        WATCH: one relied on makes the step fail; otherwise a connection that
        Redis closed (a restart) is tried once more, reconnected."""
        held = self._held
        connection = self._connection()
        ours = step is not None and step.watching
        if ours and not held.watching:
            # ended meanwhile (by a MULTI of another's on this thread, which no step
            # makes): fail rather than commit unchecked
            raise RedisConnectionError("the step's WATCH was lost")
        if held.watching and not connection.is_connected:
            self.holds_watch(False)  # closed (by a failure): nothing is WATCHed any more
            if ours:
                raise RedisConnectionError("the connection holding the step's WATCH closed")
        unwatch = held.watching and not ours and any(c[0] in _TRANSACTIONAL for c in commands)
        if unwatch:
            self.holds_watch(False)
            commands = [("UNWATCH",), *commands]
        try:
            # no health check while a WATCH is relied on: its reconnect would drop it
            replies = _exchange(connection, commands, check_health=not held.watching)
        except RedisConnectionError:
            self.holds_watch(False)  # closed, and its WATCH with it
            if ours:
                raise
            return _exchange(connection, commands[1:] if unwatch else commands)
        except BaseException:
            self.holds_watch(False)  # closed (see _exchange)
            raise
        return replies[1:] if unwatch else replies

    def _connection(self) -> Any:
        """This thread's connection, made on first use in each process: its
        reads and steps take turns on it, with no pool to borrow from and give
        back at every round trip. It is closed with the store, or when its
        thread ends (redis-py closes a connection it collects)."""
        held = self._held
        if held.connection is None or held.pid != os.getpid():
            pool: Any = self.client.connection_pool
            # not pool.make_connection(): the pool would count it for ever
            # against max_connections (it is never given back)
            held.connection = pool.connection_class(**pool.connection_kwargs)
            held.pid = os.getpid()
            self.holds_watch(False)
            with self._lock:
                self._connections.add(held.connection)
        return held.connection

    @_busy_while_down
    def atomically(self, work: Callable[[Any], T]) -> T:
        ahead = self._ahead
        # the request's first step learns its first read, and takes it if it was
        # read ahead (under WATCH, so EXEC checks it as if it were read now)
        first = ahead.route if ahead.made is not None else None
        self._stop_ahead()  # a step reads afresh: no later read may be older
        # while Redis does not answer, each step waits its socket timeout: a thread
        # queued behind several of them answers 503 rather than wait for them all
        if not self._steps.acquire(timeout=_STEP_WAIT_SECONDS):
            busy = "The simulator's state store (Redis) is slow; retry shortly."
            raise ServiceBusy(busy, retry_after=1)
        try:
            return self._optimistically(work, first)
        finally:
            self._steps.release()

    def _optimistically(self, work: Callable[[Any], T], first: str | None = None) -> T:
        lost = False
        while True:
            tx = _RedisTx(self, step=True, first=first)
            first = None  # run again, a step reads afresh
            # (a step that raises leaves its WATCH on the connection: the thread's
            # next MULTI or WATCH ends it first, in the same write; see talk)
            result = work(tx)
            if not tx.writes and not tx.watching:
                return result  # it read nothing under WATCH
            try:
                # a step that only read commits nothing: its empty MULTI/EXEC
                # checks that what it read (ahead, too) was one state
                tx.commit()
            except WatchError:
                continue  # another client changed what this step read: again
            except RedisConnectionError:
                # the connection broke at the commit (its WATCH with it): run the
                # step again on fresh reads, once, as redis-py would; a step that
                # did commit then finds its own writes, which every rule allows for
                if lost:
                    raise
                lost = True
                continue
            return result

    @_busy_while_down
    def read(self, work: Callable[[Any], T]) -> T:
        return work(self._reader)

    # the journal ---------------------------------------------------------------------------
    # An append counts (journal-id: the newest id) and pushes in one MULTI: one round
    # trip, nothing to WATCH, and the newest entry's id is always the count, so the
    # others' ids follow from their places in the list.
    @_busy_while_down
    def append_log(self, entry: dict[str, Any], keep: int) -> int:
        replies = self.talk(
            [
                ("MULTI",),
                ("INCR", self._journal_id),
                ("RPUSH", self._journal, codec.dump(entry)),
                ("LTRIM", self._journal, -max(1, keep), -1),
                ("EXEC",),
            ]
        )
        ident, _, _ = _executed(replies)
        return int(ident)

    @_busy_while_down
    def log(self) -> list[dict[str, Any]]:
        replies = self.talk(
            [("MULTI",), ("GET", self._journal_id), ("LRANGE", self._journal, 0, -1), ("EXEC",)]
        )
        newest, texts = _executed(replies)
        first = int(newest or 0) - len(texts) + 1
        return [{**json.loads(text), "id": first + n} for n, text in enumerate(texts)]

    @_busy_while_down
    def clear_log(self) -> None:
        self.client.delete(self._journal)

    # life ------------------------------------------------------------------------------------
    @_busy_while_down
    def clear(self) -> None:
        """Delete this store's keys, a batch at a time (never the rest of the database)."""
        self._stop_ahead()
        self._ahead.prewatched = None
        self._learned.clear()
        self._learned_steps.clear()
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + "*"
        batch: list[str] = []
        for key in self.client.scan_iter(match=pattern, count=_CLEAR_BATCH):
            batch.append(key)
            if len(batch) == _CLEAR_BATCH:
                self.client.unlink(*batch)
                batch.clear()
        if batch:
            self.client.unlink(*batch)

    def close(self) -> None:
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(RedisError):
                connection.disconnect()
        self.client.close()
