"""The ``seedance-mock`` command line: every ``serve`` flag and its environment
variable observed through a started server, the banner, clean shutdown on
SIGTERM and SIGINT, and ``openapi``.

A few servers are shared by the module to keep starts down:

- ``flags``: a server configured entirely by command-line flags;
- ``env``: a server configured entirely by SEEDANCE_MOCK_* variables;
- ``realtime``: a real clock at 3600x, with a JSON accounts file;
- ``defaults``: no flags at all, to see the documented defaults.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from openapi_spec_validator import validate

from tests.server import (
    Receiver,
    Server,
    clean_environment,
    running_server,
    serve_command,
    stop,
)

pytestmark = pytest.mark.slow

TIMEOUT = 10
FLAG_TOKEN = "flag-admin-token"
ENV_TOKEN = "env-admin-token"
FLAGS_START = "2026-06-03T10:00:00Z"
ENV_START = "2027-01-01T00:00:00Z"
MEDIA_BASE = "http://media.example.test:9"
SEED = "7"

YAML_ACCOUNTS = [
    {"provider": "seedance2ai", "id": "studio", "credits": 300, "keys": ["sk_yaml_studio"]},
    {"provider": "seedanceapi", "id": "studio", "credits": 100, "keys": ["sa_yaml_studio"]},
]
JSON_ACCOUNTS = [
    {"provider": "seedance2ai", "id": "lab", "credits": 200, "keys": ["sk_json_lab"]},
    {"provider": "seedanceapi", "id": "lab", "credits": 80, "keys": ["sa_json_lab"]},
]
S2_BODY = {"prompt": "A cinematic shot of a glass train crossing a snowy mountain bridge"}
SA_BODY = {"prompt": "A cinematic shot of mountains at sunrise", "duration": "8"}
SA_PRICE = 28

SERVE_FLAGS = {
    "--host": "SEEDANCE_MOCK_HOST",
    "--port": "SEEDANCE_MOCK_PORT",
    "--clock": "SEEDANCE_MOCK_CLOCK",
    "--time-scale": "SEEDANCE_MOCK_TIME_SCALE",
    "--clock-start": "SEEDANCE_MOCK_CLOCK_START",
    "--profile": "SEEDANCE_MOCK_PROFILE",
    "--accounts": "SEEDANCE_MOCK_ACCOUNTS",
    "--seed": "SEEDANCE_MOCK_SEED",
    "--admin-token": "SEEDANCE_MOCK_ADMIN_TOKEN",
    "--media-base-url": "SEEDANCE_MOCK_MEDIA_BASE_URL",
    "--media-cache-dir": "SEEDANCE_MOCK_MEDIA_CACHE_DIR",
    "--journal-size": "SEEDANCE_MOCK_JOURNAL_SIZE",
    "--threads": "SEEDANCE_MOCK_THREADS",
    "--server": "SEEDANCE_MOCK_SERVER",
    "--access-log": "SEEDANCE_MOCK_ACCESS_LOG",
    "--set": "SEEDANCE_MOCK_SET",
    "--webhook-allow": "SEEDANCE_MOCK_WEBHOOK_ALLOW",
}


class Client:
    """One started server as a user reaches it: the two providers and /__admin."""

    def __init__(
        self,
        server: Server,
        token: str | None = None,
        s2_key: str = "sk_live_demo",
        sa_key: str = "sa_demo_key",
    ) -> None:
        self.server = server
        self.admin_headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.s2_key = s2_key
        self.sa_key = sa_key

    def admin(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = requests.request(
            method,
            self.server.url("/__admin" + path),
            headers=self.admin_headers,
            timeout=TIMEOUT,
            **kwargs,
        )
        assert response.status_code == expect, f"{method} {path}: {response.text}"
        return response.json()

    def reset(self) -> Client:
        self.admin("POST", "/reset")
        return self

    def submit(
        self, key: str | None = None, idempotency_key: str = "cli-1", **headers: str
    ) -> requests.Response:
        return requests.post(
            self.server.url("/api/v1/video/seedance2"),
            json=S2_BODY,
            headers={
                "Authorization": f"Bearer {key or self.s2_key}",
                "Idempotency-Key": idempotency_key,
                **headers,
            },
            timeout=TIMEOUT,
        )

    def get_task(self, task_id: str, key: str | None = None) -> requests.Response:
        return requests.get(
            self.server.url(f"/api/v1/tasks/{task_id}"),
            headers={"Authorization": f"Bearer {key or self.s2_key}"},
            timeout=TIMEOUT,
        )

    def generate(self, body: Any = None, key: str | None = None) -> requests.Response:
        return requests.post(
            self.server.url("/v1/generate"),
            json=SA_BODY if body is None else body,
            headers={"Authorization": f"Bearer {key or self.sa_key}"},
            timeout=TIMEOUT,
        )

    def status(self, task_id: str, key: str | None = None) -> requests.Response:
        return requests.get(
            self.server.url("/v1/status"),
            params={"task_id": task_id},
            headers={"Authorization": f"Bearer {key or self.sa_key}"},
            timeout=TIMEOUT,
        )

    def sa_task(self, body: Any = None) -> str:
        response = self.generate(body)
        assert response.status_code == 200, response.text
        task_id: str = response.json()["data"]["task_id"]
        return task_id

    def clock(self) -> dict[str, Any]:
        found: dict[str, Any] = self.admin("GET", "/clock")
        return found


# servers --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    (root / "accounts.yaml").write_text(yaml.safe_dump({"accounts": YAML_ACCOUNTS}))
    (root / "accounts.json").write_text(json.dumps(JSON_ACCOUNTS))
    (root / "media").mkdir()
    return root


@pytest.fixture(scope="module")
def flags_server(files: Path) -> Iterator[Server]:
    with running_server(
        "--host", "127.0.0.1",
        "--clock", "manual",
        "--clock-start", FLAGS_START,
        "--seed", SEED,
        "--profile", "observed",
        "--accounts", str(files / "accounts.yaml"),
        "--admin-token", FLAG_TOKEN,
        "--set", "seedanceapi.refunds.on_failure=false",
        "--journal-size", "3",
        "--media-base-url", MEDIA_BASE,
        "--media-cache-dir", str(files / "media"),
        "--access-log",
        "--webhook-allow", "0.0.0.0",
        "--threads", "1",
    ) as server:  # fmt: skip
        yield server


@pytest.fixture
def flags(flags_server: Server) -> Client:
    client = Client(flags_server, FLAG_TOKEN, "sk_yaml_studio", "sa_yaml_studio")
    return client.reset()


@pytest.fixture(scope="module")
def env_server(files: Path) -> Iterator[Server]:
    env = {
        "SEEDANCE_MOCK_CLOCK": "manual",
        "SEEDANCE_MOCK_CLOCK_START": ENV_START,
        "SEEDANCE_MOCK_TIME_SCALE": "60",
        "SEEDANCE_MOCK_SEED": SEED,
        "SEEDANCE_MOCK_PROFILE": "observed",
        "SEEDANCE_MOCK_ACCOUNTS": str(files / "accounts.json"),
        "SEEDANCE_MOCK_ADMIN_TOKEN": ENV_TOKEN,
        "SEEDANCE_MOCK_SET": (
            "seedanceapi.refunds.on_failure=false;seedance2ai.idempotency.required=false"
        ),
        "SEEDANCE_MOCK_JOURNAL_SIZE": "2",
        "SEEDANCE_MOCK_MEDIA_BASE_URL": MEDIA_BASE,
        "SEEDANCE_MOCK_WEBHOOK_ALLOW": "example.test,0.0.0.0",
        "SEEDANCE_MOCK_ACCESS_LOG": "1",
    }
    with running_server(env=env) as server:
        yield server


@pytest.fixture
def env(env_server: Server) -> Client:
    return Client(env_server, ENV_TOKEN, "sk_json_lab", "sa_json_lab").reset()


@pytest.fixture(scope="module")
def realtime_server(files: Path) -> Iterator[Server]:
    with running_server(
        "--clock", "real",
        "--time-scale", "3600",
        "--seed", "8",
        "--accounts", str(files / "accounts.json"),
        "--set", "seedance2ai.refunds.on_failure=false",
        env={"SEEDANCE_MOCK_CLOCK": "manual"},  # the flag beats its variable
    ) as server:  # fmt: skip
        yield server


@pytest.fixture
def realtime(realtime_server: Server) -> Client:
    return Client(realtime_server, None, "sk_json_lab", "sa_json_lab").reset()


@pytest.fixture(scope="module")
def defaults_server() -> Iterator[Server]:
    with running_server() as server:
        yield server


@pytest.fixture
def defaults(defaults_server: Server) -> Client:
    return Client(defaults_server).reset()


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    """Poll ``condition`` until true: only for the real-clock server, where time does pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# --help ---------------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mockserver", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
        env=clean_environment(env),
    )


def test_serve_help_names_every_flag_its_variable_and_its_default() -> None:
    result = run_cli("serve", "--help")

    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for flag, variable in SERVE_FLAGS.items():
        assert flag in text, flag
        assert variable in text, variable
    for default in (
        "(default: 127.0.0.1)",
        "(default: 8000)",
        "(default: real)",
        "(default: 1.0)",
        "(default: documented)",
        "(default: 1000)",
        "(default: gunicorn)",
        "(default: 4 with granian, taking turns; 8 with gunicorn)",
    ):
        assert default in text, default
    assert "SIGTERM" in text


# banner, defaults and stopping ------------------------------------------------------------


def test_banner_shows_every_provider_url_and_the_demo_keys(defaults_server: Server) -> None:
    lines = defaults_server.wait_for_stdout("profile=")
    text = "\n".join(lines)
    base = defaults_server.base_url

    assert base.startswith("http://127.0.0.1:")
    for prefix in ("/api/v1", "/v1", "/v2", "/api/v3", "/__admin"):
        assert f"{base}{prefix}" in text.split()
    assert "sk_live_demo" in text
    assert "sa_demo_key" in text
    assert "ark-demo-key" in text
    assert "10000 credits" in text
    # Ark bills millionths of a currency (profile.json billing.unit), not credits
    assert "100000000 micro-units (100.00 of the platform's currency)" in text


def test_defaults_are_a_real_clock_the_documented_profile_and_no_token(defaults: Client) -> None:
    clock = defaults.clock()  # no admin token needed on loopback without --admin-token

    assert (clock["mode"], clock["time_scale"]) == ("real", 1.0)
    refused = defaults.generate({**SA_BODY, "duration": 8})
    assert refused.status_code == 400
    assert refused.json()["error"] == "INVALID_DURATION"
    assert defaults.submit().status_code == 202


def test_sigterm_stops_the_server_cleanly() -> None:
    with running_server("--host", "127.0.0.1") as server:
        assert requests.get(server.url("/__admin/clock"), timeout=TIMEOUT).status_code == 200

        asked = time.monotonic()
        assert stop(server, signal.SIGTERM) == 0
        # by itself, not killed when gunicorn's graceful timeout (5 s) ran out
        assert time.monotonic() - asked < 4.0

        with pytest.raises(requests.ConnectionError):
            requests.get(server.url("/__admin/clock"), timeout=TIMEOUT)


def test_sigterm_while_requests_wait_answers_them_then_stops() -> None:
    """Requests held by a latency fault hold the threads the worker's event loop
    was handed to (serve.EnvelopeWorker): a SIGTERM meanwhile still answers them
    and then stops the server."""
    with running_server("--host", "127.0.0.1") as server:
        client = Client(server).reset()
        slow = {"provider": "seedanceapi", "effect": "latency", "latency_ms": 1000}
        client.admin("POST", "/faults", expect=201, json=slow)
        with ThreadPoolExecutor(3) as pool:
            held = [pool.submit(client.status, f"seed_held{i}") for i in range(3)]
            time.sleep(0.3)  # real time: the three are waiting on the fault
            assert requests.get(server.url("/__admin/clock"), timeout=TIMEOUT).status_code == 200
            assert stop(server, signal.SIGTERM) == 0
            assert [h.result(timeout=TIMEOUT).status_code for h in held] == [404, 404, 404]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_port_flag_and_sigint_stop(tmp_path: Path) -> None:
    port = _free_port()
    with running_server("--port", str(port)) as server:
        assert server.base_url == f"http://127.0.0.1:{port}"
        assert requests.get(server.url("/__admin/clock"), timeout=TIMEOUT).status_code == 200

        assert stop(server, signal.SIGINT) == 0  # Ctrl-C

        with pytest.raises(requests.ConnectionError):
            requests.get(server.url("/__admin/clock"), timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--host", "0.0.0.0"), None), ((), {"SEEDANCE_MOCK_HOST": "0.0.0.0"})],
    ids=["flag", "env"],
)
def test_non_loopback_host_without_token_refuses_to_start(
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

    assert result.returncode != 0
    assert "--admin-token" in result.stderr
    assert "0.0.0.0" in result.stderr
    assert "listening" not in result.stdout


BAD_ACCOUNTS = {
    "missing": None,
    "invalid-account": '[{"provider": "nope", "id": "x", "credits": 1}]',
    "unparsable": "accounts: [ {provider: seedance2ai, id: x\n",
}


@pytest.mark.parametrize("case", BAD_ACCOUNTS)
def test_bad_accounts_file_stops_the_start_with_a_message(tmp_path: Path, case: str) -> None:
    path = tmp_path / "accounts.yaml"
    content = BAD_ACCOUNTS[case]
    if content is not None:
        path.write_text(content)

    result = subprocess.run(
        serve_command("--accounts", str(path)),
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
        env=clean_environment(),
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("seedance-mock: ")
    assert "Traceback" not in result.stderr
    assert "listening" not in result.stdout


# each flag, observed ------------------------------------------------------------------------


def test_clock_manual_stands_still_from_clock_start(flags: Client) -> None:
    clock = flags.clock()
    assert clock["mode"] == "manual"
    assert clock["now"] == "2026-06-03T10:00:00.000Z"
    task_id = flags.sa_task()
    assert flags.status(task_id).json()["data"]["status"] == "IN_PROGRESS"
    assert flags.clock()["now"] == clock["now"]

    flags.admin("POST", "/clock/advance", json={"seconds": 300})

    assert flags.status(task_id).json()["data"]["status"] == "SUCCESS"
    assert flags.reset().clock()["now"] == "2026-06-03T10:00:00.000Z"  # reset: back to the start


def test_clock_real_with_time_scale_finishes_a_task_in_real_seconds(realtime: Client) -> None:
    clock = realtime.clock()
    assert (clock["mode"], clock["time_scale"]) == ("real", 3600.0)
    task_id = realtime.sa_task()

    # at most 240 simulated seconds, which is 0.07 real seconds at 3600x
    wait_for(lambda: realtime.status(task_id).json()["data"]["status"] == "SUCCESS")

    assert realtime.clock()["now"] > clock["now"]


def test_profile_observed_accepts_an_integer_duration(flags: Client) -> None:
    response = flags.generate({**SA_BODY, "duration": 8})

    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["task_id"]
    assert flags.status(task_id).json()["data"]["request"]["duration"] == "8"


def test_accounts_yaml_replaces_the_demo_accounts_and_reset_restores_it(flags: Client) -> None:
    assert flags.admin("GET", "/accounts/seedanceapi/studio")["credits"] == 100
    assert flags.sa_task()
    assert flags.submit().status_code == 202
    assert flags.generate(key="sa_demo_key").status_code == 401
    assert flags.submit(key="sk_live_demo").status_code == 401
    flags.admin("GET", "/accounts/seedanceapi/demo", expect=404)
    assert flags.admin("GET", "/accounts/seedanceapi/studio")["credits"] == 100 - SA_PRICE

    flags.reset()

    assert flags.admin("GET", "/accounts/seedanceapi/studio")["credits"] == 100
    assert flags.admin("GET", "/accounts/seedance2ai/studio")["credits"] == 300
    assert flags.generate(key="sa_demo_key").status_code == 401


def test_accounts_json_replaces_the_demo_accounts(realtime: Client) -> None:
    assert realtime.admin("GET", "/accounts/seedance2ai/lab")["credits"] == 200
    assert realtime.submit().status_code == 202
    assert realtime.generate().status_code == 200
    assert realtime.submit(key="sk_live_demo").status_code == 401
    assert realtime.generate(key="sa_demo_key").status_code == 401


def test_same_seed_gives_the_same_first_task_id(
    flags: Client, env: Client, realtime: Client
) -> None:
    first = flags.sa_task()
    flags.reset()

    assert flags.sa_task() == first  # the same server after a reset
    assert env.sa_task() == first  # another server with the same seed
    assert realtime.sa_task() != first  # another seed


def test_admin_token_flag_guards_the_control_api(flags_server: Server) -> None:
    url = flags_server.url("/__admin/clock")

    assert requests.get(url, timeout=TIMEOUT).status_code == 401
    bearer = {"Authorization": f"Bearer {FLAG_TOKEN}"}
    assert requests.get(url, headers=bearer, timeout=TIMEOUT).status_code == 200


def test_set_turns_off_seedance2ai_refunds(realtime: Client) -> None:
    response = realtime.submit(**{"X-Seedance-Mock-Scenario": "stuck"})
    task_id = response.json()["id"]

    realtime.admin("POST", f"/tasks/{task_id}/fail", json={"message": "no refund here"})

    task = realtime.get_task(task_id).json()
    assert task["status"] == "failed"
    assert task["credits_refunded"] == 0
    assert realtime.admin("GET", "/accounts/seedance2ai/lab")["credits"] == 200 - 30


def test_set_turns_off_seedanceapi_refunds(flags: Client) -> None:
    task_id = flags.sa_task()

    flags.admin("POST", f"/tasks/{task_id}/fail", json={"message": "kept"})

    assert flags.status(task_id).json()["data"]["consumed_credits"] == SA_PRICE
    assert flags.admin("GET", "/accounts/seedanceapi/studio")["credits"] == 100 - SA_PRICE


def _deliver_to_0000(client: Client) -> tuple[list[Any], dict[str, Any]]:
    """Connecting to 0.0.0.0 reaches this machine, yet it is not a loopback address:
    a stand-in for a remote host that never leaves the machine."""
    with Receiver() as receiver:
        task_id = client.sa_task({**SA_BODY, "callback_url": receiver.url(host="0.0.0.0")})
        client.admin("POST", "/clock/advance", json={"seconds": 400})
        posts = receiver.posts()
    [delivery] = client.admin("GET", "/webhooks", params={"task_id": task_id})["deliveries"]
    return posts, delivery


def test_webhooks_go_only_to_loopback_without_webhook_allow(defaults: Client) -> None:
    with Receiver() as receiver:
        task_id = defaults.sa_task({**SA_BODY, "callback_url": receiver.url(host="0.0.0.0")})
        defaults.admin("POST", f"/tasks/{task_id}/complete")
        defaults.admin("POST", "/clock/advance", json={"seconds": 1})
        posts = receiver.posts()

    [delivery] = defaults.admin("GET", "/webhooks", params={"task_id": task_id})["deliveries"]
    assert posts == []
    assert delivery["state"] == "blocked"


def test_webhook_allow_lets_webhooks_reach_the_named_host(flags: Client) -> None:
    posts, delivery = _deliver_to_0000(flags)

    assert len(posts) == 1
    assert delivery["state"] == "delivered"


def test_journal_size_bounds_the_journal(flags: Client) -> None:
    for i in range(5):
        flags.status(f"seed_missing_{i}")

    entries = flags.admin("GET", "/journal")["entries"]

    assert [e["query"] for e in entries] == [f"task_id=seed_missing_{i}" for i in (4, 3, 2)]


def test_media_base_url_and_media_cache_dir(flags: Client, files: Path) -> None:
    task_id = flags.sa_task()
    flags.admin("POST", f"/tasks/{task_id}/complete")

    [video_url] = flags.status(task_id).json()["data"]["response"]
    assert video_url.startswith(MEDIA_BASE + "/__media/")
    served = requests.get(flags.server.url(video_url.removeprefix(MEDIA_BASE)), timeout=TIMEOUT)
    assert served.status_code == 200
    cached = [p.read_bytes() for p in (files / "media").glob("*.mp4")]
    assert served.content in cached


def test_access_log_prints_each_request(flags: Client) -> None:
    flags.status("seed_logged_request")

    flags.server.wait_for_stdout("task_id=seed_logged_request")


def three_slow_requests(client: Client) -> float:
    slow = {"provider": "seedanceapi", "effect": "latency", "latency_ms": 300}
    client.admin("POST", "/faults", expect=201, json=slow)
    started = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        codes = list(pool.map(lambda i: client.status(f"seed_x{i}").status_code, range(3)))
    assert codes == [404, 404, 404]
    return time.monotonic() - started


def test_threads_limits_concurrent_requests(flags: Client, realtime: Client) -> None:
    assert three_slow_requests(flags) >= 0.9  # --threads 1: one after another
    assert three_slow_requests(realtime) < 0.9  # default 8 threads: side by side


def test_on_a_sqlite_store_a_latency_fault_still_delays_no_other_request(tmp_path: Path) -> None:
    """On SQLite the threads take turns in the app (serve.build_app); a request
    held by a latency fault lets the others by while it waits."""
    store = f"sqlite:{tmp_path / 'state.db'}"
    with running_server("--clock", "manual", "--store", store) as server:
        assert three_slow_requests(Client(server).reset()) < 0.9


# environment variables ------------------------------------------------------------------------


def test_env_sets_clock_start_time_scale_and_profile(env: Client) -> None:
    clock = env.clock()

    assert (clock["mode"], clock["time_scale"]) == ("manual", 60.0)
    assert clock["now"] == "2027-01-01T00:00:00.000Z"
    assert env.generate({**SA_BODY, "duration": 8}).status_code == 200  # observed profile


def test_env_sets_accounts_and_admin_token(env: Client) -> None:
    assert requests.get(env.server.url("/__admin/clock"), timeout=TIMEOUT).status_code == 401
    assert env.admin("GET", "/accounts/seedanceapi/lab")["credits"] == 80
    assert env.generate(key="sa_demo_key").status_code == 401


def test_env_set_takes_several_settings(env: Client) -> None:
    accepted = requests.post(
        env.server.url("/api/v1/video/seedance2"),
        json=S2_BODY,
        headers={"Authorization": "Bearer sk_json_lab"},  # no Idempotency-Key
        timeout=TIMEOUT,
    )
    task_id = env.sa_task()
    env.admin("POST", f"/tasks/{task_id}/fail", json={"message": "kept"})

    assert accepted.status_code == 202
    assert env.status(task_id).json()["data"]["consumed_credits"] == SA_PRICE


def test_env_sets_journal_size_media_base_url_and_webhook_allow(env: Client) -> None:
    posts, delivery = _deliver_to_0000(env)
    [video_url] = env.status(delivery["task_id"]).json()["data"]["response"]
    env.status("seed_missing")

    assert len(posts) == 1
    assert video_url.startswith(MEDIA_BASE + "/__media/")
    assert len(env.admin("GET", "/journal")["entries"]) == 2


def test_env_access_log(env: Client) -> None:
    env.status("seed_env_logged")

    env.server.wait_for_stdout("task_id=seed_env_logged")


# openapi ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "path"),
    [("seedance2ai", "/api/v1/video/seedance2"), ("seedanceapi", "/v1/generate")],
)
def test_openapi_prints_a_valid_document(provider: str, path: str) -> None:
    command = Path(sys.executable).with_name("seedance-mock")
    result = subprocess.run(
        [str(command), "openapi", "--provider", provider],
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
        env=clean_environment(),
    )

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    validate(document)
    assert path in document["paths"]
