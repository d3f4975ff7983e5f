"""The SQLite store: one file, any number of worker processes on one host,
state that survives a restart.

Every operation is one ``BEGIN IMMEDIATE`` transaction, so SQLite's write lock
serializes them across processes; WAL mode lets readers go on meanwhile. The
rules of each step (settling a task, claiming a key) are the memory store's,
applied to rows read and written inside the transaction.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mockserver.engine.clock import ClockAnchor, ClockState
from mockserver.engine.errors import InsufficientCredits
from mockserver.engine.model import (
    COMPLETED,
    FAILED,
    PROCESSING,
    Account,
    ApiKey,
    Attempt,
    Delivery,
    LedgerEntry,
    Task,
)
from mockserver.engine.store.base import (
    AccountExists,
    Claim,
    Claimed,
    ClaimPolicy,
    Conflict,
    IdempotencyScope,
    KeyInUse,
    Replay,
    Settlement,
    UnknownAccount,
    Window,
    key_digest,
)
from mockserver.engine.store.codec import dump, load_delivery, load_task
from mockserver.engine.store.memory import settle

_DAY = 86400.0

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

    def __init__(self, store: SQLiteStore) -> None:
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


class SQLiteStore:
    """State in one SQLite file (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self.connection().executescript(_SCHEMA)  # idempotent: safe when workers race

    # connection --------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode = WAL")
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
    def create_account(self, account: Account, keys: list[str], at: float) -> Account:
        with self.transaction() as db:
            exists = db.execute(
                "SELECT 1 FROM accounts WHERE provider = ? AND id = ?",
                (account.provider, account.id),
            ).fetchone()
            if exists:
                raise AccountExists(f"{account.provider} account {account.id!r} exists already")
            for key in keys:
                if db.execute(
                    "SELECT 1 FROM keys WHERE provider = ? AND digest = ?",
                    (account.provider, key_digest(key)),
                ).fetchone():
                    raise KeyInUse(f"API key {key!r} already belongs to another account")
            db.execute(
                "INSERT INTO accounts VALUES (?, ?, ?, ?, ?)",
                (account.provider, account.id, account.credits, int(account.purchased), at),
            )
            db.execute("INSERT INTO openings VALUES (?, ?, 0)", (account.provider, account.id))
            db.executemany(
                "INSERT INTO keys VALUES (?, ?, ?, ?, 0)",
                [(account.provider, key_digest(k), k, account.id) for k in keys],
            )
            self._entry(
                db,
                account.provider,
                account.id,
                at,
                "grant",
                account.credits,
                account.credits,
                None,
                "opening balance",
            )
            return replace(account, created_at=at)

    def get_account(self, provider: str, account_id: str) -> Account | None:
        row = (
            self.connection()
            .execute(
                _ACCOUNT_BY_ID,
                (provider, account_id),
            )
            .fetchone()
        )
        return _account(row) if row else None

    def accounts(self, provider: str | None = None) -> list[Account]:
        rows = (
            self.connection()
            .execute(
                "SELECT provider, id, credits, purchased, created_at FROM accounts "
                "WHERE ? IS NULL OR provider = ? ORDER BY rowid",
                (provider, provider),
            )
            .fetchall()
        )
        return [_account(row) for row in rows]

    def set_credits(
        self, provider: str, account_id: str, credits: int, at: float, note: str
    ) -> Account:
        with self.transaction() as db:
            account = self._account(db, provider, account_id)
            self._move(
                db, account, at, "adjustment", credits - account.credits, task_id=None, note=note
            )
            return replace(account, credits=credits)

    def set_purchased(self, provider: str, account_id: str, purchased: bool) -> Account:
        with self.transaction() as db:
            account = self._account(db, provider, account_id)
            db.execute(
                "UPDATE accounts SET purchased = ? WHERE provider = ? AND id = ?",
                (int(purchased), provider, account_id),
            )
            return replace(account, purchased=purchased)

    def add_key(self, provider: str, account_id: str, key: str) -> ApiKey:
        with self.transaction() as db:
            self._account(db, provider, account_id)
            row = db.execute(
                "SELECT account_id FROM keys WHERE provider = ? AND digest = ?",
                (provider, key_digest(key)),
            ).fetchone()
            if row and row[0] != account_id:
                raise KeyInUse(f"API key {key!r} already belongs to another account")
            db.execute(
                "INSERT OR REPLACE INTO keys VALUES (?, ?, ?, ?, 0)",
                (provider, key_digest(key), key, account_id),
            )
            return ApiKey(provider, key, account_id)

    def revoke_key(self, provider: str, key: str) -> ApiKey | None:
        with self.transaction() as db:
            db.execute(
                "UPDATE keys SET revoked = 1 WHERE provider = ? AND digest = ?",
                (provider, key_digest(key)),
            )
            return self.resolve_key(provider, key)

    def keys_of(self, provider: str, account_id: str) -> list[ApiKey]:
        rows = (
            self.connection()
            .execute(
                "SELECT key, revoked FROM keys WHERE provider = ? AND account_id = ? "
                "ORDER BY rowid",
                (provider, account_id),
            )
            .fetchall()
        )
        return [ApiKey(provider, key, account_id, bool(revoked)) for key, revoked in rows]

    def resolve_key(self, provider: str, key: str) -> ApiKey | None:
        row = (
            self.connection()
            .execute(
                "SELECT account_id, revoked FROM keys WHERE provider = ? AND digest = ?",
                (provider, key_digest(key)),
            )
            .fetchone()
        )
        return ApiKey(provider, key, row[0], bool(row[1])) if row else None

    def ledger(self, provider: str, account_id: str) -> tuple[int, list[LedgerEntry]]:
        db = self.connection()
        with self.transaction():
            self._account(db, provider, account_id)
            opening = db.execute(
                "SELECT amount FROM openings WHERE provider = ? AND account_id = ?",
                (provider, account_id),
            ).fetchone()[0]
            rows = db.execute(
                "SELECT provider, account_id, at, kind, amount, balance, task_id, note FROM ledger "
                "WHERE provider = ? AND account_id = ? ORDER BY seq",
                (provider, account_id),
            ).fetchall()
        return int(opening), [LedgerEntry(*row) for row in rows]

    # rate limits -----------------------------------------------------------------
    def admit(self, windows: Sequence[Window], now: float, *, record: bool = True) -> float | None:
        with self.transaction() as db:
            waits = []
            for window in windows:
                db.execute(
                    "DELETE FROM admissions WHERE bucket = ? AND at <= ?",
                    (window.bucket, now - window.seconds),
                )
                count, oldest = db.execute(
                    "SELECT COUNT(*), MIN(at) FROM admissions WHERE bucket = ?", (window.bucket,)
                ).fetchone()
                if count >= window.limit:
                    waits.append(float(oldest) + window.seconds - now)
            if waits:
                return max(waits)
            if record:
                db.executemany(
                    "INSERT INTO admissions VALUES (?, ?)", [(w.bucket, now) for w in windows]
                )
            return None

    # idempotency and creation --------------------------------------------------------
    def claim(
        self, scope: IdempotencyScope, fingerprint: str, now: float, policy: ClaimPolicy
    ) -> Claim:
        ident = (scope.provider, scope.account_id, scope.key)
        with self.transaction() as db:
            row = db.execute(
                "SELECT fingerprint, expires_at, task_id FROM idempotency "
                "WHERE provider = ? AND account_id = ? AND key = ?",
                ident,
            ).fetchone()
            if row is None or row[1] <= now:
                db.execute(
                    "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, NULL)",
                    (*ident, fingerprint, now + policy.lease_seconds),
                )
                return Claimed()
            if row[0] != fingerprint:
                return Conflict("different_body")
            if row[2] is None:
                return Conflict("in_flight")
            status = db.execute("SELECT status FROM tasks WHERE id = ?", (row[2],)).fetchone()
            if policy.conflict_while_processing and status and status[0] == PROCESSING:
                return Conflict("task_processing")
            return Replay(row[2])

    def release(self, scope: IdempotencyScope) -> None:
        with self.transaction() as db:
            db.execute(
                "DELETE FROM idempotency "
                "WHERE provider = ? AND account_id = ? AND key = ? AND task_id IS NULL",
                (scope.provider, scope.account_id, scope.key),
            )

    def create_task(self, task: Task, scope: IdempotencyScope | None, ttl: float) -> Task:
        with self.transaction() as db:
            account = self._account(db, task.provider, task.account_id)
            short = account.credits < task.credits
            if short and scope is not None:
                self.release(scope)  # committed with the transaction, unlike a raise inside it
            elif not short:
                self._insert_task(db, account, task, scope, ttl)
        if short:
            raise InsufficientCredits(task.credits, account.credits)
        return task

    def _insert_task(
        self,
        db: sqlite3.Connection,
        account: Account,
        task: Task,
        scope: IdempotencyScope | None,
        ttl: float,
    ) -> None:
        """Store the task, charge it and bind its idempotency key (one transaction)."""
        db.execute(
            "INSERT INTO tasks "
            "(id, provider, account_id, status, due_at, expires_at, media_token, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                task.id,
                task.provider,
                task.account_id,
                task.status,
                task.due_at,
                task.expires_at,
                task.media_token,
                dump(task),
            ),
        )
        self._move(
            db,
            account,
            task.created_at,
            "charge",
            -task.credits,
            task_id=task.id,
            note="submission",
        )
        if scope is not None:
            db.execute(
                "UPDATE idempotency SET task_id = ?, expires_at = ? "
                "WHERE provider = ? AND account_id = ? AND key = ?",
                (task.id, task.created_at + ttl, scope.provider, scope.account_id, scope.key),
            )

    # tasks ---------------------------------------------------------------------------
    def get_task(self, task_id: str) -> Task | None:
        row = (
            self.connection().execute("SELECT data FROM tasks WHERE id = ?", (task_id,)).fetchone()
        )
        return load_task(row[0]) if row else None

    def task_by_media_token(self, token: str) -> Task | None:
        row = (
            self.connection()
            .execute("SELECT data FROM tasks WHERE media_token = ?", (token,))
            .fetchone()
        )
        return load_task(row[0]) if row else None

    def tasks(
        self, provider: str | None = None, account_id: str | None = None, limit: int = 100
    ) -> list[Task]:
        rows = (
            self.connection()
            .execute(
                "SELECT data FROM tasks "
                "WHERE (? IS NULL OR provider = ?) AND (? IS NULL OR account_id = ?) "
                "ORDER BY seq DESC LIMIT ?",
                (provider, provider, account_id, account_id, limit),
            )
            .fetchall()
        )
        return [load_task(row[0]) for row in rows]

    def next_due(self) -> float | None:
        db = self.connection()
        task = db.execute("SELECT MIN(due_at) FROM tasks WHERE status = 'processing'").fetchone()[0]
        delivery = db.execute(
            "SELECT MIN(due_at) FROM deliveries WHERE state = 'pending'"
        ).fetchone()[0]
        candidates = [t for t in (task, delivery) if t is not None]
        return min(candidates) if candidates else None

    def settle_due(self, now: float) -> list[Settlement]:
        settled: list[Settlement] = []
        with self.transaction() as db:
            rows = db.execute(
                "SELECT data FROM tasks WHERE status = 'processing' AND due_at <= ? "
                "ORDER BY due_at, seq",
                (now,),
            ).fetchall()
            for (data,) in rows:
                task = load_task(data)
                assert task.due_at is not None
                refund = settle(task, task.planned, task.due_at, None, None)
                self._save_task(db, task, refund)
                settled.append(Settlement(task, refund))
        return settled

    def force(
        self, task_id: str, outcome: str, at: float, code: str | None, message: str | None
    ) -> Settlement | None:
        with self.transaction() as db:
            row = db.execute("SELECT data FROM tasks WHERE id = ?", (task_id,)).fetchone()
            task = load_task(row[0]) if row else None
            if task is None or task.status != PROCESSING:
                return None
            if outcome == PROCESSING:
                task.due_at = None
                self._save_task(db, task, 0)
                return Settlement(task, 0)
            if outcome not in (COMPLETED, FAILED):
                raise ValueError(f"cannot force a task to {outcome!r}")
            refund = settle(task, outcome, at, code, message)
            self._save_task(db, task, refund, at)
            return Settlement(task, refund)

    # webhooks --------------------------------------------------------------------------
    def add_delivery(self, delivery: Delivery) -> None:
        stored = replace(delivery, attempts=[])
        with self.transaction() as db:
            db.execute(
                "INSERT INTO deliveries (id, task_id, provider, account_id, state, due_at, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    stored.id,
                    stored.task_id,
                    stored.provider,
                    stored.account_id,
                    stored.state,
                    stored.due_at,
                    dump(stored),
                ),
            )

    def claim_deliveries(self, now: float, limit: int) -> list[Delivery]:
        with self.transaction() as db:
            rows = db.execute(
                "SELECT data FROM deliveries WHERE state = 'pending' AND due_at <= ? "
                "ORDER BY due_at, seq LIMIT ?",
                (now, limit),
            ).fetchall()
            claimed = [replace(load_delivery(row[0]), state="sending") for row in rows]
            for delivery in claimed:
                self._save_delivery(db, delivery)
            return claimed

    def record_attempt(
        self, delivery_id: str, attempt: Attempt, state: str, next_due: float | None
    ) -> Delivery:
        with self.transaction() as db:
            row = db.execute("SELECT data FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            if row is None:
                raise KeyError(delivery_id)
            delivery = load_delivery(row[0])
            delivery.attempts.append(attempt)
            delivery.state = state
            if next_due is not None:
                delivery.due_at = next_due
            self._save_delivery(db, delivery)
            return delivery

    def deliveries(
        self, provider: str | None = None, account_id: str | None = None, task_id: str | None = None
    ) -> list[Delivery]:
        rows = (
            self.connection()
            .execute(
                "SELECT data FROM deliveries "
                "WHERE (? IS NULL OR provider = ?) AND (? IS NULL OR account_id = ?) "
                "AND (? IS NULL OR task_id = ?) ORDER BY seq",
                (provider, provider, account_id, account_id, task_id, task_id),
            )
            .fetchall()
        )
        return [load_delivery(row[0]) for row in rows]

    # fault rules and journal ---------------------------------------------------------------
    def add_fault(self, rule: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO faults (id, data) VALUES (?, ?)", (rule["id"], json.dumps(rule))
            )

    def faults(self) -> list[dict[str, Any]]:
        rows = self.connection().execute("SELECT data FROM faults ORDER BY seq").fetchall()
        return [json.loads(row[0]) for row in rows]

    def remove_fault(self, rule_id: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM faults WHERE id = ?", (rule_id,)).rowcount == 1

    def clear_faults(self) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM faults")

    def spend_fault(self, rule_id: str) -> bool:
        with self.transaction() as db:
            row = db.execute("SELECT data FROM faults WHERE id = ?", (rule_id,)).fetchone()
            if row is None:
                return False
            rule = json.loads(row[0])
            rule["hits"] = rule.get("hits", 0) + 1
            if rule.get("times") is not None:
                rule["times"] -= 1
                if rule["times"] <= 0:
                    db.execute("DELETE FROM faults WHERE id = ?", (rule_id,))
                    return True
            db.execute("UPDATE faults SET data = ? WHERE id = ?", (json.dumps(rule), rule_id))
            return True

    def journal_append(self, entry: dict[str, Any], size: int) -> int:
        with self.transaction() as db:
            ident = db.execute("INSERT INTO journal (data) VALUES ('{}')").lastrowid
            assert ident is not None
            db.execute(
                "UPDATE journal SET data = ? WHERE id = ?",
                (json.dumps({**entry, "id": ident}), ident),
            )
            db.execute("DELETE FROM journal WHERE id <= ?", (ident - max(1, size),))
            return int(ident)

    def journal(self) -> list[dict[str, Any]]:
        rows = self.connection().execute("SELECT data FROM journal ORDER BY id").fetchall()
        return [json.loads(row[0]) for row in rows]

    def clear_journal(self) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM journal")

    # upkeep ------------------------------------------------------------------------------------
    def expire(self, now: float) -> int:
        with self.transaction() as db:
            removed = db.execute("DELETE FROM tasks WHERE expires_at <= ?", (now,)).rowcount
            db.execute("DELETE FROM deliveries WHERE task_id NOT IN (SELECT id FROM tasks)")
            removed += db.execute("DELETE FROM idempotency WHERE expires_at <= ?", (now,)).rowcount
            db.execute("DELETE FROM admissions WHERE at <= ?", (now - 3600,))
            self._fold_ledger(db, now)
        return int(removed)

    def counts(self) -> dict[str, int]:
        db = self.connection()

        def count(table: str) -> int:
            return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

        return {
            "accounts": count("accounts"),
            "keys": count("keys"),
            "tasks": count("tasks"),
            "idempotency_records": count("idempotency"),
            "ledger_entries": count("ledger"),
            "deliveries": count("deliveries"),
        }

    # helpers (inside a transaction) ----------------------------------------------
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

    def _save_task(
        self, db: sqlite3.Connection, task: Task, refund: int, at: float | None = None
    ) -> None:
        db.execute(
            "UPDATE tasks SET status = ?, due_at = ?, data = ? WHERE id = ?",
            (task.status, task.due_at, dump(task), task.id),
        )
        if refund:
            account = self._account(db, task.provider, task.account_id)
            at = task.updated_at if at is None else at
            self._move(db, account, at, "refund", refund, task_id=task.id, note="task failed")

    def _save_delivery(self, db: sqlite3.Connection, delivery: Delivery) -> None:
        db.execute(
            "UPDATE deliveries SET state = ?, due_at = ?, data = ? WHERE id = ?",
            (delivery.state, delivery.due_at, dump(delivery), delivery.id),
        )

    def _fold_ledger(self, db: sqlite3.Connection, now: float) -> None:
        """Fold old history into each opening balance (as the memory store does)."""
        live = {row[0] for row in db.execute("SELECT id FROM tasks")}
        for provider, account_id in db.execute("SELECT provider, id FROM accounts").fetchall():
            rows = db.execute(
                "SELECT seq, at, amount, task_id FROM ledger "
                "WHERE provider = ? AND account_id = ? ORDER BY seq",
                (provider, account_id),
            ).fetchall()
            folded, last = 0, None
            for seq, at, amount, task_id in rows:
                if (task_id is None and at > now - _DAY) or (
                    task_id is not None and task_id in live
                ):
                    break
                folded, last = folded + amount, seq
            if last is not None:
                db.execute(
                    "DELETE FROM ledger WHERE provider = ? AND account_id = ? AND seq <= ?",
                    (provider, account_id, last),
                )
                db.execute(
                    "UPDATE openings SET amount = amount + ? WHERE provider = ? AND account_id = ?",
                    (folded, provider, account_id),
                )


def _account(row: tuple[Any, ...]) -> Account:
    provider, ident, credits, purchased, created_at = row
    return Account(provider, ident, int(credits), bool(purchased), float(created_at))
