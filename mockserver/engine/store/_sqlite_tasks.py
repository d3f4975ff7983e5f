"""Idempotency claims, tasks and their lifecycle in SQLite."""

from __future__ import annotations

import sqlite3

from mockserver.engine.errors import InsufficientCredits
from mockserver.engine.model import (
    COMPLETED,
    FAILED,
    PROCESSING,
    Account,
    Task,
)
from mockserver.engine.store._sqlite_base import SQLiteBase
from mockserver.engine.store.base import (
    Claim,
    Claimed,
    ClaimPolicy,
    Conflict,
    IdempotencyScope,
    Replay,
    Settlement,
)
from mockserver.engine.store.codec import dump, load_task
from mockserver.engine.store.rules import settle


class TaskRows(SQLiteBase):
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
