"""WSGI entry points for servers other than ``seedance-mock serve``.

``bare``: the ceiling of the stack, a WSGI callable that returns a fixed JSON
body of the same size as a seedance2ai task status. It does no routing, no
parsing and no state: whatever a server does above this is the simulator's cost.

``flask``: one Flask route returning the same body: the framework's own ceiling,
so the gap between ``bare`` and the simulator splits into Flask's part and ours.
``flask_gated`` and ``bare_gated``: the same behind mockserver.gate's Gate, the
way ``seedance-mock serve --server granian`` serves the simulator on its 4 threads.

``simulator``: the simulator built exactly as ``seedance-mock serve`` builds it,
from the same flags, read from the environment variable ``SEEDANCE_BENCH_ARGS``
(e.g. ``--clock manual --store sqlite:/tmp/x.db --set ...``), so that gunicorn's
sync workers (which import a module-level application in each worker) serve the
same app. (granian runs through ``seedance-mock serve --server granian`` itself.)
``simulator_own_state``: the same, with one task submitted in-process as it is
built: on the memory store, each worker holds its own state, and with ``--seed``
among the flags every worker's first task has the same id, so a GET of it is
answered by whichever worker takes it. Nothing is shared: two of these workers
measure what two workers can do on this machine at most (the ceiling that the
shared stores' scale-out is measured against).

Each is built on first access, so importing ``bare`` builds none of them.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Iterable
from typing import Any

#: a task status body of the simulator's size (260 bytes), served as is
BODY = (
    b'{"id":"sd2_gS4TQrBffY8E","status":"processing","model":"seedance2",'
    b'"quality_tier":"standard","channel":"standard","credits_used":30,'
    b'"credits_refunded":0,"output":null,"error":null,'
    b'"created_at":"2026-11-22T02:44:29.319Z","updated_at":"2026-11-22T02:44:29.319Z"}'
)
_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]

StartResponse = Callable[..., Any]


def bare(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """200 and the fixed body, whatever the request (202 for a POST, like a submit)."""
    if environ.get("REQUEST_METHOD") == "POST":
        stream = environ.get("wsgi.input")
        if stream is not None:
            stream.read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("202 Accepted", _HEADERS)
    else:
        start_response("200 OK", _HEADERS)
    return [BODY]


def build_flask() -> Any:
    """The smallest Flask app serving GET /api/v1/tasks/<id> with the fixed body."""
    from flask import Flask

    app = Flask("bench_minimal")

    @app.get("/api/v1/tasks/<task_id>")
    def status(task_id: str) -> tuple[bytes, int, dict[str, str]]:
        return BODY, 200, {"Content-Type": "application/json"}

    @app.post("/api/v1/video/seedance2")
    def submit() -> tuple[bytes, int, dict[str, str]]:
        return BODY, 202, {"Content-Type": "application/json"}

    return app


def build_flask_gated() -> Any:
    """``build_flask`` behind a Gate: one request at a time in this worker's Python."""
    from mockserver.gate import Gate

    app = build_flask()
    app.wsgi_app = Gate().serialize(app.wsgi_app)
    return app


def build_bare_gated() -> Any:
    from mockserver.gate import Gate

    return Gate().serialize(bare)


def build_simulator() -> Any:
    """``create_app`` with the Config that ``seedance-mock serve $SEEDANCE_BENCH_ARGS`` uses."""
    from mockserver.app import create_app
    from mockserver.cli import build_parser
    from mockserver.config import Config
    from mockserver.settings import from_args

    args = build_parser().parse_args(
        ["serve", *shlex.split(os.environ.get("SEEDANCE_BENCH_ARGS", ""))]
    )
    return create_app(from_args(Config, args))


def build_simulator_own_state() -> Any:
    """``build_simulator`` with one task submitted in-process (see the module docstring)."""
    from benchlib import SIM_KEY, SUBMIT_BODY, SUBMIT_PATH

    app = build_simulator()
    answer = app.test_client().post(
        SUBMIT_PATH,
        data=SUBMIT_BODY,
        headers={
            "Authorization": f"Bearer {SIM_KEY}",
            "Idempotency-Key": "own-state",
            "Content-Type": "application/json",
        },
    )
    if answer.status_code != 202:
        raise RuntimeError(f"the first submit failed: {answer.status_code} {answer.data!r}")
    return app


def __getattr__(name: str) -> Any:
    # Built lazily and once per process: the server imports ``wsgi_apps:simulator``
    # in every worker, and each worker must build its own app (its own clock thread).
    builders = {
        "simulator": build_simulator,
        "simulator_own_state": build_simulator_own_state,
        "flask": build_flask,
        "flask_gated": build_flask_gated,
        "bare_gated": build_bare_gated,
    }
    if name in builders:
        app = builders[name]()
        globals()[name] = app
        return app
    raise AttributeError(name)
