"""seedanceapi webhooks against a real HTTP receiver on 127.0.0.1 (DECISIONS B4, B5).

Time moves only with ``runtime.clock.advance``, which sends every delivery that
fell due before it returns; nothing here sleeps to wait for a task. A guard
refuses any connection to a host other than loopback, so no test can reach the
internet even when a host is allow-listed.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask.testing import FlaskClient

from mockserver.config import Config
from mockserver.engine.model import Delivery
from mockserver.engine.webhooks import HostPolicy
from mockserver.runtime import Runtime
from mockserver.spec import load_provider

PROVIDER = "seedanceapi"
AUTH = {"Authorization": "Bearer sa_demo_key"}
SCENARIO = "X-Seedance-Mock-Scenario"
SPEC = load_provider(PROVIDER)
SLOWEST = SPEC.profile.timing.max_seconds
BLOCKED = "not delivered: host not allowed"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _config(**changes: Any) -> Config:
    base: dict[str, Any] = {
        "clock": "manual",
        "seed": 1234,
        "background": False,
        "clock_start": "2026-06-03T10:00:00Z",
    }
    return Config(**{**base, **changes})


def _webhooks(**settings: Any) -> dict[str, Any]:
    return {PROVIDER: {"webhooks": settings}}


# the receiver ------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any
    wall: float  # time.monotonic() on arrival


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every request.

    ``plan`` says how to answer the first requests, one action each, then 200:
    an HTTP status number, "drop" (close without answering), "redirect" (302
    to /elsewhere), "hang" (answer nothing until the test ends) or "trickle"
    (a 200 sent one byte at a time, about 2 s in all).
    """

    def __init__(self, plan: list[int | str]) -> None:
        self.requests: list[Received] = []
        self.plan = list(plan)
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def take(self, request: Received) -> int | str:
        with self._lock:
            self.requests.append(request)
            return self.plan.pop(0) if self.plan else 200

    def stop(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            headers = {k.lower(): v for k, v in self.headers.items()}
            action = receiver.take(
                Received(self.command, self.path, headers, body, time.monotonic())
            )
            if action == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if action == "hang":
                receiver.released.wait(10)
                return
            if action == "trickle":
                self._trickle(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
                return
            if action == "redirect":
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
            else:
                self.send_response(int(action))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _trickle(self, answer: bytes) -> None:
            """Answer one byte every 50 ms: never idle long, but slow overall."""
            for byte in answer:
                if receiver.released.wait(0.05):
                    return
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:  # the caller gave up
                    return

        do_POST = do_GET = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    """Start receivers with ``receivers(plan)``; all are stopped at teardown."""
    started: list[Receiver] = []

    def start(plan: list[int | str] | None = None) -> Receiver:
        receiver = Receiver(plan or [])
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def receiver(receivers: Callable[..., Receiver]) -> Receiver:
    return receivers()


@pytest.fixture
def outside_connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every connection attempted to a non-loopback host; each is refused here."""
    attempted: list[tuple[str, int]] = []
    original = socket.create_connection

    def guarded(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        if address[0] not in LOOPBACK:
            attempted.append(address)
            raise ConnectionRefusedError("refused by the test: no internet")
        return original(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return attempted


@pytest.fixture(autouse=True)
def _no_internet(outside_connections: list[tuple[str, int]]) -> None:
    """Every test here runs behind the guard."""


# helpers -------------------------------------------------------------------------------


def submit(client: FlaskClient, callback_url: str | None, scenario: str | None = None) -> str:
    body: dict[str, Any] = {"prompt": "A lighthouse in a storm", "duration": "4"}
    if callback_url is not None:
        body["callback_url"] = callback_url
    headers = {**AUTH, SCENARIO: scenario} if scenario else AUTH
    response = client.post("/v1/generate", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    task_id: str = response.get_json()["data"]["task_id"]
    return task_id


def status_envelope(client: FlaskClient, task_id: str) -> dict[str, Any]:
    response = client.get("/v1/status", query_string={"task_id": task_id}, headers=AUTH)
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def planned_end(runtime: Runtime, task_id: str) -> float:
    """When the (still processing) task will end."""
    task = runtime.store.get_task(task_id)
    assert task is not None
    assert task.due_at is not None
    return task.due_at


def delivery_of(runtime: Runtime, task_id: str) -> Delivery:
    found = runtime.store.deliveries(provider=PROVIDER, task_id=task_id)
    assert len(found) == 1, found
    return found[0]


def attempt_offsets(delivery: Delivery, end: float) -> list[float]:
    return [round(a.at - end, 3) for a in delivery.attempts]


# the notification ---------------------------------------------------------------------


def test_success_is_posted_once_with_the_status_body(
    client: FlaskClient, runtime: Runtime, receiver: Receiver
) -> None:
    task_id = submit(client, receiver.url())
    runtime.clock.advance(1)
    assert receiver.requests == []  # nothing while IN_PROGRESS

    runtime.clock.advance(SLOWEST)

    assert len(receiver.requests) == 1
    sent = receiver.requests[0]
    delivery = delivery_of(runtime, task_id)
    assert (sent.method, sent.path) == ("POST", "/hook")
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent"] == "seedance-mock-webhook/1"
    assert sent.headers["x-seedance-mock-delivery"] == delivery.id
    assert sent.headers["x-seedance-mock-attempt"] == "1"
    assert sent.body == status_envelope(client, task_id)
    assert sent.body["data"]["status"] == "SUCCESS"
    assert SPEC.validator("WebhookPayload").violations(sent.body) == []
    assert delivery.state == "delivered"
    assert [(a.number, a.outcome, a.status) for a in delivery.attempts] == [(1, "delivered", 200)]

    runtime.clock.advance(86400)
    assert len(receiver.requests) == 1  # never sent again


def test_failure_is_posted_with_the_status_body(
    client: FlaskClient, runtime: Runtime, receiver: Receiver
) -> None:
    task_id = submit(client, receiver.url(), scenario="fail")

    runtime.clock.advance(SLOWEST)

    assert len(receiver.requests) == 1
    body = receiver.requests[0].body
    assert body == status_envelope(client, task_id)
    assert body["data"]["status"] == "FAILED"
    assert body["data"]["error_message"]
    assert body["data"]["consumed_credits"] == 0
    assert body["data"]["response"] == []
    assert SPEC.validator("WebhookPayload").violations(body) == []
    assert delivery_of(runtime, task_id).state == "delivered"


def test_forced_failure_is_posted_with_its_message(
    client: FlaskClient, runtime: Runtime, receiver: Receiver
) -> None:
    task_id = submit(client, receiver.url())
    runtime.simulation.force(task_id, "failed", "CONTENT_REJECTED", "Prompt rejected.")

    runtime.clock.advance(0)

    assert len(receiver.requests) == 1
    body = receiver.requests[0].body
    assert body["data"]["status"] == "FAILED"
    assert body["data"]["error_message"] == "Prompt rejected."
    assert body == status_envelope(client, task_id)


def test_callback_url_keeps_its_query(
    client: FlaskClient, runtime: Runtime, receiver: Receiver
) -> None:
    submit(client, receiver.url("/hooks/seedance?token=abc&x=1"))

    runtime.clock.advance(SLOWEST)

    assert [r.path for r in receiver.requests] == ["/hooks/seedance?token=abc&x=1"]


def test_task_without_callback_sends_nothing(client: FlaskClient, runtime: Runtime) -> None:
    task_id = submit(client, None)

    runtime.clock.advance(SLOWEST)

    assert runtime.store.deliveries(provider=PROVIDER, task_id=task_id) == []


def test_each_task_notifies_its_own_receiver(
    client: FlaskClient, runtime: Runtime, receivers: Callable[..., Receiver]
) -> None:
    first, second = receivers(), receivers()
    one = submit(client, first.url())
    two = submit(client, second.url(), scenario="fail")

    runtime.clock.advance(SLOWEST)

    assert [r.body["data"]["task_id"] for r in first.requests] == [one]
    assert [r.body["data"]["task_id"] for r in second.requests] == [two]
    assert (
        first.requests[0].headers["x-seedance-mock-delivery"]
        != (second.requests[0].headers["x-seedance-mock-delivery"])
    )


@pytest.mark.parametrize("config", [_config(overrides=_webhooks(payload="data"))])
def test_payload_can_be_just_the_data_object(
    client: FlaskClient, runtime: Runtime, receiver: Receiver
) -> None:
    task_id = submit(client, receiver.url())

    runtime.clock.advance(SLOWEST)

    assert receiver.requests[0].body == status_envelope(client, task_id)["data"]


@pytest.mark.parametrize("answer", [200, 201, 202, 204])
def test_any_2xx_acknowledges(
    client: FlaskClient, runtime: Runtime, receivers: Callable[..., Receiver], answer: int
) -> None:
    receiver = receivers([answer])
    task_id = submit(client, receiver.url())

    runtime.clock.advance(SLOWEST + 1000)

    delivery = delivery_of(runtime, task_id)
    assert len(receiver.requests) == 1
    assert delivery.state == "delivered"
    assert [(a.outcome, a.status) for a in delivery.attempts] == [("delivered", answer)]


# retries ------------------------------------------------------------------------------


def test_refused_attempts_are_retried_on_the_backoff_schedule(
    client: FlaskClient, runtime: Runtime, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers([500, 500])
    task_id = submit(client, receiver.url())
    end = planned_end(runtime, task_id)

    runtime.clock.advance_to(end + 0.5)
    assert len(receiver.requests) == 1
    runtime.clock.advance(5)  # end + 5.5: the retry at +10 is not due yet
    assert len(receiver.requests) == 1
    assert delivery_of(runtime, task_id).state == "pending"
    runtime.clock.advance(5)  # end + 10.5
    assert len(receiver.requests) == 2
    runtime.clock.advance(10)  # end + 20.5: the retry at +30 is not due yet
    assert len(receiver.requests) == 2
    runtime.clock.advance(10)  # end + 30.5
    assert len(receiver.requests) == 3
    runtime.clock.advance(1000)

    delivery = delivery_of(runtime, task_id)
    assert len(receiver.requests) == 3
    assert delivery.state == "delivered"
    assert attempt_offsets(delivery, end) == [0, 10, 30]
    assert [(a.number, a.outcome, a.status) for a in delivery.attempts] == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "delivered", 200),
    ]
    assert [r.headers["x-seedance-mock-attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert {r.headers["x-seedance-mock-delivery"] for r in receiver.requests} == {delivery.id}
    assert receiver.requests[0].body == receiver.requests[2].body


def test_one_big_jump_sends_every_attempt_due_on_schedule(
    client: FlaskClient, runtime: Runtime, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers([500, 503, 404])
    task_id = submit(client, receiver.url())
    end = planned_end(runtime, task_id)

    runtime.clock.advance_to(end + 100)  # attempts at +0, +10, +30 and +70 are due

    delivery = delivery_of(runtime, task_id)
    assert attempt_offsets(delivery, end) == [0, 10, 30, 70]
    assert [a.status for a in delivery.attempts] == [500, 503, 404, 200]
    assert delivery.state == "delivered"


def test_five_attempts_by_default_then_failed(
    client: FlaskClient, runtime: Runtime, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers([500] * 10)
    task_id = submit(client, receiver.url())
    end = planned_end(runtime, task_id)

    runtime.clock.advance_to(end + 149)
    assert len(receiver.requests) == 4
    runtime.clock.advance(86400)

    delivery = delivery_of(runtime, task_id)
    assert len(receiver.requests) == 5
    assert attempt_offsets(delivery, end) == [0, 10, 30, 70, 150]
    assert delivery.state == "failed"
    assert all(a.outcome == "failed" for a in delivery.attempts)
    assert delivery.attempts[0].error == "HTTP 500"


@pytest.mark.parametrize("config", [_config(overrides=_webhooks(max_attempts=3))])
def test_max_attempts_is_respected(
    client: FlaskClient, runtime: Runtime, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers([500] * 10)
    task_id = submit(client, receiver.url())
    end = planned_end(runtime, task_id)

    runtime.clock.advance_to(end + 86400)

    delivery = delivery_of(runtime, task_id)
    assert len(receiver.requests) == 3
    assert attempt_offsets(delivery, end) == [0, 10, 30]
    assert delivery.state == "failed"


@pytest.mark.parametrize(
    "config", [_config(overrides=_webhooks(backoff_seconds=5, backoff_factor=3))]
)
def test_backoff_settings_change_the_schedule(
    client: FlaskClient, runtime: Runtime, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers([500] * 10)
    task_id = submit(client, receiver.url())
    end = planned_end(runtime, task_id)

    runtime.clock.advance_to(end + 86400)

    # 5, then 15, 45, 135 s apart: 0, 5, 20, 65, 200 after the end
    assert attempt_offsets(delivery_of(runtime, task_id), end) == [0, 5, 20, 65, 200]
    assert len(receiver.requests) == 5


def test_connection_refused_is_recorded_and_retried(client: FlaskClient, runtime: Runtime) -> None:
    with socket.socket() as probe:  # a port with nothing listening once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    task_id = submit(client, f"http://127.0.0.1:{port}/hook")
    end = planned_end(runtime, task_id)

    runtime.clock.advance_to(end + 0.5)
    first = delivery_of(runtime, task_id)
    runtime.clock.advance(86400)
    last = delivery_of(runtime, task_id)

    assert first.state == "pending"
    assert (first.attempts[0].outcome, first.attempts[0].status) == ("failed", None)
    assert "refused" in (first.attempts[0].error or "").lower()
    assert last.state == "failed"
    assert attempt_offsets(last, end) == [0, 10, 30, 70, 150]


def test_dropped_connection_is_recorded_and_retried(
    client: FlaskClient, runtime: Runtime, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers(["drop"])
    task_id = submit(client, receiver.url())
    end = planned_end(runtime, task_id)

    runtime.clock.advance_to(end + 11)

    delivery = delivery_of(runtime, task_id)
    dropped = delivery.attempts[0]
    assert (dropped.outcome, dropped.status) == ("failed", None)
    assert dropped.error
    assert [a.outcome for a in delivery.attempts] == ["failed", "delivered"]
    assert len(receiver.requests) == 2


# where webhooks may go ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://hooks.example.org/seedance",
        "http://10.0.0.8:8080/hook",
        "http://192.168.1.20/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost.example.com/hook",
        "http://127.0.0.1.nip.io/hook",
        "http://127.0.0.1@example.com/hook",
    ],
)
def test_disallowed_host_is_never_contacted(
    client: FlaskClient,
    runtime: Runtime,
    outside_connections: list[tuple[str, int]],
    url: str,
) -> None:
    task_id = submit(client, url)

    runtime.clock.advance(SLOWEST + 86400)

    delivery = delivery_of(runtime, task_id)
    assert outside_connections == []
    assert delivery.state == "blocked"
    assert delivery.attempts
    assert all(a.outcome == BLOCKED and a.status is None for a in delivery.attempts)


@pytest.mark.parametrize("config", [_config(webhook_allow=("example.com",))])
def test_allow_listed_host_is_attempted(
    client: FlaskClient, runtime: Runtime, outside_connections: list[tuple[str, int]]
) -> None:
    task_id = submit(client, "http://example.com/hook")
    end = planned_end(runtime, task_id)

    runtime.clock.advance_to(end + 0.5)

    # the guard stood in for the internet: the simulator tried to connect
    assert outside_connections == [("example.com", 80)]
    attempt = delivery_of(runtime, task_id).attempts[0]
    assert attempt.outcome == "failed"
    assert attempt.outcome != BLOCKED


@pytest.mark.parametrize(
    ("allowed", "url", "permitted"),
    [
        ((), "http://127.0.0.1:8080/hook", True),
        ((), "http://127.9.9.9/hook", True),
        ((), "http://localhost:3000/hook", True),
        ((), "http://[::1]:3000/hook", True),
        ((), "http://example.com/hook", False),
        ((), "http://10.0.0.1/hook", False),
        ((), "http://0.0.0.0/hook", False),
        ((), "http://localhost.example.com/hook", False),
        ((), "http://127.0.0.1@example.com/hook", False),
        (("example.com",), "http://example.com/hook", True),
        (("example.com",), "https://EXAMPLE.com:8443/hook", True),
        (("EXAMPLE.COM",), "http://example.com/hook", True),
        (("example.com",), "http://api.example.com/hook", False),
        (("example.com",), "http://example.com.evil.org/hook", False),
        (("example.com",), "http://example.org/hook", False),
        (("example.com", "hooks.test"), "http://hooks.test/x", True),
        (("*",), "http://anything.example.net/hook", True),
        (("*",), "http://10.0.0.1/hook", True),
    ],
)
def test_host_policy(allowed: tuple[str, ...], url: str, permitted: bool) -> None:
    assert HostPolicy(allowed).permits(url) is permitted


# redirects and slow receivers -----------------------------------------------------------


def test_redirect_is_not_followed(
    client: FlaskClient, runtime: Runtime, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers(["redirect"] * 10)
    task_id = submit(client, receiver.url())
    end = planned_end(runtime, task_id)

    runtime.clock.advance_to(end + 0.5)
    first = delivery_of(runtime, task_id)
    runtime.clock.advance(86400)
    last = delivery_of(runtime, task_id)

    assert [(a.outcome, a.status) for a in first.attempts] == [("failed", 302)]
    assert first.state == "pending"  # a redirect is retried like any non-2xx
    assert [(r.method, r.path) for r in receiver.requests] == [("POST", "/hook")] * 5
    assert last.state == "failed"
    assert all(a.status == 302 for a in last.attempts)


@pytest.mark.parametrize("config", [_config(overrides=_webhooks(timeout_seconds=0.5))])
def test_hanging_receiver_times_out_without_blocking_others(
    client: FlaskClient, runtime: Runtime, receivers: Callable[..., Receiver]
) -> None:
    hanging, healthy = receivers(["hang"] * 10), receivers()
    stuck = submit(client, hanging.url(), scenario="instant")
    fine = submit(client, healthy.url(), scenario="instant")

    started = time.monotonic()
    runtime.clock.advance(1)  # both end now; their retries are 10 s away
    took = time.monotonic() - started

    timed_out = delivery_of(runtime, stuck)
    delivered = delivery_of(runtime, fine)
    assert len(hanging.requests) == 1
    assert timed_out.state == "pending"
    attempt = timed_out.attempts[0]
    assert (attempt.outcome, attempt.status) == ("failed", None)
    assert "timeout" in (attempt.error or "").lower() or "timed out" in (attempt.error or "")
    assert delivered.state == "delivered"
    assert len(healthy.requests) == 1
    # the healthy receiver was called while the other one hung, not after
    assert healthy.requests[0].wall - hanging.requests[0].wall < 0.4
    assert took < 3  # the 0.5 s timeout, not the receiver's 10 s hang


@pytest.mark.parametrize("config", [_config(overrides=_webhooks(timeout_seconds=0.5))])
def test_timeout_bounds_the_whole_answer(
    client: FlaskClient, runtime: Runtime, receivers: Callable[..., Receiver]
) -> None:
    # B4's "timeout of 5 s" is how long a receiver has to answer; one that keeps
    # the connection busy with a byte now and then must not hold the clock (and
    # every other delivery) for as long as it likes.
    receiver = receivers(["trickle"])
    task_id = submit(client, receiver.url(), scenario="instant")

    started = time.monotonic()
    runtime.clock.advance(1)
    took = time.monotonic() - started

    attempt = delivery_of(runtime, task_id).attempts[0]
    assert (attempt.outcome, attempt.status) == ("failed", None), attempt
    assert "timeout" in (attempt.error or "").lower() or "timed out" in (attempt.error or "")
    assert took < 1.5
