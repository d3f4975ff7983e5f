"""What provider modules share beyond HTTP parsing: the runtime they are bound
to, timestamps in the provider's precision, and output URLs.

Views and renderers receive the runtime as their first argument (bound when
the app is built), so nothing here reaches for Flask's context globals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app

from mockserver.engine.clock import format_instant
from mockserver.engine.model import Task

if TYPE_CHECKING:
    from mockserver.runtime import Runtime
    from mockserver.spec import ProviderSpec

EXTENSION = "seedance_mock"


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


def media_urls(runtime: Runtime, task: Task) -> tuple[str, str]:
    """The video and last-frame URLs of a task, served by this simulator."""
    base = runtime.config.media_base_url or task.origin
    root = f"{base.rstrip('/')}/__media/{task.media_token}"
    return f"{root}/video.mp4", f"{root}/last-frame.png"
