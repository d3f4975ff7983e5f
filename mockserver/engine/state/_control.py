"""Webhook deliveries, fault rules, the journal and upkeep."""

from __future__ import annotations

import dataclasses
from typing import Any

from mockserver.engine import rules
from mockserver.engine.model import Attempt, Delivery
from mockserver.engine.state._accounts import forget_window
from mockserver.engine.state._base import StateBase, tasks_of
from mockserver.engine.state._lifecycle import forget_task
from mockserver.engine.store import Tx


class ControlState(StateBase):
    # webhooks ------------------------------------------------------------------------------
    def add_delivery(self, delivery: Delivery) -> None:
        stored = dataclasses.replace(delivery, attempts=[])

        def add(tx: Tx) -> None:
            seq = tx.next_number()
            tx.put("delivery", stored.id, stored)
            tx.add("deliveries", stored.id, seq)
            tx.add(f"deliveries-of:{stored.task_id}", stored.id, seq)
            tx.add("delivery-due", stored.id, stored.due_at)

        self.backend.atomically(add)

    def claim_deliveries(self, now: float, limit: int) -> list[Delivery]:
        """Due deliveries, marked "sending" so that no other worker claims them."""

        def claim(tx: Tx) -> list[Delivery]:
            members = tx.scan("delivery-due", upto=now, limit=limit)
            claimed = []
            for (member, _), found in zip(
                members, tx.get_many("delivery", [m for m, _ in members]), strict=True
            ):
                tx.remove("delivery-due", member)
                sending = None if found is None else rules.start_sending(found)
                if sending is not None:
                    tx.put("delivery", sending.id, sending)
                    claimed.append(sending)
            return claimed

        claimed: list[Delivery] = self.backend.atomically(claim)
        return claimed

    def record_attempt(
        self, delivery_id: str, attempt: Attempt, state: str, next_due: float | None
    ) -> Delivery:
        def record(tx: Tx) -> Delivery:
            found: Delivery | None = tx.get("delivery", delivery_id)
            if found is None:
                raise KeyError(delivery_id)
            after = rules.after_attempt(found, attempt, state, next_due)
            tx.put("delivery", delivery_id, after)
            if next_due is not None:
                tx.add("delivery-due", delivery_id, next_due)
            return after

        recorded: Delivery = self.backend.atomically(record)
        return recorded

    def deliveries(
        self, provider: str | None = None, account_id: str | None = None, task_id: str | None = None
    ) -> list[Delivery]:
        index = "deliveries" if task_id is None else f"deliveries-of:{task_id}"

        def listed(tx: Tx) -> list[Delivery]:
            ids = [m for m, _ in tx.scan(index)]
            return [d for d in tx.get_many("delivery", ids) if d is not None]

        found: list[Delivery] = self.backend.read(listed)
        return [
            d
            for d in found
            if provider in (None, d.provider) and account_id in (None, d.account_id)
        ]

    # fault rules ----------------------------------------------------------------------------
    def add_fault(self, rule: dict[str, Any]) -> None:
        def add(tx: Tx) -> None:
            tx.put("fault", rule["id"], dict(rule))
            tx.add("faults", rule["id"], tx.next_number())

        self.backend.atomically(add)

    def faults(self) -> list[dict[str, Any]]:
        def listed(tx: Tx) -> list[dict[str, Any]]:
            ids = [m for m, _ in tx.scan("faults")]
            return [f for f in tx.get_many("fault", ids) if f is not None]

        found: list[dict[str, Any]] = self.backend.read(listed)
        return found

    def remove_fault(self, rule_id: str) -> bool:
        def remove(tx: Tx) -> bool:
            if tx.get("fault", rule_id) is None:
                return False
            self._drop_fault(tx, rule_id)
            return True

        return bool(self.backend.atomically(remove))

    @staticmethod
    def _drop_fault(tx: Tx, rule_id: str) -> None:
        tx.delete("fault", rule_id)
        tx.remove("faults", rule_id)

    def clear_faults(self) -> None:
        def clear(tx: Tx) -> None:
            for rule_id, _ in tx.scan("faults"):
                self._drop_fault(tx, rule_id)

        self.backend.atomically(clear)

    def spend_fault(self, rule_id: str) -> bool:
        """Count one firing of a rule: its ``hits`` go up and its ``times`` (if
        any) down, and it is removed at zero. False if it is gone or used up."""

        def spend(tx: Tx) -> bool:
            rule = tx.get("fault", rule_id)
            if rule is None:
                return False
            spent = rules.spend_fault(rule)
            if spent is None:
                self._drop_fault(tx, rule_id)
            else:
                tx.put("fault", rule_id, spent)
            return True

        return bool(self.backend.atomically(spend))

    # the journal ----------------------------------------------------------------------------
    def journal_append(self, entry: dict[str, Any], size: int) -> int:
        """Store ``entry`` under the next id, keep only the newest ``size``; return the id."""
        return self.backend.append_log(entry, size)

    def journal(self) -> list[dict[str, Any]]:
        """Every kept entry, oldest first."""
        return self.backend.log()

    def clear_journal(self) -> None:
        self.backend.clear_log()

    # upkeep --------------------------------------------------------------------------------
    def expire(self, now: float) -> int:
        """Forget expired tasks, idempotency records and deliveries, and fold old
        ledger entries; return how many tasks and records went. (A rate-limit
        window trims itself at each admission.)"""
        removed = self.backend.atomically(lambda tx: self._expire_tasks(tx, now))
        removed += self.backend.atomically(lambda tx: self._expire_keys(tx, now))
        self.backend.atomically(self._fold_ledgers)
        self.backend.atomically(lambda tx: self._forget_idle_windows(tx, now))
        return int(removed)

    def _expire_tasks(self, tx: Tx, now: float) -> int:
        ids = [m for m, _ in tx.scan("expiry", upto=now)]
        found = [t for t in tx.get_many("task", ids) if t is not None]
        for task in found:
            forget_task(tx, task)
        for task_id in ids:
            tx.remove("expiry", task_id)
        return len(found)

    @staticmethod
    def _expire_keys(tx: Tx, now: float) -> int:
        names = [m for m, _ in tx.scan("idem-expiry", upto=now)]
        for name in names:
            tx.delete("idem", name)
            tx.remove("idem-expiry", name)
        return len(names)

    @staticmethod
    def _fold_ledgers(tx: Tx) -> None:
        for name, _ in tx.scan("accounts"):
            keys = [m for m, _ in tx.scan(f"ledger:{name}")]
            entries = [e for e in tx.get_many("ledger", keys) if e is not None]
            holding = {e.task_id for e in entries if e.task_id}
            live = {t.id for t in tx.get_many("task", sorted(holding)) if t is not None}
            opening, folded = rules.ledger_fold(int(tx.get("opening", name) or 0), entries, live)
            if folded:
                tx.put("opening", name, opening)
                for key in keys[:folded]:
                    tx.delete("ledger", key)
                    tx.remove(f"ledger:{name}", key)

    @staticmethod
    def _forget_idle_windows(tx: Tx, now: float) -> None:
        for bucket, _ in tx.scan("windows", upto=now - rules.IDLE_WINDOW_SECONDS):
            forget_window(tx, bucket)

    def counts(self) -> dict[str, int]:
        def count(tx: Tx) -> dict[str, int]:
            accounts = [m for m, _ in tx.scan("accounts")]
            return {
                "accounts": len(accounts),
                "keys": sum(tx.count(f"keys:{a}") for a in accounts),
                "tasks": sum(tx.count(tasks_of(a)) for a in accounts),
                "idempotency_records": tx.count("idem-expiry"),
                "ledger_entries": sum(tx.count(f"ledger:{a}") for a in accounts),
                "deliveries": tx.count("deliveries"),
            }

        counted: dict[str, int] = self.backend.read(count)
        return counted
