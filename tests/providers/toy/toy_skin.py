"""A provider plug-in outside the project: this module and the folder beside it.

The skin holds only the HTTP shape of the toy API; everything else (accounts,
credits, lifecycle, the clock, faults, the journal) is the engine's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Response

from mockserver.engine.errors import SimulatorError
from mockserver.engine.model import COMPLETED, Task
from mockserver.providers import _http
from mockserver.runtime import Runtime

NAME = "toy"
SPEC_DIR = Path(__file__).parent
STATES = {"processing": "cooking", "completed": "done", "failed": "burnt"}


def _defaults(params: dict[str, Any]) -> dict[str, Any]:
    return {**params, "size": "small", "shape": "4:3", "sound": False}


def make(runtime: Runtime) -> Response:
    order = _http.order(runtime.specs[NAME], "MakeRequest", join=True, normalise=_defaults)
    task = runtime.simulation.place(_http.caller(NAME), order).task
    return _http.json_response({"thing": task.id}, 201)


def thing(runtime: Runtime, id: str) -> Response:
    task = runtime.simulation.look(_http.caller(NAME), id)
    return _http.json_response(render(runtime, task))


def render(runtime: Runtime, task: Task) -> dict[str, Any]:
    video, _ = runtime.media_urls(task)
    done = task.status == COMPLETED
    return {
        "thing": task.id,
        "state": STATES[task.status],
        "cost": task.credits,
        "video": video if done else None,
    }


def render_error(runtime: Runtime, error: SimulatorError) -> Response:
    kind = runtime.specs[NAME].error(error.condition, error.code)
    body = {"oops": error.code or kind.code, "why": error.message or kind.message}
    return _http.error_response(kind, error, body)
