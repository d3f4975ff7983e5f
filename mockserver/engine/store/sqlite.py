"""The SQLite backend: one file, any number of worker processes on one host,
state that survives a restart.

Every step is one ``BEGIN IMMEDIATE`` transaction, so SQLite's write lock
serializes steps across processes; WAL mode lets readers go on meanwhile.
Records are JSON text in one table, indexes rows of another.

A commit is handed to the operating system, not synced to the disk
(``synchronous`` OFF, the default; DECISIONS C20): a process that dies, even by
SIGKILL, loses nothing it committed, and a restart carries on. Only an operating
system crash or a power cut can lose the last steps or damage the file, which
``sqlite:PATH?synchronous=normal`` (synced at each checkpoint) or ``=full`` (at
each commit) rule out at a cost: each POST takes four commits, and with
``normal`` a POST took 968 µs against 660 µs in-process.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from mockserver.engine.store import SYNCHRONOUS, codec
from mockserver.engine.store.base import DELETED, BufferedTx, T

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    tbl TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tbl, key))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    idx TEXT NOT NULL, member TEXT NOT NULL, score REAL NOT NULL, PRIMARY KEY (idx, member))
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_order ON members (idx, score, member);
CREATE TABLE IF NOT EXISTS numbers (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL);
"""

#: how long a connection waits for other processes' locks
LOCK_WAIT_SECONDS = 30.0


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to write-ahead logging (a no-op once any process has).

    Switching needs the file to itself, and SQLite answers "database is locked" at
    once, without waiting, when another process holds a lock at that moment (workers
    starting together on a new file do): so try again until the lock wait runs out.
    """
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.005)  # another process is creating or switching the file


@functools.cache
def _firsts_query(count: int) -> str:
    first = (
        "SELECT * FROM (SELECT idx, member, score FROM members WHERE idx = ? "
        "ORDER BY score, member LIMIT 1)"
    )
    return " UNION ALL ".join([first] * count)


class _SQLiteTx(BufferedTx):
    def __init__(self, db: sqlite3.Connection, decoded: codec.Decoded) -> None:
        super().__init__()
        self.db = db
        self.decoded = decoded

    def _load(self, table: str, key: str) -> Any | None:
        row = self.db.execute(
            "SELECT data FROM records WHERE tbl = ? AND key = ?", (table, key)
        ).fetchone()
        return None if row is None else self.decoded.load(table, key, row[0])

    def scan(
        self,
        index: str,
        *,
        start: float = -math.inf,
        upto: float = math.inf,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[tuple[str, float]]:
        order = "DESC" if newest_first else "ASC"
        rows = self.db.execute(
            "SELECT member, score FROM members WHERE idx = ? AND score >= ? AND score <= ? "
            f"ORDER BY score {order}, member {order} LIMIT ?",
            (index, start, upto, -1 if limit is None else limit),
        ).fetchall()
        return [(member, float(score)) for member, score in rows]

    def firsts(self, indexes: Sequence[str]) -> list[tuple[str, float] | None]:
        # one statement, not one per index: every request asks (settling what is due)
        if not indexes:
            return []
        rows = self.db.execute(_firsts_query(len(indexes)), list(indexes)).fetchall()
        found = {index: (member, float(score)) for index, member, score in rows}
        return [found.get(index) for index in indexes]

    def count(self, index: str, *, start: float = -math.inf, upto: float = math.inf) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM members WHERE idx = ? AND score >= ? AND score <= ?",
            (index, start, upto),
        ).fetchone()
        return int(row[0])

    def next_number(self) -> int:
        row = self.db.execute(
            "INSERT INTO numbers (name, value) VALUES ('seq', 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
        ).fetchone()
        return int(row[0])

    def apply(self) -> None:
        records = self.writes.records.items()
        gone = [(t, k) for (t, k), r in records if r is DELETED]
        kept = [(t, k, codec.dump(r)) for (t, k), r in records if r is not DELETED]
        if gone:
            self.db.executemany("DELETE FROM records WHERE tbl = ? AND key = ?", gone)
        if kept:
            self.db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", kept)
        if self.writes.trims:
            self.db.executemany(
                "DELETE FROM members WHERE idx = ? AND score <= ?", list(self.writes.trims.items())
            )
        members = self.writes.members.items()
        dropped = [(i, m) for (i, m), s in members if s is None]
        placed = [(i, m, s) for (i, m), s in members if s is not None]
        if dropped:
            self.db.executemany("DELETE FROM members WHERE idx = ? AND member = ?", dropped)
        if placed:
            self.db.executemany("INSERT OR REPLACE INTO members VALUES (?, ?, ?)", placed)


class SQLiteBackend:
    """A connection per thread to one SQLite file; one transaction per step."""

    shared = True

    def __init__(self, path: str | Path, synchronous: str = "off") -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous takes {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
        self.path = str(path)
        self.synchronous = synchronous
        self._local = threading.local()
        self.decoded = codec.Decoded()
        # Writers queue on a lock rather than on SQLite's busy handler, which
        # polls with sleeps of up to 100 ms: this process's threads on a mutex,
        # the worker processes on an flock of a file beside the database.
        self._writers = threading.Lock()
        self._lock_file = os.open(self.path + ".writers", os.O_CREAT | os.O_RDWR, 0o600)
        self.connection().executescript(_SCHEMA)  # idempotent: safe when workers race

    def connection(self) -> sqlite3.Connection:
        return self._reader().db

    def _reader(self) -> _SQLiteTx:
        """This thread's connection, wrapped as the one ``tx`` its reads share
        (they write nothing, so nothing of one is left for the next)."""
        reader: _SQLiteTx | None = getattr(self._local, "reader", None)
        if reader is None:
            db = sqlite3.connect(
                self.path,
                timeout=LOCK_WAIT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            _use_wal(db)
            db.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            db.execute(f"PRAGMA busy_timeout = {int(LOCK_WAIT_SECONDS * 1000)}")
            reader = self._local.reader = _SQLiteTx(db, self.decoded)
        return reader

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The write lock is held from the start, so no update is ever lost."""
        db = self.connection()
        with self._writers:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def atomically(self, work: Callable[[Any], T]) -> T:
        with self._transaction() as db:
            tx = _SQLiteTx(db, self.decoded)
            result = work(tx)
            tx.apply()
            return result

    def read(self, work: Callable[[Any], T]) -> T:
        return work(self._reader())

    def read_ahead(self, route: str | None) -> None:
        """Nothing to fetch ahead: a read here is no round trip (see Backend)."""

    # the journal ---------------------------------------------------------------------------
    def append_log(self, entry: dict[str, Any], keep: int) -> int:
        """One transaction under the writers' lock, like a step. An autocommit
        INSERT outside the lock would meet steps holding SQLite's write lock and
        sleep in its busy handler, and steps would sleep behind it while holding
        the lock (measured: steps' p99 doubled). The entry cannot ride in another
        step of its request either: it holds the answer, written after them all."""
        text = codec.dump(entry)  # before taking the lock every worker waits on
        with self._transaction() as db:
            ident = int(db.execute("INSERT INTO journal (data) VALUES (?)", (text,)).lastrowid or 0)
            db.execute("DELETE FROM journal WHERE id <= ?", (ident - max(1, keep),))
            return ident

    def log(self) -> list[dict[str, Any]]:
        rows = self.connection().execute("SELECT id, data FROM journal ORDER BY id").fetchall()
        return [{**json.loads(data), "id": ident} for ident, data in rows]

    def clear_log(self) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM journal")

    # life ------------------------------------------------------------------------------------
    def clear(self) -> None:
        with self._transaction() as db:
            for table in ("records", "members", "numbers", "journal"):
                db.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        reader: _SQLiteTx | None = getattr(self._local, "reader", None)
        if reader is not None:
            reader.db.close()
            self._local.reader = None
        with contextlib.suppress(OSError):
            os.close(self._lock_file)
