"""Cassettes: the shipped ones are the documents' examples and keep the contract;
recordings are normalised (keys, ids, idempotency keys, timestamps, signatures)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

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
from contracts.conversation import Conversation
from contracts.dialect import ProviderAPI, dig
from contracts.drift import DriftLog
from contracts.exchange import STRANGER, Exchange, redact
from contracts.target import Target, replay_target, url_target
from contracts.transport import REPLAYED_HEADER, ReplayTransport
from mockserver.spec import PROVIDERS, load_provider

KEY = "sk_live_0123456789abcdef"
#: a provider host the in-process simulator answers (mockserver.inprocess)
SHIPPED_BASE = "https://seedanceapi.org"


def test_shipped_cassettes_are_the_documents_examples() -> None:
    """After an example changes in spec/, rebuild them: python -m contracts.cassettes"""
    shipped = {c.provider: c for c in load_cassettes(SHIPPED)}
    for provider in PROVIDERS:
        built = example_cassette(load_provider(provider))
        assert cassette_json(shipped[provider]) == cassette_json(built)
    for provider in PROVIDERS:
        index = load_provider(provider).example_index()
        asked = Counter(e["operation"] for e in index if e["kind"] == "request")
        answers = [e for e in index if e["kind"] == "response" and not e.get("abridged")]
        # each answer after every request example of its operation (a poll: none);
        # an abridged example ("cgt-…") is no answer
        assert len(shipped[provider].exchanges) == sum(
            max(1, asked[a["operation"]]) for a in answers
        )


@pytest.mark.parametrize("cassette", load_cassettes(SHIPPED), ids=lambda c: c.provider)
def test_shipped_cassettes_keep_the_contract(cassette: Cassette) -> None:
    scenarios.recorded_exchanges_keep_the_contract(replay_target((cassette,)), cassette)


def test_a_recorded_answer_that_drifted_is_reported() -> None:
    [cassette] = [c for c in load_cassettes(SHIPPED) if c.provider == "seedanceapi"]
    exchanges = list(cassette.exchanges)
    [at] = [n for n, e in enumerate(exchanges) if e.operation == "status"]
    body = exchanges[at].json()
    body["data"]["consumed_credits"] = "28"
    del body["data"]["error_message"]
    exchanges[at] = replace(exchanges[at], response_body=json.dumps(body).encode())
    drifted = replace(cassette, exchanges=tuple(exchanges))
    drift = DriftLog()
    with pytest.raises(ContractViolation) as caught:
        scenarios.recorded_exchanges_keep_the_contract(replay_target((drifted,)), drifted, drift)
    assert {(f.at, f.received) for f in caught.value.findings} >= {
        ("data.consumed_credits", '"28"'),
        ("data.error_message", "(missing)"),
    }
    report = drift.markdown("replay")
    assert "| seedanceapi status: data.consumed_credits breaks the StatusResponse schema" in report
    assert "| seedanceapi status: data.error_message is missing (body_matches_schema) |" in report


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


# recordings others can read ---------------------------------------------------------------
class _EchoesTheKey:
    """A server that echoes the caller's key in the message of its error
    answers (a leak the recorder must still keep out of the cassette)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        failed: list[bool] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            failed.append(int(status.split(maxsplit=1)[0]) >= 400)
            return start_response(status, [h for h in headers if h[0] != "Content-Length"])

        body = b"".join(self.app(environ, start))
        key = environ.get("HTTP_AUTHORIZATION", "")
        if body.startswith(b"{") and key and failed[0]:
            body = json.dumps(_echo(json.loads(body), key)).encode()
        return [body]


def _echo(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return {
            k: f"{v} ({key})" if k == "message" and isinstance(v, str) else _echo(v, key)
            for k, v in value.items()
        }
    return value


def _recording(tmp_path: Path, simulator: Callable[..., Target]) -> tuple[Target, Recorder]:
    target = simulator(_EchoesTheKey)
    target.recorder = Recorder(tmp_path)
    return target, target.recorder


def test_a_recorded_cassette_holds_no_key(tmp_path: Path, simulator: Callable[..., Target]) -> None:
    target, recorder = _recording(tmp_path, simulator)
    used: list[str] = []
    for provider in PROVIDERS:
        conv = Conversation(target, provider)
        example = next(conv.spec.examples("request", conv.api.submit.name))
        scenarios.someone_elses_task_is_404(conv, dict(example))
        scenarios.calls_without_credentials_are_refused(conv, conv.api.poll.name, STRANGER)
        used += [conv.accounts.a.key, conv.accounts.b.key if conv.accounts.b else ""]
    written = recorder.flush("contracts/test_x.py::test_keys", "recorded in-process")
    text = "".join(path.read_text() for path in written)
    assert len(written) == len(PROVIDERS)
    assert "(Bearer <redacted>)" in text  # the echoed key reached the recorder, redacted
    assert not [key for key in used if key and key in text]
    assert not re.search(r"sk_contract_\w+", text)  # the stranger's made-up key too


@pytest.mark.seedance_mock(admin_token="s3cret-admin-token")
def test_a_recording_through_a_control_api_holds_no_token(
    tmp_path: Path, seedance_mock: Any
) -> None:
    target = url_target(f"{SHIPPED_BASE}", admin_token="s3cret-admin-token")
    assert target.controls is not None
    assert "s3cret-admin-token" in target.secret_values
    target.recorder = Recorder(tmp_path, target.secret_values)
    conv = Conversation(target, "seedanceapi")
    scenarios.finished_task_stays_finished(conv, {"prompt": "a cat"})  # the clock is advanced
    [written] = target.recorder.flush("t", "recorded from a simulator")
    assert "s3cret-admin-token" not in written.read_text()
    assert conv.accounts.a.key not in written.read_text()


def test_a_replayed_poll_sequence_keeps_its_order_and_says_it_is_replayed(
    tmp_path: Path, intact: Target
) -> None:
    """Recorded: processing, then completed. Replayed: the same, in that order
    (the last answer repeats), each marked with the cassette it came from."""
    recorder = Recorder(tmp_path)
    target = replace(intact, recorder=recorder)
    for provider in PROVIDERS:
        conv = Conversation(target, provider)
        task_id = conv.task_id(conv.submit(_example(conv), expect=scenarios.ACCEPTED))
        conv.poll(task_id, expect=scenarios.READ_BACK)
        conv.force(task_id, "complete")
        conv.poll(task_id, expect=scenarios.READ_BACK)
    recorder.flush("polls", "recorded in-process")
    for cassette in load_cassettes(tmp_path):
        api = ProviderAPI(load_provider(cassette.provider))

        def status(exchange: Exchange, api: ProviderAPI = api) -> str:
            return str(dig(exchange.json(), (*api.task_at, api.status_field)))

        polls = [e for e in cassette.exchanges if e.operation == api.poll.name]
        first, done = status(polls[0]), status(polls[-1])
        assert first == api.states[0] != done
        transport = ReplayTransport(cassette.exchanges, f"{cassette.provider}/{cassette.name}")
        answers = [transport.request("GET", polls[0].url, headers={}) for _ in range(3)]
        assert [status(a) for a in answers] == [first, done, done]
        assert {a.header(REPLAYED_HEADER) for a in answers} == {f"{cassette.provider}/polls"}


def _example(conv: Conversation) -> dict[str, Any]:
    return dict(next(conv.spec.examples("request", conv.api.submit.name)))
