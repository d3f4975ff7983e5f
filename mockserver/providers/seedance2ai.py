"""seedance2ai's HTTP shape (document 000): paths, bodies and error envelope.

One function per operation in spec/seedance2ai/api.json, with the same name:
``submit_video`` and ``get_task``. Each parses, validates, makes one engine call
and renders; the rules themselves live in spec/ and the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response, request

from mockserver.engine.errors import InvalidRequest, SimulatorError
from mockserver.engine.model import FAILED, Task
from mockserver.providers import _http
from mockserver.providers.context import constant, timestamp

if TYPE_CHECKING:
    from mockserver.runtime import Runtime
    from mockserver.spec import ProviderSpec

NAME = "seedance2ai"


def submit_video(runtime: Runtime) -> Response:
    spec = runtime.specs[NAME]
    order = _http.order(
        spec, "SubmitRequest", join=True, idempotency_key=lambda: _idempotency_key(spec)
    )
    submission = runtime.simulation.place(_http.caller(NAME), order)
    return _http.json_response(render_accepted(runtime, submission.task), 202)


def get_task(runtime: Runtime, id: str) -> Response:
    task = runtime.simulation.look(_http.caller(NAME), id)
    return _http.json_response(render_task(runtime, task))


def _idempotency_key(spec: ProviderSpec) -> str | None:
    value = request.headers.get("Idempotency-Key")
    if value is None:
        if spec.profile.idempotency.required:
            raise InvalidRequest(
                "Idempotency-Key header is required: send a unique id per request."
            )
        return None
    violations = spec.validator("IdempotencyKeyHeader").violations(value)
    if violations:
        raise InvalidRequest(f"Idempotency-Key header {violations[0].message}.")
    return value


def render_accepted(runtime: Runtime, task: Task) -> dict[str, Any]:
    """The documented 202 body; the same bytes again on an idempotent replay."""
    return {
        "id": task.id,
        "status": "processing",
        "model": constant(runtime.specs[NAME], "Model"),
        "quality_tier": task.params["quality_tier"],
        "channel": task.params["channel"],
        "credits_used": task.credits,
    }


def render_task(runtime: Runtime, task: Task) -> dict[str, Any]:
    """The documented GET /api/v1/tasks/{id} body for any state."""
    spec = runtime.specs[NAME]
    video, frame = runtime.media_urls(task)
    return {
        "id": task.id,
        "status": task.status,
        "model": constant(spec, "Model"),
        "quality_tier": task.params["quality_tier"],
        "channel": task.params["channel"],
        "credits_used": task.credits,
        "credits_refunded": task.refunded,
        "output": (
            {"video_url": video, "last_frame_url": frame, "seed": task.seed}
            if task.status == "completed"
            else None
        ),
        "error": (
            {"code": task.error_code, "message": task.error_message}
            if task.status == FAILED
            else None
        ),
        "created_at": timestamp(spec, task.created_at),
        "updated_at": timestamp(spec, task.updated_at),
    }


def render_error(runtime: Runtime, error: SimulatorError) -> Response:
    """Every error as ``{"error": {"code", "message"}}`` (document 000)."""
    kind = runtime.specs[NAME].error(error.condition, error.code)
    body = {"error": {"code": error.code or kind.code, "message": error.message or kind.message}}
    return _http.error_response(kind, error, body)
