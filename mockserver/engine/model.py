"""The simulator's records: accounts, keys, tasks, ledger entries, deliveries.

Plain data, provider-neutral. Times are simulated seconds since the epoch
(see clock.py); amounts are whole credits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

QUEUED = "queued"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
EXPIRED = "expired"
#: the order a task's status may move in; it never moves back (a task ends in
#: one of the last four)
LIFECYCLE = (QUEUED, PROCESSING, COMPLETED, FAILED, CANCELLED, EXPIRED)
ENDED = (COMPLETED, FAILED, CANCELLED, EXPIRED)
#: a task in one of these may still change
OPEN = (QUEUED, PROCESSING)


@dataclass(slots=True)
class Account:
    provider: str
    id: str
    credits: int
    #: False reproduces the observed purchase_required answer (never bought credits)
    purchased: bool = True
    created_at: float = 0.0


@dataclass(slots=True)
class ApiKey:
    provider: str
    key: str
    account_id: str
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One movement of credits; ``balance`` is the balance right after it."""

    provider: str
    account_id: str
    at: float
    kind: str  # "charge" | "refund" | "grant" | "adjustment"
    amount: int  # negative for charges
    balance: int
    task_id: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class MediaSpec:
    """What a task's output looks like: ``frames`` pictures at ``fps``, with a
    stereo AAC track when ``audio``.

    H.264 in yuv420p needs even dimensions, so an odd ``width`` or ``height`` is
    rounded up to the next even number in the MP4; the PNG keeps them exactly.
    """

    width: int
    height: int
    frames: int
    fps: int
    audio: bool
    sample_rate: int = 48000

    def __post_init__(self) -> None:
        for name in ("width", "height", "frames", "fps", "sample_rate"):
            if getattr(self, name) < 1:
                raise ValueError(f"MediaSpec.{name} must be positive")

    @property
    def key(self) -> str:
        """A file-name-safe key unique to these values (the media cache's key)."""
        sound = f"a{self.sample_rate}" if self.audio else "silent"
        return f"{self.width}x{self.height}-{self.frames}f-{self.fps}fps-{sound}"


@dataclass(slots=True)
class Task:
    """A generation task, from submission to its end."""

    id: str
    provider: str
    account_id: str
    params: dict[str, Any]  # the request with defaults filled in
    credits: int  # charged at submission
    created_at: float
    updated_at: float
    due_at: float | None  # when the planned outcome happens; None: stays processing
    planned: str  # COMPLETED or FAILED
    refund_on_failure: bool
    seed: int
    media: MediaSpec
    media_token: str
    expires_at: float
    status: str = PROCESSING
    refunded: int = 0
    error_code: str | None = None
    error_message: str | None = None
    callback_url: str | None = None
    origin: str = ""  # scheme://host the client called; output URLs point there
    #: the store's order of creation (ties in the due queue end in this order)
    seq: int = field(default=0, compare=False)
    operation: str = ""  # the submit operation that made it
    #: credits given back when it completes (a reservation above its final price)
    completion_refund: int = 0
    #: the pool of running slots it waits for ("" : it starts at once, never queued)
    pool: str = ""
    slots: int = 0  # how many tasks of the pool may run at once
    priority: int = 0  # higher starts first among the queued ones of a pool
    run_seconds: float = 0.0  # how long it runs once started (queued tasks)
    start_at: float | None = None  # the earliest it may start (created + queue wait)
    started_at: float | None = None
    deadline: float | None = None  # still queued or running then: it expires
    #: charged when it completes rather than at submission (postpaid billing)
    bill_on_completion: bool = False
    #: when its owner deleted it: gone for the provider's API, kept (with its charge)
    #: for the control plane until it expires
    deleted_at: float | None = None


@dataclass(slots=True)
class Attempt:
    """One webhook delivery attempt."""

    number: int
    at: float
    outcome: str  # "delivered" | "failed" | "not delivered: host not allowed"
    status: int | None = None
    error: str | None = None
    duration_ms: float | None = None


@dataclass(slots=True)
class Delivery:
    """A webhook notification for one task and its attempts."""

    id: str
    task_id: str
    provider: str
    account_id: str
    url: str
    due_at: float
    created_at: float
    state: str = "pending"  # "pending" | "sending" | "delivered" | "failed" | "blocked"
    attempts: list[Attempt] = field(default_factory=list)
    duplicate: bool = False
    status: str = ""  # the task's status it notifies
    body: str = ""  # the JSON sent, as it was at that change ("" : the task as it is now)
    max_attempts: int = 0  # 0: the provider's policy


# what the store keeps besides those, and the values its operations exchange ---------------


@dataclass(slots=True)
class IdempotencyRecord:
    """An idempotency key of one account: claimed (no task yet) or bound to a task."""

    fingerprint: str
    expires_at: float
    task_id: str | None = None  # None while the first request runs


@dataclass(frozen=True, slots=True)
class IdempotencyScope:
    provider: str
    account_id: str
    key: str


@dataclass(frozen=True, slots=True)
class ClaimPolicy:
    ttl_seconds: float
    #: how long an unfinished claim holds the key (a crashed request frees it)
    lease_seconds: float
    #: True: 409 while the key's task is still processing ("task" reading)
    conflict_while_processing: bool


@dataclass(frozen=True, slots=True)
class Claimed:
    """The caller owns the idempotency key until it creates a task or releases it."""


@dataclass(frozen=True, slots=True)
class Replay:
    """The key already created ``task_id`` with the same body."""

    task_id: str


@dataclass(frozen=True, slots=True)
class Conflict:
    """The key is bound to another body, or its first request is still running."""

    reason: str


Claim = Claimed | Replay | Conflict


@dataclass(frozen=True, slots=True)
class Window:
    """A sliding rate-limit window: at most ``limit`` admissions per ``seconds``."""

    bucket: str
    limit: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a task's end changed: the task after it, and the refund made."""

    task: Task
    refunded: int


__all__ = [
    "COMPLETED",
    "FAILED",
    "LIFECYCLE",
    "PROCESSING",
    "Account",
    "ApiKey",
    "Attempt",
    "Claim",
    "ClaimPolicy",
    "Claimed",
    "Conflict",
    "Delivery",
    "IdempotencyRecord",
    "IdempotencyScope",
    "LedgerEntry",
    "MediaSpec",
    "Replay",
    "Settlement",
    "Task",
    "Window",
]
