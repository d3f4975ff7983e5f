"""A simulator with the dashboard on a real socket: a threaded WSGI server on
127.0.0.1 and a free port, in a thread of the test process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from mockserver.app import create_app
from mockserver.config import Config
from mockserver.dashboard import blueprint
from mockserver.providers.context import EXTENSION
from mockserver.runtime import Runtime

TIMEOUT = 10
#: the manual clock starts here; what the page shows is read against it
START = "2026-06-03T10:00:00Z"


@dataclass
class Served:
    """A running simulator, and the calls a test makes to it from outside the page."""

    base_url: str
    runtime: Runtime
    admin_token: str | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the control API (with the token when one is set); its JSON answer."""
        headers = {"Authorization": f"Bearer {self.admin_token}"} if self.admin_token else {}
        response = requests.request(
            method, self.url("/__admin" + path), headers=headers, timeout=TIMEOUT, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def submit(self, key: str, prompt: str = "A glass train crossing a snowy bridge") -> str:
        """A seedance2ai task through the provider API; its id."""
        response = requests.post(
            self.url("/api/v1/video/seedance2"),
            headers={"Authorization": "Bearer sk_live_demo", "Idempotency-Key": key},
            json={"prompt": prompt},
            timeout=TIMEOUT,
        )
        assert response.status_code == 202, response.text
        task_id: str = response.json()["id"]
        return task_id

    def submit_with_webhook(self, path: str = "/hooks/receiver") -> str:
        """A seedanceapi task whose webhook goes to ``path`` here (404: every attempt fails)."""
        response = requests.post(
            self.url("/v1/generate"),
            headers={"Authorization": "Bearer sa_demo_key"},
            json={"prompt": "A majestic eagle over a fjord", "callback_url": self.url(path)},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        task_id: str = response.json()["data"]["task_id"]
        return task_id

    def client_view(self, task_id: str) -> dict[str, Any]:
        """The seedance2ai task as its client polls it."""
        response = requests.get(
            self.url(f"/api/v1/tasks/{task_id}"),
            headers={"Authorization": "Bearer sk_live_demo"},
            timeout=TIMEOUT,
        )
        view: dict[str, Any] = response.json()
        return view


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The page polls several times a second: no access log."""


@contextmanager
def serving(config: Config) -> Iterator[Served]:
    """The app, with the dashboard registered, until the block ends."""
    app = create_app(config)
    if "dashboard" not in app.blueprints:  # until create_app registers it
        app.register_blueprint(blueprint)
    runtime: Runtime = app.extensions[EXTENSION]
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="dashboard-server", daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", runtime, config.admin_token)
    finally:
        server.shutdown()
        thread.join(TIMEOUT)
        server.server_close()
        runtime.close()


def manual_config(**settings: Any) -> Config:
    """A simulator whose time moves only when a test (or the page) advances it."""
    return Config(clock="manual", clock_start=START, seed=7, **settings)
