"""seedance2ai over HTTP (document 000, observed-behaviour.md, spec/DECISIONS.md):
bodies and their order, validation, every documented error, prices, refunds,
idempotency, lifecycle, downloadable media and the observed profile.

The oracles are the documents, copied by hand below; the simulator under test
is a fresh app per test on a manual clock starting at 2026-06-03T10:00:00Z.
"""

from __future__ import annotations

import enum
import io
import itertools
import json
import re
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import av
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mockserver.config import Config
from mockserver.engine.clock import format_instant, parse_instant
from mockserver.engine.model import ClaimPolicy, IdempotencyScope
from mockserver.engine.simulation import fingerprint
from mockserver.runtime import Runtime
from tests.settings import EXAMPLE_START
from tests.settings import simulator_config as base_config

T = TypeVar("T")

P = "seedance2ai"
SUBMIT = "/api/v1/video/seedance2"
TASKS = "/api/v1/tasks"
DEMO_KEY = "sk_live_demo"
START_TEXT = EXAMPLE_START
START = parse_instant(START_TEXT)
DAY = 86400

# Document 000's example request; it costs 30 credits.
EXAMPLE = {
    "mode": "text-to-video",
    "quality_tier": "standard",
    "prompt": "A cinematic shot of a glass train crossing a snowy mountain bridge",
    "aspect_ratio": "16:9",
    "duration": "5",
    "resolution": "720p",
}
PROMPT = "A glass train crossing a snowy bridge"
ACCEPTED_FIELDS = ["id", "status", "model", "quality_tier", "channel", "credits_used"]
TASK_FIELDS = [
    *ACCEPTED_FIELDS,
    "credits_refunded",
    "output",
    "error",
    "created_at",
    "updated_at",
]
TASK_ID = re.compile(r"^sd2_[0-9A-Za-z]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TWELVE_URLS = [f"https://cdn.example.com/{i}.mp4" for i in range(12)]
LONGEST_TASK = 360  # profile.json timing.max_seconds: every normal task has ended by then

_idempotency_keys = itertools.count()


class _Fresh(enum.Enum):
    KEY = "a fresh Idempotency-Key per request"


FRESH = _Fresh.KEY


# requests -----------------------------------------------------------------------


def auth(key: str | None = DEMO_KEY) -> dict[str, str]:
    return {} if key is None else {"Authorization": f"Bearer {key}"}


def submit(
    client: FlaskClient,
    body: Any = None,
    *,
    key: str | None = DEMO_KEY,
    idempotency_key: str | _Fresh | None = FRESH,
    scenario: str | None = None,
) -> TestResponse:
    """POST a JSON body (default: a minimal valid one) with a fresh Idempotency-Key
    unless one is given (None: no header)."""
    headers = auth(key)
    if isinstance(idempotency_key, _Fresh):
        idempotency_key = f"test-{next(_idempotency_keys)}"
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    if scenario is not None:
        headers["X-Seedance-Mock-Scenario"] = scenario
    payload = {"prompt": PROMPT} if body is None else body
    return client.post(SUBMIT, json=payload, headers=headers)


def submit_raw(
    client: FlaskClient,
    data: str | bytes,
    content_type: str | None = "application/json",
    idempotency_key: str = "raw",
) -> TestResponse:
    headers = {**auth(), "Idempotency-Key": idempotency_key}
    if content_type is None:
        return client.post(SUBMIT, data=data, headers=headers)
    return client.post(SUBMIT, data=data, content_type=content_type, headers=headers)


def get_task(client: FlaskClient, task_id: str, key: str | None = DEMO_KEY) -> TestResponse:
    return client.get(f"{TASKS}/{task_id}", headers=auth(key))


def accepted(response: TestResponse) -> dict[str, Any]:
    assert response.status_code == 202, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def task_body(client: FlaskClient, task_id: str, key: str = DEMO_KEY) -> dict[str, Any]:
    response = get_task(client, task_id, key)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def assert_error(response: TestResponse, status: int, code: str) -> str:
    """The documented envelope with ``status`` and ``code``; returns the message."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["code", "message"]
    assert body["error"]["code"] == code
    message = body["error"]["message"]
    assert isinstance(message, str)
    assert message
    return message


# state -----------------------------------------------------------------------------


def balance(runtime: Runtime, account: str = "demo") -> int:
    found = runtime.store.get_account(P, account)
    assert found is not None
    return found.credits


def task_count(runtime: Runtime, account: str = "demo") -> int:
    return len(runtime.store.tasks(P, account))


def charges(runtime: Runtime, account: str = "demo") -> list[int]:
    _, entries = runtime.store.ledger(P, account)
    return [e.amount for e in entries if e.kind == "charge"]


def duration_of(runtime: Runtime, task_id: str) -> float:
    """The processing time drawn for a task (its due instant minus its creation)."""
    task = runtime.store.get_task(task_id)
    assert task is not None
    assert task.due_at is not None
    return task.due_at - task.created_at


def finish(runtime: Runtime) -> None:
    runtime.clock.advance(LONGEST_TASK)


def run_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """``work(i)`` in ``count`` real threads released together."""
    barrier = threading.Barrier(count)

    def started(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(started, range(count)))


# media ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Video:
    codec: str
    width: int
    height: int
    fps: float
    frames: int
    audio_streams: int


def probe_mp4(data: bytes) -> Video:
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        frames = len(list(container.decode(stream)))
        assert stream.average_rate is not None
        return Video(
            stream.codec_context.name,
            stream.width,
            stream.height,
            float(stream.average_rate),
            frames,
            len(container.streams.audio),
        )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def download(client: FlaskClient, url: str, **headers: str) -> TestResponse:
    return client.get(urlsplit(url).path, headers=headers)


def completed_output(client: FlaskClient, runtime: Runtime, body: dict[str, Any]) -> dict[str, Any]:
    task_id = accepted(submit(client, body))["id"]
    finish(runtime)
    task = task_body(client, task_id)
    assert task["status"] == "completed"
    output: dict[str, Any] = task["output"]
    return output


# fixtures ------------------------------------------------------------------------------


@pytest.fixture
def submitted(client: FlaskClient) -> TestResponse:
    """The document's example request, as the demo account."""
    return submit(client, EXAMPLE, idempotency_key="demo-video-001")


@pytest.fixture
def task_id(submitted: TestResponse) -> str:
    return str(accepted(submitted)["id"])


@pytest.fixture
def other_account(runtime: Runtime) -> str:
    runtime.simulation.create_account(P, "other", 1000, ["sk_live_other"])
    return "sk_live_other"


@pytest.fixture
def two_key_account(runtime: Runtime) -> tuple[str, str]:
    runtime.simulation.create_account(P, "team", 1000, ["sk_live_team_a", "sk_live_team_b"])
    return "sk_live_team_a", "sk_live_team_b"


# the 202 body ---------------------------------------------------------------------------


def test_example_request_is_accepted_with_the_documented_body(submitted: TestResponse) -> None:
    body = accepted(submitted)
    assert submitted.mimetype == "application/json"
    assert list(body) == ACCEPTED_FIELDS
    assert TASK_ID.match(body["id"]), body["id"]
    assert body == {
        "id": body["id"],
        "status": "processing",
        "model": "seedance2",
        "quality_tier": "standard",
        "channel": "standard",
        "credits_used": 30,
    }


def test_accepted_body_echoes_the_requested_tier_and_channel(client: FlaskClient) -> None:
    body = accepted(submit(client, {"prompt": PROMPT, "quality_tier": "pro", "channel": "wild"}))
    assert (body["quality_tier"], body["channel"]) == ("pro", "wild")


def test_every_submission_gets_a_new_id(client: FlaskClient) -> None:
    ids = {accepted(submit(client))["id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(TASK_ID.match(i) for i in ids)


# the task body and lifecycle ------------------------------------------------------------


def test_processing_task_has_the_documented_fields_in_order(
    client: FlaskClient, task_id: str
) -> None:
    body = task_body(client, task_id)
    assert list(body) == TASK_FIELDS
    assert body == {
        "id": task_id,
        "status": "processing",
        "model": "seedance2",
        "quality_tier": "standard",
        "channel": "standard",
        "credits_used": 30,
        "credits_refunded": 0,
        "output": None,
        "error": None,
        "created_at": "2026-06-03T10:00:00.000Z",
        "updated_at": "2026-06-03T10:00:00.000Z",
    }


def test_task_processes_until_its_drawn_duration_has_passed(
    client: FlaskClient, runtime: Runtime, task_id: str
) -> None:
    seconds = duration_of(runtime, task_id)
    assert 60 <= seconds <= LONGEST_TASK
    runtime.clock.advance(seconds - 0.001)
    assert task_body(client, task_id)["status"] == "processing"
    runtime.clock.advance(0.001)
    body = task_body(client, task_id)
    assert body["status"] == "completed"
    assert body["created_at"] == "2026-06-03T10:00:00.000Z"
    assert body["updated_at"] == format_instant(START + seconds)
    assert TIMESTAMP.match(body["updated_at"])


def test_completed_task_has_output_and_no_error(
    client: FlaskClient, runtime: Runtime, task_id: str
) -> None:
    finish(runtime)
    body = task_body(client, task_id)
    assert list(body) == TASK_FIELDS
    assert (body["status"], body["credits_used"], body["credits_refunded"]) == (
        "completed",
        30,
        0,
    )
    assert body["error"] is None
    assert list(body["output"]) == ["video_url", "last_frame_url", "seed"]
    assert urlsplit(body["output"]["video_url"]).path.endswith(".mp4")
    assert urlsplit(body["output"]["last_frame_url"]).path.endswith(".png")


def test_completed_task_never_moves_back(
    client: FlaskClient, runtime: Runtime, task_id: str
) -> None:
    finish(runtime)
    first = task_body(client, task_id)
    runtime.clock.advance(10 * DAY)
    assert task_body(client, task_id) == first
    with pytest.raises(ValueError, match="already ended"):
        runtime.simulation.force(task_id, "failed")
    assert task_body(client, task_id) == first


def test_timestamps_are_iso_8601_utc_with_milliseconds(
    client: FlaskClient, runtime: Runtime
) -> None:
    runtime.clock.advance(1.5)
    task_id = accepted(submit(client))["id"]
    runtime.clock.advance(2.25)
    runtime.simulation.force(task_id, "completed")
    body = task_body(client, task_id)
    assert body["created_at"] == "2026-06-03T10:00:01.500Z"
    assert body["updated_at"] == "2026-06-03T10:00:03.750Z"


@pytest.mark.parametrize("seed", [0, 123, 4294967295])
def test_requested_seed_is_echoed_in_the_output(
    client: FlaskClient, runtime: Runtime, seed: int
) -> None:
    assert completed_output(client, runtime, {"prompt": PROMPT, "seed": seed})["seed"] == seed


@pytest.mark.parametrize("body", [{"prompt": PROMPT}, {"prompt": PROMPT, "seed": -1}])
def test_absent_or_minus_one_seed_reports_the_drawn_seed(
    client: FlaskClient, runtime: Runtime, body: dict[str, Any]
) -> None:
    seed = completed_output(client, runtime, body)["seed"]
    assert isinstance(seed, int)
    assert 0 <= seed <= 4294967295


def test_fail_scenario_fails_at_its_time_with_the_error_shape(
    client: FlaskClient, runtime: Runtime
) -> None:
    task_id = accepted(submit(client, scenario="fail"))["id"]
    seconds = duration_of(runtime, task_id)
    runtime.clock.advance(seconds - 0.001)
    assert task_body(client, task_id)["status"] == "processing"
    runtime.clock.advance(0.001)
    body = task_body(client, task_id)
    assert list(body) == TASK_FIELDS
    assert body["status"] == "failed"
    assert body["output"] is None
    assert list(body["error"]) == ["code", "message"]
    assert body["error"]["code"] == "generation_failed"
    assert body["error"]["message"]
    assert body["updated_at"] == format_instant(START + seconds)


def test_instant_scenario_is_completed_at_once(client: FlaskClient) -> None:
    task_id = accepted(submit(client, scenario="instant"))["id"]
    body = task_body(client, task_id)
    assert body["status"] == "completed"
    assert body["updated_at"] == body["created_at"]


def test_stuck_scenario_stays_processing(client: FlaskClient, runtime: Runtime) -> None:
    task_id = accepted(submit(client, scenario="stuck"))["id"]
    runtime.clock.advance(13 * DAY)
    body = task_body(client, task_id)
    assert (body["status"], body["output"], body["error"]) == ("processing", None, None)


def test_slow_scenario_takes_ten_times_as_long(client: FlaskClient, runtime: Runtime) -> None:
    task_id = accepted(submit(client, scenario="slow"))["id"]
    seconds = duration_of(runtime, task_id)
    assert 10 * 60 <= seconds <= 10 * LONGEST_TASK
    runtime.clock.advance(LONGEST_TASK)
    assert task_body(client, task_id)["status"] == "processing"
    runtime.clock.advance(seconds)
    assert task_body(client, task_id)["status"] == "completed"


def test_forced_failure_carries_its_own_code_and_message(
    client: FlaskClient, runtime: Runtime, task_id: str
) -> None:
    runtime.clock.advance(12)
    runtime.simulation.force(task_id, "failed", "moderation", "Blocked by moderation.")
    body = task_body(client, task_id)
    assert body["status"] == "failed"
    assert body["error"] == {"code": "moderation", "message": "Blocked by moderation."}
    assert body["updated_at"] == "2026-06-03T10:00:12.000Z"


def test_task_expires_fourteen_days_after_creation(
    client: FlaskClient, runtime: Runtime, task_id: str
) -> None:
    finish(runtime)
    video_url = task_body(client, task_id)["output"]["video_url"]
    runtime.clock.advance(13 * DAY)
    assert get_task(client, task_id).status_code == 200
    runtime.clock.advance(DAY)
    assert_error(get_task(client, task_id), 404, "not_found")
    assert download(client, video_url).status_code == 404


class TestFailureRate:
    @pytest.fixture
    def config(self) -> Config:
        return base_config(overrides={P: {"failure": {"rate": 1.0}}})

    def test_every_task_fails_at_failure_rate_one(
        self, client: FlaskClient, runtime: Runtime
    ) -> None:
        task_id = accepted(submit(client))["id"]
        finish(runtime)
        assert task_body(client, task_id)["status"] == "failed"

    def test_complete_scenario_completes_despite_the_failure_rate(
        self, client: FlaskClient, runtime: Runtime
    ) -> None:
        task_id = accepted(submit(client, scenario="complete"))["id"]
        finish(runtime)
        assert task_body(client, task_id)["status"] == "completed"


# validation -------------------------------------------------------------------------------

INVALID_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("prompt missing", {}, "prompt"),
    ("prompt too short", {"prompt": "ab"}, "prompt"),
    ("prompt too long", {"prompt": "x" * 10001}, "prompt"),
    ("prompt not a string", {"prompt": 123}, "prompt"),
    ("mode unknown", {"mode": "video-to-video"}, "mode"),
    ("quality_tier unknown", {"quality_tier": "ultra"}, "quality_tier"),
    ("channel unknown", {"channel": "fast"}, "channel"),
    ("aspect_ratio unknown", {"aspect_ratio": "2:1"}, "aspect_ratio"),
    ("resolution unknown", {"resolution": "480p"}, "resolution"),
    ("duration below 4", {"duration": "3"}, "duration"),
    ("duration above 15", {"duration": "16"}, "duration"),
    ("duration not whole", {"duration": "4.5"}, "duration"),
    ("duration padded", {"duration": "05"}, "duration"),
    ("duration empty", {"duration": ""}, "duration"),
    ("duration as a number", {"duration": 5}, "duration"),
    ("seed below -1", {"seed": -2}, "seed"),
    ("seed above 2^32-1", {"seed": 4294967296}, "seed"),
    ("seed fractional", {"seed": 1.5}, "seed"),
    ("seed as a string", {"seed": "7"}, "seed"),
    ("seed boolean", {"seed": True}, "seed"),
    ("generate_audio not boolean", {"generate_audio": "yes"}, "generate_audio"),
    ("fixed_lens not boolean", {"fixed_lens": 1}, "fixed_lens"),
    ("image_url http", {"image_url": "http://cdn.example.com/a.png"}, "image_url"),
    ("image_url ftp", {"image_url": "ftp://cdn.example.com/a.png"}, "image_url"),
    ("image_url localhost", {"image_url": "https://localhost/a.png"}, "image_url"),
    ("image_url loopback", {"image_url": "https://127.0.0.1/a.png"}, "image_url"),
    ("image_url private", {"image_url": "https://192.168.1.20/a.png"}, "image_url"),
    ("image_url relative", {"image_url": "/a.png"}, "image_url"),
    ("image_url not a URL", {"image_url": "a picture"}, "image_url"),
    ("end_image_url http", {"end_image_url": "http://cdn.example.com/z.png"}, "end_image_url"),
    ("media_urls not a list", {"media_urls": "https://cdn.example.com/a.mp4"}, "media_urls"),
    (
        "media_urls entry http",
        {"media_urls": ["https://cdn.example.com/a.mp4", "http://cdn.example.com/b.mp4"]},
        "media_urls[1]",
    ),
    (
        "media_urls over 12",
        {"mode": "media-to-video", "media_urls": [*TWELVE_URLS, "https://cdn.example.com/13.mp4"]},
        "media_urls",
    ),
    ("image-to-video without image_url", {"mode": "image-to-video"}, "image_url"),
    ("media-to-video without media_urls", {"mode": "media-to-video"}, "media_urls"),
    ("media-to-video with no URLs", {"mode": "media-to-video", "media_urls": []}, "media_urls"),
    ("1080p-plus on standard", {"quality_tier": "standard", "resolution": "1080p-plus"},
     "resolution"),
    ("4k on the default tier", {"resolution": "4k"}, "resolution"),
    ("4k on mini", {"quality_tier": "mini", "resolution": "4k"}, "resolution"),
    ("seed on the real channel", {"channel": "real", "seed": 5}, "seed"),
    ("seed on the mini tier", {"quality_tier": "mini", "seed": 5}, "seed"),
    ("unknown field", {"negative_prompt": "blur"}, "negative_prompt"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "field"),
    [pytest.param(body, field, id=name) for name, body, field in INVALID_BODIES],
)
def test_invalid_body_is_refused_naming_the_field(
    client: FlaskClient, runtime: Runtime, fields: dict[str, Any], field: str
) -> None:
    body = {"prompt": PROMPT, **fields} if "prompt" not in fields and fields else fields
    message = assert_error(submit(client, body), 400, "invalid_request")
    assert field in message
    assert task_count(runtime) == 0
    assert balance(runtime) == 10000


def test_unknown_field_says_unsupported_field(client: FlaskClient) -> None:
    message = assert_error(
        submit(client, {"prompt": PROMPT, "style": "noir"}), 400, "invalid_request"
    )
    assert message == "style: unsupported field"


def test_seed_rules_name_the_channel_and_the_tier(client: FlaskClient) -> None:
    on_real = submit(client, {"prompt": PROMPT, "channel": "real", "seed": 1})
    on_mini = submit(client, {"prompt": PROMPT, "quality_tier": "mini", "seed": 1})
    real = assert_error(on_real, 400, "invalid_request")
    mini = assert_error(on_mini, 400, "invalid_request")
    assert "real" in real
    assert "mini" in mini


def test_pro_only_resolutions_name_the_resolution(client: FlaskClient) -> None:
    message = assert_error(
        submit(client, {"prompt": PROMPT, "resolution": "1080p-plus"}), 400, "invalid_request"
    )
    assert "1080p-plus" in message


VALID_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("prompt of 3 characters", {"prompt": "abc"}),
    ("prompt of 10000 characters", {"prompt": "x" * 10000}),
    ("duration 4", {"prompt": PROMPT, "duration": "4"}),
    ("duration 15", {"prompt": PROMPT, "duration": "15"}),
    ("seed -1", {"prompt": PROMPT, "seed": -1}),
    ("seed 4294967295", {"prompt": PROMPT, "seed": 4294967295}),
    ("seed on wild channel", {"prompt": PROMPT, "channel": "wild", "seed": 9}),
    ("real channel without seed", {"prompt": PROMPT, "channel": "real"}),
    ("mini without seed", {"prompt": PROMPT, "quality_tier": "mini"}),
    ("1080p-plus on pro", {"prompt": PROMPT, "quality_tier": "pro", "resolution": "1080p-plus"}),
    ("4k on pro", {"prompt": PROMPT, "quality_tier": "pro", "resolution": "4k"}),
    (
        "image-to-video with start and end frames",
        {
            "prompt": PROMPT,
            "mode": "image-to-video",
            "image_url": "https://cdn.example.com/start.png",
            "end_image_url": "https://cdn.example.com/end.png",
        },
    ),
    (
        "media-to-video with 12 URLs",
        {
            "prompt": PROMPT,
            "mode": "media-to-video",
            "media_urls": TWELVE_URLS,
        },
    ),
    ("public IP address", {"prompt": PROMPT, "image_url": "https://8.8.8.8/a.png"}),
    ("booleans", {"prompt": PROMPT, "generate_audio": False, "fixed_lens": True}),
    *[(f"aspect {r}", {"prompt": PROMPT, "aspect_ratio": r})
      for r in ("1:1", "21:9", "4:3", "3:4", "16:9", "9:16", "adaptive")],
    *[(f"tier {t}", {"prompt": PROMPT, "quality_tier": t}) for t in ("mini", "standard", "pro")],
    *[(f"channel {c}", {"prompt": PROMPT, "channel": c}) for c in ("standard", "real", "wild")],
    *[(f"resolution {r}", {"prompt": PROMPT, "resolution": r}) for r in ("720p", "1080p")],
    *[(f"duration {d}", {"prompt": PROMPT, "duration": str(d)}) for d in range(5, 15)],
]  # fmt: skip


@pytest.mark.parametrize(("body"), [pytest.param(b, id=name) for name, b in VALID_BODIES])
def test_valid_body_is_accepted(client: FlaskClient, body: dict[str, Any]) -> None:
    accepted(submit(client, body))


@pytest.mark.parametrize(
    ("data", "says"),
    [
        pytest.param("{", "not valid JSON", id="broken JSON"),
        pytest.param("{'prompt': 'abc'}", "not valid JSON", id="single quotes"),
        pytest.param('{"prompt": NaN}', "not valid JSON", id="NaN"),
        pytest.param('["prompt"]', "JSON object", id="array"),
        pytest.param('"prompt"', "JSON object", id="string"),
        pytest.param("null", "JSON object", id="null"),
        pytest.param("42", "JSON object", id="number"),
        pytest.param("", "empty", id="empty"),
        pytest.param("   ", "empty", id="blank"),
    ],
)
def test_body_that_is_not_a_json_object_is_refused(
    client: FlaskClient, runtime: Runtime, data: str, says: str
) -> None:
    message = assert_error(submit_raw(client, data), 400, "invalid_request")
    assert says in message
    assert task_count(runtime) == 0


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", None],
)
def test_wrong_content_type_is_refused(
    client: FlaskClient, runtime: Runtime, content_type: str | None
) -> None:
    message = assert_error(
        submit_raw(client, json.dumps({"prompt": PROMPT}), content_type), 400, "invalid_request"
    )
    assert "Content-Type" in message
    assert task_count(runtime) == 0


def test_json_with_a_charset_is_accepted(client: FlaskClient) -> None:
    response = submit_raw(client, json.dumps({"prompt": PROMPT}), "application/json; charset=utf-8")
    accepted(response)


def test_body_over_one_mebibyte_is_refused_with_413(client: FlaskClient) -> None:
    huge = json.dumps({"prompt": PROMPT, "pad": "x" * (1024 * 1024)})
    assert_error(submit_raw(client, huge), 413, "invalid_request")


# unauthorized ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no Authorization"),
        pytest.param({"Authorization": "Bearer"}, id="Bearer without key"),
        pytest.param({"Authorization": "Bearer   "}, id="blank key"),
        pytest.param({"Authorization": f"Basic {DEMO_KEY}"}, id="wrong scheme"),
        pytest.param({"Authorization": DEMO_KEY}, id="key without scheme"),
        pytest.param({"Authorization": "Bearer sk_live_unknown"}, id="unknown key"),
    ],
)
def test_missing_or_invalid_key_is_unauthorized(
    client: FlaskClient, runtime: Runtime, task_id: str, headers: dict[str, str]
) -> None:
    posted = client.post(
        SUBMIT, json={"prompt": PROMPT}, headers={**headers, "Idempotency-Key": "a"}
    )
    assert_error(posted, 401, "unauthorized")
    assert_error(client.get(f"{TASKS}/{task_id}", headers=headers), 401, "unauthorized")
    assert task_count(runtime) == 1
    assert balance(runtime) == 10000 - 30


def test_revoked_key_is_unauthorized_while_the_accounts_other_keys_work(
    client: FlaskClient, runtime: Runtime, two_key_account: tuple[str, str]
) -> None:
    first, second = two_key_account
    task_id = accepted(submit(client, key=first))["id"]
    runtime.store.revoke_key(P, first)
    assert_error(submit(client, key=first), 401, "unauthorized")
    assert_error(get_task(client, task_id, first), 401, "unauthorized")
    assert task_body(client, task_id, second)["id"] == task_id


def test_authentication_comes_before_validation(client: FlaskClient) -> None:
    response = submit(client, {"prompt": 1}, key=None, idempotency_key=None)
    assert_error(response, 401, "unauthorized")


# insufficient credits -------------------------------------------------------------------


def test_short_balance_gets_402_and_nothing_is_created_or_charged(
    client: FlaskClient, runtime: Runtime
) -> None:
    runtime.simulation.create_account(P, "poor", 29, ["sk_live_poor"])
    ledger_before = runtime.store.ledger(P, "poor")
    assert_error(submit(client, EXAMPLE, key="sk_live_poor"), 402, "insufficient_credits")
    assert task_count(runtime, "poor") == 0
    assert balance(runtime, "poor") == 29
    assert runtime.store.ledger(P, "poor") == ledger_before


def test_exact_balance_is_enough_and_then_nothing_is_left(
    client: FlaskClient, runtime: Runtime
) -> None:
    runtime.simulation.create_account(P, "exact", 30, ["sk_live_exact"])
    assert accepted(submit(client, EXAMPLE, key="sk_live_exact"))["credits_used"] == 30
    assert balance(runtime, "exact") == 0
    assert_error(submit(client, EXAMPLE, key="sk_live_exact"), 402, "insufficient_credits")
    assert task_count(runtime, "exact") == 1


# rate limits --------------------------------------------------------------------------------


def test_thirty_requests_a_minute_then_429_with_the_exact_retry_after(
    client: FlaskClient, runtime: Runtime, task_id: str
) -> None:
    # the fixture's submission at 10:00:00 is request 1; polls at 1..29 s are 2..30
    for _ in range(29):
        runtime.clock.advance(1)
        assert get_task(client, task_id).status_code == 200
    runtime.clock.advance(1)  # 30 s: the oldest slot frees at 60 s
    refused = submit(client)
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["Retry-After"] == "30"
    assert task_count(runtime) == 1
    runtime.clock.advance(29)
    assert get_task(client, task_id).headers["Retry-After"] == "1"
    runtime.clock.advance(1)
    accepted(submit(client))


def test_retry_after_rounds_a_fractional_wait_up(client: FlaskClient, runtime: Runtime) -> None:
    runtime.clock.advance(0.5)
    for _ in range(30):
        get_task(client, "sd2_000000000000")
    runtime.clock.advance(9.5)  # oldest slot frees 50.5 s from now
    refused = get_task(client, "sd2_000000000000")
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["Retry-After"] == "51"
    runtime.clock.advance(51)
    assert_error(get_task(client, "sd2_000000000000"), 404, "not_found")


def test_polls_count_against_the_limit(client: FlaskClient, runtime: Runtime, task_id: str) -> None:
    for _ in range(29):
        get_task(client, task_id)
    response = submit(client)
    assert_error(response, 429, "rate_limited")
    assert response.headers["Retry-After"] == "60"


def test_refused_requests_are_not_counted(client: FlaskClient, runtime: Runtime) -> None:
    for _ in range(30):
        runtime.clock.advance(1)
        get_task(client, "sd2_000000000000")
    for _ in range(20):  # all at 30 s
        assert get_task(client, "sd2_000000000000").status_code == 429
    runtime.clock.advance(31)  # 61 s: only the request made at 1 s has left the window
    assert get_task(client, "sd2_000000000000").status_code == 404
    assert get_task(client, "sd2_000000000000").headers["Retry-After"] == "1"


def test_rate_limit_is_per_account_shared_by_its_keys(
    client: FlaskClient, two_key_account: tuple[str, str], other_account: str
) -> None:
    first, second = two_key_account
    for _ in range(30):
        get_task(client, "sd2_000000000000", first)
    assert_error(get_task(client, "sd2_000000000000", second), 429, "rate_limited")
    assert get_task(client, "sd2_000000000000", other_account).status_code == 404
    assert get_task(client, "sd2_000000000000", DEMO_KEY).status_code == 404


def test_unauthenticated_requests_use_no_accounts_quota(client: FlaskClient) -> None:
    for _ in range(40):
        assert get_task(client, "sd2_000000000000", "sk_live_wrong").status_code == 401
    for _ in range(30):
        assert get_task(client, "sd2_000000000000").status_code == 404


def test_invalid_requests_count_against_the_limit(client: FlaskClient) -> None:
    for _ in range(30):
        assert submit(client, {"prompt": "ab"}).status_code == 400
    assert_error(submit(client), 429, "rate_limited")


def _media_body(n: int = 1) -> dict[str, Any]:
    urls = [f"https://cdn.example.com/ref{i}.mp4" for i in range(n)]
    return {"prompt": PROMPT, "mode": "media-to-video", "media_urls": urls}


def test_three_media_validations_a_minute_then_429_with_exact_retry_after(
    client: FlaskClient, runtime: Runtime
) -> None:
    for _ in range(3):
        accepted(submit(client, _media_body()))
        runtime.clock.advance(10)
    refused = submit(client, _media_body())  # at 30 s; the first frees at 60 s
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["Retry-After"] == "30"
    assert task_count(runtime) == 3
    accepted(submit(client))  # a request without media_urls still gets in
    runtime.clock.advance(30)
    accepted(submit(client, _media_body()))


def test_media_refused_with_429_do_not_use_up_the_request_limit(
    client: FlaskClient, runtime: Runtime
) -> None:
    # DECISIONS A12: "A request refused with 429 is not counted".
    for _ in range(3):
        accepted(submit(client, _media_body()))
    for _ in range(27):
        assert_error(submit(client, _media_body()), 429, "rate_limited")
    # 3 requests counted so far: 27 more are still admitted
    for _ in range(27):
        assert get_task(client, "sd2_000000000000").status_code == 404


def test_concurrent_requests_admit_exactly_thirty(app: Flask) -> None:
    def poll(_i: int) -> int:
        return get_task(app.test_client(), "sd2_000000000000").status_code

    statuses = run_threads(45, poll)
    assert statuses.count(404) == 30
    assert statuses.count(429) == 15


# idempotency ------------------------------------------------------------------------------


def test_missing_idempotency_key_is_refused(client: FlaskClient, runtime: Runtime) -> None:
    message = assert_error(submit(client, idempotency_key=None), 400, "invalid_request")
    assert "Idempotency-Key" in message
    assert task_count(runtime) == 0


@pytest.mark.parametrize("value", ["", "x" * 256, "has space"])
def test_malformed_idempotency_key_is_refused(client: FlaskClient, value: str) -> None:
    message = assert_error(submit(client, idempotency_key=value), 400, "invalid_request")
    assert "Idempotency-Key" in message


def test_same_key_and_body_replays_the_same_bytes_without_a_new_charge(
    client: FlaskClient, runtime: Runtime, submitted: TestResponse
) -> None:
    again = submit(client, EXAMPLE, idempotency_key="demo-video-001")
    assert again.status_code == 202
    assert again.get_data() == submitted.get_data()
    assert task_count(runtime) == 1
    assert charges(runtime) == [-30]
    assert balance(runtime) == 10000 - 30


def test_key_order_and_whitespace_do_not_make_a_different_body(
    client: FlaskClient, runtime: Runtime, submitted: TestResponse
) -> None:
    reordered = (
        "{\n  "
        + ",\n  ".join(f"{json.dumps(k)} :  {json.dumps(v)}" for k, v in reversed(EXAMPLE.items()))
        + "\n}\n"
    )
    again = submit_raw(client, reordered, idempotency_key="demo-video-001")
    assert again.status_code == 202
    assert again.get_data() == submitted.get_data()
    assert task_count(runtime) == 1


def test_replay_after_the_task_ended_is_still_the_original_202(
    client: FlaskClient, runtime: Runtime, submitted: TestResponse, task_id: str
) -> None:
    finish(runtime)
    assert task_body(client, task_id)["status"] == "completed"
    again = submit(client, EXAMPLE, idempotency_key="demo-video-001")
    assert (again.status_code, again.get_data()) == (202, submitted.get_data())


def test_replay_needs_no_credits(client: FlaskClient, runtime: Runtime) -> None:
    runtime.simulation.create_account(P, "exact", 30, ["sk_live_exact"])
    first = submit(client, EXAMPLE, key="sk_live_exact", idempotency_key="k")
    again = submit(client, EXAMPLE, key="sk_live_exact", idempotency_key="k")
    assert (again.status_code, again.get_data()) == (202, first.get_data())
    assert balance(runtime, "exact") == 0


def test_same_key_with_a_different_body_conflicts(
    client: FlaskClient, runtime: Runtime, submitted: TestResponse
) -> None:
    changed = {**EXAMPLE, "duration": "6"}
    assert_error(
        submit(client, changed, idempotency_key="demo-video-001"), 409, "idempotency_conflict"
    )
    assert task_count(runtime) == 1
    assert balance(runtime) == 10000 - 30


def test_omitted_default_and_explicit_default_are_different_bodies(
    client: FlaskClient, runtime: Runtime, submitted: TestResponse
) -> None:
    explicit = {**EXAMPLE, "generate_audio": True}
    response = submit(client, explicit, idempotency_key="demo-video-001")
    assert_error(response, 409, "idempotency_conflict")


def test_same_key_while_the_first_request_is_still_running_conflicts(
    client: FlaskClient, runtime: Runtime
) -> None:
    # Hold the key the way a first request does while it is being handled.
    scope = IdempotencyScope(P, "demo", "in-flight")
    runtime.store.claim(
        scope, fingerprint(EXAMPLE), runtime.clock.now(), ClaimPolicy(DAY, 300, False)
    )
    response = submit(client, EXAMPLE, idempotency_key="in-flight")
    assert_error(response, 409, "idempotency_conflict")
    assert task_count(runtime) == 0


def test_idempotency_keys_are_scoped_per_account(
    client: FlaskClient, runtime: Runtime, submitted: TestResponse, other_account: str
) -> None:
    theirs = accepted(submit(client, EXAMPLE, key=other_account, idempotency_key="demo-video-001"))
    assert theirs["id"] != accepted(submitted)["id"]
    assert balance(runtime, "other") == 1000 - 30
    assert balance(runtime) == 10000 - 30


def test_any_key_of_the_account_replays_its_idempotency_keys(
    client: FlaskClient, runtime: Runtime, two_key_account: tuple[str, str]
) -> None:
    first, second = two_key_account
    one = submit(client, EXAMPLE, key=first, idempotency_key="shared")
    two = submit(client, EXAMPLE, key=second, idempotency_key="shared")
    assert (two.status_code, two.get_data()) == (202, one.get_data())
    assert task_count(runtime, "team") == 1


def test_key_of_an_invalid_request_can_be_used_again(client: FlaskClient, runtime: Runtime) -> None:
    assert submit(client, {"prompt": "ab"}, idempotency_key="fix-me").status_code == 400
    accepted(submit(client, EXAMPLE, idempotency_key="fix-me"))


def test_key_of_a_request_short_of_credits_can_be_used_again(
    client: FlaskClient, runtime: Runtime
) -> None:
    runtime.simulation.create_account(P, "poor", 10, ["sk_live_poor"])
    refused = submit(client, EXAMPLE, key="sk_live_poor", idempotency_key="later")
    assert_error(refused, 402, "insufficient_credits")
    runtime.store.set_credits(P, "poor", 100, runtime.clock.now(), "top-up")
    accepted(submit(client, EXAMPLE, key="sk_live_poor", idempotency_key="later"))
    assert balance(runtime, "poor") == 100 - 30


def test_key_of_a_rate_limited_request_can_be_used_again(
    client: FlaskClient, runtime: Runtime
) -> None:
    for _ in range(30):
        get_task(client, "sd2_000000000000")
    assert submit(client, EXAMPLE, idempotency_key="patient").status_code == 429
    runtime.clock.advance(60)
    accepted(submit(client, EXAMPLE, idempotency_key="patient"))


def test_key_is_forgotten_after_24_hours(
    client: FlaskClient, runtime: Runtime, submitted: TestResponse
) -> None:
    runtime.clock.advance(DAY - 1)
    replay = submit(client, EXAMPLE, idempotency_key="demo-video-001")
    assert replay.get_data() == submitted.get_data()
    runtime.clock.advance(1)
    fresh = accepted(submit(client, EXAMPLE, idempotency_key="demo-video-001"))
    assert fresh["id"] != accepted(submitted)["id"]
    assert charges(runtime) == [-30, -30]


class TestIdempotencyTaskReading:
    """DECISIONS A4's alternative: 409 while the key's task is processing."""

    @pytest.fixture
    def config(self) -> Config:
        return base_config(overrides={P: {"idempotency": {"in_flight": "task"}}})

    def test_conflict_while_processing_then_replay_once_ended(
        self, client: FlaskClient, runtime: Runtime, submitted: TestResponse, task_id: str
    ) -> None:
        again = submit(client, EXAMPLE, idempotency_key="demo-video-001")
        assert_error(again, 409, "idempotency_conflict")
        finish(runtime)
        replay = submit(client, EXAMPLE, idempotency_key="demo-video-001")
        assert (replay.status_code, replay.get_data()) == (202, submitted.get_data())
        assert task_count(runtime) == 1
        assert charges(runtime) == [-30]


class TestConcurrentSubmissions:
    @pytest.fixture
    def config(self) -> Config:
        return base_config(overrides={P: {"rate_limits": {"requests": {"limit": 1000}}}})

    def test_identical_concurrent_submissions_make_one_task_and_one_charge(
        self, app: Flask, runtime: Runtime
    ) -> None:
        def send(_i: int) -> TestResponse:
            return submit(app.test_client(), EXAMPLE, idempotency_key="race")

        responses = run_threads(50, send)
        created = [r for r in responses if r.status_code == 202]
        assert created
        assert len({r.get_data() for r in created}) == 1
        for response in responses:
            if response.status_code != 202:
                assert_error(response, 409, "idempotency_conflict")
        assert task_count(runtime) == 1
        assert charges(runtime) == [-30]
        assert balance(runtime) == 10000 - 30

    def test_concurrent_submissions_never_overdraw(self, app: Flask, runtime: Runtime) -> None:
        runtime.simulation.create_account(P, "seven", 7 * 30 + 10, ["sk_live_seven"])

        def send(_i: int) -> int:
            return submit(app.test_client(), EXAMPLE, key="sk_live_seven").status_code

        statuses = run_threads(20, send)
        assert statuses.count(202) == 7
        assert statuses.count(402) == 13
        assert balance(runtime, "seven") == 10


# not found and routing ------------------------------------------------------------------


def test_unknown_task_is_not_found(client: FlaskClient) -> None:
    assert_error(get_task(client, "sd2_000000000000"), 404, "not_found")


def test_another_accounts_task_is_not_found(
    client: FlaskClient, task_id: str, other_account: str
) -> None:
    assert_error(get_task(client, task_id, other_account), 404, "not_found")


def test_any_key_of_the_owning_account_reads_the_task(
    client: FlaskClient, two_key_account: tuple[str, str]
) -> None:
    first, second = two_key_account
    task_id = accepted(submit(client, key=first))["id"]
    assert task_body(client, task_id, second)["id"] == task_id


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/balance",
        "/api/v1/credits",
        "/api/v1/me",
        "/api/v1/video/seedance3",
        "/api/v1//tasks/sd2_000000000000",  # the router redirected doubled slashes (HTML 308)
        "/api/v1/tasks/%2Fsd2_000000000000",  # found by tests/reliability/test_fuzz_http.py
    ],
)
def test_unknown_path_is_404_in_the_error_envelope(client: FlaskClient, path: str) -> None:
    assert_error(client.get(path, headers=auth()), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", SUBMIT), ("PUT", SUBMIT), ("DELETE", f"{TASKS}/sd2_000000000000")],
)
def test_wrong_method_is_405_in_the_error_envelope(
    client: FlaskClient, method: str, path: str
) -> None:
    assert_error(client.open(path, method=method, headers=auth()), 405, "method_not_allowed")


def test_405_says_which_method_is_allowed(client: FlaskClient) -> None:
    # RFC 9110 §15.5.6: a 405 response MUST carry an Allow header.
    response = client.get(SUBMIT, headers=auth())
    assert response.status_code == 405
    assert "POST" in response.headers.get("Allow", "")


# prices -------------------------------------------------------------------------------------

# Document 000's example and every row of observed-behaviour.md's credit table.
OBSERVED_PRICES = [
    ("standard", "720p", "5", None, 30),  # document 000: audio left at its default
    ("mini", "720p", "10", False, 22),
    ("standard", "720p", "15", True, 135),
    ("standard", "1080p", "10", False, 145),
    ("pro", "720p", "5", False, 55),
    ("pro", "720p", "10", False, 110),
    ("pro", "1080p", "4", False, 95),
    ("pro", "1080p", "5", False, 120),
    ("pro", "1080p", "10", False, 240),
    ("mini", "1080p", "15", True, 180),
]


@pytest.mark.parametrize(
    "cell", OBSERVED_PRICES, ids=lambda c: "-".join(str(v) for v in c if v is not None)
)
def test_observed_prices_are_charged_exactly(
    client: FlaskClient, runtime: Runtime, cell: tuple[str, str, str, bool | None, int]
) -> None:
    tier, resolution, duration, audio, price = cell
    body: dict[str, Any] = {
        "prompt": PROMPT,
        "quality_tier": tier,
        "resolution": resolution,
        "duration": duration,
    }
    if audio is not None:
        body["generate_audio"] = audio
    receipt = accepted(submit(client, body))
    assert receipt["credits_used"] == price
    assert task_body(client, receipt["id"])["credits_used"] == price
    assert balance(runtime) == 10000 - price
    assert charges(runtime) == [-price]


def test_observed_prices_are_the_spec_cells(runtime: Runtime) -> None:
    cells = runtime.specs[P].profile_json["pricing"]["cells"]
    table = {
        (c["quality_tier"], c["resolution"], str(c["duration"]), c["generate_audio"]): c["credits"]
        for c in cells
    }
    expected = {(t, r, d, True if a is None else a): p for t, r, d, a, p in OBSERVED_PRICES}
    assert table == expected


def test_channel_and_aspect_ratio_do_not_change_the_price(client: FlaskClient) -> None:
    prices = {
        accepted(submit(client, {**EXAMPLE, "channel": channel, "aspect_ratio": ratio}))[
            "credits_used"
        ]
        for channel in ("standard", "real", "wild")
        for ratio in ("16:9", "9:16", "adaptive")
    }
    assert prices == {30}


# refunds ------------------------------------------------------------------------------------


def test_failed_task_is_refunded_in_full(client: FlaskClient, runtime: Runtime) -> None:
    task_id = accepted(submit(client, EXAMPLE, scenario="fail"))["id"]
    assert balance(runtime) == 10000 - 30
    finish(runtime)
    body = task_body(client, task_id)
    assert body["status"] == "failed"
    assert body["credits_refunded"] == body["credits_used"] == 30
    assert balance(runtime) == 10000


def test_forced_failure_is_refunded_in_full(
    client: FlaskClient, runtime: Runtime, task_id: str
) -> None:
    runtime.simulation.force(task_id, "failed")
    body = task_body(client, task_id)
    assert (body["status"], body["credits_refunded"]) == ("failed", 30)
    assert balance(runtime) == 10000


def test_completed_task_is_not_refunded(
    client: FlaskClient, runtime: Runtime, task_id: str
) -> None:
    finish(runtime)
    assert task_body(client, task_id)["credits_refunded"] == 0
    assert balance(runtime) == 10000 - 30


class TestRefundsSwitchedOff:
    @pytest.fixture
    def config(self) -> Config:
        return base_config(overrides={P: {"refunds": {"on_failure": False}}})

    def test_failed_task_keeps_its_charge(self, client: FlaskClient, runtime: Runtime) -> None:
        task_id = accepted(submit(client, EXAMPLE, scenario="fail"))["id"]
        finish(runtime)
        body = task_body(client, task_id)
        assert (body["status"], body["credits_used"], body["credits_refunded"]) == (
            "failed",
            30,
            0,
        )
        assert balance(runtime) == 10000 - 30

    def test_failure_message_does_not_claim_a_refund(
        self, client: FlaskClient, runtime: Runtime
    ) -> None:
        task_id = accepted(submit(client, EXAMPLE, scenario="fail"))["id"]
        finish(runtime)
        body = task_body(client, task_id)
        assert body["credits_refunded"] == 0
        assert "refunded" not in body["error"]["message"].lower()


# downloads ------------------------------------------------------------------------------------

SMALL_PORTRAIT = {"prompt": PROMPT, "aspect_ratio": "9:16", "duration": "4"}


@pytest.fixture
def portrait_output(client: FlaskClient, runtime: Runtime) -> dict[str, Any]:
    """A completed 720p 9:16 4 s task with audio (the default)."""
    return completed_output(client, runtime, SMALL_PORTRAIT)


def test_video_is_h264_at_the_requested_size_with_audio(
    client: FlaskClient, portrait_output: dict[str, Any]
) -> None:
    response = download(client, portrait_output["video_url"])
    assert response.status_code == 200
    assert response.mimetype == "video/mp4"
    assert probe_mp4(response.get_data()) == Video("h264", 720, 1280, 24.0, 4 * 24, 1)


def test_last_frame_is_a_png_of_the_requested_size(
    client: FlaskClient, portrait_output: dict[str, Any]
) -> None:
    response = download(client, portrait_output["last_frame_url"])
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert png_size(response.get_data()) == (720, 1280)


def test_video_without_audio_has_no_audio_stream(client: FlaskClient, runtime: Runtime) -> None:
    body = {"prompt": PROMPT, "duration": "4", "generate_audio": False}
    output = completed_output(client, runtime, body)
    video = probe_mp4(download(client, output["video_url"]).get_data())
    assert video == Video("h264", 1280, 720, 24.0, 96, 0)


def test_1080p_landscape_video_is_1920_by_1080(client: FlaskClient, runtime: Runtime) -> None:
    body = {"prompt": PROMPT, "resolution": "1080p", "duration": "4", "generate_audio": False}
    output = completed_output(client, runtime, body)
    video = probe_mp4(download(client, output["video_url"]).get_data())
    assert (video.codec, video.width, video.height, video.frames) == ("h264", 1920, 1080, 96)
    assert png_size(download(client, output["last_frame_url"]).get_data()) == (1920, 1080)


def test_range_request_returns_206_with_those_bytes(
    client: FlaskClient, portrait_output: dict[str, Any]
) -> None:
    whole = download(client, portrait_output["video_url"]).get_data()
    part = download(client, portrait_output["video_url"], Range="bytes=100-1123")
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-1123/{len(whole)}"
    assert part.get_data() == whole[100:1124]


def test_media_of_a_processing_task_is_not_found(
    client: FlaskClient, runtime: Runtime, task_id: str
) -> None:
    task = runtime.store.get_task(task_id)
    assert task is not None
    assert client.get(f"/__media/{task.media_token}/video.mp4").status_code == 404
    assert client.get(f"/__media/{task.media_token}/last-frame.png").status_code == 404


def test_media_of_a_failed_task_is_not_found(
    client: FlaskClient, runtime: Runtime, task_id: str
) -> None:
    runtime.simulation.force(task_id, "failed")
    task = runtime.store.get_task(task_id)
    assert task is not None
    assert client.get(f"/__media/{task.media_token}/video.mp4").status_code == 404


def test_output_urls_point_at_the_host_the_client_called(app: Flask, runtime: Runtime) -> None:
    client = app.test_client()
    task_id = accepted(
        client.post(
            SUBMIT,
            json={"prompt": PROMPT},
            headers={**auth(), "Idempotency-Key": "host"},
            base_url="https://sim.example:8443",
        )
    )["id"]
    runtime.simulation.force(task_id, "completed")
    output = task_body(client, task_id)["output"]
    assert output["video_url"].startswith("https://sim.example:8443/__media/")
    assert output["last_frame_url"].startswith("https://sim.example:8443/__media/")


# the observed profile -----------------------------------------------------------------------------


class TestObservedProfile:
    @pytest.fixture
    def config(self) -> Config:
        return base_config(profile="observed")

    @pytest.fixture
    def unpurchased(self, runtime: Runtime) -> str:
        runtime.simulation.create_account(P, "fresh", 1000, ["sk_live_fresh"], purchased=False)
        return "sk_live_fresh"

    def test_1080p_portrait_is_delivered_at_720_by_1280(
        self, client: FlaskClient, runtime: Runtime
    ) -> None:
        body = {
            "prompt": PROMPT,
            "resolution": "1080p",
            "aspect_ratio": "9:16",
            "duration": "4",
            "generate_audio": False,
        }
        output = completed_output(client, runtime, body)
        video = probe_mp4(download(client, output["video_url"]).get_data())
        assert (video.width, video.height) == (720, 1280)
        assert png_size(download(client, output["last_frame_url"]).get_data()) == (720, 1280)

    def test_1080p_landscape_is_delivered_at_1280_by_720(
        self, client: FlaskClient, runtime: Runtime
    ) -> None:
        body = {"prompt": PROMPT, "resolution": "1080p", "duration": "4"}
        output = completed_output(client, runtime, body)
        assert png_size(download(client, output["last_frame_url"]).get_data()) == (1280, 720)

    def test_720p_portrait_of_ten_seconds_is_496_by_864_with_one_extra_frame(
        self, client: FlaskClient, runtime: Runtime
    ) -> None:
        body = {"prompt": PROMPT, "aspect_ratio": "9:16", "duration": "10"}
        output = completed_output(client, runtime, body)
        video = probe_mp4(download(client, output["video_url"]).get_data())
        assert video == Video("h264", 496, 864, 24.0, 241, 1)

    def test_failed_task_is_not_refunded(self, client: FlaskClient, runtime: Runtime) -> None:
        task_id = accepted(submit(client, EXAMPLE, scenario="fail"))["id"]
        finish(runtime)
        body = task_body(client, task_id)
        assert (body["status"], body["credits_refunded"]) == ("failed", 0)
        assert balance(runtime) == 10000 - 30

    @pytest.mark.parametrize("tier", ["standard", "pro"])
    def test_paid_tiers_need_an_account_that_bought_credits(
        self, client: FlaskClient, runtime: Runtime, unpurchased: str, tier: str
    ) -> None:
        body = {"prompt": PROMPT, "quality_tier": tier}
        # 403: the updates sheet records it for purchase_required (DECISIONS A26)
        assert_error(submit(client, body, key=unpurchased), 403, "purchase_required")
        assert task_count(runtime, "fresh") == 0
        assert balance(runtime, "fresh") == 1000

    def test_mini_works_on_an_account_that_never_bought_credits(
        self, client: FlaskClient, runtime: Runtime, unpurchased: str
    ) -> None:
        body = {"prompt": PROMPT, "quality_tier": "mini"}
        used = accepted(submit(client, body, key=unpurchased))["credits_used"]
        assert balance(runtime, "fresh") == 1000 - used

    def test_mini_short_of_credits_is_insufficient_credits(
        self, client: FlaskClient, runtime: Runtime
    ) -> None:
        runtime.simulation.create_account(P, "broke", 0, ["sk_live_broke"], purchased=False)
        body = {"prompt": PROMPT, "quality_tier": "mini"}
        assert_error(submit(client, body, key="sk_live_broke"), 402, "insufficient_credits")

    def test_start_image_of_a_real_person_is_refused_uncharged(
        self, client: FlaskClient, runtime: Runtime
    ) -> None:
        body = {
            "prompt": PROMPT,
            "mode": "image-to-video",
            "image_url": "https://cdn.example.com/real-person-portrait.png",
        }
        message = assert_error(submit(client, body), 400, "invalid_request")
        assert "real person" in message
        assert task_count(runtime) == 0
        assert balance(runtime) == 10000

    def test_other_start_images_are_accepted(self, client: FlaskClient) -> None:
        body = {
            "prompt": PROMPT,
            "mode": "image-to-video",
            "image_url": "https://cdn.example.com/landscape.png",
        }
        accepted(submit(client, body))
