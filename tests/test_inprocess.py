"""In-process mode: plain ``requests`` (and httpx) code, written as a user of
the real APIs would write it, runs against the simulator inside
``with seedance_mock() as sim:``. No server, no port, no network.

Each edge case the issue names (every documented error, a 429 with the right
Retry-After, a failed task with a refund, an idempotency conflict, a webhook
retry) takes a few lines.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from typing import Any

import httpx
import pytest
import requests

from mockserver.inprocess import SeedanceMock, seedance_mock, with_seedance_mock
from tests.documented_errors import S2_ERRORS, SA_ERRORS, SA_FIELD_CODES
from tests.server import Receiver

S2_API = "https://seedance2ai.io/api/v1"
SA_API = "https://seedanceapi.org/v1"
S2_KEY = "sk_live_demo"
SA_KEY = "sa_demo_key"
S2_AUTH = {"Authorization": f"Bearer {S2_KEY}"}
SA_AUTH = {"Authorization": f"Bearer {SA_KEY}"}
#: document 000's example request (standard, 720p, 5 s, audio on -> 30 credits)
S2_REQUEST = {
    "mode": "text-to-video",
    "quality_tier": "standard",
    "prompt": "A cinematic shot of a glass train crossing a snowy mountain bridge",
    "aspect_ratio": "16:9",
    "duration": "5",
    "resolution": "720p",
}
#: document 004's quick start request (720p, 8 s, no audio -> 28 credits)
SA_REQUEST = {
    "prompt": "A cinematic shot of mountains at sunrise with flowing clouds",
    "aspect_ratio": "16:9",
    "resolution": "720p",
    "duration": "8",
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def s2_submit(body: dict[str, Any] | None = None, key: str | None = None) -> requests.Response:
    headers = {**S2_AUTH, "Idempotency-Key": key or str(uuid.uuid4())}
    return requests.post(f"{S2_API}/video/seedance2", json=body or S2_REQUEST, headers=headers)


def sa_generate(body: dict[str, Any] | None = None) -> requests.Response:
    return requests.post(f"{SA_API}/generate", json=body or SA_REQUEST, headers=SA_AUTH)


def sa_generate_with(headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{SA_API}/generate", json=SA_REQUEST, headers={**SA_AUTH, **headers})


def sa_status(task_id: str) -> dict[str, Any]:
    data: dict[str, Any] = requests.get(
        f"{SA_API}/status", params={"task_id": task_id}, headers=SA_AUTH
    ).json()["data"]
    return data


# the documents' flows ---------------------------------------------------------------------


def test_document_000_flow_submit_poll_download() -> None:
    with seedance_mock() as sim:
        headers = {"Authorization": f"Bearer {S2_KEY}", "Idempotency-Key": str(uuid.uuid4())}
        response = requests.post(f"{S2_API}/video/seedance2", json=S2_REQUEST, headers=headers)
        assert response.status_code == 202
        task = response.json()
        assert (task["status"], task["credits_used"]) == ("processing", 30)

        polls = 0
        while task["status"] == "processing":
            sim.clock.advance(10)  # where a client would time.sleep(10)
            task = requests.get(f"{S2_API}/tasks/{task['id']}", headers=S2_AUTH).json()
            polls += 1

        assert task["status"] == "completed"
        assert 6 <= polls <= 36  # 60-360 s of processing
        video = requests.get(task["output"]["video_url"])
        frame = requests.get(task["output"]["last_frame_url"])
        assert video.headers["Content-Type"] == "video/mp4"
        assert video.content[4:8] == b"ftyp"
        assert frame.content.startswith(PNG_SIGNATURE)
        assert sim.accounts.get("seedance2ai", "demo").credits == 10000 - 30


def test_document_004_flow_generate_poll_download() -> None:
    with seedance_mock() as sim:
        response = requests.post(f"{SA_API}/generate", json=SA_REQUEST, headers=SA_AUTH)
        body = response.json()
        assert body["code"] == 200
        assert body["message"] == "success"
        task_id = body["data"]["task_id"]

        data = body["data"]
        while data["status"] != "SUCCESS":
            assert data["status"] == "IN_PROGRESS"
            sim.clock.advance(15)
            data = requests.get(
                f"{SA_API}/status", params={"task_id": task_id}, headers=SA_AUTH
            ).json()["data"]

        video = requests.get(data["response"][0])
        assert video.status_code == 200
        assert video.content[4:8] == b"ftyp"
        assert data["consumed_credits"] == 28


def test_www_host_is_served_too() -> None:
    with seedance_mock() as sim:
        headers = {**S2_AUTH, "Idempotency-Key": "www-1"}
        task = requests.post(
            "https://www.seedance2ai.io/api/v1/video/seedance2", json=S2_REQUEST, headers=headers
        ).json()
        sim.tasks.complete(task["id"])

        done = requests.get(
            f"https://www.seedance2ai.io/api/v1/tasks/{task['id']}", headers=S2_AUTH
        ).json()

        assert done["status"] == "completed"
        assert done["output"]["video_url"].startswith("https://www.seedance2ai.io/")
        assert requests.get(done["output"]["video_url"]).status_code == 200


def test_request_bodies_in_every_form_requests_sends() -> None:
    """A body given as a str, a file or a generator reaches the simulator whole."""
    raw = json.dumps(SA_REQUEST)
    forms: dict[str, Any] = {
        "str": raw,
        "file": io.BytesIO(raw.encode()),
        "generator": (chunk.encode() for chunk in (raw[:10], raw[10:])),
    }
    headers = {**SA_AUTH, "Content-Type": "application/json"}
    with seedance_mock() as sim:
        for form, data in forms.items():
            response = requests.post(f"{SA_API}/generate", data=data, headers=headers)
            assert response.json()["code"] == 200, form
        assert [json.loads(e.request_body) for e in sim.journal.entries()] == [SA_REQUEST] * 3


def test_header_values_given_as_bytes() -> None:
    with seedance_mock():
        response = requests.post(
            f"{SA_API}/generate", json=SA_REQUEST, headers={"Authorization": b"Bearer sa_demo_key"}
        )

        assert response.json()["code"] == 200


def test_the_path_is_percent_decoded_and_the_query_kept() -> None:
    def quoted(text: str) -> str:
        return "".join(f"%{b:02X}" for b in text.encode())

    with seedance_mock():
        s2_id = s2_submit().json()["id"]
        sa_id = sa_generate().json()["data"]["task_id"]

        by_path = requests.get(f"{S2_API}/tasks/{quoted(s2_id)}", headers=S2_AUTH)
        by_query = requests.get(f"{SA_API}/status?task_id={quoted(sa_id)}", headers=SA_AUTH)

        assert by_path.json()["id"] == s2_id
        assert by_query.json()["data"]["task_id"] == sa_id


def test_scenario_header_chooses_the_fate_and_is_optional() -> None:
    with seedance_mock() as sim:

        def submit(scenario: str | None) -> str:
            extra = {} if scenario is None else {"X-Seedance-Mock-Scenario": scenario}
            task_id: str = sa_generate_with(extra).json()["data"]["task_id"]
            return task_id

        fates = {name: submit(name) for name in ("instant", "fail", "stuck", "slow", "complete")}
        plain = submit(None)
        assert sa_status(fates["instant"])["status"] == "SUCCESS"  # before any time passes

        sim.clock.advance(300)

        assert sa_status(fates["fail"])["status"] == "FAILED"
        assert sa_status(fates["stuck"])["status"] == "IN_PROGRESS"
        assert sa_status(fates["slow"])["status"] == "IN_PROGRESS"
        assert sa_status(fates["complete"])["status"] == "SUCCESS"
        assert sa_status(plain)["status"] == "SUCCESS"


# each edge case in a few lines ----------------------------------------------------------


@pytest.mark.parametrize(("condition", "http_status"), S2_ERRORS)
def test_any_documented_seedance2ai_error_from_a_fault(condition: str, http_status: int) -> None:
    with seedance_mock() as sim:
        sim.faults.add(provider="seedance2ai", error=condition, times=1)

        response = s2_submit()

        assert response.status_code == http_status
        assert response.json()["error"]["code"] == condition
        if condition in ("rate_limited", "service_busy"):
            assert int(response.headers["Retry-After"]) >= 1
        assert s2_submit().status_code == 202  # times=1: the next request is normal


@pytest.mark.parametrize(("condition", "http_status", "code"), SA_ERRORS)
def test_any_seedanceapi_error_from_a_fault(condition: str, http_status: int, code: str) -> None:
    with seedance_mock() as sim:
        sim.faults.add(provider="seedanceapi", error=condition)

        body = sa_generate().json()

        assert (body["code"], body["error"], body["data"]) == (http_status, code, None)
        assert body["message"].startswith(f"{code}: ")


@pytest.mark.parametrize("code", SA_FIELD_CODES)
def test_seedanceapi_field_error_codes_of_the_document_from_a_fault(code: str) -> None:
    with seedance_mock() as sim:
        sim.faults.add(provider="seedanceapi", error=code)

        response = sa_generate()

        assert response.status_code == 400
        assert response.json()["error"] == code


def test_drop_and_malformed_faults() -> None:
    with seedance_mock() as sim:
        sim.faults.add(provider="seedance2ai", effect="drop", times=1)
        sim.faults.add(provider="seedanceapi", effect="malformed", times=1)

        with pytest.raises(requests.ConnectionError):
            requests.get(f"{S2_API}/tasks/sd2_anything0000", headers=S2_AUTH)
        with pytest.raises(requests.JSONDecodeError):
            sa_generate().json()


def test_real_rate_limit_answers_429_with_the_right_retry_after() -> None:
    with seedance_mock() as sim:
        codes = [
            requests.get(f"{S2_API}/tasks/sd2_missing00000", headers=S2_AUTH).status_code
            for _ in range(30)
        ]
        limited = requests.get(f"{S2_API}/tasks/sd2_missing00000", headers=S2_AUTH)

        assert set(codes) == {404}
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        assert limited.headers["Retry-After"] == "60"
        sim.clock.advance(int(limited.headers["Retry-After"]))
        assert requests.get(f"{S2_API}/tasks/sd2_missing00000", headers=S2_AUTH).status_code == 404


def test_failed_task_is_refunded() -> None:
    with seedance_mock() as sim:
        task_id = s2_submit().json()["id"]

        sim.tasks.fail(task_id, message="The GPU melted.")

        task = requests.get(f"{S2_API}/tasks/{task_id}", headers=S2_AUTH).json()
        assert task["status"] == "failed"
        assert task["error"]["message"] == "The GPU melted."
        assert task["credits_refunded"] == task["credits_used"] == 30
        assert sim.accounts.get("seedance2ai", "demo").credits == 10000
        _opening, entries = sim.accounts.ledger("seedance2ai", "demo")
        assert (entries[-1].kind, entries[-1].amount) == ("refund", 30)


def test_idempotency_conflict() -> None:
    with seedance_mock():
        first = s2_submit(key="order-42")
        replay = s2_submit(key="order-42")
        conflict = s2_submit({**S2_REQUEST, "duration": "10"}, key="order-42")

        assert replay.json() == first.json()
        assert conflict.status_code == 409
        assert conflict.json()["error"]["code"] == "idempotency_conflict"


def test_webhook_retry() -> None:
    with seedance_mock() as sim, Receiver(statuses=(503,)) as receiver:
        body = {**SA_REQUEST, "callback_url": receiver.url("/seedance")}
        task_id = sa_generate(body).json()["data"]["task_id"]

        sim.clock.advance(300)

        attempts = [p.headers["X-Seedance-Mock-Attempt"] for p in receiver.posts()]
        assert attempts == ["1", "2"]
        assert json.loads(receiver.posts()[-1].body)["data"]["status"] == "SUCCESS"
        [delivery] = sim.webhooks(task_id)
        assert delivery.state == "delivered"
        assert [a.status for a in delivery.attempts] == [503, 200]


# control from Python --------------------------------------------------------------------


def test_accounts_created_from_python_serve_their_keys() -> None:
    with seedance_mock() as sim:
        sim.accounts.create("seedanceapi", "acme", credits=30, keys=["sa_acme"])

        ok = requests.post(
            f"{SA_API}/generate", json=SA_REQUEST, headers={"Authorization": "Bearer sa_acme"}
        )
        short = requests.post(
            f"{SA_API}/generate", json=SA_REQUEST, headers={"Authorization": "Bearer sa_acme"}
        )

        assert ok.json()["code"] == 200
        assert short.status_code == 402
        assert sim.accounts.get("seedanceapi", "acme").credits == 2


def test_journal_records_requests_without_keys() -> None:
    with seedance_mock() as sim:
        s2_submit()
        sa_generate()

        entries = sim.journal.entries()

        assert [(e.provider, e.status) for e in entries] == [
            ("seedanceapi", 200),
            ("seedance2ai", 202),
        ]
        assert S2_KEY not in repr(entries)
        assert SA_KEY not in repr(entries)


def test_reset_goes_back_to_the_start_state() -> None:
    with seedance_mock() as sim:
        task_id = s2_submit().json()["id"]
        sim.faults.add(provider="seedanceapi", error="internal_error")
        sim.accounts.create("seedance2ai", "temp", credits=5)
        before = sim.clock.now()
        sim.clock.advance(86400)

        sim.reset()

        assert sim.clock.now() < before + 86400
        assert sim.tasks.list() == []
        assert sim.faults.list() == []
        assert sim.accounts.get("seedance2ai", "demo").credits == 10000
        with pytest.raises(KeyError):
            sim.accounts.get("seedance2ai", "temp")
        assert requests.get(f"{S2_API}/tasks/{task_id}", headers=S2_AUTH).status_code == 404
        assert sa_generate().status_code == 200


# unrelated requests --------------------------------------------------------------------


def test_unrelated_requests_fail_by_default() -> None:
    with Receiver() as site, seedance_mock(), pytest.raises(requests.ConnectionError):
        requests.get(site.url("/page"))


def test_unrelated_requests_pass_through_when_asked() -> None:
    with Receiver(page=b"local page") as site, seedance_mock(passthrough=True):
        page = requests.get(site.url("/page"))
        simulated = sa_generate()

    assert page.content == b"local page"
    assert simulated.json()["code"] == 200  # the providers are still simulated


# the decorator ---------------------------------------------------------------------------


@with_seedance_mock()
def test_decorator_form(sim: SeedanceMock) -> None:
    task_id = sa_generate().json()["data"]["task_id"]

    sim.clock.advance(300)

    assert sa_status(task_id)["status"] == "SUCCESS"


def test_decorator_passes_settings_and_a_fresh_simulator() -> None:
    seen: list[int] = []

    @with_seedance_mock(profile="observed")
    def generate_with_integer_duration(sim: SeedanceMock | None = None) -> int:
        assert sim is not None
        seen.append(len(sim.tasks.list()))
        return sa_generate({**SA_REQUEST, "duration": 8}).status_code

    assert generate_with_integer_duration() == 200
    assert generate_with_integer_duration() == 200
    assert seen == [0, 0]


# httpx ---------------------------------------------------------------------------------------


def test_httpx_transport() -> None:
    with seedance_mock() as sim:
        client = httpx.Client(transport=sim.httpx_transport(), base_url=SA_API, headers=SA_AUTH)
        with client:
            task_id = client.post("/generate", json=SA_REQUEST).json()["data"]["task_id"]
            sim.clock.advance(300)
            data = client.get("/status", params={"task_id": task_id}).json()["data"]
            video = client.get(data["response"][0])

        assert data["status"] == "SUCCESS"
        assert video.content[4:8] == b"ftyp"


def test_async_httpx_transport() -> None:
    async def run(sim: SeedanceMock) -> tuple[int, dict[str, Any]]:
        headers = {**S2_AUTH, "Idempotency-Key": "async-1"}
        transport = sim.async_httpx_transport()
        async with httpx.AsyncClient(transport=transport, base_url=S2_API) as client:
            accepted = await client.post("/video/seedance2", json=S2_REQUEST, headers=headers)
            sim.clock.advance(400)
            task = await client.get(f"/tasks/{accepted.json()['id']}", headers=S2_AUTH)
            return accepted.status_code, task.json()

    with seedance_mock() as sim:
        status, task = asyncio.run(run(sim))

    assert status == 202
    assert task["status"] == "completed"
