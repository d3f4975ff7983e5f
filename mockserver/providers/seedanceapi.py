"""seedanceapi's HTTP shape: v1 (document 004) and v2 (the v2 fact sheet) on
one host, one envelope, per-field error codes from spec/, and the callback
payload.

One function per operation in spec/seedanceapi/api.json, with the same name:
``generate`` and ``status`` (v1), ``generate_v2`` and ``status_v2`` (v2). A task
remembers the operation that made it, so it is rendered in its own version's
shape wherever it is read (DECISIONS B27).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Response, request

from mockserver.engine.clock import format_instant
from mockserver.engine.errors import SimulatorError, TaskNotFound
from mockserver.engine.model import COMPLETED, FAILED, PROCESSING, Task
from mockserver.providers import _http

if TYPE_CHECKING:
    from mockserver.runtime import Runtime
    from mockserver.spec import ProviderSpec

NAME = "seedanceapi"

#: the engine's statuses in this provider's words
STATUS_NAMES = {PROCESSING: "IN_PROGRESS", COMPLETED: "SUCCESS", FAILED: "FAILED"}


@dataclass(frozen=True)
class Version:
    """One API version: the operations that make and read its tasks, and the
    schema definitions of its request body and of the request echo."""

    submit: str
    poll: str
    body: str
    echo: str


V1 = Version("generate", "status", "GenerateRequest", "RequestEcho")
V2 = Version("generate_v2", "status_v2", "GenerateRequestV2", "RequestEchoV2")


def generate(runtime: Runtime) -> Response:
    return _generate(runtime, V1, _duration_as_string)


def generate_v2(runtime: Runtime) -> Response:
    return _generate(runtime, V2, _duration_as_number)


def status(runtime: Runtime) -> Response:
    return _status(runtime, V1)


def status_v2(runtime: Runtime) -> Response:
    return _status(runtime, V2)


def _generate(
    runtime: Runtime, version: Version, normalise: Callable[[dict[str, Any]], dict[str, Any]]
) -> Response:
    spec = runtime.specs[NAME]
    order = _http.order(
        spec,
        version.body,
        join=False,
        code=spec.validator(version.body).code_for("", "*"),
        idempotency_key=lambda: _idempotency_key(spec, version),
        normalise=normalise,
    )
    task = runtime.simulation.place(_http.caller(NAME), order).task
    return envelope({"task_id": task.id, "status": STATUS_NAMES[PROCESSING]})


def _status(runtime: Runtime, version: Version) -> Response:
    spec = runtime.specs[NAME]
    query = {name: request.args.get(name) for name in request.args}
    try:
        _http.validate(spec, "StatusQuery", query, join=False)
        refusal = None
    except SimulatorError as exc:
        refusal = exc
    task = runtime.simulation.look(_http.caller(NAME), query.get("task_id"), refusal)
    made_by = version_of(task)
    if made_by != version and not _shared_tasks(spec):
        raise TaskNotFound(
            f"No task {task.id!r} here: it was created with {_route(spec, made_by.submit)}; "
            f"read it with {_route(spec, made_by.poll)}."
        )
    return envelope(render_task(runtime, task))


def version_of(task: Task) -> Version:
    """The version whose submit operation made ``task`` (v1 when it is not known)."""
    return V2 if task.operation == V2.submit else V1


def _shared_tasks(spec: ProviderSpec) -> bool:
    """Whether each version's status reads the other's tasks too (profile ``versions``)."""
    return bool(spec.profile_json.get("versions", {}).get("shared_tasks"))


def _idempotency_key(spec: ProviderSpec, version: Version) -> str | None:
    """The request's Idempotency-Key in its version's key space (DECISIONS B26):
    a key used on v1 and on v2 names two tasks, unless the versions share tasks."""
    key = request.headers.get("Idempotency-Key")
    if key is None or version == V1 or _shared_tasks(spec):
        return key
    return f"{version.submit}:{key}"


def _route(spec: ProviderSpec, operation: str) -> str:
    op = spec.operations[operation]
    return f"{op.method} {op.path}"


def _duration_as_string(params: dict[str, Any]) -> dict[str, Any]:
    """v1: the observed profile accepts a numeric duration (8 or 8.0); echo it as
    the documented string "8"."""
    duration = params["duration"]
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        params["duration"] = str(int(duration))
    return params


def _duration_as_number(params: dict[str, Any]) -> dict[str, Any]:
    """v2: the observed profile accepts a duration written as a string ("10");
    echo it as the documented number 10."""
    duration = params["duration"]
    if isinstance(duration, str) and duration.isdigit():
        params["duration"] = int(duration)
    return params


def envelope(data: Any) -> Response:
    return _http.json_response(success(data))


def success(data: Any) -> dict[str, Any]:
    return {"code": 200, "message": "success", "data": data}


def render_task(runtime: Runtime, task: Task) -> dict[str, Any]:
    """The documented ``data`` object of GET /v1/status (or /v2/status, for a task
    made by /v2/generate) for any state."""
    spec = runtime.specs[NAME]
    echo_keys = spec.schema["$defs"][version_of(task).echo]["properties"]
    precision = spec.profile_for(task.operation).timestamp_precision
    video, _frame = runtime.media_urls(task)
    return {
        "task_id": task.id,
        "status": STATUS_NAMES[task.status],
        "consumed_credits": task.credits - task.refunded,
        "created_at": format_instant(task.created_at, precision),
        "request": {k: task.params[k] for k in echo_keys if k in task.params},
        "response": [video] if task.status == COMPLETED else [],
        "error_message": task.error_message if task.status == FAILED else None,
    }


def webhook_payload(runtime: Runtime, task: Task) -> dict[str, Any]:
    """What is POSTed to callback_url when ``task`` ends (DECISIONS B4, B23): what
    its version's status operation would answer."""
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
