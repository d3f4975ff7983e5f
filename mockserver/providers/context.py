"""How a provider module reaches the simulator serving the current request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app

from mockserver.engine.clock import format_instant
from mockserver.engine.model import Task

if TYPE_CHECKING:
    from mockserver.engine.simulation import Simulation
    from mockserver.runtime import Runtime
    from mockserver.spec import ProviderSpec

EXTENSION = "seedance_mock"


def current_runtime() -> Runtime:
    runtime: Runtime = current_app.extensions[EXTENSION]
    return runtime


class ProviderContext:
    """A provider's spec and the shared engine, for the app in context."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def spec(self) -> ProviderSpec:
        return current_runtime().specs[self.name]

    @property
    def simulation(self) -> Simulation:
        return current_runtime().simulation

    def constant(self, definition: str) -> Any:
        """The ``const`` value of a schema definition (e.g. the model name)."""
        return self.spec.schema["$defs"][definition]["const"]

    def timestamp(self, seconds: float) -> str:
        return format_instant(seconds, self.spec.profile.timestamp_precision)


def media_urls(task: Task) -> tuple[str, str]:
    """The video and last-frame URLs of a task, served by this simulator."""
    base = current_runtime().config.media_base_url or task.origin
    root = f"{base.rstrip('/')}/__media/{task.media_token}"
    return f"{root}/video.mp4", f"{root}/last-frame.png"
