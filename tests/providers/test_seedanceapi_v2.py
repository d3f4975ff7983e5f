"""seedanceapi v2 (``POST /v2/generate``, ``GET /v2/status``) through HTTP: a
client written to the v2 fact sheet against a real server and in-process, each
model's durations and prices, every refusal's code, the observed profile, one
balance shared with v1, and webhooks.

The expected values are the fact sheet's (../shared/evidence/seedanceapi-v2.md:
vendor docs V2-EN, V2-JA/V2-RU, LLMS) and the decisions of
spec/DECISIONS-seedanceapi-v2.md (B14-B28), written out here on purpose: these
tests are the oracle the spec and the simulator are checked against.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

import av
import pytest
import requests
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from werkzeug.test import TestResponse

from mockserver.cli import main as cli
from mockserver.inprocess import seedance_mock
from mockserver.runtime import Runtime
from mockserver.spec import export_openapi, load_provider
from tests.providers.seedanceapi_helpers import (
    PROVIDER,
    assert_error,
    balance,
    tasks_of,
)
from tests.server import Receiver, running_server
from tests.settings import simulator_config as config_with

KEY = "sa_demo_key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SCENARIO = "X-Seedance-Mock-Scenario"
SPEC = load_provider(PROVIDER)
OBSERVED = load_provider(PROVIDER, "observed")
#: v2 processing never takes longer than this (DECISIONS B24)
SLOWEST = SPEC.profile_for("generate_v2").timing.max_seconds
QUICKEST = SPEC.profile_for("generate_v2").timing.min_seconds

DATA_FIELDS = [
    "task_id",
    "status",
    "consumed_credits",
    "created_at",
    "request",
    "response",
    "error_message",
]
#: the request echo of a body that sends only a prompt (B16, B19)
DEFAULTS = {"model": "seedance-2.0", "aspect_ratio": "16:9", "resolution": "720p", "duration": 5}
IMAGE = "https://example.com/my-image.jpg"
VIDEO = "https://example.com/reference.mp4"

#: the v2 pricing table (V2-EN, V2-RU, LLMS): (model, seconds) -> credits
TABLE = {
    ("seedance-2.0", 5): 240,
    ("seedance-2.0", 10): 480,
    ("seedance-2.0", 15): 720,
    ("seedance-2.0-fast", 5): 160,
    ("seedance-2.0-fast", 10): 320,
    ("seedance-2.0-fast", 15): 480,
}
#: Mini's published per-second formulas (V2-JA, V2-RU), all rounded up:
#: (resolution, with reference videos) -> credits per second
MINI_RATES = {
    ("480p", False): Fraction("14.25"),
    ("480p", True): Fraction(9),
    ("720p", False): Fraction("30.75"),
    ("720p", True): Fraction("18.75"),
}
MINI_SECONDS = range(4, 16)


def mini_price(resolution: str, reference_video: bool, seconds: int) -> int:
    return math.ceil(MINI_RATES[(resolution, reference_video)] * seconds)


def _v2(**section: Any) -> dict[str, Any]:
    """An override of v2's own profile overlay (operations.generate_v2)."""
    return {PROVIDER: {"operations": {"generate_v2": section}}}


# helpers ---------------------------------------------------------------------------------


def generate(
    client: FlaskClient, body: Any, headers: dict[str, str] | None = None, key: str = KEY
) -> TestResponse:
    auth = {"Authorization": f"Bearer {key}"}
    return client.post("/v2/generate", json=body, headers={**auth, **(headers or {})})


def create(client: FlaskClient, body: Any = None, key: str = KEY, **headers: str) -> str:
    """Create a v2 task and return its id (the request must succeed)."""
    response = generate(client, body or {"prompt": "A calm lake"}, headers, key)
    assert response.status_code == 200, response.get_json()
    task_id: str = response.get_json()["data"]["task_id"]
    return task_id


def status(client: FlaskClient, task_id: str, path: str = "/v2/status") -> TestResponse:
    return client.get(path, query_string={"task_id": task_id}, headers=AUTH)


def task_data(client: FlaskClient, task_id: str) -> dict[str, Any]:
    response = status(client, task_id)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    assert SPEC.validator("StatusResponseV2").violations(body) == []
    data: dict[str, Any] = body["data"]
    return data


def probe(data: bytes) -> dict[str, Any]:
    """Codec, size, frame rate, audio streams and frame count of an MP4."""
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


def video(size: tuple[int, int], seconds: int, audio: bool = False) -> dict[str, Any]:
    return {"codec": "h264", "size": size, "fps": 24, "audio": int(audio), "frames": seconds * 24}


# a client written to the v2 fact sheet ---------------------------------------------------


class NotEnoughCredits(Exception):
    """HTTP 402: every v2 client special-cases it (fact sheet §5)."""


class SheetClient:
    """What a developer writes from the v2 fact sheet alone: POST /v2/generate,
    poll GET /v2/status until SUCCESS or FAILED, download ``data.response[0]``.
    ``pause`` is how it waits between polls: here, moving the simulator's clock."""

    def __init__(self, base_url: str, key: str, pause: Callable[[float], object]) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {key}"}
        self.pause = pause

    def generate(self, prompt: str, **fields: Any) -> str:
        answer = requests.post(
            f"{self.base_url}/v2/generate",
            json={"prompt": prompt, **fields},
            headers=self.headers,
            timeout=10,
        )
        body = answer.json()
        if answer.status_code == 402 or body.get("code") == 402:
            raise NotEnoughCredits(body["message"])
        assert body["code"] == 200, body
        task_id: str = body["data"]["task_id"]
        return task_id

    def wait(self, task_id: str, every: float = 10, give_up_after: float = 900) -> dict[str, Any]:
        waited = 0.0
        while True:
            answer = requests.get(
                f"{self.base_url}/v2/status",
                params={"task_id": task_id},
                headers=self.headers,
                timeout=10,
            )
            body = answer.json()
            assert body["code"] == 200, body
            data: dict[str, Any] = body["data"]
            if data["status"] in ("SUCCESS", "FAILED"):
                return data
            assert waited < give_up_after, f"still {data['status']} after {waited} s"
            self.pause(every)
            waited += every

    def download(self, url: str) -> bytes:
        answer = requests.get(url, timeout=30)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "video/mp4"
        return answer.content


def _sheet_client_flow(client: SheetClient, open_account: Callable[[str, int], None]) -> None:
    """Image-to-video on Fast, poll, download; then the same with too few credits."""
    task_id = client.generate(
        "The character slowly turns and smiles at the camera",
        images=[IMAGE],
        model="seedance-2.0-fast",
        duration=5,
        aspect_ratio="9:16",
    )
    data = client.wait(task_id)

    assert data["status"] == "SUCCESS"
    assert data["consumed_credits"] == 160
    assert data["error_message"] is None
    assert data["request"]["images"] == [IMAGE]
    assert probe(client.download(data["response"][0])) == video((720, 1280), 5)

    open_account("poor", 239)  # seedance-2.0 for 5 s costs 240
    poor = SheetClient(client.base_url, "sa_poor_key", client.pause)
    with pytest.raises(NotEnoughCredits, match="INSUFFICIENT_CREDITS"):
        poor.generate("A calm lake", model="seedance-2.0", duration=5)
    cheaper = poor.generate("A calm lake", model="seedance-2.0-fast", duration=5)
    assert poor.wait(cheaper)["consumed_credits"] == 160


def test_sheet_client_against_a_real_server() -> None:
    with running_server("--clock", "manual") as server, Receiver() as receiver:

        def advance(seconds: float) -> None:
            answer = requests.post(
                server.url("/__admin/clock/advance"), json={"seconds": seconds}, timeout=10
            )
            assert answer.status_code == 200, answer.text

        def account(name: str, credits: int) -> None:
            body = {
                "provider": PROVIDER,
                "id": name,
                "credits": credits,
                "keys": [f"sa_{name}_key"],
            }
            answer = requests.post(server.url("/__admin/accounts"), json=body, timeout=10)
            assert answer.status_code == 201, answer.text

        client = SheetClient(server.base_url, KEY, advance)
        _sheet_client_flow(client, account)

        # the callback of a v2 task carries the /v2/status envelope (B23)
        hooked = client.generate("A lighthouse in a storm", callback_url=receiver.url())
        advance(SLOWEST)
        [posted] = receiver.posts()
        body = json.loads(posted.body)
        read = requests.get(
            server.url("/v2/status"), params={"task_id": hooked}, headers=AUTH, timeout=10
        ).json()
        assert body == read
        assert body["data"]["status"] == "SUCCESS"
        assert SPEC.validator("WebhookPayload").violations(body) == []


def test_sheet_client_in_process() -> None:
    with seedance_mock() as sim:
        client = SheetClient("https://seedanceapi.org", KEY, sim.clock.advance)

        def account(name: str, credits: int) -> None:
            sim.accounts.create(PROVIDER, name, credits, [f"sa_{name}_key"])

        _sheet_client_flow(client, account)


# creating a task -------------------------------------------------------------------------


def test_generate_answers_the_v1_envelope(client: FlaskClient) -> None:
    response = generate(client, {"prompt": "A paper boat on a rainy street"})

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body == {
        "code": 200,
        "message": "success",
        "data": {"task_id": body["data"]["task_id"], "status": "IN_PROGRESS"},
    }
    assert list(body) == ["code", "message", "data"]
    assert list(body["data"]) == ["task_id", "status"]
    assert SPEC.validator("GenerateAccepted").violations(body) == []


def test_task_ids_have_v1_shape(client: FlaskClient) -> None:
    ids = {create(client) for _ in range(5)}

    assert len(ids) == 5
    for task_id in ids:  # B17
        assert re.fullmatch(r"seed[0-9a-z]{17}", task_id), task_id


def test_status_lists_every_field_in_v1_order(client: FlaskClient, runtime: Runtime) -> None:
    runtime.clock.advance(83.25)
    task_id = create(client, {"prompt": "A calm lake"})
    runtime.clock.advance(5)

    body = status(client, task_id).get_json()

    assert list(body) == ["code", "message", "data"]
    assert list(body["data"]) == DATA_FIELDS
    assert body["data"] == {
        "task_id": task_id,
        "status": "IN_PROGRESS",
        "consumed_credits": 240,
        "created_at": "2026-06-03T10:01:23Z",
        "request": {"prompt": "A calm lake", **DEFAULTS},
        "response": [],
        "error_message": None,
    }


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        pytest.param({"prompt": "p"}, {"prompt": "p", **DEFAULTS}, id="defaults"),
        pytest.param(
            {"prompt": "p", "aspect_ratio": "4:3", "model": "seedance-2.0-fast", "duration": 15},
            {
                "prompt": "p",
                "model": "seedance-2.0-fast",
                "aspect_ratio": "4:3",
                "resolution": "720p",
                "duration": 15,
            },
            id="text-to-video",
        ),
        pytest.param(
            {
                "public": False,
                "callback_url": "http://127.0.0.1:9/hook",
                "reference_video_urls": [VIDEO],
                "images": [IMAGE, "http://img.example.org/b.png"],
                "duration": 7,
                "resolution": "480p",
                "aspect_ratio": "21:9",
                "model": "seedance-2-mini",
                "prompt": "every field, any order",
            },
            {
                "prompt": "every field, any order",
                "model": "seedance-2-mini",
                "aspect_ratio": "21:9",
                "resolution": "480p",
                "duration": 7,
                "images": [IMAGE, "http://img.example.org/b.png"],
                "reference_video_urls": [VIDEO],
                "callback_url": "http://127.0.0.1:9/hook",
                "public": False,
            },
            id="every-field",
        ),
    ],
)
def test_request_is_echoed_with_defaults_filled(
    client: FlaskClient, sent: dict[str, Any], echoed: dict[str, Any]
) -> None:
    request = task_data(client, create(client, sent))["request"]

    assert request == echoed
    assert list(request) == list(echoed)  # B16's order


def test_images_go_with_any_model_and_any_ratio(client: FlaskClient) -> None:
    for model in ("seedance-2.0", "seedance-2.0-fast", "seedance-2-mini"):
        for count in range(1, 5):
            images = [f"https://example.com/{i}.png" for i in range(count)]
            body = {"prompt": "p", "model": model, "images": images, "aspect_ratio": "3:4"}
            assert task_data(client, create(client, body))["request"]["images"] == images


def test_localhost_callback_and_public_are_accepted(client: FlaskClient) -> None:
    body = {"prompt": "p", "callback_url": "http://localhost:8080/hook", "public": True}

    request = task_data(client, create(client, body))["request"]

    assert (request["callback_url"], request["public"]) == (body["callback_url"], True)  # B23


# each model's durations ------------------------------------------------------------------

DOCUMENTED_DURATIONS = [
    *[("seedance-2.0", s) for s in (5, 10, 15)],
    *[("seedance-2.0-fast", s) for s in (5, 10, 15)],
    *[("seedance-2-mini", s) for s in MINI_SECONDS],
]
REFUSED_DURATIONS = [
    *[("seedance-2.0", s) for s in (4, 6, 8, 12, 14, 16, 0, 20, 7.5, -5)],
    *[("seedance-2.0-fast", s) for s in (4, 8, 12, 16)],
    *[("seedance-2-mini", s) for s in (3, 16, 0, 7.5, 30)],
    *[(m, d) for m in ("seedance-2.0", "seedance-2-mini") for d in ("5", "10", "", None, True)],
]


@pytest.mark.parametrize(("model", "seconds"), DOCUMENTED_DURATIONS)
def test_each_documented_duration_is_accepted(
    client: FlaskClient, model: str, seconds: int
) -> None:
    data = task_data(client, create(client, {"prompt": "p", "model": model, "duration": seconds}))

    assert (data["request"]["model"], data["request"]["duration"]) == (model, seconds)


@pytest.mark.parametrize(("model", "seconds"), REFUSED_DURATIONS)
def test_other_durations_are_refused(
    client: FlaskClient, runtime: Runtime, model: str, seconds: Any
) -> None:
    response = generate(client, {"prompt": "p", "model": model, "duration": seconds})

    assert "duration" in assert_error(response, 400, "INVALID_DURATION")
    assert tasks_of(runtime) == []
    assert balance(runtime) == 10000


def test_a_whole_number_written_with_a_fraction_is_that_number(client: FlaskClient) -> None:
    # JSON has one number type: 10.0 is 10 (as in v1, DECISIONS A5)
    data = task_data(client, create(client, {"prompt": "p", "duration": 10.0}))

    assert (data["request"]["duration"], data["consumed_credits"]) == (10, 480)


# prices ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "seconds"), list(TABLE))
def test_price_table_of_2_0_and_fast(
    client: FlaskClient, runtime: Runtime, model: str, seconds: int
) -> None:
    task_id = create(client, {"prompt": "p", "model": model, "duration": seconds})

    assert task_data(client, task_id)["consumed_credits"] == TABLE[(model, seconds)]
    assert balance(runtime) == 10000 - TABLE[(model, seconds)]
    runtime.clock.advance(SLOWEST)
    assert task_data(client, task_id)["consumed_credits"] == TABLE[(model, seconds)]


def test_2_0_and_fast_cost_48_and_32_per_second() -> None:
    for (model, seconds), credits in TABLE.items():
        assert credits == {"seedance-2.0": 48, "seedance-2.0-fast": 32}[model] * seconds


@pytest.mark.parametrize(
    "fields",
    [
        {"aspect_ratio": "3:4"},
        {"images": [IMAGE, IMAGE, IMAGE, IMAGE]},
        {"resolution": "720p"},
        {"public": True},
        {"callback_url": "http://127.0.0.1:9/hook"},
    ],
)
def test_2_0_price_ignores_everything_but_duration(
    client: FlaskClient, fields: dict[str, Any]
) -> None:
    task_id = create(client, {"prompt": "p", "duration": 10, **fields})

    assert task_data(client, task_id)["consumed_credits"] == 480


@pytest.mark.parametrize("seconds", MINI_SECONDS)
@pytest.mark.parametrize("reference_video", [False, True], ids=["plain", "reference-video"])
@pytest.mark.parametrize("resolution", ["480p", "720p"])
def test_mini_prices_follow_the_published_formulas(
    client: FlaskClient, runtime: Runtime, resolution: str, reference_video: bool, seconds: int
) -> None:
    body: dict[str, Any] = {
        "prompt": "p",
        "model": "seedance-2-mini",
        "resolution": resolution,
        "duration": seconds,
    }
    if reference_video:
        body["reference_video_urls"] = [VIDEO]
    expected = mini_price(resolution, reference_video, seconds)

    assert task_data(client, create(client, body))["consumed_credits"] == expected
    assert balance(runtime) == 10000 - expected


@pytest.mark.parametrize(
    ("resolution", "reference_video", "seconds", "credits"),
    [
        ("480p", False, 4, 57),  # 14.25 x 4 = 57 exactly
        ("480p", False, 5, 72),  # 71.25 rounds up
        ("480p", False, 6, 86),  # 85.5 rounds up, not to even
        ("480p", True, 7, 63),  # 9 x 7, no rounding
        ("720p", False, 5, 154),  # 153.75 rounds up
        ("720p", False, 15, 462),  # 461.25 rounds up
        ("720p", True, 4, 75),  # 18.75 x 4 = 75 exactly
        ("720p", True, 5, 94),  # 93.75 rounds up
        ("720p", True, 6, 113),  # 112.5 rounds up
    ],
)
def test_mini_rounds_up_to_the_next_credit(
    client: FlaskClient, resolution: str, reference_video: bool, seconds: int, credits: int
) -> None:
    body: dict[str, Any] = {
        "prompt": "p",
        "model": "seedance-2-mini",
        "resolution": resolution,
        "duration": seconds,
    }
    if reference_video:
        body["reference_video_urls"] = [VIDEO, VIDEO, VIDEO]
    assert mini_price(resolution, reference_video, seconds) == credits

    assert task_data(client, create(client, body))["consumed_credits"] == credits


@pytest.mark.parametrize("fields", [{"aspect_ratio": "9:21"}, {"images": [IMAGE]}, {}])
def test_mini_price_ignores_ratio_and_images(client: FlaskClient, fields: dict[str, Any]) -> None:
    body = {"prompt": "p", "model": "seedance-2-mini", "duration": 8, **fields}

    assert task_data(client, create(client, body))["consumed_credits"] == 246  # 720p default


def test_every_documented_example_costs_its_table_price(client: FlaskClient) -> None:
    expected = {
        "v2-text-to-video-request.json": 160,
        "v2-service-request.json": 240,
        "v2-image-to-video-request.json": 480,
        "v2-mini-reference-video-request.json": 72,
    }
    examples = {
        e["file"]: e["body"]
        for e in SPEC.example_index()
        if (e["operation"], e["kind"]) == ("generate_v2", "request")
    }

    assert set(examples) == set(expected)
    for name, body in examples.items():
        assert task_data(client, create(client, body))["consumed_credits"] == expected[name], name


def test_prices_command_lists_every_v2_price_with_its_source(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli(["prices", "--provider", PROVIDER]) == 0
    printed = capsys.readouterr().out
    v1, v2 = printed.split("POST /v2/generate (generate_v2)")

    assert "POST /v1/generate (generate)" in v1
    rows = [line.strip("|").split("|") for line in v2.splitlines() if line.startswith("| seed")]
    listed = {tuple(cell.strip() for cell in row[:4]): row[4:] for row in rows}
    expected: dict[tuple[str, ...], int] = {
        (m, str(s), "720p", "(not sent)"): c for (m, s), c in TABLE.items()
    }
    for (resolution, reference), _rate in MINI_RATES.items():
        for seconds in MINI_SECONDS:
            sent = "(sent)" if reference else "(not sent)"
            row = ("seedance-2-mini", str(seconds), resolution, sent)
            expected[row] = mini_price(resolution, reference, seconds)
    assert set(listed) == set(expected)
    for key, (credits, source) in listed.items():
        assert int(credits) == expected[key], key
        assert source.strip().startswith("vendor docs V2-"), key


# refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        pytest.param({}, "INVALID_PROMPT", "prompt: is required", id="prompt-missing"),
        pytest.param({"prompt": ""}, "INVALID_PROMPT", "1–2000 characters", id="prompt-empty"),
        pytest.param({"prompt": " \n\t"}, "INVALID_PROMPT", "whitespace", id="prompt-blank"),
        pytest.param({"prompt": "x" * 2001}, "INVALID_PROMPT", "(got 2001)", id="prompt-2001"),
        pytest.param({"prompt": 7}, "INVALID_PROMPT", "must be a string", id="prompt-type"),
        pytest.param(
            {"prompt": "p", "model": "seedance-2.0-pro"}, "INVALID_REQUEST", "model", id="model"
        ),
        pytest.param(
            {"prompt": "p", "model": "Seedance-2.0"}, "INVALID_REQUEST", "model", id="model-case"
        ),
        pytest.param({"prompt": "p", "model": 2}, "INVALID_REQUEST", "model", id="model-type"),
        pytest.param(
            {"prompt": "p", "aspect_ratio": "1:1"},
            "INVALID_ASPECT_RATIO",
            "16:9, 9:16, 4:3 or 3:4 with seedance-2.0",
            id="ratio-1:1-on-2.0",
        ),
        pytest.param(
            {"prompt": "p", "model": "seedance-2.0-fast", "aspect_ratio": "21:9"},
            "INVALID_ASPECT_RATIO",
            "aspect_ratio",
            id="ratio-21:9-on-fast",
        ),
        pytest.param(
            {"prompt": "p", "model": "seedance-2-mini", "aspect_ratio": "2:1"},
            "INVALID_ASPECT_RATIO",
            '(got "2:1")',
            id="ratio-on-mini",
        ),
        pytest.param(
            {"prompt": "p", "aspect_ratio": "adaptive"}, "INVALID_ASPECT_RATIO", "", id="adaptive"
        ),
        pytest.param(
            {"prompt": "p", "resolution": "480p"},
            "INVALID_RESOLUTION",
            "480p is seedance-2-mini only",
            id="480p-on-2.0",
        ),
        pytest.param(
            {"prompt": "p", "model": "seedance-2-mini", "resolution": "1080p"},
            "INVALID_RESOLUTION",
            '(got "1080p")',
            id="1080p-on-mini",
        ),
        pytest.param(
            {"prompt": "p", "resolution": "1080p"}, "INVALID_RESOLUTION", "", id="1080p-on-2.0"
        ),
        pytest.param(
            {"prompt": "p", "images": [IMAGE] * 5},
            "TOO_MANY_IMAGES",
            "1–4 items (got 5)",
            id="five-images",
        ),
        pytest.param({"prompt": "p", "images": []}, "INVALID_REQUEST", "(got 0)", id="no-images"),
        pytest.param(
            {"prompt": "p", "images": IMAGE}, "INVALID_REQUEST", "an array", id="images-string"
        ),
        pytest.param(
            {"prompt": "p", "images": ["ftp://e.org/a.png"]},
            "INVALID_REQUEST",
            "images[0]",
            id="images-ftp",
        ),
        pytest.param(
            {"prompt": "p", "reference_video_urls": [VIDEO]},
            "INVALID_REQUEST",
            "seedance-2-mini only",
            id="reference-video-on-2.0",
        ),
        pytest.param(
            {"prompt": "p", "model": "seedance-2-mini", "reference_video_urls": [VIDEO] * 4},
            "INVALID_REQUEST",
            "1–3 items (got 4)",
            id="four-reference-videos",
        ),
        pytest.param(
            {"prompt": "p", "model": "seedance-2-mini", "reference_video_urls": []},
            "INVALID_REQUEST",
            "(got 0)",
            id="no-reference-videos",
        ),
        pytest.param(
            {"prompt": "p", "callback_url": "/hook"}, "INVALID_REQUEST", "callback_url", id="cb"
        ),
        pytest.param({"prompt": "p", "public": "yes"}, "INVALID_REQUEST", "public", id="public"),
        pytest.param(
            {"prompt": "p", "image_urls": [IMAGE]},
            "INVALID_REQUEST",
            "image_urls: unsupported field",
            id="v1-image_urls",
        ),
        pytest.param(
            {"prompt": "p", "generate_audio": True},
            "INVALID_REQUEST",
            "generate_audio: unsupported field",
            id="v1-generate_audio",
        ),
    ],
)
def test_invalid_body_is_refused_with_its_code(
    client: FlaskClient, runtime: Runtime, body: dict[str, Any], code: str, says: str
) -> None:
    message = assert_error(generate(client, body), 400, code)

    assert says in message
    assert tasks_of(runtime) == []
    assert balance(runtime) == 10000


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b'{"prompt": "p"', "application/json"),
        (b"[]", "application/json"),
        (b"", "application/json"),
        (b'{"prompt": "p"}', "text/plain"),
    ],
)
def test_body_that_is_not_a_json_object_is_invalid_request(
    client: FlaskClient, data: bytes, content_type: str
) -> None:
    headers = {**AUTH, "Content-Type": content_type}

    assert_error(client.post("/v2/generate", data=data, headers=headers), 400, "INVALID_REQUEST")


@pytest.mark.parametrize("authorization", [None, "Bearer sa_wrong_key", "Bearer sk_live_demo"])
def test_bad_api_key_is_refused_on_both_v2_operations(
    client: FlaskClient, authorization: str | None
) -> None:
    task_id = create(client)
    headers = {} if authorization is None else {"Authorization": authorization}

    posted = client.post("/v2/generate", json={"prompt": "p"}, headers=headers)
    read = client.get("/v2/status", query_string={"task_id": task_id}, headers=headers)

    assert_error(posted, 401, "INVALID_API_KEY")
    assert_error(read, 401, "INVALID_API_KEY")


@pytest.mark.parametrize("query", ["", "?task_id=", "?task_id=seed15abc123def456pro"])
def test_missing_or_unknown_task_is_not_found(client: FlaskClient, query: str) -> None:
    assert_error(client.get(f"/v2/status{query}", headers=AUTH), 404, "TASK_NOT_FOUND")


def test_another_accounts_task_is_not_found(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client)
    runtime.simulation.create_account(PROVIDER, "other", 1000, ["sa_other_key"])

    read = client.get(
        "/v2/status",
        query_string={"task_id": task_id},
        headers={"Authorization": "Bearer sa_other_key"},
    )

    assert_error(read, 404, "TASK_NOT_FOUND")


# unknown v2 paths and methods: with v1's, in test_seedanceapi.py


# credits: one account, one balance for v1 and v2 (B14, B22) -------------------------------


def test_v1_and_v2_share_one_balance(client: FlaskClient, runtime: Runtime) -> None:
    runtime.simulation.create_account(PROVIDER, "both", 260, ["sa_both_key"])
    both = {"Authorization": "Bearer sa_both_key"}
    v1_cheap = {"prompt": "p", "resolution": "480p", "duration": "4"}  # 8 credits

    made_v2 = client.post("/v2/generate", json={"prompt": "p"}, headers=both)  # 240
    assert made_v2.status_code == 200
    refused_v1 = client.post("/v1/generate", json={"prompt": "p"}, headers=both)  # 28 > 20 left
    made_v1 = client.post("/v1/generate", json=v1_cheap, headers=both)
    refused_v2 = client.post(
        "/v2/generate", json={"prompt": "p", "model": "seedance-2.0-fast"}, headers=both
    )

    assert_error(refused_v1, 402, "INSUFFICIENT_CREDITS")
    assert made_v1.status_code == 200
    assert_error(refused_v2, 402, "INSUFFICIENT_CREDITS")
    assert balance(runtime, "both") == 260 - 240 - 8
    assert len(tasks_of(runtime, "both")) == 2
    assert balance(runtime) == 10000  # other accounts untouched


def test_short_balance_creates_nothing(client: FlaskClient, runtime: Runtime) -> None:
    runtime.simulation.create_account(PROVIDER, "poor", 159, ["sa_poor_key"])

    refused = generate(client, {"prompt": "p", "model": "seedance-2.0-fast"}, key="sa_poor_key")
    made = generate(
        client, {"prompt": "p", "model": "seedance-2-mini", "duration": 4}, key="sa_poor_key"
    )

    assert "160" in assert_error(refused, 402, "INSUFFICIENT_CREDITS")
    assert made.status_code == 200
    assert balance(runtime, "poor") == 159 - 123  # Mini 720p 4 s


def test_exact_balance_is_enough(client: FlaskClient, runtime: Runtime) -> None:
    runtime.simulation.create_account(PROVIDER, "exact", 240, ["sa_exact_key"])

    first = generate(client, {"prompt": "p"}, key="sa_exact_key")
    second = generate(client, {"prompt": "p"}, key="sa_exact_key")

    assert first.status_code == 200
    assert_error(second, 402, "INSUFFICIENT_CREDITS")
    assert balance(runtime, "exact") == 0


def test_a_failed_v2_task_refunds_credits_v1_can_spend(
    client: FlaskClient, runtime: Runtime
) -> None:
    runtime.simulation.create_account(PROVIDER, "exact", 240, ["sa_exact_key"])
    task_id = create(client, {"prompt": "p"}, "sa_exact_key", **{SCENARIO: "fail"})

    runtime.clock.advance(SLOWEST)

    read = client.get(
        "/v2/status",
        query_string={"task_id": task_id},
        headers={"Authorization": "Bearer sa_exact_key"},
    ).get_json()["data"]
    assert (read["status"], read["consumed_credits"], read["response"]) == ("FAILED", 0, [])
    assert read["error_message"]
    assert balance(runtime, "exact") == 240
    v1 = client.post(
        "/v1/generate", json={"prompt": "p"}, headers={"Authorization": "Bearer sa_exact_key"}
    )
    assert v1.status_code == 200


# lifecycle and output ----------------------------------------------------------------------


def test_task_moves_from_in_progress_to_success(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client, {"prompt": "p", "duration": 15})

    runtime.clock.advance(QUICKEST - 1)
    early = task_data(client, task_id)
    runtime.clock.advance(SLOWEST - QUICKEST + 1)
    done = task_data(client, task_id)

    assert (early["status"], early["response"], early["error_message"]) == (
        "IN_PROGRESS",
        [],
        None,
    )
    assert (done["status"], done["consumed_credits"], done["error_message"]) == (
        "SUCCESS",
        720,
        None,
    )
    assert urlsplit(done["response"][0]).path.endswith("/video.mp4")


def test_processing_time_follows_the_model() -> None:
    timing = SPEC.profile_for("generate_v2").timing  # B24
    medians = {
        (model, seconds): timing.median(seconds, model)
        for model in ("seedance-2.0", "seedance-2.0-fast", "seedance-2-mini")
        for seconds in (5, 15)
    }

    assert medians[("seedance-2.0", 5)] == 160
    assert medians[("seedance-2.0", 15)] == 240
    assert medians[("seedance-2.0-fast", 5)] == pytest.approx(96)
    assert medians[("seedance-2-mini", 15)] == pytest.approx(144)
    assert (timing.min_seconds, timing.max_seconds) == (60, 360)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, video((1280, 720), 5)),
        ({"aspect_ratio": "9:16", "model": "seedance-2.0-fast"}, video((720, 1280), 5)),
        (
            {"model": "seedance-2-mini", "resolution": "480p", "duration": 4},
            video((854, 480), 4),
        ),
        (
            {
                "model": "seedance-2-mini",
                "aspect_ratio": "1:1",
                "resolution": "480p",
                "duration": 6,
            },
            video((480, 480), 6),
        ),
        (
            {"model": "seedance-2-mini", "aspect_ratio": "21:9", "duration": 4},
            video((1680, 720), 4),
        ),
    ],
)
def test_response_url_downloads_the_video(
    client: FlaskClient, runtime: Runtime, fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    task_id = create(client, {"prompt": "p", **fields})
    runtime.clock.advance(SLOWEST)

    url = task_data(client, task_id)["response"][0]
    download = client.get(urlsplit(url).path)

    assert download.status_code == 200
    assert download.mimetype == "video/mp4"
    assert probe(download.data) == expected


def test_forced_failure_carries_its_message(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client, {"prompt": "p", "model": "seedance-2.0-fast"})

    runtime.simulation.force(task_id, "failed", "CONTENT_REJECTED", "The prompt was rejected.")

    data = task_data(client, task_id)
    assert (data["status"], data["consumed_credits"]) == ("FAILED", 0)
    assert data["error_message"] == "The prompt was rejected."
    assert balance(runtime) == 10000


# v1 and v2 reading each other's tasks (B27) -------------------------------------------------


def test_each_version_reads_only_its_own_tasks(client: FlaskClient) -> None:
    v2_task = create(client)
    v1_task = client.post("/v1/generate", json={"prompt": "p"}, headers=AUTH).get_json()
    v1_id = v1_task["data"]["task_id"]

    v2_on_v1 = assert_error(status(client, v2_task, "/v1/status"), 404, "TASK_NOT_FOUND")
    v1_on_v2 = assert_error(status(client, v1_id, "/v2/status"), 404, "TASK_NOT_FOUND")

    assert "GET /v2/status" in v2_on_v1
    assert "GET /v1/status" in v1_on_v2
    assert status(client, v2_task).status_code == 200
    assert status(client, v1_id, "/v1/status").status_code == 200


@pytest.mark.parametrize(
    "config", [config_with(overrides={PROVIDER: {"versions": {"shared_tasks": True}}})]
)
def test_shared_tasks_setting_lets_each_version_read_both(client: FlaskClient) -> None:
    v2_task = create(client, {"prompt": "p", "model": "seedance-2.0-fast"})
    v1_id = client.post("/v1/generate", json={"prompt": "p"}, headers=AUTH).get_json()["data"][
        "task_id"
    ]

    v2_on_v1 = status(client, v2_task, "/v1/status").get_json()
    v1_on_v2 = status(client, v1_id, "/v2/status").get_json()

    # each rendered in the shape of the version that made it
    assert v2_on_v1["data"]["request"] == {"prompt": "p", **DEFAULTS, "model": "seedance-2.0-fast"}
    assert SPEC.validator("StatusResponseV2").violations(v2_on_v1) == []
    assert v1_on_v2["data"]["request"]["duration"] == "8"
    assert SPEC.validator("StatusResponse").violations(v1_on_v2) == []


@pytest.mark.parametrize(
    ("config", "same_task"),
    [
        (config_with(overrides={PROVIDER: {"idempotency": {"enabled": True}}}), False),
        (
            config_with(
                overrides={
                    PROVIDER: {"idempotency": {"enabled": True}, "versions": {"shared_tasks": True}}
                }
            ),
            True,
        ),
    ],
    ids=["own-key-spaces", "shared"],
)
def test_idempotency_keys_belong_to_one_version(
    client: FlaskClient, runtime: Runtime, same_task: bool
) -> None:
    key = {"Idempotency-Key": "one-key"}
    v1 = client.post("/v1/generate", json={"prompt": "p"}, headers={**AUTH, **key})
    assert v1.status_code == 200
    if same_task:  # one key space: the key names a v1 request, so v2 conflicts (B26, C19)
        assert_error(generate(client, {"prompt": "p"}, key), 409, "IDEMPOTENCY_CONFLICT")
        assert len(tasks_of(runtime)) == 1
        return
    first = create(client, {"prompt": "p"}, **key)
    again = create(client, {"prompt": "p"}, **key)
    changed = generate(client, {"prompt": "q"}, key)

    assert first == again  # a replay within v2 (B7's rules)
    assert first != v1.get_json()["data"]["task_id"]  # B26
    assert_error(changed, 409, "IDEMPOTENCY_CONFLICT")
    assert len(tasks_of(runtime)) == 2


# webhooks (B23) ----------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


@pytest.mark.parametrize("scenario", ["complete", "fail"])
def test_v2_callback_posts_the_v2_status_envelope(
    client: FlaskClient, runtime: Runtime, receiver: Receiver, scenario: str
) -> None:
    body = {
        "prompt": "p",
        "model": "seedance-2-mini",
        "duration": 4,
        "callback_url": receiver.url(),
    }
    task_id = create(client, body, **{SCENARIO: scenario})
    runtime.clock.advance(1)
    assert receiver.posts() == []  # nothing while IN_PROGRESS

    runtime.clock.advance(SLOWEST)

    [posted] = receiver.posts()
    sent = json.loads(posted.body)
    assert posted.path == "/hook"
    assert posted.headers["Content-Type"] == "application/json"
    assert sent == status(client, task_id).get_json()
    assert sent["data"]["request"]["model"] == "seedance-2-mini"
    assert sent["data"]["status"] == {"complete": "SUCCESS", "fail": "FAILED"}[scenario]
    assert SPEC.validator("WebhookPayload").violations(sent) == []
    assert [d.state for d in runtime.store.deliveries(provider=PROVIDER, task_id=task_id)] == [
        "delivered"
    ]


def test_v2_callback_is_retried_like_v1(client: FlaskClient, runtime: Runtime) -> None:
    with Receiver(statuses=(500,)) as receiver:
        task_id = create(client, {"prompt": "p", "callback_url": receiver.url()})
        runtime.clock.advance(SLOWEST + 30)

        [delivery] = runtime.store.deliveries(provider=PROVIDER, task_id=task_id)
        assert [a.status for a in delivery.attempts] == [500, 200]  # B4's backoff
        assert len(receiver.posts()) == 2


# the observed profile (B28) -----------------------------------------------------------------


@pytest.mark.parametrize("config", [config_with(profile="observed")])
def test_observed_profile_accepts_what_clients_send(client: FlaskClient, runtime: Runtime) -> None:
    # the body MANJU sends to v2 (fact sheet §7): v1's field names, a resolution
    body = {
        "prompt": "p",
        "image_urls": [IMAGE],
        "aspect_ratio": "9:16",
        "resolution": "720p",
        "duration": "10",
        "generate_audio": False,
        "fixed_lens": True,
    }

    task_id = create(client, body)
    runtime.clock.advance(SLOWEST)
    data = task_data(client, task_id)

    assert data["status"] == "SUCCESS"
    assert data["consumed_credits"] == 480
    assert data["request"] == {**DEFAULTS, "prompt": "p", "aspect_ratio": "9:16", "duration": 10}


@pytest.mark.parametrize("config", [config_with(profile="observed")])
@pytest.mark.parametrize(
    ("fields", "echoed", "credits"),
    [
        ({"duration": "5"}, {"duration": 5}, 240),
        ({"duration": "15", "model": "seedance-2.0-fast"}, {"duration": 15}, 480),
        ({"duration": "7", "model": "seedance-2-mini"}, {"duration": 7}, 216),
        ({"aspect_ratio": "1:1"}, {"aspect_ratio": "1:1"}, 240),
        ({"resolution": "480p", "duration": 10}, {"resolution": "480p"}, 480),
    ],
)
def test_observed_profile_leniency(
    client: FlaskClient, fields: dict[str, Any], echoed: dict[str, Any], credits: int
) -> None:
    data = task_data(client, create(client, {"prompt": "p", **fields}))

    assert {k: data["request"][k] for k in echoed} == echoed
    assert data["consumed_credits"] == credits


@pytest.mark.parametrize("config", [config_with(profile="observed")])
def test_observed_generate_audio_gives_a_sound_track(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client, {"prompt": "p", "generate_audio": True, "aspect_ratio": "1:1"})
    runtime.clock.advance(SLOWEST)

    url = task_data(client, task_id)["response"][0]

    assert probe(client.get(urlsplit(url).path).data) == video((720, 720), 5, audio=True)


@pytest.mark.parametrize("config", [config_with(profile="observed")])
@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"duration": 8}, "INVALID_DURATION"),
        ({"duration": "8"}, "INVALID_DURATION"),
        ({"duration": 4, "model": "seedance-2.0-fast"}, "INVALID_DURATION"),
        ({"duration": "16", "model": "seedance-2-mini"}, "INVALID_DURATION"),
        ({"resolution": "1080p"}, "INVALID_RESOLUTION"),
        ({"aspect_ratio": "21:9"}, "INVALID_ASPECT_RATIO"),
        ({"model": "seedance-2.0-pro"}, "INVALID_REQUEST"),
        ({"images": [IMAGE] * 5}, "TOO_MANY_IMAGES"),
        ({"prompt": ""}, "INVALID_PROMPT"),
    ],
)
def test_observed_profile_still_refuses_the_rest(
    client: FlaskClient, fields: dict[str, Any], code: str
) -> None:
    assert_error(generate(client, {"prompt": "p", **fields}), 400, code)


# settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [config_with(overrides=_v2(refunds={"on_failure": False}, ids={"task": {"prefix": "v2x"}}))],
)
def test_v2_overlay_settings_leave_v1_alone(client: FlaskClient, runtime: Runtime) -> None:
    v2_task = create(client, {"prompt": "p"}, **{SCENARIO: "fail"})
    v1_task = client.post(
        "/v1/generate", json={"prompt": "p"}, headers={**AUTH, SCENARIO: "fail"}
    ).get_json()["data"]["task_id"]

    runtime.clock.advance(SLOWEST)

    assert v2_task.startswith("v2x")
    assert v1_task.startswith("seed")
    assert task_data(client, v2_task)["consumed_credits"] == 240  # kept
    assert status(client, v1_task, "/v1/status").get_json()["data"]["consumed_credits"] == 0
    assert balance(runtime) == 10000 - 240


@pytest.mark.parametrize(
    "config", [config_with(overrides={PROVIDER: {"refunds": {"on_failure": False}}})]
)
def test_provider_refund_setting_covers_v2(client: FlaskClient, runtime: Runtime) -> None:
    task_id = create(client, {"prompt": "p", "model": "seedance-2.0-fast"}, **{SCENARIO: "fail"})

    runtime.clock.advance(SLOWEST)

    assert task_data(client, task_id)["consumed_credits"] == 160
    assert balance(runtime) == 10000 - 160


# the spec's own sanity ----------------------------------------------------------------------


def test_openapi_exports_the_v2_operations() -> None:
    for profile in (SPEC, OBSERVED):
        document = export_openapi(profile)
        validate(document)
        assert document["paths"]["/v2/generate"]["post"]["operationId"] == "generate_v2"
        assert document["paths"]["/v2/status"]["get"]["operationId"] == "status_v2"
        assert "task_finished" in document["paths"]["/v2/generate"]["post"]["callbacks"]


def test_every_v2_example_validates_in_both_profiles() -> None:
    v2 = [e for e in SPEC.example_index() if e["operation"].endswith("_v2")]

    assert {e["kind"] for e in v2} == {"request", "response"}
    for spec in (SPEC, OBSERVED):
        for entry in v2:
            assert spec.validator(entry["schema"]).violations(entry["body"]) == [], entry["file"]


def _notes(node: Any) -> Iterator[str]:
    """Every x-provenance note in a spec section."""
    if isinstance(node, dict):
        if "x-provenance" in node:
            yield str(node["x-provenance"])
        for key, value in node.items():
            if not key.startswith("x-"):
                yield from _notes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _notes(item)


def test_every_v2_value_names_its_source() -> None:
    sources = re.compile(r"(vendor docs V2-|client code|decided)")
    overlay = SPEC.profile_json["operations"]["generate_v2"]
    for name, section in overlay.items():
        notes = list(_notes(section))
        assert notes, name
        assert all(sources.search(note) for note in notes), (name, notes)
    properties = SPEC.schema["$defs"]["GenerateRequestV2"]["properties"]
    for field, schema in properties.items():
        assert sources.search(schema["x-provenance"]), field
