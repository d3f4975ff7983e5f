"""What provider modules and the request hooks share beyond HTTP parsing: the
runtime they are bound to, the request's ``Call``, and timestamps in the
provider's precision.

Views and renderers receive the runtime as their first argument (bound when
the app is built), so nothing here reaches for Flask's context globals but the
request itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from flask import Request, current_app, request

from mockserver.engine.clock import format_instant

if TYPE_CHECKING:
    from mockserver.engine.orders import Caller
    from mockserver.providers import Provider
    from mockserver.runtime import Runtime
    from mockserver.spec import ProviderSpec

EXTENSION = "seedance_mock"
_CALL = "seedance_mock.call"


@dataclass
class Call:
    """What one request carries through its life (the only request-scoped object)."""

    provider: Provider | None  # None outside every provider's paths
    started: float
    caller: Caller | None = None  # once a view has read the credentials
    fault: str | None = None  # the fault rule that fired

    @property
    def account(self) -> str | None:
        return self.caller.account_id if self.caller else None


def current_request() -> Request:
    """The request being handled, out of Flask's proxy: each attribute read through
    the proxy looks the request up again (~0.6 µs), so code reading several reads
    them from this."""
    return cast("Request", request._get_current_object())  # type: ignore[attr-defined]


def open_call(provider: Provider | None, environ: dict[str, Any] | None = None) -> Call:
    """A new Call for the request (whose WSGI ``environ`` may be given)."""
    call = Call(provider, time.perf_counter())
    (request.environ if environ is None else environ)[_CALL] = call
    return call


def current_call(environ: dict[str, Any] | None = None) -> Call:
    """The Call of the request being handled (whose WSGI ``environ`` may be given)."""
    found: Call | None = (request.environ if environ is None else environ).get(_CALL)
    return found if found is not None else open_call(None, environ)


def current_runtime() -> Runtime:
    """The runtime of the app handling the current request (for code that is
    not bound to one, such as the control API)."""
    runtime: Runtime = current_app.extensions[EXTENSION]
    return runtime


def constant(spec: ProviderSpec, definition: str) -> Any:
    """The ``const`` value of a schema definition (e.g. the model name)."""
    return spec.schema["$defs"][definition]["const"]


def timestamp(spec: ProviderSpec, seconds: float) -> str:
    return format_instant(seconds, spec.profile.timestamp_precision)
