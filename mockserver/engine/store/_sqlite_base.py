"""The SQLite store's foundation: the file, connections, transactions, the
shared clock, and the ledger helpers every part uses."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from mockserver.engine.clock import ClockAnchor, ClockState
from mockserver.engine.model import Account
from mockserver.engine.store.base import UnknownAccount

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    provider TEXT, id TEXT, credits INTEGER NOT NULL, purchased INTEGER NOT NULL,
    created_at REAL NOT NULL, PRIMARY KEY (provider, id));
CREATE TABLE IF NOT EXISTS keys (
    provider TEXT, digest TEXT, key TEXT NOT NULL, account_id TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (provider, digest));
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, provider TEXT, account_id TEXT, at REAL, kind TEXT,
    amount INTEGER, balance INTEGER, task_id TEXT, note TEXT);
CREATE INDEX IF NOT EXISTS ledger_account ON ledger (provider, account_id, seq);
CREATE TABLE IF NOT EXISTS openings (
    provider TEXT, account_id TEXT, amount INTEGER NOT NULL, PRIMARY KEY (provider, account_id));
CREATE TABLE IF NOT EXISTS admissions (bucket TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS admissions_bucket ON admissions (bucket, at);
CREATE TABLE IF NOT EXISTS idempotency (
    provider TEXT, account_id TEXT, key TEXT, fingerprint TEXT NOT NULL, expires_at REAL NOT NULL,
    task_id TEXT, PRIMARY KEY (provider, account_id, key));
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, provider TEXT, account_id TEXT,
    status TEXT NOT NULL, due_at REAL, expires_at REAL NOT NULL, media_token TEXT UNIQUE,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_due ON tasks (due_at) WHERE status = 'processing';
CREATE INDEX IF NOT EXISTS tasks_expiry ON tasks (expires_at);
CREATE INDEX IF NOT EXISTS tasks_account ON tasks (provider, account_id, seq);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, task_id TEXT, provider TEXT,
    account_id TEXT, state TEXT NOT NULL, due_at REAL NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (due_at) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS faults (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, data TEXT);
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL);
"""

_ACCOUNT_BY_ID = (
    "SELECT provider, id, credits, purchased, created_at FROM accounts "
    "WHERE provider = ? AND id = ?"
)

_TABLES = (
    "meta", "accounts", "keys", "ledger", "openings", "admissions", "idempotency",
    "tasks", "deliveries", "faults", "journal",
)  # fmt: skip


class _SharedClock:
    """The clock anchor in the ``meta`` table, read by every worker."""

    def __init__(self, store: SQLiteBase) -> None:
        self._store = store

    def read(self) -> ClockAnchor:
        row = (
            self._store.connection()
            .execute("SELECT value FROM meta WHERE key = 'clock'")
            .fetchone()
        )
        if row is None:
            raise RuntimeError("bootstrap the store before reading its clock")
        return ClockAnchor(**json.loads(row[0]))

    def add(self, seconds: float) -> None:
        with self._store.transaction() as db:
            anchor = self.read()
            moved = replace(anchor, offset=anchor.offset + seconds)
            db.execute(
                "UPDATE meta SET value = ? WHERE key = 'clock'", (json.dumps(moved.__dict__),)
            )


#: how long a new connection waits for other processes' locks (also sqlite3's busy timeout)
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


class SQLiteBase:
    """A connection per thread to one SQLite file; one transaction per operation."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self.connection().executescript(_SCHEMA)  # idempotent: safe when workers race

    # connection --------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.path,
                timeout=LOCK_WAIT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            _use_wal(db)
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA busy_timeout = 30000")
            self._local.db = db
        return db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic step: the write lock is held from the start (no lost updates)."""
        db = self.connection()
        if db.in_transaction:  # nested: part of the caller's transaction
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # life of the store ---------------------------------------------------------
    def bootstrap(self, anchor: ClockAnchor) -> bool:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('clock', ?)",
                (json.dumps(anchor.__dict__),),
            )
            return cursor.rowcount == 1

    def clock_state(self) -> ClockState:
        return _SharedClock(self)

    def clear(self) -> None:
        with self.transaction() as db:
            for table in _TABLES:
                db.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # accounts and keys ---------------------------------------------------------

    def _account(self, db: sqlite3.Connection, provider: str, account_id: str) -> Account:
        row = db.execute(
            _ACCOUNT_BY_ID,
            (provider, account_id),
        ).fetchone()
        if row is None:
            raise UnknownAccount(f"no {provider} account {account_id!r}")
        return _account(row)

    def _move(
        self,
        db: sqlite3.Connection,
        account: Account,
        at: float,
        kind: str,
        amount: int,
        *,
        task_id: str | None,
        note: str,
    ) -> None:
        balance = account.credits + amount
        if balance < 0:
            raise AssertionError("a balance never goes below zero")
        db.execute(
            "UPDATE accounts SET credits = ? WHERE provider = ? AND id = ?",
            (balance, account.provider, account.id),
        )
        self._entry(db, account.provider, account.id, at, kind, amount, balance, task_id, note)

    @staticmethod
    def _entry(db: sqlite3.Connection, *values: Any) -> None:
        db.execute(
            "INSERT INTO ledger (provider, account_id, at, kind, amount, balance, task_id, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )


def _account(row: tuple[Any, ...]) -> Account:
    provider, ident, credits, purchased, created_at = row
    return Account(provider, ident, int(credits), bool(purchased), float(created_at))
