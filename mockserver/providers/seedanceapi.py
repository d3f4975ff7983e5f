"""seedanceapi's HTTP shape (document 004): the success envelope, per-field
error codes from spec/, and the callback payload.

One function per operation in spec/seedanceapi/api.json, with the same name:
``generate`` and ``status``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response, request

from mockserver.engine.errors import SimulatorError
from mockserver.engine.model import COMPLETED, FAILED, PROCESSING, Task
from mockserver.providers import _http
from mockserver.providers.context import timestamp

if TYPE_CHECKING:
    from mockserver.runtime import Runtime

NAME = "seedanceapi"

#: the engine's statuses in this provider's words
STATUS_NAMES = {PROCESSING: "IN_PROGRESS", COMPLETED: "SUCCESS", FAILED: "FAILED"}


def generate(runtime: Runtime) -> Response:
    spec = runtime.specs[NAME]
    order = _http.order(
        spec,
        "GenerateRequest",
        join=False,
        code=spec.validator("GenerateRequest").code_for("", "*"),
        idempotency_key=lambda: request.headers.get("Idempotency-Key"),
        normalise=_normalised,
    )
    task = runtime.simulation.place(_http.caller(NAME), order).task
    return envelope({"task_id": task.id, "status": STATUS_NAMES[PROCESSING]})


def status(runtime: Runtime) -> Response:
    spec = runtime.specs[NAME]
    query = {name: request.args.get(name) for name in request.args}
    try:
        _http.validate(spec, "StatusQuery", query, join=False)
        refusal = None
    except SimulatorError as exc:
        refusal = exc
    task = runtime.simulation.look(_http.caller(NAME), query.get("task_id"), refusal)
    return envelope(render_task(runtime, task))


def _normalised(params: dict[str, Any]) -> dict[str, Any]:
    """The observed profile accepts a numeric duration (8 or 8.0); echo it as the
    documented string "8"."""
    duration = params["duration"]
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        params["duration"] = str(int(duration))
    return params


def envelope(data: Any) -> Response:
    return _http.json_response(success(data))


def success(data: Any) -> dict[str, Any]:
    return {"code": 200, "message": "success", "data": data}


def render_task(runtime: Runtime, task: Task) -> dict[str, Any]:
    """The documented ``data`` object of GET /v1/status for any state."""
    spec = runtime.specs[NAME]
    echo_keys = spec.schema["$defs"]["RequestEcho"]["properties"]
    video, _frame = runtime.media_urls(task)
    return {
        "task_id": task.id,
        "status": STATUS_NAMES[task.status],
        "consumed_credits": task.credits - task.refunded,
        "created_at": timestamp(spec, task.created_at),
        "request": {k: task.params[k] for k in echo_keys if k in task.params},
        "response": [video] if task.status == COMPLETED else [],
        "error_message": task.error_message if task.status == FAILED else None,
    }


def webhook_payload(runtime: Runtime, task: Task) -> dict[str, Any]:
    """What is POSTed to callback_url when ``task`` ends (see DECISIONS.md B4)."""
    data = render_task(runtime, task)
    webhooks = runtime.specs[NAME].profile.webhooks
    return data if webhooks is not None and webhooks.payload == "data" else success(data)


def render_error(runtime: Runtime, error: SimulatorError) -> Response:
    """``{"code": <status>, "message": "<CODE>: ...", "error": "<CODE>", "data": null}``."""
    kind = runtime.specs[NAME].error(error.condition, error.code)
    code = error.code or kind.code
    message = error.message or kind.message
    body = {"code": kind.status, "message": f"{code}: {message}", "error": code, "data": None}
    return _http.error_response(kind, error, body)
