"""The official Ark SDKs (volcenginesdkarkruntime and byteplussdkarkruntime),
unchanged but for the base URL or the HTTP client, against the simulator: over
real HTTP (``seedance-mock serve --clock manual``) and in-process (an httpx
transport). Also a client written to the fact sheet with ``requests``, which
runs unchanged against the real hosts inside ``seedance_mock()``.

What the SDKs send and parse is in spec/ark/SDK-NOTES.md.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import av
import httpx
import pytest
import requests
from byteplussdkarkruntime import Ark as BytePlusArk  # type: ignore[import-untyped]
from byteplussdkarkruntime import _exceptions as byteplus_errors
from volcenginesdkarkruntime import Ark as VolcengineArk  # type: ignore[import-untyped]
from volcenginesdkarkruntime import _exceptions as volcengine_errors

from mockserver.inprocess import SeedanceMock, seedance_mock
from tests.server import running_server

KEY = "ark-demo-key"
PROMPT = "A glass train crosses a snowy bridge --ratio 16:9 --dur 4"
BYTEPLUS = "https://ark.ap-southeast.bytepluses.com/api/v3"
VOLCENGINE = "https://ark.cn-beijing.volces.com/api/v3"


class ArkClient(Protocol):
    """What the tests use of either SDK's ``Ark``."""

    content_generation: Any


#: each SDK: its Ark class, a model of its platform, its exceptions module
SDKS = {
    "volcengine": (VolcengineArk, "doubao-seedance-2-0-260128", volcengine_errors),
    "byteplus": (BytePlusArk, "dreamina-seedance-2-0-260128", byteplus_errors),
}
Advance = Callable[[float], object]


def drive_every_operation(ark: ArkClient, model: str, errors: Any, advance: Advance) -> None:
    """create, get, list with every filter, delete, and the error paths, as a user would."""
    tasks = ark.content_generation.tasks
    made = tasks.create(
        model=model,
        content=[{"type": "text", "text": PROMPT}],
        return_last_frame=True,
        callback_url=None,
        seed=11,
    )
    assert made.id.startswith("cgt-")
    queued = tasks.get(task_id=made.id)
    assert (queued.status, queued.content, queued.usage) == ("queued", None, None)
    waiting = tasks.create(model=model, content=[{"type": "text", "text": "second"}])
    advance(3)
    assert tasks.get(task_id=made.id).status == "running"
    with pytest.raises(errors.ArkPermissionDeniedError) as refused:
        tasks.delete(task_id=made.id)  # running: refused, and 403 is not retried
    assert refused.value.code == "OperationDenied.InvalidState"
    advance(3600)
    done = tasks.get(task_id=made.id)
    assert done.status == "succeeded"
    assert (done.seed, done.resolution, done.ratio, done.duration) == (11, "720p", "16:9", 4)
    assert done.usage.total_tokens == 87300
    assert done.content.video_url.endswith("/video.mp4")
    assert done.content.last_frame_url.endswith("/last-frame.png")
    page = tasks.list(
        page_num=1,
        page_size=5,
        status="succeeded",
        task_ids=[made.id, waiting.id],
        model=model,
        service_tier="default",
    )
    assert (page.total, sorted(t.id for t in page.items)) == (2, sorted([made.id, waiting.id]))
    assert tasks.list(status="queued").total == 0
    assert tasks.delete(task_id=made.id).id is None  # {} parses as an empty task
    with pytest.raises(errors.ArkNotFoundError) as gone:
        tasks.get(task_id=made.id)
    assert (gone.value.code, gone.value.param, gone.value.type) == (
        "NotFound.TaskId",
        "id",
        "NotFound",
    )
    with pytest.raises(errors.ArkBadRequestError) as bad:
        tasks.create(model=model, content=[{"type": "text", "text": "x"}], frames=29)
    assert (bad.value.code, bad.value.param) == ("InvalidParameter", "frames")
    with pytest.raises(errors.ArkNotFoundError) as unknown:
        tasks.create(model="seedance-0-0-000000", content=[{"type": "text", "text": "x"}])
    assert unknown.value.code == "InvalidEndpointOrModel.NotFound"


def advance_server(base_url: str) -> Advance:
    def advance(seconds: float) -> None:
        answer = requests.post(
            f"{base_url}/__admin/clock/advance", json={"seconds": seconds}, timeout=10
        )
        answer.raise_for_status()

    return advance


def test_both_sdks_against_a_served_simulator() -> None:
    with running_server("--clock", "manual", "--seed", "7") as server:
        advance = advance_server(server.base_url)
        for ark_class, model, errors in SDKS.values():
            ark = ark_class(base_url=server.url("/api/v3"), api_key=KEY, max_retries=0)
            drive_every_operation(ark, model, errors, advance)
            stranger = ark_class(base_url=server.url("/api/v3"), api_key="wrong", max_retries=0)
            with pytest.raises(errors.ArkAuthenticationError) as denied:
                stranger.content_generation.tasks.get(task_id="cgt-1")
            assert denied.value.code == "AuthenticationError"


@pytest.fixture
def sim() -> Iterator[SeedanceMock]:
    with seedance_mock(seed=7) as found:
        yield found


@pytest.mark.parametrize("sdk", SDKS)
def test_each_sdk_in_process_through_an_httpx_transport(sim: SeedanceMock, sdk: str) -> None:
    ark_class, model, errors = SDKS[sdk]
    http = httpx.Client(transport=sim.httpx_transport())
    ark = ark_class(api_key=KEY, http_client=http, max_retries=0)  # the default base URL
    drive_every_operation(ark, model, errors, sim.clock.advance)


def test_the_sdk_retries_a_server_overloaded_create_and_the_retry_makes_the_task(
    sim: SeedanceMock,
) -> None:
    """D15, D26: 429 ServerOverloaded is retried by the SDK (after 0.75-1 s of real
    time); no idempotency key, so each accepted attempt is a task."""
    sim.faults.add(provider="ark", error="service_busy", times=1)
    http = httpx.Client(transport=sim.httpx_transport())
    ark = VolcengineArk(api_key=KEY, http_client=http)  # default: 2 retries
    made = ark.content_generation.tasks.create(
        model="doubao-seedance-2-0-260128", content=[{"type": "text", "text": "hi"}]
    )
    creates = sim.journal.entries(provider="ark", method="POST")
    assert [e.status for e in reversed(creates)] == [429, 200]
    assert ark.content_generation.tasks.get(task_id=made.id).status == "queued"


def test_a_client_written_to_the_sheet_runs_unchanged() -> None:
    """Submit, poll to a terminal state, download the video and the last frame;
    cancel a queued task; list by status: plain requests to the real host."""
    headers = {"Authorization": f"Bearer {KEY}"}
    tasks = f"{BYTEPLUS}/contents/generations/tasks"
    with seedance_mock(seed=3) as sim:
        sent = {
            "model": "dreamina-seedance-2-0-fast-260128",
            "content": [
                {"type": "text", "text": "A red fox in the snow"},
                {"type": "image_url", "image_url": {"url": "https://cdn.example.com/fox.png"}},
            ],
            "return_last_frame": True,
            "resolution": "480p",
        }
        task_id = requests.post(tasks, json=sent, headers=headers, timeout=5).json()["id"]
        cancel_me = requests.post(tasks, json=sent, headers=headers, timeout=5).json()["id"]
        assert requests.delete(f"{tasks}/{cancel_me}", headers=headers, timeout=5).json() == {}
        status = ""
        for _ in range(200):  # poll every 10 s of simulated time
            found = requests.get(f"{tasks}/{task_id}", headers=headers, timeout=5).json()
            status = found["status"]
            if status in ("succeeded", "failed", "expired", "cancelled"):
                break
            sim.clock.advance(10)
        assert status == "succeeded"
        mp4 = requests.get(found["content"]["video_url"], timeout=10)
        assert (mp4.status_code, mp4.headers["Content-Type"]) == (200, "video/mp4")
        with av.open(io.BytesIO(mp4.content)) as container:
            stream = container.streams.video[0]
            assert (stream.width, stream.height) == (864, 496)  # table v2, 480p, adaptive → 16:9
        png = requests.get(found["content"]["last_frame_url"], timeout=10)
        assert png.content[:4] == b"\x89PNG"
        cancelled = requests.get(
            tasks, params={"filter.status": "cancelled"}, headers=headers, timeout=5
        ).json()
        assert [t["id"] for t in cancelled["items"]] == [cancel_me]
        # the Volcengine and the eu-west hosts answer too (D16, D35)
        for base in (VOLCENGINE, "https://ark.eu-west.bytepluses.com/api/v3"):
            other = requests.get(f"{base}/contents/generations/tasks", headers=headers, timeout=5)
            assert other.json()["total"] == 2  # the cancelled one stays listed for 24 h
