"""In-process figures: round trips per second on one thread, and the cost of a
fresh simulator per test. Prints one JSON object (the last line) for run.py.

- Flask test client: ``app.test_client().get(...)`` against ``create_app``.
- requests through ``seedance_mock()`` (the ``responses`` adapter), as a test
  using plain ``requests`` would call the real hosts.
- fresh simulator: ``create_app(Config(clock="manual", background=False))`` then
  ``app.extensions["seedance_mock"].close()``; and ``with seedance_mock(): pass``.
- admissions: the CPU time of a test-client GET after 10 requests and after
  20,000 more, with the lifted limits' 60 s windows (the manual clock keeps every
  admission in them) and with the windows at 0 s (each admission forgotten at
  the next request): whether a request's cost grows with the requests before it.

Like the servers, these run with the rate limits lifted and a huge balance, so
they measure the simulator, not the limiter.

    .venv/bin/python tests/benchmarks/bench_inprocess.py [--seconds 5] [--profile]

``--profile`` prints a cProfile of the test-client GET loop instead.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import itertools
import json
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

import requests

from mockserver.app import create_app
from mockserver.config import AccountSeed, Config
from mockserver.inprocess import seedance_mock
from mockserver.providers.context import EXTENSION

KEY = "sk_live_demo"
BODY = {"prompt": "A cinematic shot of a glass train crossing a snowy mountain bridge"}
LIFTED = {
    "seedance2ai": {
        "rate_limits": {"requests": {"limit": 10**9}, "media_validations": {"limit": 10**9}}
    }
}
ACCOUNTS = (
    AccountSeed("seedance2ai", "bench", 10**12, (KEY,)),
    AccountSeed("seedanceapi", "bench", 10**12, ("sa_demo_key",)),
)


#: LIFTED with windows of 0 s (see benchlib.EMPTY_WINDOWS)
EMPTY_WINDOWS = {
    "seedance2ai": {
        "rate_limits": {
            kind: {"limit": 10**9, "window_seconds": 0}
            for kind in ("requests", "media_validations")
        }
    }
}
ADMISSIONS = 20_000


def config(overrides: dict[str, Any] | None = None) -> Config:
    return Config(
        clock="manual", background=False, overrides=overrides or LIFTED, accounts=ACCOUNTS
    )


def per_second(call: Callable[[], Any], seconds: float) -> tuple[float, float]:
    """Calls per second of ``call`` over about ``seconds`` (after a short warm-up), by the
    wall clock and by this process's CPU time (which other work on the machine barely moves)."""
    for _ in range(50):
        call()
    count, started, cpu = 0, time.perf_counter(), time.process_time()
    deadline = started + seconds
    while True:
        for _ in range(50):
            call()
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started), count / (time.process_time() - cpu)


def _rates(name: str, call: Callable[[], Any], seconds: float) -> dict[str, float]:
    wall, cpu = per_second(call, seconds)
    return {f"{name}_per_s": wall, f"{name}_cpu_per_s": cpu}


def test_client(seconds: float) -> dict[str, float]:
    app = create_app(config())
    client = app.test_client()
    headers = {"Authorization": f"Bearer {KEY}"}
    keys = itertools.count()
    first = client.post(
        "/api/v1/video/seedance2", headers={**headers, "Idempotency-Key": "first"}, json=BODY
    )
    path = f"/api/v1/tasks/{first.get_json()['id']}"

    def get() -> None:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.data

    def post() -> None:
        response = client.post(
            "/api/v1/video/seedance2",
            headers={**headers, "Idempotency-Key": f"k{next(keys)}"},
            json=BODY,
        )
        assert response.status_code == 202, response.data

    try:
        return _rates("test_client_get", get, seconds) | _rates("test_client_post", post, seconds)
    finally:
        app.extensions[EXTENSION].close()


def through_requests(seconds: float) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {KEY}"}
    keys = itertools.count()
    base = "https://seedance2ai.io/api/v1"
    with seedance_mock(config()), requests.Session() as session:
        first = session.post(
            f"{base}/video/seedance2", headers={**headers, "Idempotency-Key": "first"}, json=BODY
        )
        url = f"{base}/tasks/{first.json()['id']}"

        def get() -> None:
            response = session.get(url, headers=headers)
            assert response.status_code == 200, response.text

        def post() -> None:
            response = session.post(
                f"{base}/video/seedance2",
                headers={**headers, "Idempotency-Key": f"k{next(keys)}"},
                json=BODY,
            )
            assert response.status_code == 202, response.text

        return _rates("requests_get", get, seconds) | _rates("requests_post", post, seconds)


def _get_cpu_us(get: Callable[[], Any], count: int = 1000) -> float:
    started = time.process_time()
    for _ in range(count):
        get()
    return (time.process_time() - started) / count * 1e6


def _admissions_once(overrides: dict[str, Any]) -> tuple[float, float]:
    app = create_app(config(overrides))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {KEY}"}
    first = client.post(
        "/api/v1/video/seedance2", headers={**headers, "Idempotency-Key": "a"}, json=BODY
    )
    path = f"/api/v1/tasks/{first.get_json()['id']}"

    def get() -> None:
        client.get(path, headers=headers)

    try:
        for _ in range(9):
            get()
        early = _get_cpu_us(get, 300)
        for _ in range(ADMISSIONS):
            get()
        return early, _get_cpu_us(get, 300)
    finally:
        app.extensions[EXTENSION].close()


def admissions() -> dict[str, float]:
    """GET's CPU µs after 10 requests and after ADMISSIONS more, per window setting."""
    result: dict[str, float] = {}
    for label, overrides in (("window60", LIFTED), ("window0", EMPTY_WINDOWS)):
        early, late = _admissions_once(overrides)
        result[f"admissions_{label}_get_us_at_10"] = early
        result[f"admissions_{label}_get_us_at_{ADMISSIONS}"] = late
    return result


def fresh(iterations: int = 60) -> dict[str, float]:
    plain = Config(clock="manual", background=False)

    def once() -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        app = create_app(plain)
        app.extensions[EXTENSION].close()
        return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000

    first = once()[0]
    runs = [once() for _ in range(iterations)]
    times = sorted(wall for wall, _ in runs)

    def mock_once() -> float:
        started = time.perf_counter()
        with seedance_mock():
            pass
        return (time.perf_counter() - started) * 1000

    mocks = sorted(mock_once() for _ in range(iterations // 2))
    return {
        "fresh_app_ms_first": first,
        "fresh_app_ms_median": statistics.median(times),
        "fresh_app_ms_p90": times[int(len(times) * 0.9)],
        "fresh_app_cpu_ms_median": statistics.median(cpu for _, cpu in runs),
        "fresh_mock_ms_median": statistics.median(mocks),
    }


def profile(seconds: float) -> None:
    app = create_app(config())
    client = app.test_client()
    headers = {"Authorization": f"Bearer {KEY}"}
    first = client.post(
        "/api/v1/video/seedance2", headers={**headers, "Idempotency-Key": "first"}, json=BODY
    )
    path = f"/api/v1/tasks/{first.get_json()['id']}"
    for _ in range(200):
        client.get(path, headers=headers)
    profiler = cProfile.Profile()
    deadline = time.perf_counter() + seconds
    profiler.enable()
    while time.perf_counter() < deadline:
        client.get(path, headers=headers)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per round-trip figure")
    parser.add_argument("--profile", action="store_true", help="cProfile the GET loop instead")
    args = parser.parse_args()
    if args.profile:
        profile(args.seconds)
        return 0
    gc.collect()
    result: dict[str, float] = {}
    result |= fresh()
    result |= test_client(args.seconds)
    result |= through_requests(args.seconds)
    result |= admissions()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
