"""A new provider is a spec folder plus one skin module, and nothing else.

The toy provider (tests/providers/toy/) is copied to a temporary folder that
is not part of the project, imported from there as a plug-in, and served
in-process and by a real ``seedance-mock serve --plugin``: the engine gives it
accounts, credits, a lifecycle on the clock, media, faults and the journal,
with no edit to any module of the project.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from mockserver.app import create_app
from mockserver.config import Config
from mockserver.providers.context import EXTENSION
from mockserver.runtime import Runtime
from tests.server import running_server

TOY = Path(__file__).parent / "toy"
AUTH = {"Authorization": "Bearer toy_key"}


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The toy provider in a temporary folder on sys.path, as a user would keep it."""
    folder = tmp_path / "outside"
    shutil.copytree(TOY, folder)
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.fixture
def toy(plugin_dir: Path) -> Iterator[tuple[FlaskClient, Runtime]]:
    app = create_app(Config(clock="manual", background=False, seed=3, plugins=("toy_skin",)))
    runtime: Runtime = app.extensions[EXTENSION]
    yield app.test_client(), runtime
    runtime.close()


def test_a_plugin_provider_gets_the_whole_engine(toy: tuple[FlaskClient, Runtime]) -> None:
    client, runtime = toy
    made = client.post("/toy/v1/make", json={"prompt": "a small cake", "seconds": 4}, headers=AUTH)
    assert made.status_code == 201, made.get_json()
    thing = made.get_json()["thing"]
    assert runtime.specs["toy"].profile.task_id.matches(thing)

    cooking = client.get(f"/toy/v1/things/{thing}", headers=AUTH).get_json()
    assert cooking == {"thing": thing, "state": "cooking", "cost": 5, "video": None}
    assert runtime.control.accounts.get("toy", "demo").credits == 95

    runtime.control.advance(60)
    done = client.get(f"/toy/v1/things/{thing}", headers=AUTH).get_json()
    assert done["state"] == "done"
    video = client.get(done["video"].removeprefix("http://localhost"))
    assert (video.status_code, video.mimetype) == (200, "video/mp4")

    [entry] = runtime.control.journal(provider="toy", method="POST")
    assert (entry.status, entry.account) == (201, "demo")


def test_a_plugin_provider_answers_in_its_own_envelope(toy: tuple[FlaskClient, Runtime]) -> None:
    client, runtime = toy
    assert client.post("/toy/v1/make", json={}).get_json() == {
        "oops": "who",
        "why": ("Missing API key: send Authorization: Bearer <key>."),
    }
    refused = client.post("/toy/v1/make", json={"prompt": ""}, headers=AUTH)
    assert (refused.status_code, refused.get_json()["oops"]) == (400, "bad")
    assert client.get("/toy/v1/nowhere", headers=AUTH).get_json()["oops"] == "nowhere"
    runtime.control.faults.add(provider="toy", error="service_busy", times=1)
    busy = client.get("/toy/v1/things/toy-abcdef", headers=AUTH)
    assert (busy.status_code, busy.get_json()["oops"], busy.headers["Retry-After"]) == (
        503,
        "busy",
        "1",
    )
    gone = client.get("/toy/v1/things/toy-abcdef", headers=AUTH)
    assert (gone.status_code, gone.get_json()["oops"]) == (404, "gone")


@pytest.mark.slow
def test_serve_runs_a_plugin_provider(plugin_dir: Path) -> None:
    env = {"PYTHONPATH": str(plugin_dir)}
    with running_server("--plugin", "toy_skin", "--clock", "manual", env=env) as server:
        assert any(line.startswith("  toy ") for line in server.stdout), server.output()
        made = requests.post(
            server.url("/toy/v1/make"), json={"prompt": "a cake"}, headers=AUTH, timeout=10
        )
        assert made.status_code == 201, made.text
        read = requests.get(
            server.url(f"/toy/v1/things/{made.json()['thing']}"), headers=AUTH, timeout=10
        )
        assert read.json()["state"] == "cooking"
        # the built-in providers are served beside it
        other = requests.get(
            server.url("/api/v1/tasks/x"), headers={"Authorization": "Bearer toy_key"}, timeout=10
        )
        assert other.status_code == 401
