"""What the client did in one scenario, read back from the simulator.

The journal (``GET /__admin/journal``) gives every request with its simulated
time, headers and answer; the task list and the ledger give what was created
and charged. Times are simulated seconds from the client's first request. A
journal entry's ``at`` is when the answer was sent, so a request arrived
``duration_ms`` (real) times the time scale before it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from mockserver.engine.model import FAILED
from mockserver.exercise.control import ControlClient, instant
from mockserver.exercise.providers import Provider, parse_json
from mockserver.exercise.scenarios import Arrangement
from mockserver.exercise.simulator import JOURNAL_SIZE


@dataclass(frozen=True)
class ClientRun:
    """How the client's process ended."""

    command: tuple[str, ...]
    exit_code: int | None  # None: killed at the time limit
    seconds: float  # wall clock
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.exit_code is None

    def exit_text(self) -> str:
        if self.exit_code is None:
            return "killed"
        if self.exit_code < 0:
            return f"signal {-self.exit_code}"
        return str(self.exit_code)


@dataclass(frozen=True)
class Request:
    """One request of the client and the answer it got."""

    arrived: float  # simulated seconds since the first request arrived
    answered: float
    operation: str  # SUBMIT | POLL | "other"
    method: str
    path: str
    status: int
    effect: str | None  # the arranged fault that hit it: error, drop, malformed, latency
    retry_after: float | None
    idempotency_key: str | None  # None too where the provider documents no key
    body: str  # the request body, as canonical JSON when it is JSON
    task_status: str | None  # the status the answer reported

    @property
    def readable(self) -> bool:
        """The client got a 2xx whose body it could read (not dropped, not cut off)."""
        return 200 <= self.status < 300 and self.effect not in ("drop", "malformed")

    def same_body(self, other: Request) -> bool:
        """Both carried the same body (one the server did not read, as when it dropped
        the connection first, matches any)."""
        return self.body == other.body or not self.body or not other.body

    def outcome(self) -> str:
        """What the client received, in a word or two: "429", "dropped", "cut off", "202"."""
        if self.effect == "drop":
            return "dropped"
        if self.effect == "malformed":
            return "cut off"
        return str(self.status)


@dataclass(frozen=True)
class Retry:
    """A request that did not get through and the next request of the same operation."""

    failed: Request
    next: Request

    @property
    def gap(self) -> float:
        """Simulated seconds from the failed answer to the next request's arrival."""
        return self.next.arrived - self.failed.answered


@dataclass(frozen=True)
class TaskRecord:
    id: str
    status: str  # the control API's (provider-neutral) status
    params: str  # canonical JSON: equal params, equal job
    credits: int
    refunded: int

    @property
    def costs(self) -> bool:
        """Still charged: anything but a failure refunded in full."""
        return not (self.status == FAILED and self.refunded >= self.credits)


@dataclass(frozen=True)
class Observation:
    provider: Provider
    client: ClientRun
    requests: tuple[Request, ...]
    tasks: tuple[TaskRecord, ...]
    charged: int
    refunded: int
    notes: tuple[str, ...]
    problems: tuple[str, ...] = ()
    time_scale: float = 1.0

    def of(self, operation: str) -> list[Request]:
        return [r for r in self.requests if r.operation == operation]

    def retries(self) -> list[Retry]:
        """Each request that did not get through, paired with the next of its operation."""
        found = []
        for index, request in enumerate(self.requests):
            if request.readable:
                continue
            following = (r for r in self.requests[index + 1 :] if r.operation == request.operation)
            after = next(following, None)
            if after is not None:
                found.append(Retry(request, after))
        return found

    def saw(self, status: str) -> bool:
        """Whether an answer the client could read reported the task ``status``."""
        return any(r.readable and r.task_status == status for r in self.requests)

    def busiest(self, window: float) -> int:
        """The most requests that arrived within ``window`` simulated seconds."""
        times = sorted(r.arrived for r in self.requests)
        most, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= window:
                start += 1
            most = max(most, end - start + 1)
        return most

    def duplicate_jobs(self) -> list[list[TaskRecord]]:
        """Groups of two or more still-charged tasks for the same params."""
        groups: dict[str, list[TaskRecord]] = {}
        for task in self.tasks:
            if task.costs:
                groups.setdefault(task.params, []).append(task)
        return [group for group in groups.values() if len(group) > 1]


def short_key(key: str | None) -> str:
    """An Idempotency-Key short enough for a table (a UUID's first 8 characters)."""
    return "none" if key is None else key if len(key) <= 12 else key[:8] + "…"


# reading it back ----------------------------------------------------------------------


def _canonical(text: str) -> str:
    data = parse_json(text) if text else None
    return text if data is None else json.dumps(data, sort_keys=True)


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _idempotency_key(entry: dict[str, Any], provider: Provider) -> str | None:
    """The key the client sent in the provider's Idempotency-Key header (None where
    the provider documents none: the server ignores it there)."""
    name = provider.idempotency_header
    return None if name is None else _header(entry["request_headers"], name)


def _request(
    entry: dict[str, Any], provider: Provider, arranged: Arrangement, scale: float
) -> Request:
    answered = instant(entry["at"])
    fault = arranged.faults.get(entry.get("fault") or "")
    return Request(
        arrived=answered - float(entry.get("duration_ms") or 0) / 1000 * scale,
        answered=answered,
        operation=provider.operation(entry["method"], entry["path"]),
        method=entry["method"],
        path=entry["path"] + (f"?{entry['query']}" if entry.get("query") else ""),
        status=int(entry["status"]),
        effect=fault.effect if fault else None,
        retry_after=_number(_header(entry["response_headers"], "Retry-After")),
        idempotency_key=_idempotency_key(entry, provider),
        body=_canonical(entry.get("request_body") or ""),
        task_status=provider.task_status(parse_json(entry.get("response_body") or "")),
    )


def _relative(requests: list[Request]) -> tuple[Request, ...]:
    """Ordered by arrival, timed from the first."""
    if not requests:
        return ()
    ordered = sorted(requests, key=lambda r: r.arrived)
    start = ordered[0].arrived
    return tuple(
        dataclasses.replace(r, arrived=r.arrived - start, answered=r.answered - start)
        for r in ordered
    )


def _task(data: dict[str, Any]) -> TaskRecord:
    return TaskRecord(
        id=str(data["id"]),
        status=str(data["status"]),
        params=json.dumps(data.get("params"), sort_keys=True),
        credits=int(data.get("credits") or 0),
        refunded=int(data.get("refunded") or 0),
    )


def _full(journal: list[dict[str, Any]]) -> list[str]:
    if len(journal) < JOURNAL_SIZE:
        return []
    return [f"the journal was full: only the last {JOURNAL_SIZE} requests were seen"]


def observe(
    control: ControlClient, arranged: Arrangement, client: ClientRun, time_scale: float
) -> Observation:
    """What the client did in the scenario ``arranged``, read from the simulator."""
    provider = arranged.provider
    journal = control.journal(provider.name, JOURNAL_SIZE)
    requests = [_request(e, provider, arranged, time_scale) for e in journal]
    ledger = control.ledger(provider.name, arranged.account)
    return Observation(
        provider=provider,
        client=client,
        requests=_relative(requests),
        tasks=tuple(_task(t) for t in control.tasks(provider.name, arranged.account)),
        charged=-sum(int(e["amount"]) for e in ledger if e["kind"] == "charge"),
        refunded=sum(int(e["amount"]) for e in ledger if e["kind"] == "refund"),
        notes=(*arranged.notes, *_full(journal)),
        problems=tuple(arranged.problems),
        time_scale=time_scale,
    )
