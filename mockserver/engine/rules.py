"""Every business rule of the simulator, once: plain functions over plain records.

Nothing here reads a clock, a store or the network. The state layer
(engine/state) reads the records a rule needs inside one atomic step of
whichever backend holds them, calls the rule, and writes back what it returns,
so the memory, SQLite and Redis stores all decide exactly alike.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

from mockserver.engine.errors import AccountOverdue, InsufficientCredits
from mockserver.engine.model import (
    CANCELLED,
    COMPLETED,
    EXPIRED,
    FAILED,
    OPEN,
    PROCESSING,
    QUEUED,
    Account,
    Attempt,
    Claim,
    Claimed,
    ClaimPolicy,
    Conflict,
    Delivery,
    IdempotencyRecord,
    LedgerEntry,
    Replay,
    Task,
    Window,
)


# credits -------------------------------------------------------------------------------------
def move_credits(
    account: Account,
    at: float,
    kind: str,
    amount: int,
    *,
    task_id: str | None,
    note: str,
    overdraft: bool = False,
) -> tuple[Account, LedgerEntry]:
    """``account`` after a movement of ``amount`` credits, and its ledger entry.

    A grant records the opening balance (the account already holds it); every
    other kind changes the balance, which never goes below zero, but for the
    charge of a postpaid task (``overdraft``), which may.
    """
    credits = account.credits if kind == "grant" else account.credits + amount
    if credits < 0 and not overdraft:
        raise AssertionError("a balance never goes below zero")
    moved = dataclasses.replace(account, credits=credits)
    entry = LedgerEntry(account.provider, account.id, at, kind, amount, credits, task_id, note)
    return moved, entry


def charge(account: Account, task: Task) -> tuple[Account, LedgerEntry] | None:
    """The charge of a new task (None for a postpaid one, charged when it
    completes); InsufficientCredits when the balance is short, AccountOverdue
    when a postpaid account's balance is below zero."""
    if task.bill_on_completion:
        if account.credits < 0:
            raise AccountOverdue(
                f"The account's balance is {account.credits}: top it up before creating tasks."
            )
        return None
    if account.credits < task.credits:
        raise InsufficientCredits(task.credits, account.credits)
    return move_credits(
        account, task.created_at, "charge", -task.credits, task_id=task.id, note="submission"
    )


def charge_on_completion(account: Account, task: Task, at: float) -> tuple[Account, LedgerEntry]:
    """A postpaid task's charge when it completes (the balance may go below zero)."""
    return move_credits(
        account, at, "charge", -task.credits, task_id=task.id, note="completed", overdraft=True
    )


def adjust(account: Account, credits: int, at: float, note: str) -> tuple[Account, LedgerEntry]:
    """Set the balance to ``credits``, recorded as an adjustment."""
    return move_credits(
        account, at, "adjustment", credits - account.credits, task_id=None, note=note
    )


def folds(entry: LedgerEntry, live_tasks: set[str]) -> bool:
    """Whether a ledger entry may be folded into the opening balance: its task is
    gone (entries without a task, such as grants, never hold folding back)."""
    return entry.task_id is None or entry.task_id not in live_tasks


# rate limits -----------------------------------------------------------------------------------
#: a rate-limit window with no admission for this long is forgotten by the sweep
IDLE_WINDOW_SECONDS = 3600.0


def window_start(window: Window, now: float) -> float:
    """The earliest admission time still inside ``window`` at ``now`` (a sliding
    window counts admissions after now − seconds)."""
    return math.nextafter(now - window.seconds, math.inf)


def window_wait(
    window: Window, in_window: int, oldest_that_matters: float | None, now: float
) -> float | None:
    """None when ``window`` admits one more (it holds ``in_window`` admissions),
    else the seconds until it does: until the admission that keeps it full
    (the (in_window − limit + 1)-th oldest, ``oldest_that_matters``) leaves it."""
    if in_window < window.limit:
        return None
    assert oldest_that_matters is not None
    return oldest_that_matters + window.seconds - now


# idempotency -------------------------------------------------------------------------------------
def claim_key(
    record: IdempotencyRecord | None,
    task_status: str | None,
    fingerprint: str,
    now: float,
    policy: ClaimPolicy,
) -> tuple[IdempotencyRecord | None, Claim]:
    """Who gets an idempotency key: the first request claims it (the new record
    is returned), the same body once its task exists replays it, anything else
    conflicts. ``task_status`` is the status of the key's task, when bound."""
    if record is None or record.expires_at <= now:
        return IdempotencyRecord(fingerprint, now + policy.lease_seconds), Claimed()
    if record.fingerprint != fingerprint:
        return None, Conflict("different_body")
    if record.task_id is None:
        return None, Conflict("in_flight")
    if policy.conflict_while_processing and task_status == PROCESSING:
        return None, Conflict("task_processing")
    return None, Replay(record.task_id)


def releases(record: IdempotencyRecord | None) -> bool:
    """A claim is released only while no task is bound to it."""
    return record is not None and record.task_id is None


def bind_key(record: IdempotencyRecord | None, task: Task, ttl: float) -> IdempotencyRecord:
    """The key, once its task exists: remembered ``ttl`` seconds from creation."""
    fingerprint = record.fingerprint if record else ""
    return IdempotencyRecord(fingerprint, task.created_at + ttl, task.id)


# lifecycle -------------------------------------------------------------------------------------
def settle(
    task: Task, outcome: str, at: float, code: str | None, message: str | None
) -> tuple[Task, int]:
    """``task`` ended with ``outcome`` at ``at``, and the credits to refund: all it
    was charged when it fails, is cancelled or expires (if its profile refunds
    failures), else what was reserved above its final price. A postpaid task
    was charged nothing, so nothing is refunded."""
    ended = dataclasses.replace(task, status=outcome, updated_at=max(at, task.created_at))
    ended.due_at = None
    if task.bill_on_completion:
        return _with_error(ended, task, code, message), 0
    if outcome == COMPLETED:
        ended.refunded = min(task.completion_refund, task.credits)
        return ended, ended.refunded
    ended.refunded = task.credits if task.refund_on_failure or outcome != FAILED else 0
    return _with_error(ended, task, code, message), ended.refunded


def _with_error(ended: Task, task: Task, code: str | None, message: str | None) -> Task:
    if ended.status == FAILED:
        ended.error_code = code or task.error_code
        ended.error_message = message or task.error_message
    return ended


def start(task: Task, at: float) -> Task:
    """A queued task starting to run at ``at`` (a stuck one never ends)."""
    started = dataclasses.replace(task, status=PROCESSING, updated_at=at, started_at=at)
    started.due_at = None if task.due_at is None else round(at + task.run_seconds, 3)
    return started


def can_start(task: Task, at: float, running: int) -> bool:
    """Whether a queued task may start at ``at`` with ``running`` tasks of its pool busy."""
    return (
        task.status == QUEUED
        and running < task.slots
        and task.start_at is not None
        and task.start_at <= at
    )


def queue_order(task: Task) -> float:
    """A queued task's place: higher priority first, then first come."""
    return (9 - max(0, min(9, task.priority))) * 1e12 + task.seq


def force(
    task: Task, outcome: str, at: float, code: str | None, message: str | None
) -> tuple[Task, int] | None:
    """A queued or processing task completed or failed now, or pinned (outcome
    "processing": it never ends by itself); None for a task that has ended (a
    lifecycle only moves forward)."""
    if outcome not in (COMPLETED, FAILED, PROCESSING):
        raise ValueError(f"cannot force a task to {outcome!r}")
    if task.status not in OPEN:
        return None
    if outcome == PROCESSING:
        pinned = dataclasses.replace(task)
        pinned.due_at = None
        pinned.start_at = None if task.status == QUEUED else task.start_at
        return pinned, 0
    return settle(task, outcome, at, code, message)


def cancel(task: Task, at: float) -> tuple[Task, int] | None:
    """A queued task cancelled; None for a task that is not queued."""
    return settle(task, CANCELLED, at, None, None) if task.status == QUEUED else None


def expire(task: Task, at: float) -> tuple[Task, int] | None:
    """An open task past its execution deadline; None for one that has ended."""
    return settle(task, EXPIRED, at, None, None) if task.status in OPEN else None


# webhooks ----------------------------------------------------------------------------------------
def start_sending(delivery: Delivery) -> Delivery | None:
    """A due delivery claimed by one sender, or None if it is not pending."""
    if delivery.state != "pending":
        return None
    return dataclasses.replace(delivery, state="sending", attempts=list(delivery.attempts))


def after_attempt(
    delivery: Delivery, attempt: Attempt, state: str, next_due: float | None
) -> Delivery:
    due = delivery.due_at if next_due is None else next_due
    return dataclasses.replace(
        delivery, state=state, due_at=due, attempts=[*delivery.attempts, attempt]
    )


# fault rules -------------------------------------------------------------------------------------
def spend_fault(rule: dict[str, Any]) -> dict[str, Any] | None:
    """The rule after one firing (``hits`` up, ``times`` down); None once used up."""
    spent = {**rule, "hits": rule.get("hits", 0) + 1}
    if spent.get("times") is not None:
        spent["times"] -= 1
        if spent["times"] <= 0:
            return None
    return spent


# upkeep -------------------------------------------------------------------------------------------
def ledger_fold(
    opening: int, entries: Iterable[LedgerEntry], live_tasks: set[str]
) -> tuple[int, int]:
    """The opening balance after folding the oldest entries whose task is gone,
    and how many entries were folded (stopping at the first one that holds)."""
    folded = 0
    for entry in entries:
        if not folds(entry, live_tasks):
            break
        opening += entry.amount
        folded += 1
    return opening, folded
