"""seedance2ai's HTTP shape (document 000): paths, bodies and error envelope.

One function per operation in spec/seedance2ai/api.json, with the same name:
``submit_video`` and ``get_task``. Each parses, makes one engine call and
renders; the rules themselves live in spec/ and the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response, request

from mockserver.engine.errors import InvalidRequest, SimulatorError
from mockserver.engine.model import FAILED, Task
from mockserver.engine.simulation import TaskRequest
from mockserver.providers import _http
from mockserver.providers.context import constant, media_urls, timestamp

if TYPE_CHECKING:
    from mockserver.runtime import Runtime
    from mockserver.spec import ProviderSpec

NAME = "seedance2ai"


def submit_video(runtime: Runtime) -> Response:
    spec, sim = runtime.specs[NAME], runtime.simulation
    principal = _http.authenticate(sim, NAME)
    try:
        body, unreadable = _http.read_json_object(spec, None), None
    except InvalidRequest as exc:  # still counted as a request, then refused
        body, unreadable = {}, exc
    # A submit carrying reference media takes a slot of both limits or of neither.
    media = isinstance(body.get("media_urls"), list) and bool(body["media_urls"])
    sim.admit(principal, "submit", *(["media"] if media else []))
    if unreadable is not None:
        raise unreadable
    key = _idempotency_key(spec)
    _http.validate(spec, "SubmitRequest", body, join=True)
    params = {**spec.validator("SubmitRequest").defaults(), **body}
    _reject_content(spec, params)
    submission = sim.submit(principal, _task_request(spec, params, body, key))
    return _http.json_response(render_accepted(runtime, submission.task), 202)


def get_task(runtime: Runtime, id: str) -> Response:
    sim = runtime.simulation
    principal = _http.authenticate(sim, NAME)
    sim.admit(principal, "read")
    return _http.json_response(render_task(runtime, sim.task(principal, id)))


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


def _reject_content(spec: ProviderSpec, params: dict[str, Any]) -> None:
    """Observed profile: start images of real people are refused, uncharged."""
    rule = spec.profile.quirks.get("content_rejection")
    if rule and rule["marker"] in str(params.get(rule["field"], "")):
        raise InvalidRequest(str(rule["message"]))


def _task_request(
    spec: ProviderSpec, params: dict[str, Any], body: dict[str, Any], key: str | None
) -> TaskRequest:
    quirks = spec.profile.quirks
    latency = quirks.get("create_latency", {}).get("per_media_url_seconds", 0.0)
    purchase = quirks.get("purchase_required", {}).get("tiers", [])
    return _http.task_request(
        spec,
        params,
        body,
        seed=params.get("seed"),
        tier=params["quality_tier"],
        carries_media=bool(params.get("media_urls")),
        idempotency_key=key,
        latency_seconds=float(latency) * len(params.get("media_urls", [])),
        requires_purchase=params["quality_tier"] in purchase,
    )


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
    video, frame = media_urls(runtime, task)
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
