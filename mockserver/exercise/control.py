"""A small client of the simulator's control API (``/__admin``), and its clock.

Only the documented control calls are used, so ``exercise`` keeps working
whatever happens inside the simulator.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

TIMEOUT = 10.0
#: a connection the server closed while idle is retried: always before anything was sent,
#: and for reads also once it was (reads change nothing)
_RETRY = Retry(total=2, connect=2, read=2, status=0, allowed_methods={"GET"}, backoff_factor=0.05)


class ControlError(RuntimeError):
    """The control API refused a call (the message says which and why)."""


def instant(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 instant such as ``2026-06-03T10:00:00.000Z``."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class ControlClient:
    """One session with ``/__admin`` of the simulator at ``base_url``."""

    def __init__(self, base_url: str, admin_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = admin_token
        self._session = requests.Session()
        self._session.mount("http://", HTTPAdapter(max_retries=_RETRY))
        if admin_token:
            self._session.headers["Authorization"] = f"Bearer {admin_token}"

    def close(self) -> None:
        self._session.close()

    def another(self) -> ControlClient:
        """A client of its own for another thread (a session is not shared across threads)."""
        return ControlClient(self.base_url, self._token)

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any
    ) -> Any:
        url = f"{self.base_url}/__admin{path}"
        response = self._session.request(method, url, json=body, params=params, timeout=TIMEOUT)
        if response.status_code >= 400:
            status, text = response.status_code, response.text
            raise ControlError(f"{method} /__admin{path} answered {status}: {text}")
        return response.json()

    # state ----------------------------------------------------------------------------
    def reset(self) -> None:
        self._call("POST", "/reset")

    def now(self) -> float:
        """The simulated time, in seconds since the epoch."""
        return instant(self._call("GET", "/clock")["now"])

    def create_account(self, provider: str, account: str, credits: int, key: str) -> None:
        body = {"provider": provider, "id": account, "credits": credits, "keys": [key]}
        self._call("POST", "/accounts", body)

    def revoke_key(self, provider: str, account: str, key: str) -> None:
        self._call("DELETE", f"/accounts/{provider}/{account}/keys/{quote(key, safe='')}")

    def add_fault(self, rule: dict[str, Any]) -> str:
        """Add a fault rule; its id."""
        created: dict[str, Any] = self._call("POST", "/faults", rule)
        return str(created["id"])

    def fault_ids(self) -> set[str]:
        """The rules still armed (a rule with ``times`` goes once spent)."""
        return {str(rule["id"]) for rule in self._call("GET", "/faults")["faults"]}

    # what happened --------------------------------------------------------------------
    def tasks(self, provider: str, account: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call(
            "GET", "/tasks", provider=provider, account=account, limit=10000
        )["tasks"]
        return found

    def force(self, task_id: str, outcome: str, message: str | None = None) -> None:
        """``outcome`` is complete, fail or stall."""
        self._call("POST", f"/tasks/{task_id}/{outcome}", {"message": message} if message else {})

    def journal(self, provider: str, limit: int) -> list[dict[str, Any]]:
        """The provider requests, oldest first."""
        entries: list[dict[str, Any]] = self._call(
            "GET", "/journal", provider=provider, limit=limit
        )["entries"]
        return entries[::-1]

    def ledger(self, provider: str, account: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self._call("GET", f"/accounts/{provider}/{account}/ledger")[
            "entries"
        ]
        return entries
