"""Security (issue #8): the simulator holds API keys and sends HTTP requests, so it
must not become a hole in the networks it runs in.

Each part of the issue has its tests, with the attempts an attacker would make:

- the control plane needs the token off loopback, and the server refuses to
  listen beyond loopback without one;
- keys and tokens are refused unless exact, and never reach the logs or the journal;
- one account's tasks, media and webhook logs are out of another's reach, and
  media URLs cannot be guessed or walked out of (path traversal);
- the only outbound requests are webhooks to allowed hosts, redirects are not
  followed, and a callback URL cannot inject headers;
- oversized bodies are refused in the envelope, and guessing keys hits the
  failed-authentication limit (C9).

Key lookups go by SHA-256 digest and both keys and the admin token are
confirmed with ``hmac.compare_digest`` (simulation.authenticate, admin
_require_token): a code review finding; the tests here check the behaviour,
never timing.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from mockserver.app import create_app
from mockserver.config import Config
from mockserver.providers.context import EXTENSION
from mockserver.runtime import Runtime
from tests.reliability.conftest import (
    KEYS,
    Answer,
    Figures,
    InProcessControl,
    Listener,
    Probe,
    send,
    send_raw,
    undocumented,
)
from tests.server import Server, clean_environment, running_server, serve_command

TOKEN = "admin-token-" + "x" * 20
BLOCKED = "not delivered: host not allowed"
S2_BODY = {"prompt": "A glass train crossing a snowy mountain bridge"}
SA_BODY = {"prompt": "A lighthouse in a storm", "duration": "4"}
LONGEST_TASK = 400  # seconds: longer than any task of either provider takes


# in-process simulators ------------------------------------------------------------------


def _config(**changes: Any) -> Config:
    base: dict[str, Any] = {"clock": "manual", "seed": 5, "background": False}
    return Config(**{**base, **changes})


@pytest.fixture
def config() -> Config:
    """Overrides tests/conftest.py's: its app, runtime and client run on this one."""
    return _config(admin_token=TOKEN)


def _submit(
    client: FlaskClient, provider: str, key: str, scenario: str | None = None, **extra: Any
) -> Answer:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if scenario:
        headers["X-Seedance-Mock-Scenario"] = scenario
    if provider == "seedance2ai":
        headers["Idempotency-Key"] = extra.pop("idempotency_key", secrets.token_hex(8))
        path, body = "/api/v1/video/seedance2", {**S2_BODY, **extra}
    else:
        path, body = "/v1/generate", {**SA_BODY, **extra}
    return send(client, "POST", path, headers=headers, body=json.dumps(body).encode())


def _task_id(provider: str, answer: Answer) -> str:
    body = answer.json()
    return str(body["id"] if provider == "seedance2ai" else body["data"]["task_id"])


def _poll(
    client: FlaskClient, provider: str, key: str, task_id: str, addr: str = "127.0.0.1"
) -> Answer:
    headers = {"Authorization": f"Bearer {key}"}
    if provider == "seedance2ai":
        return send(client, "GET", f"/api/v1/tasks/{task_id}", headers=headers, remote_addr=addr)
    return send(
        client, "GET", "/v1/status", query=f"task_id={task_id}", headers=headers, remote_addr=addr
    )


def _account(runtime: Runtime, provider: str, name: str, credits: int = 10**6) -> str:
    key = f"key-{provider}-{name}-{secrets.token_hex(6)}"
    runtime.simulation.create_account(provider, name, credits, [key])
    return key


def _media_url(client: FlaskClient, provider: str, key: str, task_id: str) -> str:
    body = _poll(client, provider, key, task_id).json()
    url = body["output"]["video_url"] if provider == "seedance2ai" else body["data"]["response"][0]
    return "/" + str(url).split("/", 3)[3]


# a real server, reachable beyond loopback --------------------------------------------------


@pytest.fixture(scope="module")
def exposed() -> Iterator[Server]:
    """A server on 0.0.0.0 with an admin token and an access log (called on 127.0.0.1)."""
    args = ("--host", "0.0.0.0", "--admin-token", TOKEN, "--access-log", "--clock", "manual")
    with running_server(*args) as server:
        server.base_url = f"http://127.0.0.1:{server.port}"
        yield server


ADMIN_CALLS = [
    ("GET", "/__admin/clock"),
    ("GET", "/__admin/accounts"),
    ("GET", "/__admin/tasks"),
    ("GET", "/__admin/journal"),
    ("GET", "/__admin/webhooks"),
    ("POST", "/__admin/reset"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS)
def test_off_loopback_every_control_call_needs_the_exact_token(
    exposed: Server, method: str, path: str
) -> None:
    url = exposed.url(path)
    attempts = {
        "no token": {},
        "a provider key": {"Authorization": "Bearer sk_live_demo"},
        "a provider key as admin token": {"X-Admin-Token": "sa_demo_key"},
        "the token less its last character": {"Authorization": f"Bearer {TOKEN[:-1]}"},
        "the token and one more": {"Authorization": f"Bearer {TOKEN}x"},
        "the token in another case": {"Authorization": f"Bearer {TOKEN.upper()}"},
        "the token as Basic": {"Authorization": f"Basic {TOKEN}"},
    }
    for name, headers in attempts.items():
        refused = requests.request(method, url, headers=headers, timeout=10)
        assert refused.status_code == 401, f"{name}: {refused.status_code} {refused.text}"
        assert refused.json()["error"]["code"] == "unauthorized", name

    for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"X-Admin-Token": TOKEN}):
        assert requests.request(method, url, headers=headers, timeout=10).status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--host", "0.0.0.0"), None),
        (("--host", "::"), None),
        (("--host", "0.0.0.0", "--admin-token", ""), None),
        ((), {"SEEDANCE_MOCK_HOST": "0.0.0.0"}),
    ],
    ids=["0.0.0.0", "ipv6-any", "empty-token", "host-from-env"],
)
def test_it_refuses_to_listen_beyond_loopback_without_a_token(
    args: tuple[str, ...], env: dict[str, str] | None
) -> None:
    result = subprocess.run(
        serve_command(*args),
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
        env=clean_environment(env),
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert "--admin-token" in result.stderr
    assert "listening" not in result.stdout


@pytest.mark.slow
def test_keys_and_tokens_never_reach_the_logs_or_the_journal(exposed: Server) -> None:
    admin = {"Authorization": f"Bearer {TOKEN}"}
    key = "sk_secret_" + secrets.token_hex(12)
    guess = "sk_guess_" + secrets.token_hex(12)
    wrong_token = "wrong_token_" + secrets.token_hex(12)
    account = {"provider": "seedance2ai", "id": "logs", "credits": 1000, "keys": [key]}
    requests.post(exposed.url("/__admin/accounts"), json=account, headers=admin, timeout=10)
    calls = [
        (
            "POST",
            "/api/v1/video/seedance2",
            {"Authorization": f"Bearer {key}", "Idempotency-Key": "k"},
            S2_BODY,
        ),
        (
            "POST",
            "/api/v1/video/seedance2",
            {"Authorization": f"Bearer {key}", "Idempotency-Key": "k2"},
            {"prompt": 1},
        ),
        ("GET", "/api/v1/tasks/nothing", {"Authorization": f"Bearer {key}"}, None),
        ("GET", "/api/v1/tasks/nothing", {"Authorization": f"Bearer {guess}"}, None),
        ("GET", "/v1/status?task_id=x", {"Authorization": f"Basic {guess}"}, None),
        (
            "GET",
            "/v1/status?task_id=x",
            {"X-Admin-Token": TOKEN, "Cookie": f"session={guess}"},
            None,
        ),
        ("GET", "/__admin/clock", {"Authorization": f"Bearer {wrong_token}"}, None),
    ]
    for method, path, headers, body in calls:
        requests.request(method, exposed.url(path), headers=headers, json=body, timeout=10)
    journal = requests.get(exposed.url("/__admin/journal?limit=1000"), headers=admin, timeout=10)
    exposed.wait_for_stdout("/__admin/journal")

    shown = {
        "server output": exposed.output(),
        "journal": journal.text,
    }
    for where, text in shown.items():
        for secret in (key, guess, wrong_token, TOKEN):
            assert secret not in text, f"{secret[:12]}... appears in the {where}"
    redacted = [e["request_headers"].get("Authorization") for e in journal.json()["entries"]]
    assert "Bearer [redacted]" in redacted


def test_the_journal_redacts_every_credential_header(client: FlaskClient) -> None:
    secret = secrets.token_hex(16)
    headers = {
        "Authorization": f"Bearer {secret}",
        "Proxy-Authorization": f"Basic {secret}",
        "X-Admin-Token": secret,
    }
    send(client, "GET", "/api/v1/tasks/nothing", headers=headers)

    entries = InProcessControl(client, TOKEN).call("GET", "/journal")["entries"]

    assert secret not in json.dumps(entries)
    sent = entries[0]["request_headers"]
    assert sent["Authorization"] == "Bearer [redacted]"
    assert all("[redacted]" in sent[name] for name in headers)


@pytest.mark.parametrize("provider", list(KEYS))
def test_near_miss_keys_are_refused(client: FlaskClient, runtime: Runtime, provider: str) -> None:
    key = _account(runtime, provider, "owner")
    task_id = _task_id(provider, _submit(client, provider, key))
    for near in (
        key[:-1],
        key + "0",
        key.upper(),
        key[:-1] + chr(ord(key[-1]) ^ 1),
        f"{key}\t{key}",
    ):
        answer = _poll(client, provider, near, task_id)
        assert (answer.status, undocumented(answer)) == (401, []), (near, answer.describe())
    assert _poll(client, provider, key, task_id).status == 200


# one account cannot reach another's ----------------------------------------------------------


@pytest.mark.parametrize("provider", list(KEYS))
def test_another_accounts_task_is_404_exactly_like_an_unknown_one(
    client: FlaskClient, runtime: Runtime, provider: str
) -> None:
    owner, stranger = _account(runtime, provider, "owner"), _account(runtime, provider, "stranger")
    task_id = _task_id(provider, _submit(client, provider, owner))
    unknown = task_id[:-4] + ("zzzz" if not task_id.endswith("zzzz") else "yyyy")

    theirs = _poll(client, provider, stranger, task_id)
    nobodys = _poll(client, provider, stranger, unknown)

    assert (theirs.status, undocumented(theirs)) == (404, [])
    assert theirs.body.replace(task_id.encode(), b"ID") == nobodys.body.replace(
        unknown.encode(), b"ID"
    )
    other_provider = next(k for p, k in KEYS.items() if p != provider)
    assert _poll(client, provider, other_provider, task_id).status == 401


def test_an_idempotency_key_never_replays_another_accounts_task(
    client: FlaskClient, runtime: Runtime
) -> None:
    first, second = (
        _account(runtime, "seedance2ai", "first"),
        _account(runtime, "seedance2ai", "second"),
    )
    mine = _submit(client, "seedance2ai", first, idempotency_key="order-1")
    theirs = _submit(client, "seedance2ai", second, idempotency_key="order-1")

    assert (mine.status, theirs.status) == (202, 202)
    assert _task_id("seedance2ai", mine) != _task_id("seedance2ai", theirs)
    assert _poll(client, "seedance2ai", second, _task_id("seedance2ai", mine)).status == 404


def test_webhook_logs_are_only_in_the_control_api(client: FlaskClient, runtime: Runtime) -> None:
    key = _account(runtime, "seedanceapi", "hooks")
    _submit(client, "seedanceapi", key, callback_url="http://127.0.0.1:9/hook", scenario="instant")
    runtime.clock.advance(1)  # the task has ended: its delivery is in the log
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-Admin-Token": key}, {}):
        answer = send(client, "GET", "/__admin/webhooks", headers=headers)
        assert answer.status == 401, answer.describe()
    assert InProcessControl(client, TOKEN).call("GET", "/webhooks")["deliveries"]


# media URLs ----------------------------------------------------------------------------------


def _token(url: str) -> str:
    return url.split("/")[2]


def test_media_tokens_are_128_random_bits_not_the_seeded_generator(figures: Figures) -> None:
    tokens: list[str] = []
    ids: list[list[str]] = []
    key = KEYS["seedanceapi"]
    for _ in range(2):  # two simulators with the same seed
        application = create_app(_config())
        client = application.test_client()
        made = [
            _task_id("seedanceapi", _submit(client, "seedanceapi", key, scenario="instant"))
            for _ in range(100)
        ]
        ids.append(made)
        tokens += [_token(_media_url(client, "seedanceapi", key, t)) for t in made]
        application.extensions[EXTENSION].close()

    assert ids[0] == ids[1]  # the seed makes ids reproducible...
    assert len(set(tokens)) == len(tokens)  # ...but never media tokens
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token)
        assert len(base64.urlsafe_b64decode(token + "==")) == 16


def test_media_of_unfinished_tasks_and_guessed_tokens_is_404(
    client: FlaskClient, runtime: Runtime, figures: Figures
) -> None:
    key = KEYS["seedanceapi"]
    done, running, failed = (
        _task_id("seedanceapi", _submit(client, "seedanceapi", key)) for _ in range(3)
    )
    runtime.simulation.force(done, "completed")
    runtime.simulation.force(failed, "failed")
    video = _media_url(client, "seedanceapi", key, done)
    assert send(client, "GET", video).status == 200
    guesses = [f"/__media/{secrets.token_urlsafe(16)}/video.mp4" for _ in range(500)]
    for task_id in (running, failed):  # as if their tokens had leaked before they were done
        task = runtime.store.get_task(task_id)
        assert task is not None
        token = task.media_token
        guesses += [f"/__media/{token}/video.mp4", f"/__media/{token}/last-frame.png"]

    found = [path for path in guesses if send(client, "GET", path).status != 404]

    figures.report(
        "media", f"media: {len(guesses)} guessed or unfinished media URLs, {len(found)} served"
    )
    assert found == []


TRAVERSALS = [
    "/__media/../__admin/clock",
    "/__media/%2e%2e/%2e%2e/etc/passwd",
    "/__media/{token}/../../../../etc/passwd",
    "/__media/{token}/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/__media/{token}/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/__media/{token}/..%5c..%5c..%5cetc%5cpasswd",
    "/__media/{token}%2f..%2f..%2fetc/passwd",
    "/__media/{token}/video.mp4%00.png",
    "/__media/{token}/video.mp4/../../../../etc/passwd",
    "/__media/{token}/VIDEO.MP4",
    "/__media/{token}/video.mp4.bak",
    "/__media/{token}/",
    "/__media/{token}/%2fetc%2fpasswd",
    "/__media//etc/passwd",
    "/static/../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
]


@pytest.mark.slow
def test_media_urls_cannot_be_walked_out_of(exposed: Server, figures: Figures) -> None:
    headers = {"Authorization": "Bearer sa_demo_key", "X-Seedance-Mock-Scenario": "instant"}
    made = requests.post(exposed.url("/v1/generate"), json=SA_BODY, headers=headers, timeout=10)
    status = requests.get(
        exposed.url("/v1/status"),
        params={"task_id": made.json()["data"]["task_id"]},
        headers=headers,
        timeout=10,
    ).json()
    video = "/" + status["data"]["response"][0].split("/", 3)[3]
    token = _token(video)
    assert requests.get(exposed.url(video), timeout=30).headers["Content-Type"] == "video/mp4"

    answers = [send_raw(exposed, Probe("GET", t.format(token=token))) for t in TRAVERSALS]
    # 308: werkzeug merges a double slash, to a path that is then 404
    served = [a for a in answers if a.status not in (308, 400, 404) or b"root:" in a.body]
    figures.report(
        "traversal",
        f"traversal: {len(TRAVERSALS)} path-traversal attempts on media URLs, {len(served)} served",
    )
    assert served == [], [a.describe() for a in served]


def test_no_route_serves_files_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "credentials.txt").write_text("api_key=sk_live_secret\n")
    monkeypatch.chdir(tmp_path)  # wherever a user happens to start the server
    application = create_app(_config())
    try:
        answer = send(application.test_client(), "GET", "/static/credentials.txt")
    finally:
        application.extensions[EXTENSION].close()

    assert answer.status == 404, answer.describe()
    assert b"sk_live_secret" not in answer.body


# outbound requests ------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture
def outbound(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name lookup and connection the process attempts; any that is not to a
    loopback address is refused here, so nothing leaves the machine."""
    attempts: list[str] = []
    connect, lookup = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        attempts.append(f"connect {address}")
        if not (isinstance(address, tuple) and _is_loopback(str(address[0]))):
            raise ConnectionRefusedError("refused by the test: no outbound connections")
        connect(sock, address)

    def guarded_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(f"lookup {host}")
        if not _is_loopback(str(host)):
            raise socket.gaierror("refused by the test: no name lookups")
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)
    return attempts


ATTACKER_CALLBACKS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://127.0.0.1.attacker.example/hook",
    "http://localhost.attacker.example/hook",
    "http://127.0.0.1@attacker.example/hook",
    "http://attacker.example/127.0.0.1",
    "http://hooks.allowed.example.attacker.example/hook",
    "http://hooks.allowed.example@attacker.example/hook",
    "https://attacker.example:443/hook",
]


def _deliveries(client: FlaskClient) -> dict[str, dict[str, Any]]:
    found = InProcessControl(client).call("GET", "/webhooks")["deliveries"]
    return {d["task_id"]: d for d in found}


def test_only_webhooks_to_allowed_hosts_leave_the_simulator(
    outbound: list[str], figures: Figures
) -> None:
    application = create_app(_config(webhook_allow=("hooks.allowed.example",)))
    client, runtime = application.test_client(), application.extensions[EXTENSION]
    try:
        with Listener() as allowed, Listener() as image_host:
            media = image_host.url("/image.png")
            ok = _task_id(
                "seedanceapi",
                _submit(
                    client,
                    "seedanceapi",
                    KEYS["seedanceapi"],
                    callback_url=allowed.url(),
                    image_urls=[media],
                ),
            )
            blocked = [
                _task_id(
                    "seedanceapi",
                    _submit(client, "seedanceapi", KEYS["seedanceapi"], callback_url=url),
                )
                for url in ATTACKER_CALLBACKS
            ]
            s2 = _submit(
                client,
                "seedance2ai",
                KEYS["seedance2ai"],
                mode="image-to-video",
                image_url="https://images.attacker.example/start.png",
                end_image_url="https://images.attacker.example/end.png",
            )
            assert s2.status == 202, s2.describe()
            runtime.clock.advance(LONGEST_TASK)
            for provider, task_id in (
                ("seedanceapi", ok),
                ("seedance2ai", _task_id("seedance2ai", s2)),
            ):
                key = KEYS[provider]
                assert send(client, "GET", _media_url(client, provider, key, task_id)).status == 200
            delivered = allowed.wait_for(1, 10)
            deliveries = _deliveries(client)

        assert len(delivered) == 1
        assert image_host.arrivals == []
        assert deliveries[ok]["state"] == "delivered"
        for task_id in blocked:
            assert [a["outcome"] for a in deliveries[task_id]["attempts"]] == [BLOCKED]
        outside = [
            a for a in outbound if not a.startswith(("connect ('127.0.0.1'", "lookup 127.0.0.1"))
        ]
        assert outside == []
    finally:
        application.extensions[EXTENSION].close()
    figures.report(
        "outbound",
        f"outbound: {len(ATTACKER_CALLBACKS)} callbacks to hosts not allowed, 0 contacted; "
        f"media URLs never fetched",
    )


def test_a_redirect_from_a_receiver_is_not_followed(
    client: FlaskClient, runtime: Runtime, outbound: list[str]
) -> None:
    with Listener() as target, Listener("redirect", location="") as redirecting:
        redirecting.location = target.url("/stolen")
        task_id = _task_id(
            "seedanceapi",
            _submit(client, "seedanceapi", KEYS["seedanceapi"], callback_url=redirecting.url()),
        )
        runtime.clock.advance(LONGEST_TASK)
        control = InProcessControl(client, TOKEN)
        delivery = control.call("GET", f"/webhooks?task_id={task_id}")["deliveries"][0]
        assert redirecting.wait_for(len(delivery["attempts"]), 10)

    assert target.arrivals == []
    assert delivery["attempts"]
    assert {(a["outcome"], a["status"]) for a in delivery["attempts"]} == {("failed", 302)}


@pytest.mark.parametrize(
    "suffix",
    [
        "/hook\r\nX-Injected: 1",
        "/hook\nHost: attacker.example",
        "/ho\rok",
        "/hook HTTP/1.1\r\nX-Injected: 1",
        "/hook\u0085X-Injected: 1",
    ],
    ids=["crlf-header", "lf-host", "bare-cr", "request-line", "nel"],
)
def test_a_callback_url_cannot_inject_headers(
    client: FlaskClient, runtime: Runtime, suffix: str
) -> None:
    with Listener() as receiver:
        answer = _submit(
            client, "seedanceapi", KEYS["seedanceapi"], callback_url=receiver.url("") + suffix
        )
        runtime.clock.advance(LONGEST_TASK)
        arrivals = receiver.wait_for(1, 0.5)

    if answer.status == 200:  # accepted: then it must arrive with no header of the URL's making
        assert all(
            b"X-Injected" not in a.request and b"attacker" not in a.request for a in arrivals
        )
    else:
        assert (answer.status, undocumented(answer)) == (400, []), answer.describe()
        assert "callback_url" in answer.json()["message"]
        assert arrivals == []


def test_an_encoded_crlf_is_sent_as_it_was_written(client: FlaskClient, runtime: Runtime) -> None:
    with Listener() as receiver:
        url = receiver.url("/hook%0D%0AX-Injected:%201")
        assert _submit(client, "seedanceapi", KEYS["seedanceapi"], callback_url=url).status == 200
        runtime.clock.advance(LONGEST_TASK)
        arrivals = receiver.wait_for(1, 10)

    head = arrivals[0].request.split(b"\r\n\r\n")[0]
    assert head.startswith(b"POST /hook%0D%0AX-Injected:%201 HTTP/1.1\r\n")
    assert not re.search(rb"(?m)^X-Injected", head)


# oversized bodies and guessing keys --------------------------------------------------------------

MIB = 1024 * 1024


@pytest.mark.slow
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", ["/api/v1/video/seedance2", "/v1/generate"])
def test_a_16_mib_body_is_413_in_the_envelope(exposed: Server, path: str, chunked: bool) -> None:
    provider = "seedance2ai" if path.startswith("/api") else "seedanceapi"
    headers = {
        "Authorization": f"Bearer {KEYS[provider]}",
        "Content-Type": "application/json",
        "Idempotency-Key": "big",
    }
    answer = send_raw(
        exposed, Probe("POST", path, "", headers, b"{" + b" " * (16 * MIB) + b"}", chunked)
    )

    assert answer.status == 413, answer.describe()
    assert undocumented(answer) == [], answer.describe()


@pytest.mark.parametrize("provider", list(KEYS))
def test_guessing_keys_hits_the_limit_for_that_address_only(
    client: FlaskClient, runtime: Runtime, provider: str, figures: Figures
) -> None:
    attacker, neighbour = "203.0.113.7", "203.0.113.8"
    key = KEYS[provider]
    task_id = _task_id(provider, _submit(client, provider, key))
    guesses = [
        _poll(client, provider, f"sk_{secrets.token_hex(8)}", task_id, attacker) for _ in range(100)
    ]
    limited = [g for g in guesses if g.status == 429]
    figures.add(
        "guessing",
        "key guessing: {guesses} wrong keys from one address in a minute, {refused} answered "
        "401 and {limited} 429 with Retry-After",
        guesses=len(guesses),
        refused=sum(g.status == 401 for g in guesses),
        limited=len(limited),
    )

    assert [g.status for g in guesses] == [401] * 60 + [429] * 40
    assert all(undocumented(g) == [] for g in guesses), limited[0].describe()
    assert {g.header("Retry-After") for g in limited} == {"60"}
    # a right guess from the blocked address is refused too, so guessing learns nothing
    assert _poll(client, provider, key, task_id, attacker).status == 429
    assert _poll(client, provider, key, task_id, neighbour).status == 200
    assert _poll(client, provider, "sk_wrong", task_id, neighbour).status == 401

    runtime.clock.advance(60)  # waiting Retry-After seconds is enough
    assert _poll(client, provider, "sk_wrong", task_id, attacker).status == 401
