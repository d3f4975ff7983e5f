"""The rules every store backend applies the same way."""

from __future__ import annotations

from mockserver.engine.model import FAILED, Task


def settle(task: Task, outcome: str, at: float, code: str | None, message: str | None) -> int:
    """Move ``task`` to ``outcome`` at ``at``; return the credits to refund."""
    task.status = outcome
    task.updated_at = max(at, task.created_at)
    task.due_at = None
    if outcome != FAILED:
        return 0
    task.error_code = code or task.error_code
    task.error_message = message or task.error_message
    task.refunded = task.credits if task.refund_on_failure else 0
    return task.refunded
