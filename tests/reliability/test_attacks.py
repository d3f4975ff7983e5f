"""Attacks on the simulator's edges, one family per bug class: broken body framing,
unparsable requests, webhooks aimed at the control plane, slow clients, range
requests, integers written as decimals, an unbounded journal and credit amounts
beyond exact range.

Each test states the behaviour a user relies on (README "Guarantees", DECISIONS
C3 and C10) and fails with every case that breaks it, what came back, and why.
"""

from __future__ import annotations

import gc
import json
import re
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from mockserver.app import create_app
from mockserver.config import Config
from mockserver.engine.journal import BODY_LIMIT, HEADERS_LIMIT, TRUNCATED
from mockserver.providers.context import EXTENSION
from mockserver.serve import _accept_queue, _more_to_take
from tests.engine import backends
from tests.reliability.attack_helpers import (
    bad_request_problems,
    exchange,
    integral_floats,
    message_of,
    range_problems,
    stalled_connections,
    still_open,
    timed_gets,
)
from tests.reliability.conftest import (
    KEYS,
    SPECS,
    TIMEOUT,
    Answer,
    ControlPlane,
    HttpControl,
    InProcessControl,
    Probe,
    all_tasks,
    send,
    send_raw,
    undocumented,
)
from tests.server import Receiver, Server, running_server

#: the session redis-server of tests/engine (store_url asks for it by name)
redis_server = backends.redis_server

PROMPT = "A lighthouse in a storm at night"
AUTH = {p: f"Bearer {key}" for p, key in KEYS.items()}


def _json(answer: Answer) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _balances(control: ControlPlane) -> dict[tuple[str, str], int]:
    accounts = control.call("GET", "/accounts")["accounts"]
    return {(a["provider"], a["id"]): a["credits"] for a in accounts}


def _report(failures: list[str]) -> str:
    return f"{len(failures)} case(s) broken:\n" + "\n".join(failures)


# 1. broken body framing ------------------------------------------------------------------------

JSON_BODY = f'{{"prompt": "{PROMPT}"}}'.encode()
CHUNK = b"%x\r\n%s\r\n" % (len(JSON_BODY), JSON_BODY)
CHUNKED = b"Transfer-Encoding: chunked"


@dataclass(frozen=True)
class Framing:
    name: str
    headers: tuple[bytes, ...]
    body: bytes
    half_close: bool  # the client then shuts its write side (it sends nothing more)
    says: tuple[str, ...]  # the message names at least one of these


FRAMINGS = (
    Framing(
        "chunk size not hexadecimal",
        (CHUNKED,),
        b"zz\r\n" + JSON_BODY + b"\r\n0\r\n\r\n",
        False,
        ("chunk",),
    ),
    Framing(
        "junk after the chunk size",
        (CHUNKED,),
        b"%x junk\r\n%s\r\n0\r\n\r\n" % (len(JSON_BODY), JSON_BODY),
        False,
        ("chunk",),
    ),
    Framing("no terminating 0-chunk", (CHUNKED,), CHUNK, True, ("chunk", "body")),
    Framing(
        "chunk data shorter than its size, then EOF",
        (CHUNKED,),
        b"%x\r\n%s" % (len(JSON_BODY) + 40, JSON_BODY),
        True,
        ("chunk", "body"),
    ),
    Framing(
        "Content-Length beyond the bytes sent, then EOF",
        (b"Content-Length: %d" % (len(JSON_BODY) + 40),),
        JSON_BODY,
        True,
        ("Content-Length", "body"),
    ),
    Framing(
        "Content-Length and Transfer-Encoding: chunked",
        (b"Content-Length: %d" % len(JSON_BODY), CHUNKED),
        CHUNK + b"0\r\n\r\n",
        False,
        ("Content-Length", "Transfer-Encoding"),
    ),
    Framing(
        "Transfer-Encoding: gzip, chunked",
        (b"Transfer-Encoding: gzip, chunked",),
        CHUNK + b"0\r\n\r\n",
        False,
        ("Transfer-Encoding", "coding"),
    ),
    Framing(
        "Transfer-Encoding: foo",
        (b"Transfer-Encoding: foo",),
        JSON_BODY,
        True,
        ("Transfer-Encoding", "coding"),
    ),
)
SUBMIT_LINES = {
    "seedance2ai": b"POST /api/v1/video/seedance2 HTTP/1.1",
    "seedanceapi": b"POST /v1/generate HTTP/1.1",
}


def _submit_wire(provider: str, framing: Framing, key: str) -> bytes:
    head = [
        SUBMIT_LINES[provider],
        b"Host: 127.0.0.1",
        b"Connection: close",
        b"Authorization: " + AUTH[provider].encode(),
        b"Idempotency-Key: " + key.encode(),  # required by seedance2ai, ignored by seedanceapi
        b"Content-Type: application/json",
        *framing.headers,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + framing.body


def _framing_problems(provider: str, framing: Framing, answer: Answer) -> list[str]:
    problems = bad_request_problems(provider, answer)
    message = message_of(_json(answer))
    if not any(word.lower() in message.lower() for word in framing.says):
        problems.append(f"message {message!r} names none of {framing.says}")
    return problems


def _side_effects(control: HttpControl, balances: Mapping[tuple[str, str], int]) -> list[str]:
    """Tasks created or credits moved since ``balances`` (then the state is reset)."""
    found = [f"created task {t}" for t in all_tasks(control)]
    now = _balances(control)
    found += [
        f"{owner} balance {balances[owner]} -> {now.get(owner)}"
        for owner in balances
        if now.get(owner) != balances[owner]
    ]
    if found:
        control.call("POST", "/reset")  # the next case starts clean
    return found


@pytest.mark.slow
@pytest.mark.parametrize("provider", list(KEYS))
def test_broken_body_framing_is_a_400_in_the_owning_envelope_and_creates_nothing(
    provider: str,
) -> None:
    failures = []
    with running_server() as server:
        control = HttpControl(server.base_url)
        balances = _balances(control)
        for number, framing in enumerate(FRAMINGS):
            wire = _submit_wire(provider, framing, f"framing-{number}")
            answer = exchange(server.port, wire, half_close=framing.half_close)
            problems = _framing_problems(provider, framing, answer)
            problems += _side_effects(control, balances)
            if problems:
                failures.append(f"- {framing.name}: {'; '.join(problems)}\n    {answer.describe()}")

    assert not failures, _report(failures)


# 2. unparsable requests whose path is readable -------------------------------------------------

UNPARSABLE = {
    "obsolete folded header line": b"X-Note: a\r\n  folded onto the line above",
    "NUL byte in a header": b"X-Note: a\x00b",
    "space before a header's colon": b"X-Note : b",
}
READABLE_GETS = {
    "seedanceapi": b"GET /v1/status?task_id=x HTTP/1.1",
    "seedance2ai": b"GET /api/v1/tasks/x HTTP/1.1",
}


@pytest.mark.slow
@pytest.mark.parametrize("provider", list(READABLE_GETS))
def test_an_unparsable_request_on_a_providers_path_gets_that_providers_envelope(
    provider: str,
) -> None:
    failures = []
    with running_server() as server:
        for name, broken in UNPARSABLE.items():
            line = READABLE_GETS[provider]
            wire = b"\r\n".join(
                [line, b"Host: 127.0.0.1", b"Authorization: " + AUTH[provider].encode(), broken]
            )
            wire += b"\r\nConnection: close\r\n\r\n"
            target = line.decode().split(" ")[1]
            answer = send_raw(server, Probe("GET", target.split("?")[0]), wire)
            problems = bad_request_problems(provider, answer)
            if problems:
                failures.append(f"- {name}: {'; '.join(problems)}\n    {answer.describe()}")

    assert not failures, _report(failures)


def test_an_unparsable_request_on_arks_path_carries_its_request_id() -> None:
    """Ark puts the request id in an X-Request-Id header and at the end of every
    error message: an answer gunicorn's parser failed on is no exception."""
    with running_server() as server:
        wire = b"\r\n".join([
            b"GET /api/v3/contents/generations/tasks/cgt-x HTTP/1.1", b"Host: 127.0.0.1",
            b"Authorization: Bearer ark-demo-key", UNPARSABLE["space before a header's colon"],
            b"Connection: close", b"", b"",
        ])  # fmt: skip
        answer = send_raw(server, Probe("GET", "/api/v3/contents/generations/tasks/cgt-x"), wire)
    assert answer.status == 400, answer.describe()
    body = answer.json()
    assert SPECS["ark"].validator("Error").violations(body) == []
    request_id = answer.header("X-Request-Id")
    assert request_id, answer.describe()
    assert body["error"]["message"].endswith(request_id)


# 3. webhooks aimed at the simulator itself -----------------------------------------------------


def _self_targets(port: int) -> list[str]:
    base = f"http://127.0.0.1:{port}"
    return [
        f"{base}/__admin/reset",
        f"http://localhost:{port}/__admin/reset",
        f"http://[::1]:{port}/__admin/reset",
        f"{base}/%5F%5Fadmin/reset",
        f"{base}//__admin/reset",
        f"{base}/x/../__admin/reset",
        f"{base}/__admin/accounts",
        f"{base}/__admin/ui",
    ]


def _submit_with_callback(server: Server, url: str) -> str:
    response = requests.post(
        server.url("/v1/generate"),
        headers={"Authorization": AUTH["seedanceapi"], "X-Seedance-Mock-Scenario": "complete"},
        json={"prompt": PROMPT, "callback_url": url},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, f"callback {url}: {response.text}"
    task_id: str = response.json()["data"]["task_id"]
    return task_id


def _refusal_problems(url: str, delivery: Mapping[str, Any] | None) -> list[str]:
    if delivery is None:
        return [f"{url}: no delivery recorded"]
    attempts = delivery["attempts"]
    refused = (
        delivery["state"] == "blocked"
        and attempts
        and all(a["outcome"].startswith("not delivered") for a in attempts)
    )
    # [::1] reaches nothing when the server listens on IPv4 only: never an HTTP answer
    unanswered = "[::1]" in url and attempts and all(a["status"] is None for a in attempts)
    if refused or unanswered:
        return []
    shown = [(a["outcome"], a["status"], a["error"]) for a in attempts]
    return [f"{url}: state {delivery['state']!r}, attempts {shown}"]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.slow
def test_a_webhook_never_reaches_the_simulators_own_control_plane() -> None:
    with running_server("--clock", "manual") as server, Receiver() as receiver:
        control = HttpControl(server.base_url)
        started = _instant(control.call("GET", "/clock")["now"])
        other = requests.post(
            server.url("/api/v1/video/seedance2"),
            headers={"Authorization": AUTH["seedance2ai"], "Idempotency-Key": "bystander"},
            json={"prompt": PROMPT},
            timeout=TIMEOUT,
        ).json()["id"]
        aimed = {url: _submit_with_callback(server, url) for url in _self_targets(server.port)}
        legitimate = _submit_with_callback(server, receiver.url())
        advanced = requests.post(
            server.url("/__admin/clock/advance"), json={"seconds": 400}, timeout=60
        )

        assert advanced.status_code == 200, (
            f"advance answered {advanced.status_code}: {advanced.text}"
        )
        tasks = all_tasks(control)
        missing = {other, legitimate, *aimed.values()} - set(tasks)
        accounts = set(_balances(control))
        journal = control.call("GET", "/journal?limit=1000")["entries"]
        now = _instant(control.call("GET", "/clock")["now"])
        assert not missing, f"tasks gone after the advance (a reset?): {sorted(missing)}"
        assert {("seedance2ai", "demo"), ("seedanceapi", "demo")} <= accounts, accounts
        assert len(journal) >= 2 + len(aimed), f"journal has {len(journal)} entries: reset?"
        assert (now - started).total_seconds() >= 400, f"clock went from {started} to {now}"
        deliveries = {d["task_id"]: d for d in control.call("GET", "/webhooks")["deliveries"]}
        problems = [
            p for url, t in aimed.items() for p in _refusal_problems(url, deliveries.get(t))
        ]
        assert not problems, "deliveries to the control plane not refused:\n" + "\n".join(problems)
        assert (deliveries.get(legitimate) or {}).get("state") == "delivered", deliveries.get(
            legitimate
        )
        assert any(legitimate.encode() in r.body for r in receiver.posts()), receiver.posts()


# 4. slow clients -------------------------------------------------------------------------------

SLOW_CLIENTS = 40  # five times gunicorn's default 8 request threads
PROBES = 20
PROBE_TIMEOUT = 5.0
STALLS = {
    "one byte": b"G",
    "half a header block": b"GET /v1/status?task_id=x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ",
}
SERVERS = {"gunicorn": (), "granian": ("--server", "granian")}


@pytest.mark.slow
@pytest.mark.parametrize("stall", list(STALLS))
@pytest.mark.parametrize("server_name", list(SERVERS))
def test_stalled_clients_do_not_starve_other_requests(server_name: str, stall: str) -> None:
    with running_server(*SERVERS[server_name]) as server:
        task = requests.post(
            server.url("/v1/generate"),
            headers={"Authorization": AUTH["seedanceapi"]},
            json={"prompt": PROMPT},
            timeout=TIMEOUT,
        ).json()["data"]["task_id"]
        calls: list[tuple[str, Mapping[str, str]]] = [
            (server.url("/__admin/clock"), {}),
            (server.url(f"/v1/status?task_id={task}"), {"Authorization": AUTH["seedanceapi"]}),
        ] * (PROBES // 2)
        with stalled_connections(server.port, SLOW_CLIENTS, STALLS[stall]) as held:
            time.sleep(0.3)  # real time: let the server take the stalled connections first
            timed = timed_gets(calls, PROBE_TIMEOUT)
            still_held = sum(still_open(sock) for sock in held)

    served = sum(t.status == 200 for t in timed)
    worst = max(t.seconds for t in timed)
    figures = (
        f"slow clients ({server_name}, {stall}): {still_held}/{SLOW_CLIENTS} connections held, "
        f"{served}/{len(timed)} probes served, worst probe {worst:.2f} s"
    )
    print(figures)
    failed = [
        f"{t.url} -> {t.status or t.error} after {t.seconds:.2f} s"
        for t in timed
        if t.status != 200
    ]
    assert served == PROBES, figures + "\n" + "\n".join(failed[:4])


@pytest.mark.slow
def test_a_client_that_does_not_read_its_answer_holds_up_no_other_request() -> None:
    """gunicorn serves a request on its event loop's thread (serve.EnvelopeWorker):
    an answer too big for the socket's buffers, to a client that reads nothing,
    must move the loop to another thread instead of stopping it until the write
    times out (10 s)."""
    with running_server("--clock", "manual") as server:
        big = {"prompt": "x" * 60_000}  # refused, but journaled: the journal answer grows
        for _ in range(60):
            requests.post(
                server.url("/v1/generate"),
                headers={"Authorization": AUTH["seedanceapi"]},
                json=big,
                timeout=TIMEOUT,
            )
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting
        reader.connect(("127.0.0.1", server.port))
        try:
            for _ in range(12):  # one at a time: each is read once the answer before is out
                reader.sendall(b"GET /__admin/journal?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
                time.sleep(0.05)  # real time: the server writes the answer, or is stuck on it
            calls: list[tuple[str, Mapping[str, str]]] = [(server.url("/__admin/clock"), {})] * 5
            timed = timed_gets(calls, PROBE_TIMEOUT)
            unread = len(reader.recv(1 << 20, socket.MSG_PEEK))
        finally:
            reader.close()
    worst = max(t.seconds for t in timed)
    assert all(t.status == 200 for t in timed), [(t.status, t.error) for t in timed]
    assert worst < 1.0, f"a probe waited {worst:.2f} s behind the unread answer"
    assert unread < 400_000, f"the answers ({unread} B) fit: nothing was held up"


@pytest.mark.slow
def test_clients_that_ask_to_close_but_never_do_hold_up_no_other_request() -> None:
    """A connection closed after its answer waits for its client to close too
    (up to 2 s, so the answer is not cut by a reset): that wait must not stop the
    event loop (it did in gunicorn's gthread: 2 s per such client, one after another)."""
    with running_server("--clock", "manual") as server:
        lingering = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(5)]
        try:
            for sock in lingering:
                sock.sendall(b"GET /__admin/clock HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            time.sleep(0.2)  # real time: every one is answered and lingering
            calls: list[tuple[str, Mapping[str, str]]] = [(server.url("/__admin/clock"), {})] * 3
            timed = timed_gets(calls, PROBE_TIMEOUT)
            answered = [sock.recv(65536).startswith(b"HTTP/1.1 200") for sock in lingering]
        finally:
            for sock in lingering:
                sock.close()
    assert answered == [True] * 5
    worst = max(t.seconds for t in timed)
    assert all(t.status == 200 for t in timed), [(t.status, t.error) for t in timed]
    assert worst < 1.0, f"a probe waited {worst:.2f} s behind clients that never close"


@pytest.mark.slow
def test_clients_connecting_together_are_all_answered_in_the_next_turn() -> None:
    """The worker takes every connection waiting when it accepts, not one per
    turn of its loop: clients that connect while it is busy all get their first
    answer in the turn after, before anyone gets a second. (Taken one per turn,
    the k-th waited k turns while the first ones were served again and again:
    the 0.3 s tail at 32 connections.) The loop is held meanwhile by a request
    waiting on a latency fault with --threads 1."""
    clients = 16
    with running_server("--clock", "manual", "--threads", "1") as server:
        hold = {"provider": "seedanceapi", "effect": "latency", "latency_ms": 1500,
                "path": "/v1/status", "times": 1}  # fmt: skip
        answer = requests.post(server.url("/__admin/faults"), json=hold, timeout=TIMEOUT)
        assert answer.status_code == 201, answer.text
        held = socket.create_connection(("127.0.0.1", server.port))
        held.sendall(b"GET /v1/status?task_id=held HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)  # real time: the worker's one thread waits on the fault
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(clients)]
        try:
            streams = [sock.makefile("rb") for sock in socks]
            for n, sock in enumerate(socks):
                sock.sendall(f"GET /v1/status?task_id=c{n}_1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            # each client asks again as soon as it has its first answer
            for n, (sock, stream) in enumerate(zip(socks, streams, strict=True)):
                assert _read_answer(stream)[0] == 401
                sock.sendall(f"GET /v1/status?task_id=c{n}_2 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert [_read_answer(stream)[0] for stream in streams] == [401] * clients
        finally:
            for sock in [held, *socks]:
                sock.close()
        journal = requests.get(server.url("/__admin/journal?limit=100"), timeout=TIMEOUT).json()
    served = [e["query"].removeprefix("task_id=") for e in reversed(journal["entries"])]
    firsts = [at for at, query in enumerate(served) if query.endswith("_1")]
    assert len(firsts) == clients, served
    early = [query for query in served[: firsts[-1]] if query.endswith("_2")]
    # the one answered as the worker accepted may ask again before the others are served
    assert len(early) <= 1, f"second requests served before a first one: {served}"


def _read_answer(stream: Any) -> tuple[int, Any]:
    """One HTTP/1.1 answer with a Content-Length from a connection's byte stream."""
    status = int(stream.readline().split()[1])
    headers = dict(
        line.decode().rstrip("\r\n").split(": ", 1) for line in iter(stream.readline, b"\r\n")
    )
    return status, json.loads(stream.read(int(headers["Content-Length"])))


@pytest.mark.slow
def test_pipelined_and_split_requests_on_one_connection_are_each_answered_in_order() -> None:
    """gunicorn's threads take a request only once it is whole: requests sent
    back to back in one write (the next one already read with the first) and a
    request split across writes are each answered, in order, on one connection."""
    auth = b"Authorization: " + AUTH["seedanceapi"].encode()
    wire = [
        b"GET /v1/status?task_id=first HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n\r\n",
        b"GET /__admin/clock HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/status?task_id=third HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n\r\n",
    ]
    last = b"GET /__admin/clock HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with (
        running_server() as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock,
    ):
        stream = sock.makefile("rb")
        sock.sendall(b"".join(wire))
        answers = [_read_answer(stream) for _ in wire]  # before anything more is sent
        sock.sendall(last[:20])
        time.sleep(0.2)  # real time: the server holds half a request
        sock.sendall(last[20:])
        answers.append(_read_answer(stream))
    assert [status for status, _ in answers] == [404, 200, 404, 200], answers
    assert "first" in message_of(answers[0][1]), answers
    assert "third" in message_of(answers[2][1]), answers


# 5. range requests on media --------------------------------------------------------------------

RANGES = (
    ("items=0-5", "full"),
    ("bytes=abc", "full"),
    ("bytes=5-2", "full"),
    ("bytes=", "full"),
    ("bytes=--1", "full"),
    ("bytes=999999999-", "unsatisfiable"),
    ("bytes=0-1,4-5", "multi"),
    ("bytes=0-9", "0-9"),
)
Getter = Callable[[str, Mapping[str, str]], tuple[int, dict[str, str], bytes]]


def _video_of_a_completed_task(get: Getter, post: Callable[[str], int]) -> tuple[str, bytes]:
    """The media path of a completed seedance2ai task's video, and the whole file."""
    status, _, body = get("/__admin/tasks?provider=seedance2ai", {})
    task_id = json.loads(body)["tasks"][0]["id"]
    assert post(f"/__admin/tasks/{task_id}/complete") == 200
    status, _, body = get(f"/api/v1/tasks/{task_id}", {"Authorization": AUTH["seedance2ai"]})
    assert status == 200, body
    path = urlsplit(json.loads(body)["output"]["video_url"]).path
    status, _, full = get(path, {})
    assert status == 200, (status, full[:100])
    assert full, "an empty video"
    return path, full


@pytest.fixture(scope="module")
def in_process_media() -> Iterator[tuple[FlaskClient, str, bytes]]:
    app = create_app(Config(clock="manual", background=False))
    client = app.test_client()
    submitted = client.post(
        "/api/v1/video/seedance2",
        headers={"Authorization": AUTH["seedance2ai"], "Idempotency-Key": "range"},
        json={"prompt": PROMPT},
    )
    assert submitted.status_code == 202, submitted.get_data()

    def get(path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        response = client.get(path, headers=dict(headers))
        return response.status_code, dict(response.headers), response.get_data()

    path, full = _video_of_a_completed_task(get, lambda p: client.post(p).status_code)
    yield client, path, full
    app.extensions[EXTENSION].close()


@pytest.mark.parametrize(("header", "expected"), RANGES, ids=[r for r, _ in RANGES])
def test_a_range_request_on_media_gets_a_correct_answer(
    in_process_media: tuple[FlaskClient, str, bytes], header: str, expected: str
) -> None:
    client, path, full = in_process_media
    response = client.get(path, headers={"Range": header})
    problems = range_problems(
        expected, response.status_code, dict(response.headers), response.get_data(), full
    )

    assert not problems, f"Range: {header}: {problems}"


@pytest.mark.slow
def test_range_requests_on_media_over_a_real_server() -> None:
    with running_server("--clock", "manual") as server:
        submitted = requests.post(
            server.url("/api/v1/video/seedance2"),
            headers={"Authorization": AUTH["seedance2ai"], "Idempotency-Key": "range"},
            json={"prompt": PROMPT},
            timeout=TIMEOUT,
        )
        assert submitted.status_code == 202, submitted.text

        def get(path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
            response = requests.get(server.url(path), headers=dict(headers), timeout=TIMEOUT)
            return response.status_code, dict(response.headers), response.content

        def post(path: str) -> int:
            return requests.post(server.url(path), timeout=TIMEOUT).status_code

        path, full = _video_of_a_completed_task(get, post)
        failures = [
            f"- Range: {header}: {problems}"
            for header, expected in RANGES
            if (problems := range_problems(expected, *get(path, {"Range": header}), full))
        ]

    assert not failures, _report(failures)


# 6. integers written as decimals ---------------------------------------------------------------


@dataclass(frozen=True)
class DecimalCase:
    provider: str
    profile: str
    field: str
    literal: str  # as written in the request body

    @property
    def id(self) -> str:
        return f"{self.provider}-{self.field}-{self.literal}"


DECIMALS = (
    DecimalCase("seedance2ai", "documented", "seed", "1000.0"),
    DecimalCase("seedance2ai", "documented", "seed", "1e3"),
    DecimalCase("seedance2ai", "documented", "seed", "4294967295.0"),
    DecimalCase("seedance2ai", "documented", "duration", "5.0"),
    DecimalCase("seedanceapi", "observed", "duration", "8.0"),
    DecimalCase("seedanceapi", "observed", "duration", "8e0"),
)
SUBMIT_PATHS = {"seedance2ai": "/api/v1/video/seedance2", "seedanceapi": "/v1/generate"}
#: an ISO 8601 instant as the providers write them
_INSTANT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")


def _task_answers(client: FlaskClient, provider: str, task_id: str) -> dict[str, str]:
    """Every answer that shows the task: the provider's GET and the control API's."""
    path = (
        f"/api/v1/tasks/{task_id}" if provider == "seedance2ai" else f"/v1/status?task_id={task_id}"
    )
    auth = {"Authorization": AUTH[provider]}
    return {
        "provider GET": client.get(path, headers=auth).get_data(as_text=True),
        "admin task": client.get(f"/__admin/tasks/{task_id}").get_data(as_text=True),
    }


@pytest.mark.parametrize("case", DECIMALS, ids=[c.id for c in DECIMALS])
def test_an_integral_decimal_is_refused_or_rendered_as_an_integer(case: DecimalCase) -> None:
    app = create_app(Config(clock="manual", background=False, profile=case.profile))
    client = app.test_client()
    body = f'{{"prompt": "{PROMPT}", "{case.field}": {case.literal}}}'.encode()
    headers = {
        "Authorization": AUTH[case.provider],
        "Idempotency-Key": f"decimal-{case.id}",
        "Content-Type": "application/json",
    }
    answer = send(client, "POST", SUBMIT_PATHS[case.provider], headers=headers, body=body)
    try:
        if answer.status == 400:  # refused: it must be the documented 400 naming the field
            assert undocumented(answer) == [], answer.describe()
            assert case.field in message_of(answer.json()), answer.describe()
            return
        assert answer.status in (200, 202), answer.describe()
        data = answer.json()
        task_id = data.get("id") or data["data"]["task_id"]
        texts = {"submit": answer.body.decode(), **_task_answers(client, case.provider, task_id)}
        client.post(f"/__admin/tasks/{task_id}/complete")
        done = _task_answers(client, case.provider, task_id)
        texts |= {f"{name} (completed)": text for name, text in done.items()}
    finally:
        app.extensions[EXTENSION].close()

    floats = {name: integral_floats(text) for name, text in texts.items()}
    assert not any(floats.values()), f"{case.literal} accepted, rendered as a decimal: {floats}"
    # the literal nowhere, times aside (an instant such as 12:00:58.031Z holds "8.0")
    shown = {name: _INSTANT.sub("<instant>", text) for name, text in texts.items()}
    assert not any(case.literal in text for text in shown.values()), shown
    if case.field == "seed":
        params = json.loads(texts["admin task"])["params"]
        assert params["seed"] == int(float(case.literal)), params


def test_the_same_key_with_seed_1_and_1_0_is_a_replay() -> None:
    app = create_app(Config(clock="manual", background=False))
    client = app.test_client()
    control = InProcessControl(client)
    before = _balances(control)[("seedance2ai", "demo")]
    headers = {
        "Authorization": AUTH["seedance2ai"],
        "Idempotency-Key": "seed-one",
        "Content-Type": "application/json",
    }
    answers = [
        send(
            client,
            "POST",
            SUBMIT_PATHS["seedance2ai"],
            headers=headers,
            body=f'{{"prompt": "{PROMPT}", "seed": {seed}}}'.encode(),
        )
        for seed in ("1", "1.0", "1e0")
    ]
    tasks = all_tasks(control)
    charged = before - _balances(control)[("seedance2ai", "demo")]
    app.extensions[EXTENSION].close()

    shown = [a.describe() for a in answers]
    assert [a.status for a in answers] == [202, 202, 202], shown
    assert len({a.json()["id"] for a in answers}) == 1, shown
    assert len(tasks) == 1, f"{len(tasks)} tasks for one key"
    assert charged == tasks[next(iter(tasks))]["credits"], f"charged {charged} in all"


# 7. the journal is bounded per entry -----------------------------------------------------------

BIG_HEADERS = {f"X-Pad-{n}": "h" * 8000 for n in range(95)}
BIG_BODY = b'{"prompt": "' + b"b" * 1_000_000 + b'"}'
JOURNAL_CAP = 5 * 1024 * 1024


def _flood_the_journal(client: FlaskClient) -> None:
    for n in range(50):
        provider = list(KEYS)[n % 2]
        path = "/api/v1/tasks/x" if provider == "seedance2ai" else "/v1/status?task_id=x"
        client.get(path, headers={"Authorization": AUTH[provider], **BIG_HEADERS})
        client.post(
            SUBMIT_PATHS[provider],
            headers={
                "Authorization": AUTH[provider],
                "Idempotency-Key": f"big-{n}",
                "Content-Type": "application/json",
            },
            data=BIG_BODY,
        )


def test_the_journal_keeps_a_bounded_amount_per_entry() -> None:
    app = create_app(Config(clock="manual", background=False))
    client = app.test_client()
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        _flood_the_journal(client)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    text = client.get("/__admin/journal?limit=1000").get_data(as_text=True)
    app.extensions[EXTENSION].close()
    entries = json.loads(text)["entries"]

    header_sizes = [sum(len(k) + len(v) for k, v in e["request_headers"].items()) for e in entries]
    body_sizes = [len(e["request_body"]) for e in entries]
    figures = (
        f"{len(entries)} entries, {len(text):,} characters of JSON, {retained:,} bytes retained; "
        f"largest request headers {max(header_sizes)}, body {max(body_sizes)}"
    )
    assert len(entries) == 100, figures
    assert max(header_sizes) <= HEADERS_LIMIT, figures
    assert max(body_sizes) <= BODY_LIMIT + len(TRUNCATED), figures
    assert len(text) < JOURNAL_CAP, figures
    assert retained < JOURNAL_CAP, figures


# 8. credit amounts beyond exact range ----------------------------------------------------------

EXACT_LIMIT = 2**53 - 1
AMOUNTS: tuple[Any, ...] = (2**53, 2**63, 2**64, 10**30, -1, 1.5, "5")
RANGE_WORDS = ("from", "between", "range", "at most", "up to", "maximum", "<=", "≤")


def _exact_integer(value: Any) -> int | None:
    """The whole number ``value`` stands for (5 for "5"), None when it is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _amount_problems(
    client: FlaskClient, account: str, sent: Any, status: int, body: Any
) -> list[str]:
    """[] when ``sent`` was refused with a 400 stating the range, or kept exactly."""
    if status == 400:
        message = message_of(body)
        states_range = any(ch.isdigit() for ch in message) and any(
            w in message.lower() for w in RANGE_WORDS
        )
        return [] if "credits" in message and states_range else [f"400 {message!r} states no range"]
    if status not in (200, 201):
        return [f"answered {status}: {body}"]
    read = client.get(f"/__admin/accounts/seedance2ai/{account}").get_json()["credits"]
    ledger = client.get(f"/__admin/accounts/seedance2ai/{account}/ledger").get_json()
    summed = ledger["opening"] + sum(e["amount"] for e in ledger["entries"])
    wanted = _exact_integer(sent)
    problems = []
    if wanted is None or wanted < 0 or type(read) is not int or read != wanted:
        problems.append(f"accepted {sent!r} and reads back {read!r}")
    if not ledger["balance"] == summed == read:
        problems.append(f"ledger: balance {ledger['balance']}, opening + entries {summed}")
    return problems


def _set_credits(client: FlaskClient, number: int, amount: Any) -> list[str]:
    created = client.post(
        "/__admin/accounts",
        json={"provider": "seedance2ai", "id": f"big-{number}", "credits": amount},
    )
    problems = [
        f"POST {amount!r}: {p}"
        for p in _amount_problems(
            client, f"big-{number}", amount, created.status_code, created.get_json()
        )
    ]
    patched = client.patch("/__admin/accounts/seedance2ai/demo", json={"credits": amount})
    problems += [
        f"PATCH {amount!r}: {p}"
        for p in _amount_problems(client, "demo", amount, patched.status_code, patched.get_json())
    ]
    return problems


@pytest.mark.parametrize("backend", backends.BACKENDS)
def test_credit_amounts_are_kept_exactly_or_refused_with_the_range(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    app = create_app(
        Config(
            clock="manual",
            background=False,
            store=backends.store_url(backend, tmp_path, request),
        )
    )
    client = app.test_client()
    try:
        largest = _set_credits(client, 0, EXACT_LIMIT)
        charge = client.post(
            SUBMIT_PATHS["seedance2ai"],
            headers={"Authorization": AUTH["seedance2ai"], "Idempotency-Key": "after-largest"},
            json={"prompt": PROMPT},
        )
        left = client.get("/__admin/accounts/seedance2ai/demo").get_json()["credits"]
        failures = [
            p
            for number, amount in enumerate(AMOUNTS, 1)
            for p in _set_credits(client, number, amount)
        ]
    finally:
        app.extensions[EXTENSION].close()

    assert not largest, f"2**53 - 1 must be kept exactly on {backend}: {largest}"
    assert charge.status_code == 202, charge.get_data()
    assert left == EXACT_LIMIT - charge.get_json()["credits_used"], f"after one charge: {left}"
    assert not failures, _report(failures)


@pytest.mark.parametrize(
    ("held", "waiting", "workers"), [(1, 31, 2), (0, 16, 2), (17, 15, 2), (1, 0, 3), (5, 40, 4)]
)
def test_a_worker_of_several_takes_its_share_of_the_waiting_connections(
    held: int, waiting: int, workers: int
) -> None:
    """One of several workers sharing a listener takes connections until it holds
    its share of those it holds and those waiting; never more than are waiting,
    and none once it holds its share."""
    more = _more_to_take(held, waiting, workers)
    assert 0 <= more <= waiting
    assert held + more == max(held, -(-(held + waiting) // workers))


def test_the_accept_queue_is_read_off_the_listener() -> None:
    """How many connections wait to be accepted (Linux's tcp_info), which the
    share above is taken of; 0 where it cannot be read (a Unix socket)."""
    listener = socket.create_server(("127.0.0.1", 0))
    clients = [socket.create_connection(listener.getsockname()[:2]) for _ in range(5)]
    try:
        time.sleep(0.05)  # real time: the kernel completes the handshakes
        assert _accept_queue(listener) == 5
        listener.accept()[0].close()
        assert _accept_queue(listener) == 4
    finally:
        for client in clients:
            client.close()
        listener.close()
    left, right = socket.socketpair()
    with left, right:
        assert _accept_queue(left) == 0
