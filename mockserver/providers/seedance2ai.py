"""seedance2ai's HTTP shape (document 000 and seedance2ai-updates.md): paths,
bodies and error envelope.

One function per operation in spec/seedance2ai/api.json, with the same name:
``submit_video`` (Seedance 2), ``submit_video_25`` (Seedance 2.5),
``submit_video_alias`` (the www page's path for Seedance 2) and ``get_task``.
Each parses, validates, makes one engine call and renders; the rules
themselves live in spec/ and the engine. What a task shows (its model, whether
it has a quality tier) is read from the 202 schema of the operation that made it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from flask import Response, request

from mockserver.engine.errors import InvalidRequest, RouteNotFound, SimulatorError
from mockserver.engine.model import FAILED, Task
from mockserver.providers import _http
from mockserver.providers.context import timestamp

if TYPE_CHECKING:
    from mockserver.runtime import Runtime
    from mockserver.spec import ProviderSpec

NAME = "seedance2ai"
TIER = "quality_tier"


def submit_video(runtime: Runtime) -> Response:
    return _submit(runtime, "submit_video")


def submit_video_25(runtime: Runtime) -> Response:
    return _submit(runtime, "submit_video_25")


def submit_video_alias(runtime: Runtime) -> Response:
    if not runtime.specs[NAME].profile_for("submit_video_alias").served:
        raise RouteNotFound()  # switched off: answered like any unknown path
    return _submit(runtime, "submit_video_alias")


def get_task(runtime: Runtime, id: str) -> Response:
    task = runtime.simulation.look(_http.caller(NAME), id)
    return _http.json_response(render_task(runtime, task))


def _submit(runtime: Runtime, operation: str) -> Response:
    spec = runtime.specs[NAME]
    body = spec.operations[operation].body
    assert body is not None
    order = _http.order(spec, body, join=True, idempotency_key=lambda: _idempotency_key(spec))
    submission = runtime.simulation.place(_http.caller(NAME), order)
    return _http.json_response(render_accepted(runtime, submission.task), 202)


def _idempotency_key(spec: ProviderSpec) -> str | None:
    value: str | None = request.environ.get("HTTP_IDEMPOTENCY_KEY")
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


@functools.lru_cache(maxsize=64)
def _receipt(spec: ProviderSpec, operation_name: str) -> tuple[str, bool]:
    """The model a task of an operation reports and whether it shows a quality tier,
    from the 202 schema of the operation (specs are read-only: found once each)."""
    operation = spec.operations.get(operation_name) or spec.operations["submit_video"]
    accepted = spec.schema["$defs"][operation.responses["202"]["schema"]]["properties"]
    model = spec.schema["$defs"][accepted["model"]["$ref"].rpartition("/")[2]]["const"]
    return str(model), TIER in accepted


def _identity(spec: ProviderSpec, task: Task) -> dict[str, Any]:
    """id, status, model, quality_tier (where the model has tiers) and channel."""
    model, tiered = _receipt(spec, task.operation)
    shown: dict[str, Any] = {"id": task.id, "status": task.status, "model": model}
    if tiered:
        shown[TIER] = task.params[TIER]
    shown["channel"] = task.params["channel"]
    return shown


def render_accepted(runtime: Runtime, task: Task) -> dict[str, Any]:
    """The documented 202 body; the same bytes again on an idempotent replay."""
    identity = _identity(runtime.specs[NAME], task)
    return {**identity, "status": "processing", "credits_used": task.credits}


def render_task(runtime: Runtime, task: Task) -> dict[str, Any]:
    """The documented GET /api/v1/tasks/{id} body for any state."""
    spec = runtime.specs[NAME]
    video, frame = runtime.media_urls(task)
    return {
        **_identity(spec, task),
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
