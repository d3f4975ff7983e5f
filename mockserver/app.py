"""``create_app(config)``: a fresh simulator serving both providers.

Routes come from spec/<provider>/api.json: each operation is bound to the
function of the same name in mockserver/providers/<provider>.py, so every
documented operation has a route and every route an operation.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable
from types import ModuleType
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, send_file
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from mockserver.config import Config
from mockserver.engine.errors import (
    InternalError,
    PayloadTooLarge,
    RouteNotFound,
    SimulatorError,
)
from mockserver.engine.errors import (
    MethodNotAllowed as MethodNotAllowedError,
)
from mockserver.engine.model import Task
from mockserver.providers import seedance2ai, seedanceapi
from mockserver.providers.context import EXTENSION, current_runtime
from mockserver.runtime import Runtime

log = logging.getLogger("seedance_mock")

PROVIDER_MODULES: dict[str, ModuleType] = {
    "seedance2ai": seedance2ai,
    "seedanceapi": seedanceapi,
}


def _path_prefix(runtime: Runtime, name: str) -> str:
    """The path every operation of a provider starts with ("/api/v1", "/v1")."""
    return posixpath.commonpath([op.path for op in runtime.specs[name].operations.values()])


def _provider_for_path(path: str) -> ModuleType | None:
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
            return Response("Not found\n", status=404, mimetype="text/plain")
        path = renderers[filename](task.media)
        return send_file(path, conditional=True, max_age=86400, download_name=filename)

    return blueprint


def _handle_http_error(error: HTTPException) -> Response | HTTPException:
    """Unknown paths, wrong methods and huge bodies, in the provider's envelope."""
    module = _provider_for_path(request.path)
    if module is None:
        return error
    mapped: SimulatorError
    if isinstance(error, MethodNotAllowed):
        mapped = MethodNotAllowedError(f"{request.method} is not allowed on {request.path}.")
    elif isinstance(error, RequestEntityTooLarge):
        mapped = PayloadTooLarge("Request body too large.")
    elif isinstance(error, NotFound):
        mapped = RouteNotFound(f"No endpoint {request.method} {request.path}.")
    else:
        mapped = InternalError(error.description)
    response: Response = module.render_error(mapped)
    return response


def _handle_crash(error: Exception) -> Response:
    """Never a stack trace: an unexpected exception is the provider's internal_error."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    module = _provider_for_path(request.path) or seedance2ai
    response: Response = module.render_error(InternalError("Unexpected server-side failure."))
    return response


def _in_app(app: Flask, render: Callable[[Task], Any]) -> Callable[[Task], Any]:
    def rendered(task: Task) -> Any:
        with app.app_context():
            return render(task)

    return rendered


def create_app(config: Config | None = None) -> Flask:
    """A new simulator with its own state (nothing is shared between apps)."""
    config = config or Config()
    app = Flask("seedance_mock")
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

    @app.before_request
    def settle() -> None:
        runtime.simulation.settle_due()

    def tick() -> None:
        try:
            with app.app_context():
                runtime.run_due()
        except Exception:  # the clock thread must survive any one bad tick
            log.exception("background tick failed")

    runtime.start(tick)
    return app
