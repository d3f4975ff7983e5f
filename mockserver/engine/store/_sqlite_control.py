"""Webhook deliveries, fault rules, the journal and upkeep in SQLite."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from typing import Any

from mockserver.engine.model import (
    Attempt,
    Delivery,
)
from mockserver.engine.store._sqlite_base import SQLiteBase
from mockserver.engine.store.codec import dump, load_delivery


class ControlRows(SQLiteBase):
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
            self._fold_ledger(db)
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

    def _save_delivery(self, db: sqlite3.Connection, delivery: Delivery) -> None:
        db.execute(
            "UPDATE deliveries SET state = ?, due_at = ?, data = ? WHERE id = ?",
            (delivery.state, delivery.due_at, dump(delivery), delivery.id),
        )

    def _fold_ledger(self, db: sqlite3.Connection) -> None:
        """Fold old history into each opening balance, as the memory store does: the
        oldest entries up to the first whose task is still stored."""
        live = {row[0] for row in db.execute("SELECT id FROM tasks")}
        for provider, account_id in db.execute("SELECT provider, id FROM accounts").fetchall():
            rows = db.execute(
                "SELECT seq, at, amount, task_id FROM ledger "
                "WHERE provider = ? AND account_id = ? ORDER BY seq",
                (provider, account_id),
            ).fetchall()
            folded, last = 0, None
            for seq, _at, amount, task_id in rows:
                if task_id is not None and task_id in live:
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
