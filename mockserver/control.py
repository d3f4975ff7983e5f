"""The control plane, once: everything ``/__admin`` and the in-process ``sim`` can do.

``Control`` is owned by the runtime. ``mockserver/admin.py`` turns HTTP into
calls here and renders the records that come back; ``mockserver/inprocess.py``
hands the same objects to Python tests. Refusals are named exceptions from
engine/errors.py (``UnknownAccount``, ``KeyInUse``, ``TaskAlreadyEnded``,
``InvalidControlValue``, ...), so neither layer tells errors apart by message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mockserver.engine.errors import InvalidControlValue, UnknownFault
from mockserver.engine.faults import FaultRule, error_names, parse_rule
from mockserver.engine.journal import Entry
from mockserver.engine.model import (
    COMPLETED,
    FAILED,
    PROCESSING,
    Account,
    ApiKey,
    Delivery,
    LedgerEntry,
    Task,
)

if TYPE_CHECKING:
    from mockserver.engine.simulation import Simulation
    from mockserver.runtime import Runtime

#: the longest jump of the clock one call may ask for (about 31 years)
MAX_ADVANCE_SECONDS = 10**9


class AccountsControl:
    """Accounts, keys and balances."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @property
    def _sim(self) -> Simulation:
        return self._runtime.simulation

    def create(
        self,
        provider: str,
        id: str,
        credits: int = 0,
        keys: tuple[str, ...] | list[str] = (),
        purchased: bool = True,
    ) -> Account:
        return self._sim.create_account(provider, id, credits, list(keys), purchased)

    def get(self, provider: str, id: str) -> Account:
        return self._sim.account(provider, id)

    def set_credits(
        self, provider: str, id: str, credits: int, note: str = "set by control"
    ) -> Account:
        return self._sim.set_credits(provider, id, credits, note)

    def update(
        self, provider: str, id: str, *, credits: Any = None, purchased: Any = None
    ) -> Account:
        """Set the balance and/or the purchased flag; both or neither change."""
        self._sim.account(provider, id)
        if purchased is not None and not isinstance(purchased, bool):
            raise InvalidControlValue("purchased must be true or false.")
        if credits is not None:
            self._sim.set_credits(provider, id, credits, "set through the control API")
        if purchased is not None:
            self._sim.set_purchased(provider, id, purchased)
        return self._sim.account(provider, id)

    def add_key(self, provider: str, id: str, key: str) -> ApiKey:
        return self._sim.add_key(provider, id, key)

    def revoke_key(self, provider: str, key: str, account: str | None = None) -> ApiKey | None:
        """Revoke ``key``; with ``account``, only a key of that account (else UnknownKey)."""
        owner = self._sim.account_of_key(provider, key)
        if owner is None and account is None:
            return None
        return self._sim.revoke_key(provider, account or str(owner), key)

    def keys(self, provider: str, id: str) -> list[ApiKey]:
        return self._sim.keys_of(provider, id)

    def ledger(self, provider: str, id: str) -> tuple[int, list[LedgerEntry]]:
        self._sim.account(provider, id)
        return self._sim.ledger(provider, id)

    def list(self, provider: str | None = None) -> list[Account]:
        return self._sim.accounts(provider)


class FaultsControl:
    """Fault rules (see engine/faults.py for the fields)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def add(self, rule: Mapping[str, Any] | None = None, /, **fields: Any) -> FaultRule:
        data = {**(rule or {}), **fields}
        runtime = self._runtime
        provider = data.get("provider")
        if provider is not None and provider not in runtime.specs:
            raise InvalidControlValue(f"unknown provider {provider!r}")
        specs = [runtime.specs[provider]] if provider else list(runtime.specs.values())
        try:
            parsed = parse_rule(data, error_names(specs))
        except ValueError as exc:
            raise InvalidControlValue(str(exc)) from exc
        return runtime.faults.add(parsed)

    def remove(self, rule_id: str) -> bool:
        return self._runtime.faults.remove(rule_id)

    def remove_existing(self, rule_id: str) -> None:
        if not self.remove(rule_id):
            raise UnknownFault(f"No fault {rule_id!r}.")

    def clear(self) -> None:
        self._runtime.faults.clear()

    def list(self) -> list[FaultRule]:
        return self._runtime.faults.rules()


class TasksControl:
    """Every account's tasks, and their forced outcomes."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @property
    def _sim(self) -> Simulation:
        sim = self._runtime.simulation
        sim.settle_due()  # what the control plane shows is up to the clock
        return sim

    def get(self, task_id: str) -> Task:
        return self._sim.find_task(task_id)

    def complete(self, task_id: str) -> Task:
        return self._force(task_id, COMPLETED)

    def fail(self, task_id: str, message: str | None = None, code: str | None = None) -> Task:
        for name, value in (("message", message), ("code", code)):
            if value is not None and not isinstance(value, str):
                raise InvalidControlValue(f"{name} must be a string.")
        return self._force(task_id, FAILED, code, message)

    def stall(self, task_id: str) -> Task:
        """Keep a processing task processing forever."""
        return self._force(task_id, PROCESSING)

    def _force(
        self, task_id: str, outcome: str, code: str | None = None, message: str | None = None
    ) -> Task:
        sim = self._sim
        sim.find_task(task_id)
        return sim.force(task_id, outcome, code, message)

    def media_urls(self, task: Task) -> tuple[str, str]:
        """Where the task's video and last frame are served."""
        return self._runtime.media_urls(task)

    def list(
        self,
        provider: str | None = None,
        account: str | None = None,
        status: str | None = None,
        limit: int = 10**9,
    ) -> list[Task]:
        """Newest first; ``status`` in the engine's words (processing, completed, failed)."""
        found = self._sim.all_tasks(provider, account, limit if status is None else 10**9)
        return [t for t in found if status in (None, t.status)][: max(0, limit)]


class Control:
    """The one control facade of a simulator (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.accounts = AccountsControl(runtime)
        self.faults = FaultsControl(runtime)
        self.tasks = TasksControl(runtime)

    def reset(self) -> None:
        """Back to the start state: the configured accounts, a new clock, no tasks."""
        self._runtime.reset()

    # the clock -------------------------------------------------------------------------------
    def now(self) -> float:
        return self._runtime.clock.now()

    def clock(self) -> dict[str, Any]:
        clock = self._runtime.clock
        return {"now": clock.iso(), "mode": clock.mode, "time_scale": clock.time_scale}

    def advance(self, seconds: Any) -> float:
        """Jump the clock; everything due in the span has happened when it returns."""
        if (
            not isinstance(seconds, (int, float))
            or isinstance(seconds, bool)
            or not 0 <= seconds <= MAX_ADVANCE_SECONDS
        ):
            raise InvalidControlValue(f"seconds must be a number from 0 to {MAX_ADVANCE_SECONDS}.")
        return self._runtime.clock.advance(float(seconds))

    # the journal and webhooks ----------------------------------------------------------------
    def journal(
        self,
        *,
        provider: str | None = None,
        path: str | None = None,
        status: int | None = None,
        method: str | None = None,
        limit: int = 100,
    ) -> list[Entry]:
        return self._runtime.journal.entries(
            provider=provider, path=path, status=status, method=method, limit=limit
        )

    def clear_journal(self) -> None:
        self._runtime.journal.clear()

    def deliveries(
        self, provider: str | None = None, account: str | None = None, task_id: str | None = None
    ) -> list[Delivery]:
        return self._runtime.webhooks.deliveries(provider, account, task_id)
