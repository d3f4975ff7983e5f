"""seedanceapi (document 004) through HTTP: envelopes, defaults, prices, errors,
lifecycle, refunds, the output video and the observed profile.

The expected values are the document's (../shared/seeds/004_*.txt) and the
decisions in spec/DECISIONS.md (B1-B13, C1-C8), written out here on purpose:
these tests are the oracle the spec and the simulator are checked against.
"""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import urlsplit

import av
import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mockserver.runtime import Runtime
from mockserver.spec import load_provider
from tests.providers.seedanceapi_helpers import (
    PROVIDER,
    balance,
    tasks_of,
)
from tests.providers.seedanceapi_helpers import (
    assert_error as assert_body_error,
)
from tests.settings import simulator_config as config_with

KEY = "sa_demo_key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SCENARIO = "X-Seedance-Mock-Scenario"
SPEC = load_provider(PROVIDER)
#: processing never takes less or more than this (profile timing, DECISIONS B12)
QUICKEST = SPEC.profile.timing.min_seconds
SLOWEST = SPEC.profile.timing.max_seconds

DATA_FIELDS = [
    "task_id",
    "status",
    "consumed_credits",
    "created_at",
    "request",
    "response",
    "error_message",
]
DEFAULTS = {
    "aspect_ratio": "1:1",
    "resolution": "720p",
    "duration": "8",
    "generate_audio": False,
    "fixed_lens": False,
}
#: the document's "Metinden video" (text-to-video) example
TEXT_TO_VIDEO = {
    "prompt": "A majestic eagle soaring through golden sunset clouds over ocean waves",
    "aspect_ratio": "16:9",
    "resolution": "720p",
    "duration": "8",
}


# helpers ---------------------------------------------------------------------


def generate(client: FlaskClient, body: Any, headers: dict[str, str] | None = None) -> TestResponse:
    return client.post("/v1/generate", json=body, headers={**AUTH, **(headers or {})})


def create(client: FlaskClient, body: Any = None, **headers: str) -> str:
    """Create a task and return its id (the request must succeed)."""
    response = generate(client, body or {"prompt": "A calm lake"}, headers)
    assert response.status_code == 200, response.get_json()
    task_id: str = response.get_json()["data"]["task_id"]
    return task_id


def status(client: FlaskClient, task_id: str, key: str = KEY) -> TestResponse:
    return client.get(
        "/v1/status", query_string={"task_id": task_id}, headers={"Authorization": f"Bearer {key}"}
    )


def task_data(client: FlaskClient, task_id: str) -> dict[str, Any]:
    response = status(client, task_id)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    assert SPEC.validator("StatusResponse").violations(body) == []
    data: dict[str, Any] = body["data"]
    return data


def assert_error(response: TestResponse, http_status: int, code: str) -> None:
    """The decided error body (DECISIONS B1), whose message says what to fix."""
    message = assert_body_error(response, http_status, code)
    assert len(message) > len(code) + 2, response.get_json()  # says what to fix


# creating a task ---------------------------------------------------------------


def test_generate_answers_the_documented_envelope(client: FlaskClient) -> None:
    response = generate(client, TEXT_TO_VIDEO)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["code", "message", "data"]
    assert body == {
        "code": 200,
        "message": "success",
        "data": {"task_id": body["data"]["task_id"], "status": "IN_PROGRESS"},
    }
    assert list(body["data"]) == ["task_id", "status"]


def test_task_ids_look_like_the_documented_example(client: FlaskClient) -> None:
    ids = {create(client) for _ in range(5)}

    assert len(ids) == 5
    for task_id in ids:  # "seed" + 17 lower-case letters and digits (B9)
        assert re.fullmatch(r"seed[0-9a-z]{17}", task_id), task_id


def test_status_lists_every_field_in_documented_order(client: FlaskClient) -> None:
    task_id = create(client, {"prompt": "A calm lake"})

    body = status(client, task_id).get_json()

    assert list(body) == ["code", "message", "data"]
    assert (body["code"], body["message"]) == (200, "success")
    assert list(body["data"]) == DATA_FIELDS
    assert body["data"] == {
        "task_id": task_id,
        "status": "IN_PROGRESS",
        "consumed_credits": 28,
        "created_at": "2026-06-03T10:00:00Z",
        "request": {"prompt": "A calm lake", **DEFAULTS},
        "response": [],
        "error_message": None,
    }


def test_created_at_is_whole_seconds_with_z(client: FlaskClient, runtime: Runtime) -> None:
    runtime.clock.advance(83.25)
    task_id = create(client)
    runtime.clock.advance(5)

    assert task_data(client, task_id)["created_at"] == "2026-06-03T10:01:23Z"


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        pytest.param({"prompt": "p"}, {"prompt": "p", **DEFAULTS}, id="all-defaults"),
        pytest.param(
            TEXT_TO_VIDEO,
            {**TEXT_TO_VIDEO, "generate_audio": False, "fixed_lens": False},
            id="document-text-to-video",
        ),
        pytest.param(
            {
                "prompt": "The character slowly turns and smiles at the camera",
                "image_urls": ["https://example.com/my-image.jpg"],
                "aspect_ratio": "16:9",
                "resolution": "720p",
                "duration": "4",
            },
            {
                "prompt": "The character slowly turns and smiles at the camera",
                "aspect_ratio": "16:9",
                "resolution": "720p",
                "duration": "4",
                "generate_audio": False,
                "fixed_lens": False,
                "image_urls": ["https://example.com/my-image.jpg"],
            },
            id="document-image-to-video",
        ),
        pytest.param(
            {
                "prompt": "A peaceful river flowing through a forest with birds singing",
                "aspect_ratio": "16:9",
                "resolution": "720p",
                "duration": "8",
                "generate_audio": True,
                "fixed_lens": True,
            },
            {
                "prompt": "A peaceful river flowing through a forest with birds singing",
                "aspect_ratio": "16:9",
                "resolution": "720p",
                "duration": "8",
                "generate_audio": True,
                "fixed_lens": True,
            },
            id="document-with-audio",
        ),
        pytest.param(
            {
                "callback_url": "http://127.0.0.1:9/hook",
                "fixed_lens": True,
                "duration": "12",
                "resolution": "480p",
                "aspect_ratio": "9:21",
                "prompt": "every field",
                "image_urls": ["http://img.example.org/a.png"],
                "generate_audio": True,
            },
            {
                "prompt": "every field",
                "aspect_ratio": "9:21",
                "resolution": "480p",
                "duration": "12",
                "generate_audio": True,
                "fixed_lens": True,
                "image_urls": ["http://img.example.org/a.png"],
                "callback_url": "http://127.0.0.1:9/hook",
            },
            id="every-field-any-order",
        ),
        pytest.param(
            {"prompt": "p", "image_urls": []},
            {"prompt": "p", **DEFAULTS, "image_urls": []},
            id="empty-image-list",
        ),
    ],
)
def test_request_is_echoed_with_defaults_filled(
    client: FlaskClient, sent: dict[str, Any], echoed: dict[str, Any]
) -> None:
    task_id = create(client, sent)

    request = task_data(client, task_id)["request"]

    assert request == echoed
    assert list(request) == list(echoed)  # documented field order (B10)


@pytest.mark.parametrize(
    "prompt",
    [
        pytest.param("x" * 2000, id="2000-characters"),
        pytest.param("é" * 2000, id="2000-characters-not-bytes"),
        pytest.param("  padded prompt  ", id="surrounding-whitespace"),
        pytest.param("a", id="one-character"),
    ],
)
def test_valid_prompts_are_accepted_as_sent(client: FlaskClient, prompt: str) -> None:
    task_id = create(client, {"prompt": prompt})

    assert task_data(client, task_id)["request"]["prompt"] == prompt


@pytest.mark.parametrize("ratio", ["1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"])
def test_every_documented_aspect_ratio_is_accepted(client: FlaskClient, ratio: str) -> None:
    task_id = create(client, {"prompt": "p", "aspect_ratio": ratio})

    assert task_data(client, task_id)["request"]["aspect_ratio"] == ratio


# lifecycle -------------------------------------------------------------------------


def test_task_moves_from_in_progress_to_success_on_the_clock(
    client: FlaskClient, runtime: Runtime
) -> None:
    task_id = create(client, TEXT_TO_VIDEO)

    runtime.clock.advance(QUICKEST - 1)
    early = task_data(client, task_id)
    runtime.clock.advance(SLOWEST - QUICKEST + 1)
    done = task_data(client, task_id)

    assert (early["status"], early["response"], early["error_message"]) == (
        "IN_PROGRESS",
        [],
        None,
    )
    assert done["status"] == "SUCCESS"
    assert done["consumed_credits"] == 28
    assert done["created_at"] == "2026-06-03T10:00:00Z"
    assert len(done["response"]) == 1
    assert urlsplit(done["response"][0]).path.endswith(".mp4")
    assert done["error_message"] is None
    assert balance(runtime) == 10000 - 28


def test_success_is_final(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client)
    runtime.clock.advance(SLOWEST)
    first = task_data(client, task_id)

    runtime.clock.advance(86400)

    assert task_data(client, task_id) == first


def test_forced_completion_succeeds_at_once(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client)

    runtime.simulation.force(task_id, "completed")

    data = task_data(client, task_id)
    assert data["status"] == "SUCCESS"
    assert len(data["response"]) == 1


@pytest.mark.parametrize(
    ("scenario", "advance", "expected"),
    [
        ("instant", 0, "SUCCESS"),
        ("complete", SLOWEST, "SUCCESS"),
        ("slow", SLOWEST, "IN_PROGRESS"),
        ("slow", SLOWEST * 10, "SUCCESS"),
        ("stuck", 13 * 86400, "IN_PROGRESS"),
        ("fail", SLOWEST, "FAILED"),
    ],
)
def test_scenarios_steer_the_outcome(
    client: FlaskClient, runtime: Runtime, scenario: str, advance: float, expected: str
) -> None:
    task_id = create(client, None, **{SCENARIO: scenario})

    runtime.clock.advance(advance)

    assert task_data(client, task_id)["status"] == expected


def test_failed_task_reports_error_and_refunds(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client, TEXT_TO_VIDEO, **{SCENARIO: "fail"})
    assert balance(runtime) == 10000 - 28

    runtime.clock.advance(SLOWEST)
    data = task_data(client, task_id)

    assert list(data) == DATA_FIELDS
    assert data["status"] == "FAILED"
    assert data["consumed_credits"] == 0  # refunded (B3)
    assert data["response"] == []
    assert isinstance(data["error_message"], str)
    assert data["error_message"]
    assert data["request"] == {**TEXT_TO_VIDEO, "generate_audio": False, "fixed_lens": False}
    assert balance(runtime) == 10000


def test_forced_failure_carries_its_message(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client, {"prompt": "p", "resolution": "480p", "duration": "4"})

    runtime.simulation.force(task_id, "failed", "CONTENT_REJECTED", "The prompt was rejected.")

    data = task_data(client, task_id)
    assert (data["status"], data["consumed_credits"], data["response"]) == ("FAILED", 0, [])
    assert data["error_message"] == "The prompt was rejected."
    assert balance(runtime) == 10000


def test_failed_task_stays_failed(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client, None, **{SCENARIO: "fail"})
    runtime.clock.advance(SLOWEST)
    first = task_data(client, task_id)

    runtime.clock.advance(86400)

    assert task_data(client, task_id) == first
    assert balance(runtime) == 10000


@pytest.mark.parametrize(
    "config", [config_with(overrides={PROVIDER: {"refunds": {"on_failure": False}}})]
)
def test_refunds_switched_off_keep_the_charge(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client, TEXT_TO_VIDEO, **{SCENARIO: "fail"})

    runtime.clock.advance(SLOWEST)
    data = task_data(client, task_id)

    assert data["status"] == "FAILED"
    assert data["error_message"]
    assert data["consumed_credits"] == 28
    assert balance(runtime) == 10000 - 28


@pytest.mark.parametrize("config", [config_with(overrides={PROVIDER: {"failure": {"rate": 1.0}}})])
def test_failure_rate_fails_tasks_unless_told_to_complete(
    client: FlaskClient, runtime: Runtime
) -> None:
    failing = create(client)
    completing = create(client, None, **{SCENARIO: "complete"})

    runtime.clock.advance(SLOWEST)

    assert task_data(client, failing)["status"] == "FAILED"
    assert task_data(client, completing)["status"] == "SUCCESS"


def test_task_is_forgotten_after_retention(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client)
    retention = SPEC.profile.retention_seconds  # 14 days (C5)

    runtime.clock.advance(retention - 60)
    kept = status(client, task_id)
    runtime.clock.advance(61)

    assert kept.status_code == 200
    assert_error(status(client, task_id), 404, "TASK_NOT_FOUND")


# the output video ----------------------------------------------------------------


def _probe(data: bytes) -> dict[str, Any]:
    with av.open(io.BytesIO(data), mode="r") as container:
        video = container.streams.video[0]
        found: dict[str, Any] = {
            "codec": video.codec_context.name,
            "size": (video.width, video.height),
            "fps": video.average_rate,
            "audio": len(container.streams.audio),
        }
        found["frames"] = sum(1 for _ in container.decode(video=0))
    return found


def _video(size: tuple[int, int], seconds: int, audio: bool) -> dict[str, Any]:
    """What the probe should find: H.264 at 24 fps, ``seconds`` * 24 frames."""
    return {"codec": "h264", "size": size, "fps": 24, "audio": int(audio), "frames": seconds * 24}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"aspect_ratio": "16:9", "resolution": "480p", "duration": "4"},
            _video((854, 480), 4, audio=False),
        ),
        (
            {"aspect_ratio": "9:21", "resolution": "480p", "duration": "4", "generate_audio": True},
            _video((480, 1120), 4, audio=True),
        ),
        (
            {"aspect_ratio": "4:3", "resolution": "480p", "duration": "8"},
            _video((640, 480), 8, audio=False),
        ),
        ({}, _video((720, 720), 8, audio=False)),  # defaults: 1:1, 720p, "8", no audio
        (
            {"aspect_ratio": "16:9", "duration": "12", "generate_audio": True},
            _video((1280, 720), 12, audio=True),
        ),
    ],
)
def test_response_url_downloads_the_video(
    client: FlaskClient, runtime: Runtime, fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    task_id = create(client, {"prompt": "p", **fields})
    runtime.clock.advance(SLOWEST)
    url = task_data(client, task_id)["response"][0]

    download = client.get(urlsplit(url).path)  # no key needed, like a CDN URL (C3)

    assert download.status_code == 200
    assert download.mimetype == "video/mp4"
    assert _probe(download.data) == expected


def test_video_url_points_at_the_host_the_client_called(
    client: FlaskClient, runtime: Runtime
) -> None:
    base = "http://sim.example.test:8123"
    response = client.post("/v1/generate", json={"prompt": "p"}, headers=AUTH, base_url=base)
    task_id = response.get_json()["data"]["task_id"]
    runtime.clock.advance(SLOWEST)

    url = status(client, task_id).get_json()["data"]["response"][0]
    seen = client.get("/v1/status", query_string={"task_id": task_id}, headers=AUTH, base_url=base)

    assert seen.get_json()["data"]["response"][0] == url
    assert url.startswith(f"{base}/__media/")
    assert url.endswith("/video.mp4")


# prices ------------------------------------------------------------------------------

#: document 004's pricing table: (resolution, duration, generate_audio) -> credits
PRICES = [
    ("480p", "4", False, 8),
    ("480p", "4", True, 14),
    ("480p", "8", False, 14),
    ("480p", "8", True, 28),
    ("480p", "12", False, 19),
    ("480p", "12", True, 38),
    ("720p", "4", False, 14),
    ("720p", "4", True, 28),
    ("720p", "8", False, 28),
    ("720p", "8", True, 56),
    ("720p", "12", False, 42),
    ("720p", "12", True, 84),
]


@pytest.mark.parametrize(
    ("fields", "credits"),
    [
        pytest.param(
            {"resolution": res, "duration": dur, "generate_audio": audio},
            credits,
            id=f"{res}-{dur}s-{'audio' if audio else 'silent'}",
        )
        for res, dur, audio, credits in PRICES
    ],
)
def test_price_table(
    client: FlaskClient, runtime: Runtime, fields: dict[str, Any], credits: int
) -> None:
    task_id = create(client, {"prompt": "p", **fields})

    assert task_data(client, task_id)["consumed_credits"] == credits
    assert balance(runtime) == 10000 - credits
    runtime.clock.advance(SLOWEST)
    assert task_data(client, task_id)["consumed_credits"] == credits


@pytest.mark.parametrize(
    "fields",
    [{"aspect_ratio": "21:9"}, {"fixed_lens": True}, {"image_urls": ["https://e.org/i.png"]}],
)
def test_price_ignores_ratio_lens_and_images(
    client: FlaskClient, runtime: Runtime, fields: dict[str, Any]
) -> None:
    task_id = create(client, {"prompt": "p", "resolution": "480p", "duration": "4", **fields})

    assert task_data(client, task_id)["consumed_credits"] == 8


def test_document_example_costs_28(client: FlaskClient, runtime: Runtime) -> None:
    # The status example shows consumed_credits 28 for 720p / 8 s (B8).
    task_id = create(client, TEXT_TO_VIDEO)
    runtime.clock.advance(SLOWEST)

    data = task_data(client, task_id)

    assert (data["status"], data["consumed_credits"]) == ("SUCCESS", 28)
    assert data["request"] == {**TEXT_TO_VIDEO, "generate_audio": False, "fixed_lens": False}


# validation errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({}, "INVALID_PROMPT", id="prompt-missing"),
        pytest.param({"aspect_ratio": "16:9"}, "INVALID_PROMPT", id="prompt-missing-others-set"),
        pytest.param({"prompt": ""}, "INVALID_PROMPT", id="prompt-empty"),
        pytest.param({"prompt": "   \t\n "}, "INVALID_PROMPT", id="prompt-whitespace"),
        pytest.param({"prompt": "x" * 2001}, "INVALID_PROMPT", id="prompt-2001-chars"),
        pytest.param({"prompt": 42}, "INVALID_PROMPT", id="prompt-number"),
        pytest.param({"prompt": None}, "INVALID_PROMPT", id="prompt-null"),
        pytest.param({"prompt": ["a"]}, "INVALID_PROMPT", id="prompt-array"),
        pytest.param({"prompt": "p", "aspect_ratio": "2:1"}, "INVALID_ASPECT_RATIO", id="ar"),
        pytest.param({"prompt": "p", "aspect_ratio": "16/9"}, "INVALID_ASPECT_RATIO", id="ar2"),
        pytest.param({"prompt": "p", "aspect_ratio": "adaptive"}, "INVALID_ASPECT_RATIO", id="ar3"),
        pytest.param({"prompt": "p", "aspect_ratio": 1.5}, "INVALID_ASPECT_RATIO", id="ar-type"),
        pytest.param({"prompt": "p", "resolution": "1080p"}, "INVALID_RESOLUTION", id="res"),
        pytest.param({"prompt": "p", "resolution": "720"}, "INVALID_RESOLUTION", id="res2"),
        pytest.param({"prompt": "p", "resolution": "720P"}, "INVALID_RESOLUTION", id="res-case"),
        pytest.param({"prompt": "p", "resolution": 720}, "INVALID_RESOLUTION", id="res-type"),
        pytest.param({"prompt": "p", "duration": "5"}, "INVALID_DURATION", id="dur-5"),
        pytest.param({"prompt": "p", "duration": "8s"}, "INVALID_DURATION", id="dur-8s"),
        pytest.param({"prompt": "p", "duration": ""}, "INVALID_DURATION", id="dur-empty"),
        pytest.param({"prompt": "p", "duration": 8}, "INVALID_DURATION", id="dur-int-8"),
        pytest.param({"prompt": "p", "duration": 8.0}, "INVALID_DURATION", id="dur-float"),
        pytest.param(
            {"prompt": "p", "image_urls": ["https://e.org/1.png", "https://e.org/2.png"]},
            "TOO_MANY_IMAGES",
            id="two-images",
        ),
        pytest.param({"prompt": "p", "mode": "pro"}, "INVALID_REQUEST", id="unknown-field"),
        pytest.param({"prompt": "p", "enable_audio": True}, "INVALID_REQUEST", id="unknown-2"),
        pytest.param({"prompt": "p", "generate_audio": "true"}, "INVALID_REQUEST", id="audio"),
        pytest.param({"prompt": "p", "generate_audio": 1}, "INVALID_REQUEST", id="audio-int"),
        pytest.param({"prompt": "p", "fixed_lens": "no"}, "INVALID_REQUEST", id="lens"),
        pytest.param({"prompt": "p", "image_urls": "https://e.org/1.png"}, "INVALID_REQUEST"),
        pytest.param({"prompt": "p", "image_urls": ["not a url"]}, "INVALID_REQUEST", id="img"),
        pytest.param({"prompt": "p", "image_urls": [7]}, "INVALID_REQUEST", id="img-type"),
        pytest.param({"prompt": "p", "callback_url": "ftp://e.org/x"}, "INVALID_REQUEST"),
        pytest.param({"prompt": "p", "callback_url": "/hook"}, "INVALID_REQUEST", id="cb-rel"),
        pytest.param({"prompt": "p", "callback_url": 5}, "INVALID_REQUEST", id="cb-type"),
    ],
)
def test_invalid_body_is_refused_with_its_code(
    client: FlaskClient, runtime: Runtime, body: dict[str, Any], code: str
) -> None:
    assert_error(generate(client, body), 400, code)
    assert tasks_of(runtime) == []
    assert balance(runtime) == 10000


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param(b'{"prompt": "p"', "application/json", id="truncated-json"),
        pytest.param(b"prompt=p", "application/json", id="not-json"),
        pytest.param(b"", "application/json", id="empty-body"),
        pytest.param(b'["prompt"]', "application/json", id="array"),
        pytest.param(b'"prompt"', "application/json", id="string"),
        pytest.param(b"42", "application/json", id="number"),
        pytest.param(b"null", "application/json", id="null"),
        pytest.param(b'{"prompt": NaN}', "application/json", id="nan"),
        pytest.param(b'{"prompt": "p"}', "text/plain", id="text-plain"),
        pytest.param(b"prompt=p", "application/x-www-form-urlencoded", id="form"),
        pytest.param(b'{"prompt": "p"}', None, id="no-content-type"),
    ],
)
def test_body_that_is_not_a_json_object_is_invalid_request(
    client: FlaskClient, runtime: Runtime, data: bytes, content_type: str | None
) -> None:
    headers = dict(AUTH)
    if content_type is not None:
        headers["Content-Type"] = content_type

    response = client.post("/v1/generate", data=data, headers=headers)

    assert_error(response, 400, "INVALID_REQUEST")
    assert tasks_of(runtime) == []


def test_body_over_the_size_limit_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    limit = SPEC.profile.max_body_bytes  # 1 MiB (profile limits)
    body = {"prompt": "p", "padding": "x" * limit}

    assert_error(generate(client, body), 413, "INVALID_REQUEST")
    assert tasks_of(runtime) == []


def test_prompt_that_is_not_valid_unicode_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    # "\\ud800" is legal JSON syntax but no character: an unpaired UTF-16 surrogate
    # can be neither stored as text nor written back out as UTF-8.
    response = client.post(
        "/v1/generate",
        data=b'{"prompt": "a lone surrogate \\ud800 here"}',
        headers={**AUTH, "Content-Type": "application/json"},
    )

    body = response.get_json()
    assert response.status_code == 400, body
    assert_error(response, 400, body["error"])
    assert body["error"] in {"INVALID_PROMPT", "INVALID_REQUEST"}
    assert tasks_of(runtime) == []
    assert balance(runtime) == 10000


def test_json_with_charset_is_accepted(client: FlaskClient) -> None:
    response = client.post(
        "/v1/generate",
        data=b'{"prompt": "p"}',
        headers={**AUTH, "Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 200  # C7: any charset


# authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("Bearer", id="no-key"),
        pytest.param("Bearer ", id="blank-key"),
        pytest.param(KEY, id="no-scheme"),
        pytest.param(f"Basic {KEY}", id="basic"),
        pytest.param("Bearer sa_wrong_key", id="unknown-key"),
        pytest.param("Bearer sk_live_demo", id="other-providers-key"),
    ],
)
def test_bad_api_key_is_refused_on_both_operations(
    client: FlaskClient, runtime: Runtime, authorization: str | None
) -> None:
    task_id = create(client)
    headers = {} if authorization is None else {"Authorization": authorization}

    posted = client.post("/v1/generate", json={"prompt": "p"}, headers=headers)
    read = client.get("/v1/status", query_string={"task_id": task_id}, headers=headers)

    assert_error(posted, 401, "INVALID_API_KEY")
    assert_error(read, 401, "INVALID_API_KEY")
    assert len(tasks_of(runtime)) == 1
    assert balance(runtime) == 10000 - 28


def test_revoked_key_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client)
    runtime.store.revoke_key(PROVIDER, KEY)

    assert_error(generate(client, {"prompt": "p"}), 401, "INVALID_API_KEY")
    assert_error(status(client, task_id), 401, "INVALID_API_KEY")
    assert len(tasks_of(runtime)) == 1


def test_any_key_of_the_account_sees_its_tasks(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client)
    runtime.store.add_key(PROVIDER, "demo", "sa_second_key")

    response = status(client, task_id, key="sa_second_key")

    assert response.status_code == 200
    assert response.get_json()["data"]["task_id"] == task_id


def test_bearer_scheme_is_case_insensitive(client: FlaskClient) -> None:
    response = client.post(
        "/v1/generate", json={"prompt": "p"}, headers={"Authorization": f"bearer {KEY}"}
    )

    assert response.status_code == 200


# credits -----------------------------------------------------------------------------


def test_short_balance_is_refused_and_nothing_is_charged(
    client: FlaskClient, runtime: Runtime
) -> None:
    runtime.simulation.create_account(PROVIDER, "poor", 27, ["sa_poor_key"])
    poor = {"Authorization": "Bearer sa_poor_key"}

    refused = client.post("/v1/generate", json=TEXT_TO_VIDEO, headers=poor)  # costs 28

    assert_error(refused, 402, "INSUFFICIENT_CREDITS")
    assert tasks_of(runtime, "poor") == []
    assert balance(runtime, "poor") == 27
    cheap = {"prompt": "p", "resolution": "480p", "duration": "4"}  # costs 8
    assert client.post("/v1/generate", json=cheap, headers=poor).status_code == 200
    assert balance(runtime, "poor") == 19
    assert balance(runtime) == 10000  # other accounts untouched


def test_exact_balance_is_enough_and_never_goes_negative(
    client: FlaskClient, runtime: Runtime
) -> None:
    runtime.simulation.create_account(PROVIDER, "exact", 28, ["sa_exact_key"])
    exact = {"Authorization": "Bearer sa_exact_key"}

    first = client.post("/v1/generate", json={"prompt": "p"}, headers=exact)
    second = client.post("/v1/generate", json={"prompt": "p"}, headers=exact)

    assert first.status_code == 200
    assert_error(second, 402, "INSUFFICIENT_CREDITS")
    assert balance(runtime, "exact") == 0
    assert len(tasks_of(runtime, "exact")) == 1


def test_refund_makes_credits_usable_again(client: FlaskClient, runtime: Runtime) -> None:
    runtime.simulation.create_account(PROVIDER, "exact", 28, ["sa_exact_key"])
    exact = {"Authorization": "Bearer sa_exact_key", SCENARIO: "fail"}
    client.post("/v1/generate", json={"prompt": "p"}, headers=exact)

    runtime.clock.advance(SLOWEST)

    assert balance(runtime, "exact") == 28
    again = client.post("/v1/generate", json={"prompt": "p"}, headers=exact)
    assert again.status_code == 200


# task lookup -----------------------------------------------------------------------------


def test_unknown_task_id_is_not_found(client: FlaskClient) -> None:
    assert_error(status(client, "seed15abc123def456pro"), 404, "TASK_NOT_FOUND")


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("", id="no-query"),
        pytest.param("?task_id=", id="empty"),
        pytest.param("?taskid=seed15abc123def456pro", id="misspelt"),
    ],
)
def test_missing_or_empty_task_id_is_not_found(client: FlaskClient, query: str) -> None:
    assert_error(client.get(f"/v1/status{query}", headers=AUTH), 404, "TASK_NOT_FOUND")


def test_another_accounts_task_is_not_found(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client)
    runtime.simulation.create_account(PROVIDER, "other", 100, ["sa_other_key"])

    response = status(client, task_id, key="sa_other_key")

    assert_error(response, 404, "TASK_NOT_FOUND")  # never 403 (C1)
    assert status(client, task_id).status_code == 200


# unknown paths and methods -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "http_status", "code"),
    [
        ("GET", "/v1/nope", 404, "NOT_FOUND"),
        ("GET", "/v1", 404, "NOT_FOUND"),
        ("POST", "/v1/generate/", 404, "NOT_FOUND"),
        ("POST", "/v1/generate/extra", 404, "NOT_FOUND"),
        ("GET", "/v1/status/seed15abc123def456pro", 404, "NOT_FOUND"),
        ("POST", "/v1/tasks", 404, "NOT_FOUND"),
        ("GET", "/v1//status", 404, "NOT_FOUND"),
        ("POST", "/v1//generate", 404, "NOT_FOUND"),
        ("GET", "/v1/generate", 405, "METHOD_NOT_ALLOWED"),
        ("PUT", "/v1/generate", 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/v1/status", 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", "/v1/status", 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/v2/nope", 404, "NOT_FOUND"),
        ("GET", "/v2", 404, "NOT_FOUND"),
        ("POST", "/v2/generate/", 404, "NOT_FOUND"),
        ("GET", "/v2/generate", 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/v2/status", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_unknown_paths_and_methods_answer_in_the_envelope(
    client: FlaskClient, method: str, path: str, http_status: int, code: str
) -> None:
    response = client.open(path, method=method, headers=AUTH, json={"prompt": "p"})

    assert_error(response, http_status, code)


# the observed profile ---------------------------------------------------------------


@pytest.mark.parametrize("config", [config_with(profile="observed")])
@pytest.mark.parametrize(
    ("duration", "echoed", "credits"),
    [
        pytest.param(8, "8", 28, id="int-8"),
        pytest.param(4, "4", 14, id="int-4"),
        pytest.param(12, "12", 42, id="int-12"),
        pytest.param("8", "8", 28, id="string-8"),
        # JSON has one number type: 8.0 is the integer 8 to JSON Schema (and to a
        # JavaScript client), so the observed schema accepts it; it must work too.
        pytest.param(8.0, "8", 28, id="number-8.0"),
        pytest.param(12.0, "12", 42, id="number-12.0"),
    ],
)
def test_observed_profile_accepts_integer_duration(
    client: FlaskClient, duration: Any, echoed: str, credits: int
) -> None:
    task_id = create(client, {"prompt": "p", "duration": duration})

    data = task_data(client, task_id)

    assert data["request"]["duration"] == echoed
    assert data["consumed_credits"] == credits


@pytest.mark.parametrize("config", [config_with(profile="observed")])
def test_observed_profile_accepts_unknown_fields(client: FlaskClient, runtime: Runtime) -> None:
    # the body lodestar sends live (observed-behaviour.md)
    body = {
        "prompt": "p",
        "duration": 8,
        "mode": "pro",
        "enable_audio": True,
        "lock_camera": False,
    }

    task_id = create(client, body)
    runtime.clock.advance(SLOWEST)
    data = task_data(client, task_id)

    assert data["status"] == "SUCCESS"
    assert data["request"]["duration"] == "8"
    assert data["consumed_credits"] == 28


@pytest.mark.parametrize("config", [config_with(profile="observed")])
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"prompt": "p", "duration": 5}, "INVALID_DURATION"),
        ({"prompt": "p", "duration": "5"}, "INVALID_DURATION"),
        ({"prompt": ""}, "INVALID_PROMPT"),
        ({"prompt": "p", "resolution": "1080p"}, "INVALID_RESOLUTION"),
    ],
)
def test_observed_profile_still_checks_documented_values(
    client: FlaskClient, body: dict[str, Any], code: str
) -> None:
    assert_error(generate(client, body), 400, code)


# no rate limit, no idempotency ------------------------------------------------------


def test_no_rate_limit_by_default(client: FlaskClient, runtime: Runtime) -> None:
    cheap = {"prompt": "p", "resolution": "480p", "duration": "4"}

    created = [generate(client, cheap) for _ in range(100)]
    ids = [r.get_json()["data"]["task_id"] for r in created]
    read = [status(client, task_id) for task_id in ids]

    assert [r.status_code for r in created] == [200] * 100
    assert [r.status_code for r in read] == [200] * 100
    assert balance(runtime) == 10000 - 100 * 8


def test_idempotency_key_is_ignored_by_default(client: FlaskClient, runtime: Runtime) -> None:
    key = {"Idempotency-Key": "same-key-twice"}

    first = create(client, TEXT_TO_VIDEO, **key)
    second = create(client, TEXT_TO_VIDEO, **key)

    assert first != second
    assert len(tasks_of(runtime)) == 2
    assert balance(runtime) == 10000 - 2 * 28
