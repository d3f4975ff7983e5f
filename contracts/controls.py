"""The simulator's control API (/__admin), reached through the target's transport.

Only simulator targets have controls; tests that need them (moving the clock,
injecting faults, reading a balance) are skipped elsewhere with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from contracts.exchange import CONTROL_ACCOUNT, CONTROL_TASK, Exchange
from contracts.transport import Transport

ADMIN = "/__admin"


class ControlError(RuntimeError):
    """The control API refused a call (the suite's own mistake, not a contract breach)."""


class Controls:
    """Accounts, clock, faults and forced outcomes of a simulator."""

    def __init__(self, transport: Transport, token: str | None = None) -> None:
        self._transport = transport
        self._headers = {"X-Admin-Token": token} if token else {}

    @classmethod
    def probe(cls, transport: Transport, token: str | None = None) -> Controls | None:
        """Controls when the server behind ``transport`` has a control API, else None."""
        controls = cls(transport, token)
        try:
            found = controls._send("GET", "/clock")
        except (ControlError, OSError, ValueError):
            return None
        return controls if isinstance(found.json(), dict) and "now" in found.json() else None

    def _send(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = ()) -> Exchange:
        exchange = self._transport.request(method, ADMIN + path, headers=self._headers, json=body)
        if exchange.status >= 400 and exchange.status not in ok:
            raise ControlError(
                f"{method} {ADMIN}{path} answered {exchange.status}: {exchange.text()}"
            )
        return exchange

    # clock ---------------------------------------------------------------------
    def clock(self) -> Mapping[str, Any]:
        found: Mapping[str, Any] = self._send("GET", "/clock").json()
        return found

    def advance(self, seconds: float) -> None:
        self._send("POST", "/clock/advance", {"seconds": seconds})

    # accounts ------------------------------------------------------------------
    def create_account(self, provider: str, account_id: str, credits: int, key: str) -> None:
        body = {"provider": provider, "id": account_id, "credits": credits, "keys": [key]}
        self._send("POST", "/accounts", body)

    def account(self, provider: str, account_id: str, caller: str) -> Exchange:
        """The account as the control API shows it (``credits`` is the balance)."""
        exchange = self._send("GET", f"/accounts/{provider}/{account_id}")
        return replace(exchange, operation=CONTROL_ACCOUNT, provider=provider, caller=caller)

    # faults and outcomes ---------------------------------------------------------
    def add_fault(self, **rule: Any) -> str:
        return str(self._send("POST", "/faults", rule).json()["id"])

    def remove_fault(self, fault_id: str) -> None:
        self._send("DELETE", f"/faults/{fault_id}", ok=(404,))  # 404: it already fired

    def force(self, provider: str, task_id: str, outcome: str) -> Exchange:
        """Complete or fail a task now (409 when it has already ended)."""
        exchange = self._send("POST", f"/tasks/{task_id}/{outcome}", ok=(409,))
        return replace(exchange, operation=CONTROL_TASK, provider=provider)
