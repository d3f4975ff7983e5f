"""``seedance-mock serve --server granian``: the same simulator on the faster server.

What holds on gunicorn holds here (both providers, the control API, media,
shared stores across workers, a clean stop on SIGTERM); what differs is stated in
the README and tested below: one request thread per worker unless --threads says
otherwise, and requests too broken to parse answered by granian itself.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from mockserver.config import Config
from mockserver.serve import RefusedToStart, ServeOptions, check_safe
from tests.server import Server, running_server
from tests.test_cli import SA_BODY, TIMEOUT, Client, three_slow_requests


@pytest.fixture(scope="module")
def granian_server() -> Iterator[Server]:
    with running_server("--server", "granian", "--clock", "manual") as server:
        yield server


@pytest.fixture
def granian(granian_server: Server) -> Client:
    return Client(granian_server).reset()


def test_both_providers_from_submit_to_download(granian: Client) -> None:
    submitted = granian.submit(idempotency_key="g-1")
    assert submitted.status_code == 202, submitted.text
    s2_id = submitted.json()["id"]
    assert granian.submit(idempotency_key="g-1").json() == submitted.json()  # a replay
    sa_id = granian.sa_task()

    granian.admin("POST", "/clock/advance", json={"seconds": 3600})

    done = granian.get_task(s2_id).json()
    assert done["status"] == "completed"
    video = requests.get(done["output"]["video_url"], timeout=TIMEOUT)
    assert video.status_code == 200
    assert video.content[4:8] == b"ftyp"
    assert granian.status(sa_id).json()["data"]["status"] == "SUCCESS"
    assert granian.admin("GET", "/accounts/seedance2ai/demo")["credits"] == 10000 - 30


def test_documented_errors_keep_their_envelopes(granian: Client) -> None:
    refused = granian.generate({**SA_BODY, "prompt": ""})
    unknown = granian.get_task("sd2_missing")

    assert refused.status_code == 400
    assert refused.json()["error"] == "INVALID_PROMPT"
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"


def test_a_chunked_body_arrives_whole(granian: Client) -> None:
    chunks = (part.encode() for part in ('{"prompt": "a cat', ' walks", "duration": "8"}'))
    response = requests.post(
        granian.server.url("/v1/generate"),
        data=chunks,
        headers={"Authorization": "Bearer sa_demo_key", "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 200, response.text


def test_unparsable_requests_are_answered_by_granian_not_the_provider(
    granian_server: Server,
) -> None:
    """The stated difference from gunicorn: a 400 with no body, not the provider's envelope."""
    with socket.create_connection(("127.0.0.1", granian_server.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n")
        head = sock.recv(4096)

    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-length: 0" in head.lower()


def test_a_latency_fault_delays_no_other_request(granian: Client) -> None:
    """Four request threads taking turns at the gate: the waiting ones let others by."""
    assert three_slow_requests(granian) < 0.9


def test_one_thread_means_a_latency_fault_holds_the_worker() -> None:
    with running_server("--server", "granian", "--clock", "manual", "--threads", "1") as server:
        assert three_slow_requests(Client(server)) >= 0.9  # one after another


def test_two_workers_share_a_sqlite_store(tmp_path: Path) -> None:
    """One task and one charge per idempotency key, whichever worker answers."""
    store = f"sqlite:{tmp_path / 'state.db'}"
    lifted = "seedance2ai.rate_limits.requests.limit=1000"  # 32 submits and 20 polls
    args = ("--server", "granian", "--workers", "2", "--store", store, "--set", lifted)
    with running_server(*args) as server:
        client = Client(server)
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: client.submit(idempotency_key="shared"), range(32)))

        created = {a.json()["id"] for a in answers if a.status_code == 202}
        assert len(created) == 1, [a.text for a in answers]
        assert {a.status_code for a in answers} <= {202, 409}
        assert client.admin("GET", "/accounts/seedance2ai/demo")["credits"] == 10000 - 30
        [task_id] = created
        seen = {client.get_task(task_id).status_code for _ in range(20)}  # both workers
        assert seen == {200}


def test_memory_store_with_two_granian_workers_is_refused() -> None:
    with pytest.raises(RefusedToStart, match="store the workers can share"):
        check_safe(ServeOptions(workers=2, server="granian"), Config())


@pytest.mark.parametrize(("server", "threads"), [("gunicorn", 8), ("granian", 4)])
def test_default_threads_per_server(server: str, threads: int) -> None:
    assert ServeOptions(server=server).request_threads == threads
    assert ServeOptions(server=server, threads=3).request_threads == 3
