"""Cassettes: the shipped ones are the documents' examples and keep the contract;
recordings are normalised (keys, ids, idempotency keys, timestamps, signatures)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from contracts import scenarios
from contracts.cassettes import (
    SHIPPED,
    Cassette,
    Recorder,
    cassette_json,
    example_cassette,
    load_cassettes,
    normalise,
)
from contracts.checks import ContractViolation
from contracts.drift import DriftLog
from contracts.exchange import Exchange, redact
from contracts.target import replay_target
from mockserver.spec import PROVIDERS, load_provider

KEY = "sk_live_0123456789abcdef"


def test_shipped_cassettes_are_the_documents_examples() -> None:
    """After an example changes in spec/, rebuild them: python -m contracts.cassettes"""
    shipped = {c.provider: c for c in load_cassettes(SHIPPED)}
    for provider in PROVIDERS:
        built = example_cassette(load_provider(provider))
        assert cassette_json(shipped[provider]) == cassette_json(built)
    index = load_provider("seedanceapi").example_index()
    assert len(shipped["seedanceapi"].exchanges) == 5  # 4 requests x 1 answer + the status
    assert {e["file"] for e in index} >= {"status-response-200.json", "audio-request.json"}


@pytest.mark.parametrize("cassette", load_cassettes(SHIPPED), ids=lambda c: c.provider)
def test_shipped_cassettes_keep_the_contract(cassette: Cassette) -> None:
    scenarios.recorded_exchanges_keep_the_contract(replay_target((cassette,)), cassette)


def test_a_recorded_answer_that_drifted_is_reported() -> None:
    [cassette] = [c for c in load_cassettes(SHIPPED) if c.provider == "seedanceapi"]
    status = cassette.exchanges[-1]
    body = status.json()
    body["data"]["consumed_credits"] = "28"
    del body["data"]["error_message"]
    drifted = replace(
        cassette,
        exchanges=(
            *cassette.exchanges[:-1],
            replace(status, response_body=json.dumps(body).encode()),
        ),
    )
    drift = DriftLog()
    with pytest.raises(ContractViolation) as caught:
        scenarios.recorded_exchanges_keep_the_contract(replay_target((drifted,)), drifted, drift)
    assert {(f.at, f.received) for f in caught.value.findings} >= {
        ("data.consumed_credits", '"28"'),
        ("data.error_message", "(missing)"),
    }
    assert "| status | `data.consumed_credits` |" in drift.markdown("replay")


def _recorded() -> tuple[Exchange, ...]:
    def exchange(method: str, url: str, status: int, body: object, **kw: object) -> Exchange:
        headers = kw.get("headers", {})
        assert isinstance(headers, dict)
        return Exchange(
            method=method, url=url, status=status,
            request_headers=redact({"Authorization": f"Bearer {KEY}", **headers}),
            request_body=kw.get("request_body"),
            response_headers={"Content-Type": "application/json", "Date": "Mon", "Set-Cookie": "1"},
            response_body=json.dumps(body).encode(),
            operation=str(kw["operation"]), provider="seedance2ai", caller="A",
        )  # fmt: skip

    task = {
        "id": "sd2_la1xbvy7rx2Y",
        "status": "completed",
        "note": f"echo of {KEY}",
        "output": {"video_url": "https://cdn.seedance2ai.io/v.mp4?X-Signature=secret"},
        "created_at": "2026-08-15T09:30:00.250Z",
        "updated_at": "2026-08-15T09:33:04.500Z",
    }
    return (
        exchange("POST", "https://www.seedance2ai.io/api/v1/video/seedance2", 202,
                 {"id": "sd2_la1xbvy7rx2Y", "status": "processing"}, operation="submit_video",
                 headers={"Idempotency-Key": "my-uuid-4f1c"}, request_body={"prompt": "x"}),
        exchange("GET", "https://www.seedance2ai.io/api/v1/tasks/sd2_la1xbvy7rx2Y", 200, task,
                 operation="get_task"),
        exchange("GET", "https://www.seedance2ai.io/api/v1/tasks/sd2_Zz9", 404,
                 {"error": {"code": "not_found", "message": "no"}}, operation="get_task"),
    )  # fmt: skip


def test_the_normaliser_makes_a_recording_safe_and_stable() -> None:
    cassette = normalise(Cassette("seedance2ai", "t", "live", _recorded()), [KEY])
    text = json.dumps(cassette_json(cassette))
    assert KEY not in text
    assert "sd2_la1xbvy7rx2Y" not in text
    assert "my-uuid-4f1c" not in text
    submit, poll, unknown = cassette.exchanges
    shape = load_provider("seedance2ai").profile.task_id
    assert submit.json()["id"] == poll.json()["id"] == "sd2_000000000001"
    assert shape.matches(submit.json()["id"])
    assert poll.url.endswith("/api/v1/tasks/sd2_000000000001")
    assert unknown.url.endswith("/api/v1/tasks/task002")  # not the documented shape: same length
    assert submit.request_headers == {
        "Authorization": "Bearer <redacted>",
        "Idempotency-Key": "idempotency-key-0001",
    }
    task = poll.json()
    assert (task["created_at"], task["updated_at"]) == (
        "2026-01-01T00:00:00.000Z",
        "2026-01-01T00:03:04.250Z",
    )
    assert task["output"]["video_url"] == "https://cdn.seedance2ai.io/v.mp4"
    assert task["note"] == "echo of <redacted>"
    assert set(poll.response_headers) == {"Content-Type"}


def test_the_recorder_writes_cassettes_the_replay_target_loads(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, [KEY])
    for exchange in _recorded():
        recorder.add(exchange)
    [written] = recorder.flush("contracts/test_x.py::test_y[seedance2ai]", "recorded from live")
    assert written == tmp_path / "seedance2ai" / "contracts_test_x.py_test_y_seedance2ai.json"
    assert KEY not in written.read_text()
    [loaded] = load_cassettes(tmp_path)
    assert loaded.source == "recorded from live"
    assert [e.status for e in loaded.exchanges] == [202, 200, 404]
    assert recorder.flush("again", "nothing") == []
