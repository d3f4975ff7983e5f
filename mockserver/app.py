"""``create_app(config)``: a fresh simulator serving both providers.

Routes come from spec/<provider>/api.json: each operation is bound to the
function of the same name in mockserver/providers/<provider>.py, so every
documented operation has a route and every route an operation.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import socket
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request, send_file
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from mockserver.admin import blueprint as admin_blueprint
from mockserver.config import Config
from mockserver.engine.errors import (
    InternalError,
    InvalidRequest,
    PayloadTooLarge,
    RouteNotFound,
    SimulatorError,
)
from mockserver.engine.errors import (
    MethodNotAllowed as MethodNotAllowedError,
)
from mockserver.engine.model import Task
from mockserver.faults import FaultRule, InjectedError, RequestFacts
from mockserver.journal import Entry, clip, redact_headers
from mockserver.providers import seedance2ai, seedanceapi
from mockserver.providers._http import bearer_key, json_response
from mockserver.providers.context import EXTENSION, current_runtime
from mockserver.runtime import Runtime
from mockserver.spec import ProviderSpec

log = logging.getLogger("seedance_mock")

#: the longest URL (path + query) and header line a provider route accepts
MAX_URL_BYTES = 8192
MAX_HEADER_BYTES = 8192

#: set on a response whose connection a fault dropped (in-process mode has no socket)
DROPPED_HEADER = "X-Seedance-Mock-Dropped"

PROVIDER_MODULES: dict[str, ModuleType] = {
    "seedance2ai": seedance2ai,
    "seedanceapi": seedanceapi,
}


def _path_prefix(runtime: Runtime, name: str) -> str:
    """The path every operation of a provider starts with ("/api/v1", "/v1")."""
    return posixpath.commonpath([op.path for op in runtime.specs[name].operations.values()])


def provider_for_path(path: str) -> ModuleType | None:
    """The provider whose paths ``path`` falls under (for 404/405 envelopes)."""
    prefixes: dict[str, str] = current_app.config["SEEDANCE_PREFIXES"]
    for name, prefix in prefixes.items():
        if path == prefix or path.startswith(prefix + "/"):
            return PROVIDER_MODULES[name]
    return None


def _provider_blueprint(name: str, module: ModuleType, runtime: Runtime) -> Blueprint:
    blueprint = Blueprint(name, __name__)
    for operation in runtime.specs[name].operations.values():
        view = getattr(module, operation.name)
        blueprint.add_url_rule(
            operation.flask_rule,
            endpoint=operation.name,
            view_func=view,
            methods=[operation.method],
            provide_automatic_options=False,  # OPTIONS is undocumented: 405 in the envelope
        )
    blueprint.register_error_handler(SimulatorError, module.render_error)
    return blueprint


def _media_blueprint() -> Blueprint:
    blueprint = Blueprint("media", __name__)

    @blueprint.get("/__media/<token>/<filename>")
    def media(token: str, filename: str) -> Response:
        runtime = current_runtime()
        task = runtime.simulation.media_task(token)
        renderers = {"video.mp4": runtime.media.video, "last-frame.png": runtime.media.last_frame}
        if task is None or filename not in renderers:
            return _plain_json_error(NotFound("No such media file."))
        path = renderers[filename](task.media)
        return send_file(path, conditional=True, max_age=86400, download_name=filename)

    return blueprint


def _handle_http_error(error: HTTPException) -> Response | HTTPException:
    """Unknown paths, wrong methods and huge bodies, in the provider's envelope."""
    module = provider_for_path(request.path)
    if module is None:
        return _plain_json_error(error)
    mapped: SimulatorError
    if isinstance(error, MethodNotAllowed):
        allowed = sorted(set(error.valid_methods or []) - {"HEAD", "OPTIONS"})
        mapped = MethodNotAllowedError(
            f"{request.method} is not allowed on {request.path}; use {' or '.join(allowed)}."
        )
        response: Response = module.render_error(mapped)
        response.headers["Allow"] = ", ".join(allowed)
        return response
    if isinstance(error, RequestEntityTooLarge):
        mapped = PayloadTooLarge("Request body too large.")
    elif isinstance(error, NotFound):
        mapped = RouteNotFound(f"No endpoint {request.method} {request.path}.")
    else:
        mapped = InternalError(error.description)
    rendered: Response = module.render_error(mapped)
    return rendered


def _plain_json_error(error: HTTPException) -> Response:
    """Outside both providers (the control API, media, unknown roots): still JSON."""
    status = error.code or 500
    names = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    body = {"error": {"code": names.get(status, "error"), "message": error.description}}
    response = json_response(body, status)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return response


def _handle_crash(error: Exception) -> Response:
    """Never a stack trace: an unexpected exception is the provider's internal_error."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    module = provider_for_path(request.path) or seedance2ai
    response: Response = module.render_error(InternalError("Unexpected server-side failure."))
    return response


def _handle_simulator_error(error: SimulatorError) -> Response:
    """A condition raised outside a provider route (e.g. a fault on an unknown path)."""
    module = provider_for_path(request.path) or seedance2ai
    response: Response = module.render_error(error)
    return response


def _before_provider_request() -> Response | None:
    """Settle due tasks, then let a matching fault rule take over the request."""
    module = provider_for_path(request.path)
    if module is None:
        return None
    runtime = current_runtime()
    g.started = time.perf_counter()
    _check_sizes()
    runtime.simulation.settle_due()
    key = bearer_key()
    record = runtime.store.resolve_key(module.NAME, key) if key else None
    g.account = record.account_id if record else None
    facts = RequestFacts(module.NAME, request.method, request.path, g.account, key)
    rule = runtime.faults.fire(facts)
    g.fault = rule.id if rule else None
    return _apply_fault(rule, runtime.specs[module.NAME]) if rule else None


def _check_sizes() -> None:
    """Over-long URLs and headers get the provider's bad-request error."""
    url = len(request.path) + len(request.query_string)
    if url > MAX_URL_BYTES:
        raise InvalidRequest(f"The URL is {url} bytes long; the limit is {MAX_URL_BYTES}.")
    for name, value in request.headers.items():
        if len(name) + len(value) > MAX_HEADER_BYTES:
            raise InvalidRequest(f"Header {name[:40]} is longer than {MAX_HEADER_BYTES} bytes.")


def _apply_fault(rule: FaultRule, spec: ProviderSpec) -> Response | None:
    if rule.latency_ms:
        # real time, not simulated: latency faults exist to test client timeouts
        time.sleep(rule.latency_ms / 1000)
    if rule.effect == "error":
        assert rule.error is not None
        raise InjectedError.named(spec, rule.error, rule.message, rule.retry_after)
    if rule.effect == "malformed":
        return Response('{"code":200,"message":"succ', status=200, mimetype="application/json")
    if rule.effect == "drop":
        client = request.environ.get("gunicorn.socket")
        if client is not None:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        # Without a socket (in-process), the adapter turns this marker into a connection error.
        return Response(b"", status=502, headers={DROPPED_HEADER: "1"})
    return None


def _journal(response: Response) -> Response:
    """Record the exchange; best effort, so a store outage never changes the answer."""
    module = provider_for_path(request.path)
    if module is None:
        return response
    try:
        _record(module, response)
    except SimulatorError:  # e.g. ServiceBusy while a shared store is down
        log.warning("journal not written for %s %s", request.method, request.path)
    return response


def _record(module: ModuleType, response: Response) -> None:
    runtime = current_runtime()
    started = g.get("started", time.perf_counter())
    runtime.journal.record(
        Entry(
            at=runtime.clock.iso(),
            provider=module.NAME,
            method=request.method,
            path=request.path,
            query=request.query_string.decode("latin-1"),
            account=g.get("account"),
            request_headers=redact_headers(request.headers),
            request_body=_body_for_journal(),
            status=response.status_code,
            response_headers=dict(response.headers),
            response_body="" if response.direct_passthrough else clip(response.get_data()),
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            fault=g.get("fault"),
        )
    )


def _body_for_journal() -> str:
    try:
        return clip(request.get_data(cache=True))
    except RequestEntityTooLarge:
        return "[not read: larger than the server's limit]"


def _in_app(app: Flask, render: Callable[[Task], Any]) -> Callable[[Task], Any]:
    def rendered(task: Task) -> Any:
        with app.app_context():
            return render(task)

    return rendered


def create_app(config: Config | None = None) -> Flask:
    """A new simulator with its own state (nothing is shared between apps)."""
    config = config or Config()
    app = Flask("seedance_mock", static_folder=None)  # serves no files but media
    app.json.sort_keys = False  # type: ignore[attr-defined]
    payloads = {
        name: _in_app(app, module.webhook_payload)
        for name, module in PROVIDER_MODULES.items()
        if hasattr(module, "webhook_payload")
    }
    runtime = Runtime(config, payloads)
    app.extensions[EXTENSION] = runtime
    app.config["SEEDANCE_PREFIXES"] = {
        name: _path_prefix(runtime, name) for name in PROVIDER_MODULES
    }
    app.config["MAX_CONTENT_LENGTH"] = (
        max(s.profile.max_body_bytes for s in runtime.specs.values()) * 4
    )
    for name, module in PROVIDER_MODULES.items():
        app.register_blueprint(_provider_blueprint(name, module, runtime))
    app.register_blueprint(_media_blueprint())
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(Exception, _handle_crash)

    app.register_blueprint(admin_blueprint)
    app.register_error_handler(SimulatorError, _handle_simulator_error)
    app.before_request(_before_provider_request)
    app.after_request(_journal)

    def tick() -> None:
        try:
            with app.app_context():
                runtime.run_due(wait=False)
        except Exception:  # the clock thread must survive any one bad tick
            log.exception("background tick failed")

    runtime.start(tick)
    return app
