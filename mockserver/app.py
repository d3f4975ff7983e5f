"""``create_app(config)``: a fresh simulator serving every provider.

Routes come from spec/<provider>/api.json: each operation is bound to the
function of the same name in the provider's skin module, so every documented
operation has a route and every route an operation. Views, error renderers and
request hooks are bound to the app's runtime when it is built. Nothing here
names a provider.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, request, send_file
from werkzeug.exceptions import (
    HTTPException,
    MethodNotAllowed,
    NotFound,
    RequestedRangeNotSatisfiable,
    RequestEntityTooLarge,
)
from werkzeug.http import parse_range_header

from mockserver.admin import blueprint as admin_blueprint
from mockserver.config import Config
from mockserver.dashboard import blueprint as dashboard_blueprint
from mockserver.engine.errors import (
    InternalError,
    PayloadTooLarge,
    RouteNotFound,
    SimulatorError,
)
from mockserver.engine.errors import (
    MethodNotAllowed as MethodNotAllowedError,
)
from mockserver.hooks import DROPPED_HEADER, RequestHooks
from mockserver.providers import Provider
from mockserver.providers._http import json_response
from mockserver.providers.context import EXTENSION
from mockserver.runtime import Runtime

__all__ = ["DROPPED_HEADER", "create_app", "render_outside_routes"]

log = logging.getLogger("seedance_mock")

#: the status of each condition where no provider owns the path (the control
#: API's own envelope, {"error": {"code": <condition>, "message"}})
PLAIN_STATUS = {
    "invalid_request": 400,
    "unauthorized": 401,
    "not_found": 404,
    "route_not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "rate_limited": 429,
    "internal_error": 500,
    "service_busy": 503,
}


def _provider_blueprint(provider: Provider, runtime: Runtime) -> Blueprint:
    blueprint = Blueprint(provider.name, __name__)
    for operation in provider.spec.operations.values():
        blueprint.add_url_rule(
            operation.flask_rule,
            endpoint=operation.name,
            view_func=functools.partial(provider.view(operation.name), runtime),
            methods=[operation.method],
            provide_automatic_options=False,  # OPTIONS is undocumented: 405 in the envelope
        )
    blueprint.register_error_handler(
        SimulatorError, functools.partial(provider.render_error, runtime)
    )
    return blueprint


def _media_blueprint(runtime: Runtime) -> Blueprint:
    blueprint = Blueprint("media", __name__)

    @blueprint.get("/__media/<token>/<filename>")
    def media(token: str, filename: str) -> Response:
        task = runtime.simulation.media_task(token)
        renderers = {"video.mp4": runtime.media.video, "last-frame.png": runtime.media.last_frame}
        if task is None or filename not in renderers:
            return plain_json_error(NotFound("No such media file."))
        with runtime.gate.waiting():  # a first render of a large video takes seconds
            path = renderers[filename](task.media)
        _ignore_unusable_range(request.environ)
        try:
            return send_file(path, conditional=True, max_age=86400, download_name=filename)
        except RequestedRangeNotSatisfiable as exc:
            answer = plain_json_error(exc)
            answer.headers["Content-Range"] = f"bytes */{exc.length}"
            return answer

    return blueprint


def _ignore_unusable_range(environ: dict[str, Any]) -> None:
    """RFC 9110 §14.2: a Range header in an unknown unit, or one that does not
    parse, is ignored (the whole file, 200); so are several ranges at once,
    which this server does not assemble into multipart/byteranges. A single
    range past the end is still 416 with ``Content-Range: bytes */<length>``."""
    header = environ.get("HTTP_RANGE")
    if header is None:
        return
    parsed = parse_range_header(header)
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        del environ["HTTP_RANGE"]


def plain_json_error(error: HTTPException) -> Response:
    """Outside every provider (the control API, media, unknown roots): still JSON."""
    status = error.code or 500
    names = {
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
        416: "range_not_satisfiable",
    }
    body = {"error": {"code": names.get(status, "error"), "message": error.description}}
    response = json_response(body, status)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return response


def render_outside_routes(runtime: Runtime, error: SimulatorError) -> Response:
    """A condition raised where no provider view ran (a fault, a crash, an
    unparsable request): the envelope of the provider owning the path, else the
    control API's plain one."""
    provider = runtime.provider_for(request.path)
    if provider is not None:
        return provider.render_error(runtime, error)
    status = PLAIN_STATUS.get(error.condition, 500)
    message = error.message or error.condition.replace("_", " ").capitalize() + "."
    response = json_response({"error": {"code": error.condition, "message": message}}, status)
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        response.headers["Retry-After"] = str(max(1, int(retry_after)))
    return response


def _http_error(runtime: Runtime, error: HTTPException) -> Response:
    """Unknown paths, wrong methods and huge bodies, in the provider's envelope."""
    if runtime.provider_for(request.path) is None:
        return plain_json_error(error)
    if isinstance(error, MethodNotAllowed):
        allowed = sorted(set(error.valid_methods or []) - {"HEAD", "OPTIONS"})
        message = f"{request.method} is not allowed on {request.path}; use {' or '.join(allowed)}."
        response = render_outside_routes(runtime, MethodNotAllowedError(message))
        response.headers["Allow"] = ", ".join(allowed)
        return response
    mapped: SimulatorError
    if isinstance(error, RequestEntityTooLarge):
        mapped = PayloadTooLarge("Request body too large.")
    elif isinstance(error, NotFound):
        mapped = RouteNotFound(f"No endpoint {request.method} {request.path}.")
    else:
        mapped = InternalError(error.description)
    return render_outside_routes(runtime, mapped)


def _crash(runtime: Runtime, error: Exception) -> Response:
    """Never a stack trace: an unexpected exception is the provider's internal_error."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return render_outside_routes(runtime, InternalError("Unexpected server-side failure."))


def _clock_pinned(runtime: Runtime, wsgi: Callable[..., Any]) -> Callable[..., Any]:
    """Each request reads the (possibly shared) clock once."""

    def pinned(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with runtime.clock.pinned():
            return wsgi(environ, start_response)

    return pinned


def create_app(config: Config | None = None) -> Flask:
    """A new simulator with its own state (nothing is shared between apps)."""
    config = config or Config()
    app = Flask("seedance_mock", static_folder=None)  # serves no files but media
    # No redirects from the router: werkzeug would answer "//" in a path (also a
    # decoded %2F) with an HTML 308 to the merged path; here it is an unknown path.
    app.url_map.merge_slashes = False
    runtime = Runtime(config)
    app.extensions[EXTENSION] = runtime
    hooks = RequestHooks(runtime)
    app.config["MAX_CONTENT_LENGTH"] = (
        max(s.profile.max_body_bytes for s in runtime.specs.values()) * 4
    )
    for provider in runtime.providers.values():
        app.register_blueprint(_provider_blueprint(provider, runtime))
    app.register_blueprint(_media_blueprint(runtime))
    app.register_blueprint(admin_blueprint)
    app.register_blueprint(dashboard_blueprint)
    app.register_error_handler(HTTPException, functools.partial(_http_error, runtime))
    app.register_error_handler(SimulatorError, functools.partial(render_outside_routes, runtime))
    app.register_error_handler(Exception, functools.partial(_crash, runtime))
    app.before_request(hooks.before)
    app.after_request(hooks.after)
    app.teardown_request(hooks.teardown)
    app.wsgi_app = _clock_pinned(runtime, app.wsgi_app)  # type: ignore[method-assign]

    def tick() -> None:
        try:
            runtime.run_due(wait=False)
        except Exception:  # the clock thread must survive any one bad tick
            log.exception("background tick failed")

    runtime.start(tick)
    return app
