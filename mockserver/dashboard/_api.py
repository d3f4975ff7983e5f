"""Read-only JSON the control API does not offer yet, for the dashboard only.

Each route needs the admin token exactly as /__admin does (the same check,
imported from the control API) and reads through the runtime's ``Control``;
they are meant to move into the control API.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from mockserver.admin import AdminError, _admin_error, _require_token
from mockserver.control import Control
from mockserver.engine.errors import UnknownTask
from mockserver.engine.faults import EFFECTS, error_names
from mockserver.engine.model import COMPLETED, Task
from mockserver.providers._http import json_response
from mockserver.providers.context import current_runtime

blueprint = Blueprint("dashboard_api", __name__, url_prefix="/api")
blueprint.before_request(_require_token)
blueprint.register_error_handler(AdminError, _admin_error)


def _control() -> Control:
    return current_runtime().control


def _task(task_id: str) -> Task:
    try:
        return _control().tasks.get(task_id)
    except UnknownTask as exc:
        raise AdminError(404, "not_found", str(exc)) from exc


@blueprint.get("/tasks/<task_id>/media")
def task_media(task_id: str) -> Response:
    """The output URLs a client is given, and their paths on this server: what
    the page plays, since the URLs may name another host (``media_base_url``)."""
    task = _task(task_id)
    video, last_frame = _control().tasks.media_urls(task)
    root = f"/__media/{task.media_token}"
    return json_response(
        {
            "ready": task.status == COMPLETED,
            "video_url": video,
            "last_frame_url": last_frame,
            "video_path": f"{root}/video.mp4",
            "last_frame_path": f"{root}/last-frame.png",
        }
    )


def _mentions(entry: dict[str, Any], task_id: str) -> bool:
    return any(task_id in entry[field] for field in ("path", "query", "response_body"))


@blueprint.get("/tasks/<task_id>/journal")
def task_journal(task_id: str) -> Response:
    """The journal entries about one task (its submit answer, its polls), newest first."""
    _task(task_id)
    entries = _control().journal(limit=current_runtime().config.journal_size)
    found = [data for data in (e.as_json() for e in entries) if _mentions(data, task_id)]
    return json_response({"entries": found})


@blueprint.get("/fault-options")
def fault_options() -> Response:
    """What a fault rule may say: its effects and, per provider ("" for any), its errors."""
    specs = current_runtime().specs
    errors = {name: sorted(error_names([spec])) for name, spec in specs.items()}
    return json_response(
        {
            "providers": sorted(specs),
            "effects": list(EFFECTS),
            "errors": {"": sorted(error_names(specs.values())), **errors},
        }
    )
