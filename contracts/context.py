"""What the checks know besides the exchange in front of them: the provider's
API, what the test expects of this request, and a model of everything the
suite did so far (tasks, their owners and prices, the statuses seen).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from contracts.dialect import Body, ProviderAPI, dig
from contracts.exchange import CONTROL_TASK, Exchange
from mockserver.engine.model import FAILED as ENGINE_FAILED
from mockserver.spec import ErrorKind

if TYPE_CHECKING:
    from contracts.checks import ContractViolation
    from contracts.transport import Transport


class DriftSink(Protocol):
    """Where every violation is reported (the drift report)."""

    def record(self, violation: ContractViolation) -> bool:
        """Keep ``violation``; raise checks.KnownDrift when the running test has
        nothing more to find (it should fail now, without more examples). True:
        the test goes on past it (drift already reported, and keeping going)."""
        ...

    def reported(self, provider: str, operation: str, cause: str) -> bool:
        """Whether an earlier test reported ``cause`` on ``operation``."""
        ...

    def after_example(self) -> None:
        """Called when an example ends; checks.KnownDrift when the test should stop."""
        ...


@dataclass(frozen=True)
class Expectation:
    """What the spec says the answer to the next request must be."""

    why: str  # "a valid request", "prompt.maxLength broken alone"
    status: int | None = None  # None: any 2xx
    code: str | None = None

    @classmethod
    def accepted(cls, why: str) -> Expectation:
        return cls(why)

    @classmethod
    def refused(cls, kind: ErrorKind, why: str, code: str | None = None) -> Expectation:
        return cls(why, kind.status, code or kind.code)

    def describe(self) -> str:
        if self.status is None:
            return f"2xx ({self.why})"
        return f"{self.status} {self.code} ({self.why})"


@dataclass
class TaskRecord:
    """A task the suite created, as the model remembers it."""

    id: str
    owner: str  # the caller label that created it
    body: Body  # as sent
    price: int | None  # the price table's credits for that body (None: unknown)
    idempotency_key: str | None
    failed: bool = False


@dataclass
class CheckContext:
    """Everything a check may consult besides the exchange."""

    api: ProviderAPI
    transport: Transport | None = None  # for downloading outputs
    #: balance of each caller's account when the conversation began (simulator only)
    openings: dict[str, int] = field(default_factory=dict)
    expectation: Expectation | None = None
    drift: DriftSink | None = None
    history: list[Exchange] = field(default_factory=list)
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    statuses: dict[str, list[str]] = field(default_factory=dict)
    downloaded: set[str] = field(default_factory=set)

    def polled_task(self, exchange: Exchange) -> str | None:
        """The task id a poll exchange asked for (None for other exchanges)."""
        if exchange.operation != self.api.poll.name:
            return None
        return self.api.polled_id(exchange.path, exchange.query)

    def expected_balance(self, caller: str) -> int | None:
        """Start − charges + refunds for ``caller``'s account, per the model."""
        if caller not in self.openings:
            return None
        refunds = self.api.spec.profile.failure.refund
        owned = [t for t in self.tasks.values() if t.owner == caller]
        prices = [t.price for t in owned]
        if None in prices:
            return None  # a charge the price table alone cannot tell
        charged = sum(t.price or 0 for t in owned)
        refunded = sum(t.price or 0 for t in owned if t.failed and refunds)
        return self.openings[caller] - charged + refunded

    # the model ---------------------------------------------------------------
    def observe(self, exchange: Exchange) -> None:
        """Learn from an exchange the checks have seen."""
        self.history.append(exchange)
        if exchange.status // 100 != 2:
            return
        if exchange.operation == self.api.submit.name:
            self._observe_submission(exchange)
        elif exchange.operation == self.api.poll.name:
            self._observe_poll(exchange)
        elif exchange.operation == CONTROL_TASK:
            found = exchange.json()
            record = self.tasks.get(str(found.get("id")))
            if record is not None and found.get("status") == ENGINE_FAILED:
                record.failed = True

    def _observe_submission(self, exchange: Exchange) -> None:
        body = _json_or_none(exchange)
        task_id = self.api.accepted_id(body)
        if task_id is None or task_id in self.tasks:
            return
        header = self.api.idempotency_header
        self.tasks[task_id] = TaskRecord(
            task_id,
            exchange.caller or "",
            exchange.request_body,
            self.api.price_of(exchange.request_body),
            exchange.request_header(header) if header else None,
        )
        status = dig(body, (*self.api.task_id_at[:-1], self.api.status_field))
        if status is not None:  # some accepted answers carry only the id
            self.statuses.setdefault(task_id, []).append(str(status))

    def _observe_poll(self, exchange: Exchange) -> None:
        task_id = self.polled_task(exchange)
        task = self.api.task(_json_or_none(exchange))
        if task_id is None or task is None:
            return
        status = str(task.get(self.api.status_field))
        self.statuses.setdefault(task_id, []).append(status)
        if status == self.api.failed_state and task_id in self.tasks:
            self.tasks[task_id].failed = True


def _json_or_none(exchange: Exchange) -> Any:
    return exchange.json() if exchange.is_json else None
