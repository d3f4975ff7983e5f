"""Webhook deliveries, fault rules, the journal and upkeep in memory."""

from __future__ import annotations

import dataclasses
import heapq
from typing import Any

from mockserver.engine.model import (
    Attempt,
    Delivery,
)
from mockserver.engine.store._memory_base import MemoryBase, _copy_delivery


class ControlState(MemoryBase):
    # webhooks ---------------------------------------------------------------
    def add_delivery(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries[delivery.id] = dataclasses.replace(delivery, attempts=[])
            heapq.heappush(self._delivery_due, (delivery.due_at, next(self._seq), delivery.id))

    def claim_deliveries(self, now: float, limit: int) -> list[Delivery]:
        claimed: list[Delivery] = []
        with self._lock:
            while self._delivery_due and self._delivery_due[0][0] <= now and len(claimed) < limit:
                _, _, delivery_id = heapq.heappop(self._delivery_due)
                delivery = self._deliveries.get(delivery_id)
                if delivery is None or delivery.state != "pending":
                    continue
                delivery.state = "sending"
                claimed.append(_copy_delivery(delivery))
        return claimed

    def record_attempt(
        self, delivery_id: str, attempt: Attempt, state: str, next_due: float | None
    ) -> Delivery:
        with self._lock:
            delivery = self._deliveries[delivery_id]
            delivery.attempts.append(attempt)
            delivery.state = state
            if next_due is not None:
                delivery.due_at = next_due
                heapq.heappush(self._delivery_due, (next_due, next(self._seq), delivery_id))
            return _copy_delivery(delivery)

    def deliveries(
        self, provider: str | None = None, account_id: str | None = None, task_id: str | None = None
    ) -> list[Delivery]:
        with self._lock:
            return [
                _copy_delivery(d)
                for d in self._deliveries.values()
                if provider in (None, d.provider)
                and account_id in (None, d.account_id)
                and task_id in (None, d.task_id)
            ]

    # fault rules and journal ---------------------------------------------------
    def add_fault(self, rule: dict[str, Any]) -> None:
        with self._lock:
            self._faults[rule["id"]] = dict(rule)

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._faults.values()]

    def remove_fault(self, rule_id: str) -> bool:
        with self._lock:
            return self._faults.pop(rule_id, None) is not None

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def spend_fault(self, rule_id: str) -> bool:
        with self._lock:
            rule = self._faults.get(rule_id)
            if rule is None:
                return False
            rule["hits"] = rule.get("hits", 0) + 1
            if rule.get("times") is not None:
                rule["times"] -= 1
                if rule["times"] <= 0:
                    del self._faults[rule_id]
            return True

    def journal_append(self, entry: dict[str, Any], size: int) -> int:
        with self._lock:
            ident = next(self._journal_ids)
            self._journal.append({**entry, "id": ident})
            while len(self._journal) > max(1, size):
                self._journal.popleft()
            return ident

    def journal(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._journal]

    def clear_journal(self) -> None:
        with self._lock:
            self._journal.clear()

    # upkeep -----------------------------------------------------------------
    def expire(self, now: float) -> int:
        removed = 0
        with self._lock:
            while self._expiry and self._expiry[0][0] <= now:
                _, task_id = heapq.heappop(self._expiry)
                task = self._tasks.pop(task_id, None)
                if task is not None:
                    self._by_media.pop(task.media_token, None)
                    removed += 1
            for delivery_id in [
                d.id for d in self._deliveries.values() if d.task_id not in self._tasks
            ]:
                del self._deliveries[delivery_id]
            stale = [s for s, r in self._idempotency.items() if r.expires_at <= now]
            for scope in stale:
                del self._idempotency[scope]
            removed += len(stale)
            self._fold_ledger()
            self._windows = {b: t for b, t in self._windows.items() if t and t[-1] > now - 3600}
        return removed

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "accounts": len(self._accounts),
                "keys": len(self._keys),
                "tasks": len(self._tasks),
                "idempotency_records": len(self._idempotency),
                "ledger_entries": sum(len(e) for e in self._ledger.values()),
                "deliveries": len(self._deliveries),
            }
