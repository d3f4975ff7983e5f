"""The simulation: accounts, credits, idempotency, rate limits and task
lifecycles for every provider, with no HTTP inside.

Provider modules turn a request into one call here (``authenticate``,
``admit``, ``submit``, ``task``) and render what comes back; the control plane
drives the same object (``clock.advance``, ``force``, accounts, faults).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import math
import random
import secrets
import sys
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from mockserver.engine.accounts import AccountBook
from mockserver.engine.clock import Clock
from mockserver.engine.errors import (
    IdempotencyConflict,
    PurchaseRequired,
    RateLimited,
    SimulatorError,
    TaskAlreadyEnded,
    TaskNotFound,
    TaskStateConflict,
    Unauthorized,
)
from mockserver.engine.model import (
    COMPLETED,
    ENDED,
    FAILED,
    PROCESSING,
    QUEUED,
    Claimed,
    ClaimPolicy,
    Conflict,
    IdempotencyScope,
    MediaSpec,
    Replay,
    Settlement,
    Task,
    Window,
)
from mockserver.engine.orders import (
    Caller,
    Order,
    create_latency,
    field_value,
    media_count,
    needs_purchase,
    refuse_content,
    refuse_media,
)
from mockserver.engine.state import State
from mockserver.spec import ProviderSpec
from mockserver.spec.profile import Profile, QueuePolicy, RateLimitRule

#: how long an unfinished first request holds its idempotency key
CLAIM_LEASE_SECONDS = 300.0

#: the rate limits (their ``counts``) that count each kind of request
_COUNTED_BY = {
    "read": {"every_operation"},
    "submit": {"every_operation", "submissions"},
    "media": {"requests_with_media_urls"},
}

#: scenarios a request can choose with the X-Seedance-Mock-Scenario header
SCENARIOS = ("complete", "fail", "slow", "instant", "stuck")

_CONFLICT_MESSAGES = {
    "different_body": "This Idempotency-Key was already used with a different request body.",
    "in_flight": (
        "A request with this Idempotency-Key is still running; retry when it has answered."
    ),
    "task_processing": "The task created with this Idempotency-Key is still running.",
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account behind a valid, unrevoked key."""

    provider: str
    account_id: str
    key: str
    client: str | None = None  # the address it calls from (some limits count per address)


@dataclass(frozen=True)
class TaskRequest:
    """A validated submission, in provider-neutral terms."""

    params: dict[str, Any]  # the request with defaults filled in (echoed back later)
    body: Any  # the body as sent, for idempotency
    credits: int
    clip_seconds: int
    resolution: str
    aspect_ratio: str
    audio: bool
    origin: str  # scheme://host the client called, for output URLs
    seed: int | None = None  # requested seed; None or -1: draw one
    tier: str | None = None
    carries_media: bool = False
    callback_url: str | None = None
    idempotency_key: str | None = None
    scenario: str | None = None
    latency_seconds: float = 0.0
    requires_purchase: bool = False
    operation: str | None = None  # the submit operation (its profile overlay applies)
    #: credits given back when the task completes (a reservation above the final price)
    completion_refund: int = 0
    model: str | None = None  # a queue pool per model (queue.pool account_model)
    service_tier: str | None = None  # a tier of the queue with its own slots and wait
    priority: int = 0
    deadline_seconds: float | None = None  # execution expiry, counted from creation


@dataclass(frozen=True)
class Submission:
    task: Task
    replayed: bool


#: what json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) makes
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)

#: the longest string value of a task's params that is interned
_INTERNED = 4096


def _compact(params: dict[str, Any]) -> dict[str, Any]:
    """The request's params as a task keeps them, in about half a dict's memory.

    String values up to 4 KiB are interned: thousands of tasks then share one
    "standard", one "16:9", and the prompt a test suite or a load test sends
    again and again (a prompt sent once costs a slot in the interpreter's table
    of interned strings while its task lives). And the dict is the ``__dict__``
    of an instance of a class made for these keys, which CPython keeps as
    values only, sharing the keys with every other such dict (160 bytes for
    nine keys where a dict of its own takes 272). A key an instance attribute
    cannot be (``__dict__``...) gets a plain dict.
    """
    keys = tuple(params)
    values = [
        sys.intern(value) if isinstance(value, str) and len(value) <= _INTERNED else value
        for value in params.values()
    ]
    if any(key.startswith("__") for key in keys):
        return dict(zip(keys, values, strict=True))
    holder: object = _params_class(keys)()
    for key, value in zip(keys, values, strict=True):
        setattr(holder, key, value)
    return vars(holder)


@functools.lru_cache(maxsize=256)
def _params_class(keys: tuple[str, ...]) -> type:
    """One class per set of keys, whose instances' dicts share one key table."""
    return type("Params", (), {"__slots__": ("__dict__",)})


def _window(principal: Principal, rule: RateLimitRule, model: str | None = None) -> Window | None:
    """The window a rate-limit rule keeps for this caller: per account, per
    account and model, or per client address (None when the address is unknown)."""
    if rule.scope == "client":
        if principal.client is None:
            return None
        owner = f"client:{principal.client}"
    elif rule.scope == "account_model":
        owner = f"{principal.account_id}:model:{model}"
    else:
        owner = principal.account_id
    return Window(f"{principal.provider}:{owner}:{rule.name}", rule.limit, rule.window_seconds)


def fingerprint(body: Any) -> str:
    """Same JSON value, same fingerprint: key order and whitespace do not matter.

    Every idempotency record keeps one and only ever compares it, so it is
    short: 128 bits of BLAKE2b in base64, 24 characters where a SHA-256 hex
    digest took 64.
    """
    canonical = _CANONICAL.encode(body)
    return base64.b64encode(hashlib.blake2b(canonical.encode(), digest_size=16).digest()).decode()


class _Unread:
    """A task not read yet (see Simulation.task)."""


UNREAD = _Unread()


@dataclass
class Simulation(AccountBook):
    """The provider-neutral engine shared by every provider."""

    specs: Mapping[str, ProviderSpec]
    clock: Clock
    store: State
    rng: random.Random
    #: called with each task that ended
    on_task_end: list[Callable[[Task], None]] = field(default_factory=list)
    #: called with each task created or changed (webhooks subscribe here)
    on_task_change: list[Callable[[Task], None]] = field(default_factory=list)
    #: failed authentications allowed per client address and window (key guessing)
    auth_failures: tuple[int, float] = (60, 60.0)
    _rng_lock: threading.Lock = field(default_factory=threading.Lock)
    _media_specs: dict[MediaSpec, MediaSpec] = field(default_factory=dict)
    _limit_rules: dict[tuple[str, tuple[str, ...]], list[RateLimitRule]] = field(
        default_factory=dict
    )

    # who and how often -------------------------------------------------------
    def authenticate(self, provider: str, key: str | None, client: str | None = None) -> Principal:
        """The account behind ``key``; Unauthorized when missing, unknown or revoked.

        Failures are counted per ``client`` address: once an address has failed
        too often, its requests are answered RateLimited before any key is
        checked, right or wrong, so keys cannot be guessed at speed.
        """
        self._refuse_while_blocked(client)
        try:
            if not key:
                raise Unauthorized("Missing API key: send Authorization: Bearer <key>.")
            record = self.store.resolve_key(provider, key)
            if record is None or not hmac.compare_digest(record.key.encode(), key.encode()):
                raise Unauthorized("Invalid API key.")
            if record.revoked:
                raise Unauthorized("This API key has been revoked.")
        except Unauthorized:
            self._count_auth_failure(client)
            raise
        return Principal(provider, record.account_id, key)

    def _auth_window(self, client: str | None) -> Window | None:
        limit, seconds = self.auth_failures
        if client is None or limit <= 0:
            return None
        return Window(f"auth-failures:{client}", limit, seconds)

    def _refuse_while_blocked(self, client: str | None) -> None:
        window = self._auth_window(client)
        if window is not None:
            self._raise_if_waiting(self.store.admit([window], self.clock.now(), record=False))

    def _count_auth_failure(self, client: str | None) -> None:
        window = self._auth_window(client)
        if window is not None:
            self._raise_if_waiting(self.store.admit([window], self.clock.now()))

    @staticmethod
    def _raise_if_waiting(wait: float | None) -> None:
        if wait is not None:
            retry = max(1, math.ceil(round(wait, 3)))
            raise RateLimited(
                retry,
                f"Too many failed authentications from this address; retry after {retry} seconds.",
            )

    def admit(self, principal: Principal, *kinds: str, model: str | None = None) -> None:
        """Count one request of the given kinds ("read", "submit", "media") against
        every rate limit of the account that counts them (``model``: for the limits
        kept per account and model), all at once or not at all; RateLimited with
        the exact wait when any of them is full."""
        rules = self._limits(principal.provider, kinds)
        if not rules:
            return
        windows = [w for r in rules if (w := _window(principal, r, model)) is not None]
        if not windows:
            return
        wait = self.store.admit(windows, self.clock.now())
        if wait is not None:
            seconds = max(1, math.ceil(round(wait, 3)))
            limits = " and ".join(f"{r.limit} per {r.window_seconds:g} s" for r in rules)
            what = "reference-media validations" if kinds == ("media",) else "requests"
            raise RateLimited(
                seconds, f"Rate limit ({what}: {limits}) reached; retry after {seconds} seconds."
            )

    def _limits(self, provider: str, kinds: tuple[str, ...]) -> list[RateLimitRule]:
        """The provider's rate limits that count a request of these kinds (specs are
        read-only: worked out once per provider and kinds)."""
        found = self._limit_rules.get((provider, kinds))
        if found is None:
            counts = set().union(*(_COUNTED_BY[kind] for kind in kinds))
            profile = self.specs[provider].profile
            found = [r for r in profile.rate_limits if r.counts in counts]
            self._limit_rules[(provider, kinds)] = found
        return found

    # a provider request, in one call ---------------------------------------------
    def identify(self, caller: Caller) -> Principal:
        """``authenticate`` for a Caller, which learns its account."""
        principal = self.authenticate(caller.provider, caller.key, caller.client)
        caller.account_id = principal.account_id
        return Principal(principal.provider, principal.account_id, principal.key, caller.client)

    def place(self, caller: Caller, order: Order) -> Submission:
        """A submission: authenticate, count it against every limit the profile
        says it counts against (refused ones too), refuse what the view refused
        or the profile's quirks refuse, price it, then create (or replay) the task."""
        principal = self.identify(caller)
        spec = self.specs[principal.provider]
        profile = spec.profile_for(order.operation)
        counted = media_count(profile, order.body)
        model = field_value(profile, order.body, "model")
        self.admit(
            principal,
            "submit",
            *(["media"] if counted else []),
            model=model if isinstance(model, str) else None,
        )
        if order.refusal is not None:
            raise order.refusal
        assert order.params is not None
        refuse_media(profile, order.params)
        refuse_content(profile, order.params)
        return self.submit(principal, self._task_request(spec, order, order.params))

    def look(
        self, caller: Caller, task_id: str | None, refusal: SimulatorError | None = None
    ) -> Task:
        """A read of one task: authenticate, count it, refuse what the view refused.
        The task is read before the count: on a Redis store that read then goes
        with the request's other first reads, in one round trip (DECISIONS C21)."""
        principal = self.identify(caller)
        found = None if refusal is not None else self.store.get_task(str(task_id))
        self.admit(principal, "read")
        if refusal is not None:
            raise refusal
        return self.task(principal, str(task_id), found)

    def look_all(self, caller: Caller, refusal: SimulatorError | None = None) -> list[Task]:
        """A read of the caller's tasks, newest first (a list operation): counted
        like a read; the skin filters and pages them."""
        principal = self.identify(caller)
        self.admit(principal, "read")
        if refusal is not None:
            raise refusal
        found = self.store.tasks(principal.provider, principal.account_id, limit=10**9)
        return [t for t in found if t.deleted_at is None]

    def withdraw(
        self,
        caller: Caller,
        task_id: str | None,
        refusal: SimulatorError | None = None,
        *,
        deletable: Collection[str] = ENDED,
    ) -> Task:
        """Take a task back: a queued one is cancelled (its charge, if any, comes
        back), an ended one is deleted when its status is ``deletable``; a running
        one cannot be withdrawn (TaskStateConflict). Returns the task as it was left."""
        task = self.look(caller, task_id, refusal)
        if task.status == QUEUED:
            cancelled = self.store.cancel(task.id, self.clock.now())
            if cancelled is not None:
                self._announce([cancelled])
                return cancelled.task
        elif (
            task.status in ENDED
            and task.status in deletable
            and self.store.delete_task(task.id, self.clock.now())
        ):
            return task
        raise TaskStateConflict(
            f"Task {task.id} is {task.status}: only a queued "
            "task can be cancelled, and only a finished one deleted."
        )

    def _task_request(
        self, spec: ProviderSpec, order: Order, params: dict[str, Any]
    ) -> TaskRequest:
        profile = spec.profile_for(order.operation)

        def value(name: str) -> Any:
            return field_value(profile, params, name)

        credits = spec.price(params, order.operation).credits
        clip_seconds, completion_refund = self._clip_and_refund(profile, params, credits)
        return TaskRequest(
            params=params,
            body=order.body,
            credits=credits,
            completion_refund=completion_refund,
            operation=order.operation,
            clip_seconds=clip_seconds,
            resolution=value("resolution"),
            aspect_ratio=value("aspect_ratio"),
            audio=bool(value("audio")),
            origin=order.origin,
            seed=value("seed"),
            tier=value("tier"),
            carries_media=media_count(profile, params) > 0,
            callback_url=value("callback_url"),
            idempotency_key=order.idempotency_key,
            scenario=order.scenario,
            latency_seconds=create_latency(profile, params),
            requires_purchase=needs_purchase(profile, params),
            model=value("model"),
            service_tier=value("service_tier"),
            priority=int(value("priority") or 0),
            deadline_seconds=value("deadline"),
        )

    def _clip_and_refund(
        self, profile: Profile, params: Mapping[str, Any], credits: int
    ) -> tuple[int, int]:
        """The clip's seconds, and the credits given back when it completes: for
        the profile's auto duration value, a length drawn from the seeded
        generator and the price of the reserved seconds it leaves unused."""
        duration = field_value(profile, params, "duration")
        auto = profile.auto_duration
        if auto is None or duration != auto.value:
            return int(duration), 0
        with self._rng_lock:
            seconds = self.rng.randint(auto.min_seconds, auto.max_seconds)
        used = {**params, profile.request_fields.get("duration", "duration"): str(seconds)}
        return seconds, max(0, credits - profile.pricing.price(used).credits)

    # submissions -------------------------------------------------------------
    def submit(self, principal: Principal, request: TaskRequest) -> Submission:
        """Create and charge a task, or replay the one its idempotency key made."""
        profile = self.specs[principal.provider].profile
        if request.requires_purchase:
            account = self.store.get_account(principal.provider, principal.account_id)
            if account is not None and not account.purchased:
                raise PurchaseRequired(
                    "This request needs an account that has bought credits or a plan."
                )
        scope = self._idempotency_scope(principal, request)
        if scope is not None:
            replayed = self._claim(scope, request)
            if replayed is not None:
                return Submission(replayed, replayed=True)
        queue = self.specs[principal.provider].profile_for(request.operation).queue
        try:
            self.clock.sleep(request.latency_seconds)
            task = self._new_task(principal, request)
            created = self.store.create_task(
                task,
                scope,
                profile.idempotency.ttl_seconds,
                max_queued=queue.max_queued if queue else None,
            )
        except BaseException:
            if scope is not None:
                self.store.release(scope)
            raise
        self._announce([Settlement(created, 0)])
        return Submission(created, replayed=False)

    def _idempotency_scope(
        self, principal: Principal, request: TaskRequest
    ) -> IdempotencyScope | None:
        policy = self.specs[principal.provider].profile.idempotency
        if not policy.enabled or not request.idempotency_key:
            return None
        return IdempotencyScope(principal.provider, principal.account_id, request.idempotency_key)

    def _claim(self, scope: IdempotencyScope, request: TaskRequest) -> Task | None:
        policy = self.specs[scope.provider].profile.idempotency
        claim = self.store.claim(
            scope,
            # the same body sent to another operation is another request (another
            # price, another task): the key then conflicts rather than replays
            fingerprint(
                request.body if not request.operation else [request.operation, request.body]
            ),
            self.clock.now(),
            ClaimPolicy(policy.ttl_seconds, CLAIM_LEASE_SECONDS, policy.in_flight == "task"),
        )
        if isinstance(claim, Conflict):
            raise IdempotencyConflict(_CONFLICT_MESSAGES[claim.reason])
        if isinstance(claim, Replay):
            task = self.store.get_task(claim.task_id)
            if task is None:
                raise IdempotencyConflict("The task of this Idempotency-Key has expired.")
            return task
        assert isinstance(claim, Claimed)
        return None

    def _new_task(self, principal: Principal, request: TaskRequest) -> Task:
        profile = self.specs[principal.provider].profile_for(request.operation)
        now = self.clock.now()
        with self._rng_lock:
            task_id = profile.task_id.generate(self.rng, now)
            seconds = profile.timing.sample(self.rng, request.clip_seconds, request.tier)
            fails = self.rng.random() < profile.failure.rate
            seed = request.seed
            if seed is None or seed < 0:
                seed = self.rng.randrange(0, 2**32)
            waited = self._queue_wait(profile, request)
        planned, due_at = self._plan(request.scenario, fails, now, seconds)
        width, height = profile.media.size(request.resolution, request.aspect_ratio)
        media = MediaSpec(
            width,
            height,
            profile.media.frame_count(request.clip_seconds),
            profile.media.fps,
            request.audio,
            profile.media.audio_sample_rate,
        )
        task = Task(
            id=task_id,
            provider=principal.provider,
            account_id=principal.account_id,
            params=_compact(request.params),
            credits=request.credits,
            created_at=now,
            updated_at=now,
            due_at=due_at,
            planned=planned,
            refund_on_failure=profile.failure.refund,
            seed=seed,
            media=self._media_specs.setdefault(media, media),  # one object per distinct spec
            media_token=secrets.token_urlsafe(16),
            expires_at=now + profile.retention_seconds,
            error_code=profile.failure.code,
            error_message=profile.failure.message,
            callback_url=request.callback_url,
            origin=sys.intern(request.origin),
            operation=sys.intern(request.operation or ""),
            completion_refund=request.completion_refund,
            priority=request.priority,
            bill_on_completion=profile.charge == "on_completion",
        )
        deadline = request.deadline_seconds or profile.execution_deadline_seconds
        if deadline is not None:
            task.deadline = round(now + deadline, 3)
        if profile.queue is not None and waited is not None:
            self._enqueue(task, profile.queue, request, waited)
        return task

    def _queue_wait(self, profile: Profile, request: TaskRequest) -> float | None:
        """The drawn wait of a queued task (caller holds the generator's lock)."""
        if profile.queue is None:
            return None
        if request.scenario == "instant":
            return 0.0
        return profile.queue.for_tier(request.service_tier)[1].sample(self.rng)

    @staticmethod
    def _enqueue(task: Task, queue: QueuePolicy, request: TaskRequest, waited: float) -> None:
        """Make ``task`` a queued one: its pool, slots, earliest start and running time."""
        slots, _wait = queue.for_tier(request.service_tier)
        parts = [task.provider, task.account_id]
        if queue.pool == "account_model":
            parts.append(str(request.model))
        if request.service_tier in queue.tiers:
            parts.append(str(request.service_tier))
        task.pool = sys.intern(":".join(parts))
        task.slots = slots
        task.status = QUEUED
        task.start_at = round(task.created_at + waited, 3)
        if task.due_at is not None:
            task.run_seconds = max(0.0, task.due_at - task.created_at)

    @staticmethod
    def _plan(
        scenario: str | None, fails: bool, now: float, seconds: float
    ) -> tuple[str, float | None]:
        """The outcome a task is heading for and when it arrives."""
        if scenario == "stuck":
            return COMPLETED, None
        if scenario == "instant":
            return COMPLETED, now
        if scenario == "slow":
            seconds *= 10
        outcome = FAILED if scenario == "fail" or (fails and scenario != "complete") else COMPLETED
        return outcome, round(now + seconds, 3)

    # reading -----------------------------------------------------------------
    def task(
        self, principal: Principal, task_id: str, found: Task | _Unread | None = UNREAD
    ) -> Task:
        """The caller's task; TaskNotFound for unknown ids, other accounts' tasks
        and tasks the caller deleted. ``found``: the task as already read (by
        default it is read now)."""
        task = self.store.get_task(task_id) if isinstance(found, _Unread) else found
        if (
            task is None
            or task.deleted_at is not None
            or (task.provider, task.account_id) != (principal.provider, principal.account_id)
        ):
            raise TaskNotFound(f"No task {task_id!r} for this account.")
        return task

    def media_task(self, token: str) -> Task | None:
        """The completed task whose output ``token`` names, if any, while its
        profile still serves outputs (retention ``output_url_seconds`` after it ended)."""
        task = self.store.task_by_media_token(token)
        if task is None or task.status != COMPLETED:
            return None
        kept = self.specs[task.provider].profile_for(task.operation).output_url_seconds
        if kept is not None and self.clock.now() >= task.updated_at + kept:
            return None
        return task

    # time --------------------------------------------------------------------
    def settle_due(self) -> list[Settlement]:
        """End every task whose time has come (cheap when none has)."""
        now = self.clock.now()
        due = self.store.next_due()
        if due is None or due > now:
            return []
        settled = self.store.settle_due(now)
        self._announce(settled)
        return settled

    def force(
        self, task_id: str, outcome: str, code: str | None = None, message: str | None = None
    ) -> Task:
        """Complete or fail a processing task now, or keep it processing forever."""
        if outcome not in (COMPLETED, FAILED, PROCESSING):
            raise ValueError(f"outcome must be completed, failed or processing, not {outcome!r}")
        self.settle_due()
        if self.store.get_task(task_id) is None:
            raise TaskNotFound(f"No task {task_id!r}.")
        settlement = self.store.force(task_id, outcome, self.clock.now(), code, message)
        if settlement is None:
            raise TaskAlreadyEnded(f"task {task_id} has already ended")
        if outcome != PROCESSING:
            self._announce([settlement])
        return settlement.task

    def _announce(self, changed: list[Settlement]) -> None:
        for change in changed:
            for listener in self.on_task_change:
                listener(change.task)
            if change.task.status in ENDED:
                for listener in self.on_task_end:
                    listener(change.task)
