"""Ark's HTTP shape (BytePlus ModelArk and Volcengine Ark content generation
tasks, ../shared/evidence/ark-content-generation.md): paths, bodies, the error
envelope and the callback body.

One function per operation in spec/ark/api.json, with the same name:
``create_task``, ``get_task``, ``list_tasks`` and ``delete_task``. Reading a
create body (model, rules, text commands, moderation, tokens) is in
``_ark_request``; the engine queues, runs, expires and bills the task; this
module renders it in Ark's words (running, succeeded), with an ``X-Request-Id``
on every answer and that id at the end of every error message.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Response, request

from mockserver.engine.errors import (
    InvalidRequest,
    RateLimited,
    SimulatorError,
    TaskNotFound,
)
from mockserver.engine.faults import InjectedError
from mockserver.engine.model import (
    CANCELLED,
    COMPLETED,
    EXPIRED,
    FAILED,
    PROCESSING,
    QUEUED,
    Task,
)
from mockserver.engine.orders import Order
from mockserver.providers import _http
from mockserver.providers._ark_request import BODY, ArkError, read_create
from mockserver.providers.context import current_call

if TYPE_CHECKING:
    from mockserver.runtime import Runtime
    from mockserver.spec import ProviderSpec

NAME = "ark"
CREATE = "create_task"
QUERY = "ListTasksQuery"
REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = "seedance_mock.ark.request_id"

#: the engine's statuses in Ark's words
STATUS_NAMES = {
    QUEUED: "queued",
    PROCESSING: "running",
    COMPLETED: "succeeded",
    FAILED: "failed",
    CANCELLED: "cancelled",
    EXPIRED: "expired",
}
ENGINE_STATUS = {ark: engine for engine, ark in STATUS_NAMES.items()}
#: which profile.json task_fields list a status shows (besides "always")
_FIELD_GROUPS = {"queued": "in_flight", "running": "in_flight"}


# the four operations ---------------------------------------------------------------------
def create_task(runtime: Runtime) -> Response:
    spec = runtime.specs[NAME]
    task = runtime.simulation.place(_http.caller(NAME), _order(runtime, spec)).task
    return _answer(runtime, {"id": task.id}, _success(spec, CREATE))


def get_task(runtime: Runtime, id: str) -> Response:
    task = runtime.simulation.look(_http.caller(NAME), id)
    _require_visible(runtime, task)
    return _answer(runtime, render_task(runtime, task), _success(runtime.specs[NAME], "get_task"))


def list_tasks(runtime: Runtime) -> Response:
    spec = runtime.specs[NAME]
    query = _list_query()
    try:
        _check(spec, QUERY, query)
        refusal = None
    except SimulatorError as exc:
        refusal = exc
    tasks = runtime.simulation.look_all(_http.caller(NAME), refusal)
    chosen = [t for t in tasks if _visible(runtime, t) and _listed(spec, t, query)]
    defaults = spec.validator(QUERY).defaults()
    number = int(query.get("page_num", defaults["page_num"]))
    size = int(query.get("page_size", defaults["page_size"]))
    page = chosen[(number - 1) * size : number * size]
    body = {"total": len(chosen), "items": [render_task(runtime, t) for t in page]}
    return _answer(runtime, body, _success(spec, "list_tasks"))


def delete_task(runtime: Runtime, id: str) -> Response:
    """Cancel a queued task, delete a finished one (profile.json ``delete``),
    refuse a running or cancelled one."""
    spec = runtime.specs[NAME]
    simulation = runtime.simulation
    task = simulation.look(_http.caller(NAME), id)
    _require_visible(runtime, task)
    deletable = [ENGINE_STATUS[s] for s in spec.profile_json["delete"]["deletable"]]
    if task.status not in (QUEUED, *deletable):
        status = STATUS_NAMES[task.status]
        raise ArkError("task_state_conflict", param="id", values={"status": status})
    simulation.withdraw(_http.caller(NAME), id, deletable=deletable)
    return _answer(runtime, {}, _success(spec, "delete_task"))


# reading requests ------------------------------------------------------------------------
def _order(runtime: Runtime, spec: ProviderSpec) -> Order:
    """The create request as an Order: the effective request as its params, or
    what to refuse it with once it has been counted."""
    try:
        body = _http.read_json_object(spec, None)
    except SimulatorError as exc:
        return Order({}, None, exc)
    try:
        _check(spec, BODY, body)
        chosen = _http.scenario()
        key = _http.bearer_key()
        account = runtime.simulation.account_of_key(NAME, key) if key else None
        effective = read_create(spec, body, account)
    except SimulatorError as exc:
        return Order(body, None, exc)
    scenario = chosen or ("fail" if effective.fails else None)
    return Order(body, effective.params, None, None, _http.origin(), scenario, CREATE)


def _check(spec: ProviderSpec, definition: str, instance: Any) -> None:
    """ArkError naming the first field (``param``) the schema refuses."""
    violations = spec.validator(definition).violations(instance)
    if not violations:
        return
    found = violations[0]
    if found.keyword == "x-rule":
        rule = next(
            r for r in spec.schema["$defs"][definition].get("allOf", [])
            if r.get("x-rule") == found.message
        )  # fmt: skip
        message = f"{rule['x-message']} Request id: {{request_id}}"
        raise ArkError("invalid_request", message, param=str(rule.get("x-error-param", "")))
    if found.keyword == "required":
        raise ArkError("missing_parameter", code=found.code, param=found.field)
    reason = found.message.removeprefix(f"{found.field}: ")
    message = "The parameter `{param}` specified in the request is not valid: {reason}."
    raise ArkError(
        "invalid_request",
        message + " Request id: {request_id}",
        code=found.code,
        param=found.field,
        values={"reason": reason.rstrip(".")},
    )


def _list_query() -> dict[str, Any]:
    """The list query as its schema reads it: each key once, filter.task_ids a list."""
    query: dict[str, Any] = {key: request.args.get(key) for key in request.args}
    if "filter.task_ids" in request.args:
        query["filter.task_ids"] = request.args.getlist("filter.task_ids")
    return query


def _listed(spec: ProviderSpec, task: Task, query: Mapping[str, Any]) -> bool:
    """Whether a task passes the list's filters (filter.service_tier defaults to
    the documented "default" while profile.json ``list`` says so)."""
    params = task.params
    status = query.get("filter.status")
    if status is not None and task.status != ENGINE_STATUS[status]:
        return False
    ids = query.get("filter.task_ids")
    if ids is not None and task.id not in ids:
        return False
    model = query.get("filter.model")
    if model is not None and model not in (params.get("_endpoint"), params.get("_model")):
        return False
    tier = query.get("filter.service_tier")
    if tier is None and spec.profile_json["list"]["apply_documented_tier_default"]:
        tier = spec.validator(QUERY).defaults().get("filter.service_tier")
    return tier is None or params.get("service_tier") == tier


def _visible(runtime: Runtime, task: Task) -> bool:
    """Tasks are seen for 7 days from creation, cancelled ones for 24 h from
    their cancellation (profile.json ``retention``)."""
    retention = runtime.specs[NAME].profile_json["retention"]
    now = runtime.clock.now()
    if now >= task.created_at + float(retention["visible_window_seconds"]):
        return False
    kept = float(retention["cancelled_task_seconds"])
    return task.status != CANCELLED or now < task.updated_at + kept


def _require_visible(runtime: Runtime, task: Task) -> None:
    if not _visible(runtime, task):
        raise TaskNotFound(f"No task {task.id!r} for this account.")


# rendering ---------------------------------------------------------------------------------
def render_task(runtime: Runtime, task: Task) -> dict[str, Any]:
    """The documented task object (GET, list items, callbacks) for any status,
    with the fields profile.json ``task_fields`` lists for it."""
    settings = runtime.specs[NAME].profile_json
    status = STATUS_NAMES[task.status]
    values = _task_values(runtime, task, status)
    chosen = settings["task_fields"]
    shown: dict[str, Any] = {}
    for entry in [*chosen["always"], *chosen[_FIELD_GROUPS.get(status, status)]]:
        # "a|b": the first of a and b that has a value; "a?": a only when it has one
        names = entry.rstrip("?").split("|")
        fallback = None if entry.endswith("?") else names[0]
        name = next((n for n in names if values.get(n) is not None), fallback)
        if name is not None:
            shown[name] = values.get(name)
    if status == "succeeded" and chosen.get("succeeded_error") == "null":
        shown["error"] = None
    return shown


def _task_values(runtime: Runtime, task: Task, status: str) -> dict[str, Any]:
    params = task.params
    settings = runtime.specs[NAME].profile_json
    video, frame = runtime.media_urls(task)
    content = {
        "video_url": video,
        **({"last_frame_url": frame} if params.get("return_last_frame") else {}),
    }
    families = settings["families"]
    drafts = [
        i["draft_task"]["id"] for i in params.get("content", []) if i.get("type") == "draft_task"
    ]
    return {
        "id": task.id,
        "model": params["_model"],
        "status": status,
        "created_at": int(task.created_at),
        "updated_at": int(task.updated_at),
        "content": content,
        "usage": {"completion_tokens": params["_tokens"], "total_tokens": params["_tokens"]},
        "seed": task.seed,
        "resolution": params["resolution"],
        "ratio": params["ratio"],
        "frames": params.get("_frames"),
        "duration": None if params.get("_frames") else params["duration"],
        "framespersecond": int(settings["media"]["fps"]),
        "generate_audio": (
            bool(params["generate_audio"])
            if families[params["_family"]].get("generate_audio")
            else None
        ),
        "draft": bool(params.get("draft")),
        "draft_task_id": drafts[0] if drafts else None,
        "service_tier": params["service_tier"],
        "execution_expires_after": params["execution_expires_after"],
        "priority": params["priority"],
        "output_format": params.get("output_format") or "mp4",
        "error": (
            {"code": task.error_code, "message": task.error_message}
            if task.status == FAILED
            else None
        ),
    }


def webhook_payload(runtime: Runtime, task: Task) -> dict[str, Any]:
    """What is POSTed to callback_url on a status change: the task as GET shows it."""
    return render_task(runtime, task)


def _answer(runtime: Runtime, body: Any, status: int) -> Response:
    return _http.json_response(body, status, {REQUEST_ID_HEADER: request_id(runtime)})


def _success(spec: ProviderSpec, operation: str) -> int:
    return next(int(s) for s in spec.operations[operation].responses if s.startswith("2"))


def request_id(runtime: Runtime) -> str:
    """This request's id: "02", the clock's Unix milliseconds, 38 hex digits."""
    found = request.environ.get(_REQUEST_ID)
    if found is None:
        millis = int(runtime.clock.now() * 1000)
        found = request.environ[_REQUEST_ID] = f"02{millis:013d}{secrets.token_hex(19)}"
    return str(found)


# errors ------------------------------------------------------------------------------------
def render_error(runtime: Runtime, error: SimulatorError) -> Response:
    """``{"error": {"code", "message", "param", "type"}}``, the message ending in
    the request id (api.json errors, with profile.json ``error_overrides``)."""
    spec = runtime.specs[NAME]
    kind = spec.error(_condition(error), error.code)
    entry = {**spec.api["errors"][kind.condition]}
    entry.update(spec.profile_json.get("error_overrides", {}).get(kind.condition, {}))
    code = entry["code"] if error.code in (None, kind.code) else error.code
    values = _message_values(runtime, error)
    body = {
        "error": {
            "code": code,
            "message": _message(entry, error, values),
            "param": values["param"] or str(entry.get("param", "")),
            "type": entry["type"],
        }
    }
    response = _http.json_response(body, int(entry["status"]))
    response.headers[REQUEST_ID_HEADER] = values["request_id"]
    retry_after = getattr(error, "retry_after", None)
    if entry.get("retry_after") and retry_after:  # none documented (DECISIONS D14)
        response.headers["Retry-After"] = str(max(1, int(retry_after)))
    return response


def _condition(error: SimulatorError) -> str:
    """Which rate limit a 429 is: the failed-authentication lockout (no account
    known yet), an endpoint's RPM, or the model's."""
    if not isinstance(error, RateLimited) or isinstance(error, InjectedError):
        return error.condition
    if current_call().account is None:
        return "account_rate_limited"
    model = _body_model()
    return "endpoint_rate_limited" if model.startswith("ep-") else error.condition


def _body_model() -> str:
    try:
        body = request.get_json(silent=True, cache=True)
    except Exception:  # an unreadable body names no model
        return ""
    return str(body.get("model", "")) if isinstance(body, dict) else ""


def _message_values(runtime: Runtime, error: SimulatorError) -> dict[str, Any]:
    own = error.values if isinstance(error, ArkError) else {}
    param = error.param if isinstance(error, ArkError) else ""
    return {
        "id": (request.view_args or {}).get("id", ""),
        "path": request.path,
        "method": request.method,
        "model": _body_model(),
        "detail": error.message or "",
        **own,
        "param": param,
        "request_id": request_id(runtime),
    }


def _message(entry: Mapping[str, Any], error: SimulatorError, values: Mapping[str, Any]) -> str:
    """The error's own words (a rule's, a fault's, a parse failure's) or the
    table's, always ending in the request id."""
    if isinstance(error, ArkError) and error.message:
        shown = _fill(error.message, values)
    elif error.message and isinstance(error, InjectedError):
        shown = error.message
    elif error.message and type(error) is InvalidRequest and "message_with_detail" in entry:
        shown = _fill(str(entry["message_with_detail"]), values)
    else:
        shown = _fill(str(entry["message"]), values)
    request_id = str(values["request_id"])
    return shown if shown.endswith(request_id) else f"{shown} Request id: {request_id}"


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _fill(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with its {placeholders} filled in (unknown ones left empty)."""
    return string.Formatter().vformat(template, (), _Values(values))


def refusal(spec: ProviderSpec, definition: str, body: Mapping[str, Any]) -> str | None:
    """The code a body that keeps its schema is still refused with before any state
    is read (the model catalogue, profile.json ``rules``, strict text commands), or
    None: what the contract suite asks of a body it calls valid."""
    if definition != BODY:
        return None
    try:
        read_create(spec, body, None)
    except ArkError as exc:
        return exc.code or spec.errors[exc.condition].code
    return None
