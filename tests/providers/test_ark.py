"""Ark content generation tasks (BytePlus ModelArk, Volcengine Ark) through HTTP:
the four operations, the request rules of each model, the task object, queues,
expiry, billing in tokens, callbacks, errors and the settings that flip each
decision.

The expected values are the fact sheet's (../shared/evidence/ark-content-generation.md)
and the decisions of spec/DECISIONS.md (D1-D50), written out here on
purpose: these tests are the oracle the spec and the simulator are held to.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mockserver.app import create_app
from mockserver.cli import main as cli_main
from mockserver.config import Config
from mockserver.providers.context import EXTENSION
from mockserver.runtime import Runtime
from mockserver.spec import export_openapi, load_provider
from tests.server import Receiver

PROVIDER = "ark"
KEY = "ark-demo-key"
ACCOUNT = "2100000001"
AUTH = {"Authorization": f"Bearer {KEY}"}
TASKS = "/api/v3/contents/generations/tasks"
START = "2026-06-03T10:00:00Z"
SCENARIO = "X-Seedance-Mock-Scenario"
V2 = "dreamina-seedance-2-0-260128"  # BytePlus, USD
V2_FAST = "dreamina-seedance-2-0-fast-260128"
DOUBAO_V2 = "doubao-seedance-2-0-260128"  # Volcengine, CNY
PRO_10 = "seedance-1-0-pro-250528"
PRO_15 = "seedance-1-5-pro-251215"
V25 = "dreamina-seedance-2-5-260628"
ENDPOINT = "ep-20260111161309-2gz8b"
PROMPT = "A glass train crosses a snowy bridge"
REQUEST_ID = re.compile(r"^02[0-9]{13}[0-9a-f]{38}$")
IN_FLIGHT_FIELDS = [
    "id",
    "model",
    "status",
    "created_at",
    "updated_at",
    "service_tier",
    "execution_expires_after",
]
SPEC = load_provider(PROVIDER)


def image(url: str, role: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    return {**item, "role": role} if role else item


def video(url: str = "https://cdn.example.com/ref.mp4") -> dict[str, Any]:
    return {"type": "video_url", "video_url": {"url": url}, "role": "reference_video"}


def audio(url: str = "https://cdn.example.com/ref.mp3") -> dict[str, Any]:
    return {"type": "audio_url", "audio_url": {"url": url}, "role": "reference_audio"}


def text(prompt: str = PROMPT) -> dict[str, Any]:
    return {"type": "text", "text": prompt}


def body(model: str = V2, *content: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": model, "content": list(content) or [text()], **fields}


def _config(**overrides: Any) -> Config:
    return Config(
        clock="manual",
        seed=1234,
        background=False,
        clock_start=START,
        overrides={PROVIDER: overrides} if overrides else {},
    )


@pytest.fixture
def config() -> Config:
    """Overrides tests/conftest.py's: its app, runtime and client run on this one."""
    return _config()


def create(client: FlaskClient, sent: Any = None, key: str = KEY, **headers: str) -> TestResponse:
    auth = {"Authorization": f"Bearer {key}"}
    return client.post(TASKS, json=body() if sent is None else sent, headers={**auth, **headers})


def created(client: FlaskClient, sent: Any = None, **headers: str) -> str:
    response = create(client, sent, **headers)
    assert response.status_code == 200, response.get_json()
    task_id: str = response.get_json()["id"]
    return task_id


def task(client: FlaskClient, task_id: str, key: str = KEY) -> dict[str, Any]:
    response = client.get(f"{TASKS}/{task_id}", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.get_json()
    found: dict[str, Any] = response.get_json()
    return found


def listed(client: FlaskClient, query: str = "") -> dict[str, Any]:
    response = client.get(f"{TASKS}?{query}", headers=AUTH)
    assert response.status_code == 200, response.get_json()
    found: dict[str, Any] = response.get_json()
    return found


def error_of(response: TestResponse, status: int) -> dict[str, Any]:
    """The error object, after checking the envelope, the status and the request id."""
    assert response.status_code == status, response.get_json()
    payload = response.get_json()
    assert set(payload) == {"error"}
    found: dict[str, Any] = payload["error"]
    assert set(found) == {"code", "message", "param", "type"}
    request_id = response.headers["X-Request-Id"]
    assert REQUEST_ID.match(request_id)
    assert found["message"].endswith(request_id)
    return found


def balance(runtime: Runtime, account: str = ACCOUNT) -> int:
    return runtime.control.accounts.get(PROVIDER, account).credits


# the four operations ---------------------------------------------------------------------------


def test_create_answers_an_id_whose_digits_are_the_creation_time_in_utc_plus_8(
    client: FlaskClient, runtime: Runtime
) -> None:
    """D1, D37: 200 {"id": "cgt-YYYYMMDDHHMMSS-xxxxx"} with an X-Request-Id."""
    response = create(client)
    assert response.status_code == 200
    assert REQUEST_ID.match(response.headers["X-Request-Id"])
    [task_id] = response.get_json().values()
    created_at = task(client, task_id)["created_at"]
    shown = datetime.fromtimestamp(created_at, timezone(timedelta(hours=8)))
    assert re.fullmatch(rf"cgt-{shown:%Y%m%d%H%M%S}-[0-9a-z]{{5}}", task_id)


@pytest.mark.parametrize(
    "example",
    ["create-request-sdk-minimal-volcengine.json", "create-request-sdk-minimal-byteplus.json"],
)
def test_what_the_sdks_send_is_accepted_nulls_and_all(client: FlaskClient, example: str) -> None:
    """D22, D34: every unset keyword arrives as null, plus two keys newer than the sheet."""
    sent = next(e["body"] for e in SPEC.example_index() if e["file"] == example)
    assert sent["output_format"] is None
    assert sent["omni_reference_task_type"] is None
    found = task(client, created(client, sent))
    assert found["status"] == "queued"


def test_a_task_moves_queued_running_succeeded_with_the_documented_fields(
    client: FlaskClient, runtime: Runtime
) -> None:
    """D2: queued and running show the base fields; succeeded adds the outputs."""
    task_id = created(client, body(V2, text(), return_last_frame=True, seed=42))
    queued = task(client, task_id)
    assert (queued["status"], list(queued)) == ("queued", IN_FLIGHT_FIELDS)
    runtime.clock.advance(60)
    running = task(client, task_id)
    assert (running["status"], list(running)) == ("running", IN_FLIGHT_FIELDS)
    runtime.clock.advance(3600)
    done = task(client, task_id)
    assert done["status"] == "succeeded"
    assert "error" not in done
    assert done["usage"] == {"completion_tokens": 108900, "total_tokens": 108900}
    assert (done["seed"], done["resolution"], done["ratio"], done["duration"]) == (
        42,
        "720p",
        "16:9",
        5,
    )
    assert (done["framespersecond"], done["generate_audio"], done["draft"]) == (24, True, False)
    assert (done["priority"], done["output_format"], done["service_tier"]) == (0, "mp4", "default")
    assert done["execution_expires_after"] == 172800
    assert set(done["content"]) == {"video_url", "last_frame_url"}
    assert SPEC.validator("Task").violations(done) == []
    assert isinstance(done["created_at"], int)
    assert done["updated_at"] > done["created_at"]


def test_the_last_frame_is_shown_only_when_asked_for(client: FlaskClient, runtime: Runtime) -> None:
    task_id = created(client, body(V2, text(), return_last_frame=None))
    runtime.clock.advance(3600)
    assert set(task(client, task_id)["content"]) == {"video_url"}


def test_the_outputs_download_and_expire_24_hours_after_the_task_ends(
    client: FlaskClient, runtime: Runtime
) -> None:
    """D38, D40: a real MP4 and PNG of the family's size, then 404 after 24 h."""
    task_id = created(client, body(PRO_10, text(), resolution="480p", return_last_frame=True))
    runtime.clock.advance(3600)
    done = task(client, task_id)
    video_path = urlsplit(done["content"]["video_url"]).path
    frame_path = urlsplit(done["content"]["last_frame_url"]).path
    mp4 = client.get(video_path)
    assert (mp4.status_code, mp4.data[4:8]) == (200, b"ftyp")
    png = client.get(frame_path)
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n"
    size = (int.from_bytes(png.data[16:20], "big"), int.from_bytes(png.data[20:24], "big"))
    assert size == (864, 480)  # table v1, 480p 16:9
    ended = runtime.control.tasks.get(task_id).updated_at  # to the millisecond
    runtime.clock.advance(ended + 86400 - runtime.clock.now() - 1)
    assert client.get(video_path).status_code == 200
    runtime.clock.advance(1)
    assert client.get(video_path).status_code == 404
    assert task(client, task_id)["content"]["video_url"] == done["content"]["video_url"]


def test_list_filters_pages_and_counts(client: FlaskClient, runtime: Runtime) -> None:
    """D3: filters, repeated filter.task_ids, newest first, total of every match."""
    ids = [created(client) for _ in range(3)]
    flex = created(client, body(PRO_10, text(), service_tier="flex"))
    by_endpoint = created(client, body(ENDPOINT))
    everything = listed(client, "page_size=10")
    assert everything["total"] == 4  # the flex task only with filter.service_tier=flex
    assert [t["id"] for t in everything["items"]] == [by_endpoint, *reversed(ids)]
    assert [t["id"] for t in listed(client, "filter.service_tier=flex")["items"]] == [flex]
    page = listed(client, "page_num=2&page_size=3")
    assert (page["total"], [t["id"] for t in page["items"]]) == (4, [ids[0]])
    chosen = listed(client, f"filter.task_ids={ids[0]}&filter.task_ids={ids[2]}")
    assert {t["id"] for t in chosen["items"]} == {ids[0], ids[2]}
    assert [t["id"] for t in listed(client, f"filter.model={ENDPOINT}")["items"]] == [by_endpoint]
    assert listed(client, f"filter.model={DOUBAO_V2}")["total"] == 1  # the endpoint's model
    runtime.control.tasks.fail(ids[1])
    runtime.clock.advance(3600)
    assert listed(client, "filter.status=succeeded")["total"] == 3
    assert [t["id"] for t in listed(client, "filter.status=failed")["items"]] == [ids[1]]
    assert listed(client, "filter.status=queued")["items"] == []


def test_every_tier_is_listed_when_the_documented_default_is_switched_off() -> None:
    """D3: list.apply_documented_tier_default=false."""
    application = create_app(_config(list={"apply_documented_tier_default": False}))
    client = application.test_client()
    created(client, body(PRO_10, text(), service_tier="flex"))
    created(client)
    assert listed(client)["total"] == 2
    application.extensions[EXTENSION].close()


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("page_size=0", "page_size"),
        ("page_num=501", "page_num"),
        ("filter.status=done", "filter.status"),
    ],
)
def test_a_bad_list_query_names_its_key(client: FlaskClient, query: str, param: str) -> None:
    found = error_of(client.get(f"{TASKS}?{query}", headers=AUTH), 400)
    assert (found["code"], found["param"]) == ("InvalidParameter", param)


def test_tasks_are_seen_for_7_days_and_cancelled_ones_for_24_hours(
    client: FlaskClient, runtime: Runtime
) -> None:
    """D12: exact ages on the simulator clock."""
    kept = created(client)
    cancelled = created(client)
    assert client.delete(f"{TASKS}/{cancelled}", headers=AUTH, json={}).status_code == 200
    runtime.clock.advance(86400 - 1)
    assert task(client, cancelled)["status"] == "cancelled"
    runtime.clock.advance(1)
    error_of(client.get(f"{TASKS}/{cancelled}", headers=AUTH), 404)
    runtime.clock.advance(6 * 86400 - 1)
    assert task(client, kept)["status"] == "succeeded"
    assert listed(client)["total"] == 1
    runtime.clock.advance(1)
    assert error_of(client.get(f"{TASKS}/{kept}", headers=AUTH), 404)["code"] == "NotFound.TaskId"
    assert listed(client) == {"total": 0, "items": []}


def test_delete_cancels_a_queued_task_refuses_a_running_one_and_deletes_a_finished_one(
    client: FlaskClient, runtime: Runtime
) -> None:
    """D1, D39: 200 {}; 403 OperationDenied.InvalidState for running and cancelled."""
    queued = created(client)
    running = created(client)
    answer = client.delete(f"{TASKS}/{queued}", headers=AUTH, json={})
    assert (answer.status_code, answer.get_json()) == (200, {})
    assert REQUEST_ID.match(answer.headers["X-Request-Id"])
    assert task(client, queued)["status"] == "cancelled"
    refused = error_of(client.delete(f"{TASKS}/{queued}", headers=AUTH), 403)
    assert (refused["code"], refused["type"]) == ("OperationDenied.InvalidState", "Forbidden")
    assert "invalid state: cancelled" in refused["message"]
    runtime.clock.advance(60)
    refused = error_of(client.delete(f"{TASKS}/{running}", headers=AUTH), 403)
    assert "invalid state: running" in refused["message"]
    runtime.clock.advance(3600)
    assert client.delete(f"{TASKS}/{running}", headers=AUTH).get_json() == {}
    gone = error_of(client.get(f"{TASKS}/{running}", headers=AUTH), 404)
    assert (gone["code"], gone["param"]) == ("NotFound.TaskId", "id")
    error_of(client.delete(f"{TASKS}/{running}", headers=AUTH), 404)


def test_another_accounts_task_is_404_like_an_unknown_one(
    client: FlaskClient, runtime: Runtime
) -> None:
    runtime.control.accounts.create(PROVIDER, "2100000002", 10**8, ["other-key"])
    mine = created(client)
    other = error_of(
        client.get(f"{TASKS}/{mine}", headers={"Authorization": "Bearer other-key"}), 404
    )
    unknown = error_of(client.get(f"{TASKS}/cgt-20260101000000-zzzzz", headers=AUTH), 404)
    assert other["code"] == unknown["code"] == "NotFound.TaskId"


# the request ------------------------------------------------------------------------------------


def refused(sent: dict[str, Any], code: str, param: str, reason: str) -> Any:
    """A parametrize case: the body, and the code, param and reason it is refused with."""
    return pytest.param(sent, (code, param, reason), id=f"{param}:{reason[:30]}")


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        refused({"content": [text()]}, "MissingParameter", "model", "missing one or multiple"),
        refused(body(V2, text(), ratio="5:4"), "InvalidParameter", "ratio", "must be one of"),
        refused(
            body(
                V2, image("https://a.example/1.png"), image("https://a.example/2.png", "last_frame")
            ),
            "InvalidParameter",
            "content",
            "role must be specified for image contents",
        ),
        refused(
            body(V2, image("https://a.example/1.png", "first_frame"), video()),
            "InvalidParameter",
            "content",
            "first/last frame content cannot be mixed with reference media content",
        ),
        refused(
            body(V2, image("https://a.example/2.png", "last_frame")),
            "InvalidParameter",
            "content",
            "last_frame content requires a first_frame image",
        ),
        refused(
            body(V2, text(), audio()),
            "InvalidParameter",
            "content",
            "reference_audio cannot be the only reference input",
        ),
        refused(
            body(PRO_10, text(), video()),
            "InvalidParameter",
            "content",
            "reference_video is not supported",
        ),
        refused(
            body(V2, text(), frames=29),
            "InvalidParameter",
            "frames",
            "frames is not supported for model dreamina-seedance-2-0",
        ),
        refused(body(PRO_10, text(), frames=30), "InvalidParameter", "frames", "25 + 4n"),
        refused(
            body(V2_FAST, text(), resolution="1080p"),
            "InvalidParameter",
            "resolution",
            "1080p is not supported",
        ),
        refused(
            body(V2, text(), resolution="4k"),
            "InvalidParameter",
            "resolution",
            "4k is not supported",
        ),
        refused(
            body(V2, text(), camera_fixed=True),
            "InvalidParameter",
            "camera_fixed",
            "camera_fixed is not supported",
        ),
        refused(
            body(V2, text(), service_tier="flex"),
            "InvalidParameter",
            "service_tier",
            "flex is not supported",
        ),
        refused(
            body(PRO_10, text(), generate_audio=True),
            "InvalidParameter",
            "generate_audio",
            "not supported",
        ),
        refused(
            body(PRO_15, text(), service_tier="flex", priority=3),
            "InvalidParameter",
            "priority",
            "service_tier is flex",
        ),
        refused(
            body(V2, text(), duration=3),
            "InvalidParameter",
            "duration",
            "the specified duration is not supported",
        ),
        refused(
            body(PRO_10, text(), duration=-1),
            "InvalidParameter",
            "duration",
            "the specified duration is not supported",
        ),
        refused(
            body(PRO_10, text(), ratio="adaptive"),
            "InvalidParameter",
            "ratio",
            "only supported for image-to-video",
        ),
        refused(
            body(V2, text(), text()), "InvalidParameter", "content", "at most one text content"
        ),
        refused(
            body(V2, audio(), audio()), "InvalidParameter", "content", "reference_audio cannot"
        ),
        refused(
            body(
                V2, text(), {"type": "video_url", "video_url": {"url": "https://a.example/v.mp4"}}
            ),
            "MissingParameter",
            "content[1]",
            "missing one or multiple",
        ),
        refused(body(V2, text(), output_format="mov"), "InvalidParameter", "output_format", "mp4"),
        refused(
            body(V2, text(), execution_expires_after=60),
            "InvalidParameter",
            "execution_expires_after",
            "3600",
        ),
    ],
)
def test_each_rule_is_refused_with_its_code_and_param(
    client: FlaskClient, runtime: Runtime, sent: dict[str, Any], expected: tuple[str, str, str]
) -> None:
    """D5, D22-D24, D32: one InvalidParameter (or MissingParameter) naming the
    field; nothing is created."""
    code, param, reason = expected
    found = error_of(create(client, sent), 400)
    assert (found["code"], found["param"], found["type"]) == (code, param, "BadRequest")
    assert reason in found["message"]
    assert runtime.control.tasks.list(provider=PROVIDER) == []


@pytest.mark.parametrize(
    "sent",
    [
        body(V2, text(), camera_fixed=False, generate_audio=None, priority=0, tools=[]),
        body(PRO_10, text(), generate_audio=False, camera_fixed=True, frames=29),
        body(PRO_15, text(), service_tier="flex", camera_fixed=True),
        body(PRO_15, text(), draft=True, generate_audio=False),
        body(V2, image("https://a.example/1.png")),
        body(
            V2,
            image("https://a.example/1.png", "first_frame"),
            image("https://a.example/2.png", "last_frame"),
        ),
        body(V2, text(), image("https://a.example/1.png", "reference_image"), video(), audio()),
        body(V2, text(), duration=-1, priority=9, watermark=True),
        body(DOUBAO_V2, text(), tools=[{"type": "web_search"}]),
        body(V25, text(), omni_reference_task_type="extend", duration=30),
        body(V2, image("data:image/png;base64,aGVsbG8="), text(), unknown_option=1),
    ],
)
def test_neutral_values_and_each_models_own_features_are_accepted(
    client: FlaskClient, sent: dict[str, Any]
) -> None:
    """D22: null, false, 0 and [] pass whatever the model; each feature where documented."""
    assert create(client, sent).status_code == 200, create(client, sent).get_json()


def test_effective_values_are_reported(client: FlaskClient, runtime: Runtime) -> None:
    """D21: adaptive is rendered 16:9, -1 as 5 s; 1.0 has no audio; frames replace duration."""
    auto = created(client, body(V2, image("https://a.example/1.png"), duration=-1))
    old = created(client, body(PRO_10, text(), frames=49, resolution="480p"))
    runtime.clock.advance(3600)
    first = task(client, auto)
    assert (first["ratio"], first["duration"]) == ("16:9", 5)
    second = task(client, old)
    assert "duration" not in second
    assert second["frames"] == 49
    assert "generate_audio" not in second
    assert second["usage"]["total_tokens"] == 864 * 480 * 49 // 1024


@pytest.mark.parametrize(
    ("sent", "tokens"),
    [
        (
            body(PRO_10, text(), resolution="480p", ratio="16:9", duration=2),
            19845,
        ),  # AI SDK fixture
        (body(V2, text(), resolution="1080p", ratio="16:9"), 245025),  # O-COST
        (body(DOUBAO_V2, text(), ratio="16:9", duration=4), 87300),
        (
            body(
                DOUBAO_V2, text(), video("https://a.example/in.mp4#t=4"), ratio="16:9", duration=4
            ),
            173700,
        ),
        (
            body(
                "doubao-seedance-1-0-lite-i2v-250428",
                image("https://a.example/1.png"),
                ratio="9:16",
            ),
            103818,
        ),
    ],
)
def test_usage_follows_the_token_rule(
    client: FlaskClient, runtime: Runtime, sent: dict[str, Any], tokens: int
) -> None:
    """D9: floor(W × H × (24 × (input + output seconds) + 1) / 1024): the observed counts."""
    task_id = created(client, sent)
    runtime.clock.advance(3600)
    assert task(client, task_id)["usage"]["total_tokens"] == tokens


def test_text_commands_apply_loosely_and_the_body_wins(
    client: FlaskClient, runtime: Runtime
) -> None:
    """D6, D25: --rs/--rt/--dur apply; a bad value is ignored; a body field wins."""
    applied = created(client, body(V2, text(f"{PROMPT} --rs 480p --rt 9:16 --dur 7 --fps 24")))
    ignored = created(client, body(V2, text(f"{PROMPT} --dur 99 --rt 5:4")))
    body_wins = created(client, body(V2, text(f"{PROMPT} --dur 7"), duration=6))
    runtime.clock.advance(3600)
    first = task(client, applied)
    assert (first["resolution"], first["ratio"], first["duration"]) == ("480p", "9:16", 7)
    second = task(client, ignored)
    assert (second["ratio"], second["duration"]) == ("16:9", 5)
    assert task(client, body_wins)["duration"] == 6


def test_text_commands_can_win_over_the_body() -> None:
    """D6: text_commands.precedence=text."""
    application = create_app(_config(text_commands={"precedence": "text"}))
    client = application.test_client()
    task_id = created(client, body(V2, text(f"{PROMPT} --dur 7"), duration=6))
    assert application.extensions[EXTENSION].control.tasks.get(task_id).params["duration"] == 7
    application.extensions[EXTENSION].close()


def test_4k_once_a_family_lists_it() -> None:
    """D7, D20: 3840x2160 for 16:9 (twice 1080p), billed by its tokens."""
    application = create_app(
        _config(families={"seedance-2.0": {"resolutions": ["480p", "720p", "1080p", "4k"]}})
    )
    client = application.test_client()
    runtime: Runtime = application.extensions[EXTENSION]
    task_id = created(client, body(V2, text(), resolution="4k", ratio="16:9"))
    params = runtime.control.tasks.get(task_id).params
    assert (params["_size"], params["_tokens"]) == ("3840x2160", 3840 * 2160 * 121 // 1024)
    application.extensions[EXTENSION].close()


def test_the_task_params_show_the_effective_request(client: FlaskClient, runtime: Runtime) -> None:
    """D43: what the engine reads, in /__admin/tasks."""
    task_id = created(client, body(ENDPOINT, text(f"{PROMPT} --rs 480p"), seed=None))
    params = runtime.control.tasks.get(task_id).params
    assert params["model"] == ENDPOINT
    assert (params["_model"], params["_endpoint"], params["_platform"]) == (
        DOUBAO_V2,
        ENDPOINT,
        "volcengine",
    )
    assert (params["resolution"], params["_size"], params["_seconds"]) == ("480p", "864x496", 5)
    assert params["seed"] == -1  # the schema's default: the engine draws one


def test_the_observed_profile_refuses_a_bad_text_command_on_2_5() -> None:
    """D41: strict on 2.5, with the observed param spelling."""
    application = create_app(_config().with_changes(profile="observed"))
    found = error_of(create(application.test_client(), body(V25, text(f"{PROMPT} --dur 40"))), 400)
    assert found["param"] == "contents[0].text.duration"
    assert (
        "the specified duration is not supported for model dreamina-seedance-2-5"
        in found["message"]
    )
    application.extensions[EXTENSION].close()


def test_an_endpoint_runs_its_model_per_account_and_unknown_models_are_404() -> None:
    """D17, D45: endpoints.map, accounts.by_account.<id>.endpoints, closed endpoints."""
    other = "ep-20260101000000-abcde"
    closed = "ep-20260101000000-closd"
    application = create_app(
        _config(
            endpoints={"closed": [closed]},
            accounts={"by_account": {ACCOUNT: {"endpoints": {other: PRO_15}}}},
        )
    )
    client = application.test_client()
    assert task(client, created(client, body(other)))["model"] == PRO_15
    assert task(client, created(client, body(ENDPOINT)))["model"] == DOUBAO_V2
    found = error_of(create(client, body(closed)), 400)
    assert found["code"] == "InvalidEndpoint.ClosedEndpoint"
    unknown = error_of(create(client, body("seedance-9-9-250101")), 404)
    assert (unknown["code"], unknown["param"], unknown["type"]) == (
        "InvalidEndpointOrModel.NotFound",
        "model",
        "NotFound",
    )
    assert "seedance-9-9-250101" in unknown["message"]
    application.extensions[EXTENSION].close()


def test_a_model_the_account_has_not_activated_is_model_not_open() -> None:
    """D18: create refused, list and GET still work; model IDs may be switched off."""
    application = create_app(
        _config(accounts={"by_account": {ACCOUNT: {"not_activated_models": [V2]}}})
    )
    client = application.test_client()
    found = error_of(create(client, body(V2)), 404)
    assert (found["code"], found["param"]) == ("ModelNotOpen", "model")
    assert ACCOUNT in found["message"]
    assert "dreamina-seedance-2-0" in found["message"]
    assert create(client, body(V2_FAST)).status_code == 200
    assert listed(client)["total"] == 1
    application.extensions[EXTENSION].close()
    application = create_app(_config(accounts={"defaults": {"model_id_access": False}}))
    client = application.test_client()
    found = error_of(create(client, body(V2)), 404)
    assert found["code"] == "InvalidEndpointOrModel.ModelIDAccessDisabled"
    assert create(client, body(ENDPOINT)).status_code == 200
    application.extensions[EXTENSION].close()


def test_one_platform_only_makes_the_others_models_unknown() -> None:
    """D16: platforms.served."""
    application = create_app(_config(platforms={"served": "byteplus"}))
    client = application.test_client()
    assert error_of(create(client, body(DOUBAO_V2)), 404)["param"] == "model"
    assert create(client, body(V2)).status_code == 200
    application.extensions[EXTENSION].close()


@pytest.mark.parametrize(
    ("sent", "code", "param"),
    [
        (body(V2, text(f"{PROMPT} [[sensitive]]")), "SensitiveContentDetected", "content[0]"),
        (
            body(V2, text(f"{PROMPT} [[violence]]")),
            "SensitiveContentDetected.Violence",
            "content[0]",
        ),
        (
            body(V2, text(), image("https://a.example/real-person.png", "reference_image")),
            "InputImageSensitiveContentDetected.PrivacyInformation",
            "content[1]",
        ),
        (
            body(V2, text(), video("https://a.example/real-person.mp4")),
            "InputVideoSensitiveContentDetected.PrivacyInformation",
            "content[1]",
        ),
        (
            body(V2, image("https://a.example/[[sensitive]].png")),
            "InputImageSensitiveContentDetected",
            "content[0]",
        ),
    ],
)
def test_moderation_markers_are_refused_at_submit_uncharged(
    client: FlaskClient, runtime: Runtime, sent: dict[str, Any], code: str, param: str
) -> None:
    """D42: each documented input-moderation answer, by a marker."""
    found = error_of(create(client, sent), 400)
    assert (found["code"], found["param"]) == (code, param)
    if "PrivacyInformation" in code:
        assert f"'{param}' may contain real person" in found["message"]
    assert runtime.control.tasks.list(provider=PROVIDER) == []


def test_asset_urls_are_never_flagged_and_output_moderation_fails_the_task(
    client: FlaskClient, runtime: Runtime
) -> None:
    """D42, D28: asset:// is exempt; [[fail:output]] makes a failed task, not billed."""
    asset = created(client, body(V2, text(), image("asset://real-person-1", "reference_image")))
    flagged = created(client, body(V2, text(f"{PROMPT} [[fail:output]]")))
    before = balance(runtime)
    runtime.clock.advance(3600)
    failed = task(client, flagged)
    assert failed["status"] == "failed"
    assert failed["error"] == {
        "code": "OutputVideoSensitiveContentDetected",
        "message": "The request failed because the output video may contain sensitive information.",
    }
    assert "usage" not in failed
    assert "content" not in failed
    assert task(client, asset)["status"] == "succeeded"
    assert before - balance(runtime) == 108900 * 7  # only the succeeded one
    assert SPEC.validator("Task").violations(failed) == []


# errors ------------------------------------------------------------------------------------------


def test_authentication_errors_and_the_lockout(client: FlaskClient) -> None:
    """D14, D27: 401 AuthenticationError; then 429 AccountRateLimitExceeded, no Retry-After."""
    found = error_of(client.get(f"{TASKS}/cgt-x", headers={"Authorization": "Bearer nope"}), 401)
    assert (found["code"], found["type"], found["param"]) == (
        "AuthenticationError",
        "Unauthorized",
        "",
    )
    assert found["message"].startswith("The API key or AK/SK in the request is missing or invalid.")
    for _ in range(60):
        client.get(TASKS, headers={"Authorization": "Bearer nope"})
    locked = client.get(TASKS, headers=AUTH)
    assert error_of(locked, 429)["code"] == "AccountRateLimitExceeded"
    assert "Retry-After" not in locked.headers


def test_the_create_rpm_is_per_model_and_names_endpoints_apart() -> None:
    """D4, D14: ModelAccountRpmRateLimitExceeded, RateLimitExceeded.EndpointRPMExceeded."""
    application = create_app(_config(rate_limits={"create_rpm": {"limit": 2}}))
    client = application.test_client()
    runtime: Runtime = application.extensions[EXTENSION]
    for _ in range(2):
        created(client, body(V2))
        created(client, body(ENDPOINT))
    model = error_of(create(client, body(V2)), 429)
    assert (model["code"], model["type"]) == ("ModelAccountRpmRateLimitExceeded", "TooManyRequests")
    assert (
        error_of(create(client, body(ENDPOINT)), 429)["code"]
        == "RateLimitExceeded.EndpointRPMExceeded"
    )
    assert create(client, body(V2_FAST)).status_code == 200  # another model's window
    assert "Retry-After" not in create(client, body(V2)).headers
    assert client.get(TASKS, headers=AUTH).status_code == 200  # polls are never limited
    runtime.clock.advance(60)
    assert create(client, body(V2)).status_code == 200
    application.extensions[EXTENSION].close()


def test_the_121st_queued_task_is_quota_exceeded() -> None:
    """D4: per account, the documented cap (here 3) on queued tasks."""
    application = create_app(_config(queue={"max_queued": 3}))
    client = application.test_client()
    for _ in range(3):
        created(client)
    found = error_of(create(client), 429)
    assert (found["code"], found["message"].split(" Request ID")[0]) == (
        "QuotaExceeded",
        "The request has exceeded the quota.",
    )
    application.extensions[EXTENSION].close()


def test_a_balance_below_zero_refuses_creates_until_a_top_up(
    client: FlaskClient, runtime: Runtime
) -> None:
    """D13: postpaid on success; 403 AccountOverdueError once the balance is below zero."""
    runtime.control.accounts.create(PROVIDER, "2100000003", 100, ["poor-key"])
    task_id = created_with(client, "poor-key", body(V2))
    runtime.clock.advance(3600)
    assert balance(runtime, "2100000003") == 100 - 108900 * 7
    found = error_of(create(client, body(V2), key="poor-key"), 403)
    assert (found["code"], found["type"]) == ("AccountOverdueError", "Forbidden")
    runtime.control.accounts.set_credits(PROVIDER, "2100000003", 0)
    assert create(client, body(V2), key="poor-key").status_code == 200
    assert task(client, task_id, "poor-key")["status"] == "succeeded"


def created_with(client: FlaskClient, key: str, sent: dict[str, Any]) -> str:
    response = create(client, sent, key=key)
    assert response.status_code == 200, response.get_json()
    task_id: str = response.get_json()["id"]
    return task_id


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        ("service_busy", 429, "ServerOverloaded"),
        ("internal_error", 500, "InternalServiceError"),
        ("queue_full", 429, "QuotaExceeded"),
        ("model_tpm_limited", 429, "ModelAccountTpmRateLimitExceeded"),
        ("InflightBatchsizeExceeded", 429, "InflightBatchsizeExceeded"),
        ("access_denied", 403, "AccessDenied"),
        ("rate_limited", 429, "ModelAccountRpmRateLimitExceeded"),
        ("ModelNotOpen", 404, "ModelNotOpen"),
        ("invalid_account_status", 401, "InvalidAccountStatus"),
    ],
)
def test_faults_produce_every_documented_code(
    client: FlaskClient, runtime: Runtime, error: str, status: int, code: str
) -> None:
    """D15: what the other providers answer 503 is 429 ServerOverloaded here."""
    runtime.control.faults.add(provider=PROVIDER, error=error, times=1)
    assert error_of(create(client), status)["code"] == code
    assert create(client).status_code == 200


def test_unknown_paths_methods_and_bodies_answer_in_the_envelope(client: FlaskClient) -> None:
    """D30: not JSON → generic InvalidParameter with what is wrong; 404 and 405 too."""
    found = error_of(client.post(TASKS, data="nope", headers=AUTH, content_type="text/plain"), 400)
    assert found["message"].startswith(
        "One or more parameters specified in the request are not valid: Content-Type"
    )
    assert error_of(client.get("/api/v3/chat/completions", headers=AUTH), 404)["code"] == "NotFound"
    assert error_of(client.put(TASKS, headers=AUTH), 405)["code"] == "MethodNotAllowed"


def test_the_body_limit_is_413() -> None:
    """D29."""
    application = create_app(_config(limits={"max_body_bytes": 200}))
    sent = body(V2, text("x" * 300))
    found = error_of(create(application.test_client(), sent), 413)
    assert (found["code"], found["type"]) == ("InvalidParameter", "BadRequest")
    application.extensions[EXTENSION].close()


def test_error_overrides_flip_a_decided_code() -> None:
    """D27: error_overrides.<condition>."""
    application = create_app(
        _config(error_overrides={"not_found": {"code": "ResourceNotFound", "status": 400}})
    )
    client = application.test_client()
    found = error_of(client.get(f"{TASKS}/cgt-nope", headers=AUTH), 400)
    assert found["code"] == "ResourceNotFound"
    application.extensions[EXTENSION].close()


# queue, expiry, billing ------------------------------------------------------------------------


def test_retry_after_can_be_switched_on() -> None:
    """D14: error_overrides.rate_limited.retry_after."""
    application = create_app(
        _config(
            rate_limits={"create_rpm": {"limit": 1}},
            error_overrides={"rate_limited": {"retry_after": True}},
        )
    )
    client = application.test_client()
    created(client)
    assert create(client).headers["Retry-After"] == "60"
    application.extensions[EXTENSION].close()


def test_a_burst_waits_for_the_running_slots() -> None:
    """D10: with 2 running at once, a burst of 5 shows 3 queued until the first two
    finish; then first come, first served."""
    application = create_app(_config(queue={"running_at_once": 2}))
    client = application.test_client()
    runtime: Runtime = application.extensions[EXTENSION]
    ids = [created(client) for _ in range(5)]
    assert [task(client, i)["status"] for i in ids] == ["queued"] * 5
    runtime.clock.advance(3)  # the queued wait is over: two slots
    assert [task(client, i)["status"] for i in ids] == ["running"] * 2 + ["queued"] * 3
    first_end = min(runtime.control.tasks.get(i).due_at or 0 for i in ids[:2])
    runtime.clock.advance(first_end - runtime.clock.now() - 0.5)
    assert listed(client, "filter.status=queued")["total"] == 3
    runtime.clock.advance(0.5)
    after = [task(client, i)["status"] for i in ids]
    assert sorted(after[:2]) == ["running", "succeeded"]
    assert after[2:] == ["running", "queued", "queued"]
    application.extensions[EXTENSION].close()


def test_higher_priority_starts_first_and_flex_waits_longer() -> None:
    """D10: priority desc, then first come, per model; flex has its own slower queue."""
    application = create_app(_config(queue={"running_at_once": 1}))
    client = application.test_client()
    runtime: Runtime = application.extensions[EXTENSION]
    low = created(client)
    high = created(client, body(V2, text(), priority=9))
    flex = created(client, body(PRO_10, text(), service_tier="flex"))
    online = created(client, body(PRO_10, text()))
    runtime.clock.advance(3)
    assert task(client, high)["status"] == "running"
    assert (task(client, low)["status"], task(client, flex)["status"]) == ("queued", "queued")
    assert task(client, online)["status"] == "running"
    started = runtime.control.tasks.get(flex).start_at or 0
    assert started - runtime.control.tasks.get(flex).created_at >= 60
    application.extensions[EXTENSION].close()


def test_a_task_expires_at_its_deadline_and_a_client_that_waits_for_success_never_ends(
    client: FlaskClient, runtime: Runtime
) -> None:
    """D11: expired exactly at created_at + execution_expires_after, unbilled; a client
    that treats only succeeded/failed/cancelled as terminal polls forever."""
    task_id = created(client, body(V2, text(), execution_expires_after=3600), **{SCENARIO: "stuck"})
    created_at = task(client, task_id)["created_at"]
    runtime.clock.advance(created_at + 3599 - runtime.clock.now())
    assert task(client, task_id)["status"] == "running"
    before = balance(runtime)
    polls = []
    for _ in range(20):  # the AI SDK's loop: everything but succeeded/failed/cancelled polls on
        runtime.clock.advance(5)
        polls.append(task(client, task_id)["status"])
        if polls[-1] in ("succeeded", "failed", "cancelled"):
            break
    assert polls == ["expired"] * 20
    expired = task(client, task_id)
    assert expired["updated_at"] == created_at + 3600
    assert list(expired) == IN_FLIGHT_FIELDS
    assert balance(runtime) == before


def test_billing_in_micro_units_of_each_platforms_currency_flex_at_half(
    client: FlaskClient, runtime: Runtime
) -> None:
    """D9, D13, D46: tokens × price per million tokens, in millionths of USD or CNY."""
    start = balance(runtime)
    byteplus = created(client, body(V2))  # 108 900 tokens × USD 7.0
    volcengine = created(client, body(DOUBAO_V2, text(), ratio="16:9"))  # × CNY 46
    flex = created(client, body(PRO_15, text(), service_tier="flex", ratio="16:9"))  # × 2.4 × 0.5
    runtime.clock.advance(8 * 3600)
    assert all(task(client, t)["status"] == "succeeded" for t in (byteplus, volcengine, flex))
    _, entries = runtime.control.accounts.ledger(PROVIDER, ACCOUNT)
    charges = {e.task_id: -e.amount for e in entries if e.kind == "charge"}
    assert charges == {byteplus: 762300, volcengine: 5009400, flex: 130680}
    assert balance(runtime) == start - 762300 - 5009400 - 130680


def test_scenarios_and_forced_outcomes(client: FlaskClient, runtime: Runtime) -> None:
    instant = created(client, body(), **{SCENARIO: "instant"})
    assert task(client, instant)["status"] == "succeeded"
    failing = created(client, body(), **{SCENARIO: "fail"})
    forced = created(client)
    runtime.control.tasks.fail(
        forced,
        message="The output video may be copyrighted.",
        code="OutputVideoSensitiveContentDetected.PolicyViolation",
    )
    assert (
        task(client, forced)["error"]["code"]
        == "OutputVideoSensitiveContentDetected.PolicyViolation"
    )
    runtime.clock.advance(3600)
    assert task(client, failing)["status"] == "failed"
    assert runtime.control.journal(provider=PROVIDER, limit=1)[0].provider == PROVIDER


def test_the_observed_profile_fails_with_the_copyright_code() -> None:
    """D41."""
    spec = load_provider(PROVIDER, "observed")
    assert spec.profile.failure.code == "OutputVideoSensitiveContentDetected.PolicyViolation"
    assert spec.profile.failure.rate == 0.02


# callbacks ----------------------------------------------------------------------------------------


def test_callbacks_on_every_documented_status_with_retries_for_the_terminal_ones(
    client: FlaskClient, runtime: Runtime
) -> None:
    """D8: queued, running and succeeded are POSTed (the GET body at that moment);
    succeeded is retried 5 s apart while unacknowledged; a cancel sends nothing."""
    with Receiver(statuses=(200, 200, 500, 500, 200)) as receiver, Receiver() as other:
        task_id = created(client, body(V2, text(), callback_url=receiver.url()))
        runtime.run_due()
        cancelled = created(client, body(V2, text(), callback_url=other.url()))
        runtime.run_due()
        client.delete(f"{TASKS}/{cancelled}", headers=AUTH)
        runtime.clock.advance(3)  # the queued wait: it starts running
        runtime.clock.advance(3600)
        statuses = [json.loads(p.body)["status"] for p in receiver.posts()]
        assert statuses == ["queued", "running", "succeeded", "succeeded", "succeeded"]
        assert json.loads(receiver.posts()[-1].body) == task(client, task_id)
        assert [json.loads(p.body)["status"] for p in other.posts()] == ["queued"]
    done = next(d for d in runtime.control.deliveries(task_id=task_id) if d.status == "completed")
    assert [a.at - done.created_at for a in done.attempts] == [0, 5, 10]
    assert [a.outcome for a in done.attempts] == ["failed", "failed", "delivered"]


def test_the_terminal_callback_is_sent_four_times_at_most_and_expired_once(
    client: FlaskClient, runtime: Runtime
) -> None:
    """D8, D11: 1 + 3 attempts for succeeded and failed; one for expired."""
    with Receiver(statuses=(500,) * 20) as receiver:
        failing = created(
            client, body(V2, text(), callback_url=receiver.url()), **{SCENARIO: "fail"}
        )
        stuck = created(
            client,
            body(V2, text(), callback_url=receiver.url("/stuck"), execution_expires_after=3600),
            **{SCENARIO: "stuck"},
        )
        runtime.clock.advance(3700)
    by_status = {
        (d.task_id, d.status): len(d.attempts) for d in runtime.control.deliveries(PROVIDER)
    }
    assert by_status[(failing, "failed")] == 4
    assert by_status[(stuck, "expired")] == 1
    assert (stuck, "processing") in by_status
    assert (stuck, "queued") in by_status


# both platforms, resellers, and the rest ---------------------------------------------------------


def test_a_reseller_prefix_moves_every_operation() -> None:
    """D44: paths.prefix."""
    application = create_app(_config(paths={"prefix": "/seedance/api/v3"}))
    client = application.test_client()
    moved = "/seedance/api/v3/contents/generations/tasks"
    answer = client.post(moved, json=body(), headers=AUTH)
    assert answer.status_code == 200
    assert client.get(f"{moved}/{answer.get_json()['id']}", headers=AUTH).status_code == 200
    assert client.post(TASKS, json=body(), headers=AUTH).status_code == 404
    application.extensions[EXTENSION].close()


def test_openapi_and_prices(capsys: pytest.CaptureFixture[str]) -> None:
    document = export_openapi(SPEC)
    assert set(document["paths"]) == {TASKS, f"{TASKS}/{{id}}"}
    assert set(document["paths"][TASKS]) == {"post", "get"}
    assert "task_status_changed" in document["webhooks"]
    assert cli_main(["prices", "--provider", PROVIDER]) == 0
    table = capsys.readouterr().out
    assert (
        "| byteplus | seedance-2.0 | any | False | any | 1000000 | (not sent) | 7000000 |" in table
    )
    assert "| 3500000 |" in table  # flex: half
