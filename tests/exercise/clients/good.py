"""A client that copes: submit one video job, poll it, print the video URL.

What makes it good, each point a field of :class:`Policy` that the bad
clients beside it change:

- it retries 429, 500, 502, 503, 504 and (seedance2ai) 409 "still running",
  dropped connections, timeouts and unreadable bodies, up to ``attempts``
  times, with exponential backoff and never sooner than Retry-After;
- a retried submit keeps its Idempotency-Key (seedance2ai); on seedanceapi,
  which has none, a submit whose answer was lost is not repeated, since the
  first attempt may have been charged;
- it gives up on the job after ``deadline`` and polls every ``poll_every``;
- a failure ends with exit status 1 and a message on stderr.

Waits are in the API's (simulated) seconds and divided by
SEEDANCE_MOCK_TIME_SCALE, so under ``seedance-mock exercise`` they pass at
the speed of the simulator's clock. The base URL and key come from
``--base-url``/``--api-key`` or SEEDANCE_MOCK_BASE_URL/SEEDANCE_MOCK_API_KEY.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

RETRIED_STATUSES = (429, 500, 502, 503, 504)
JOBS: dict[str, dict[str, Any]] = {
    "seedance2ai": {"prompt": "A glass train crossing a snowy mountain bridge", "duration": "5"},
    "seedanceapi": {"prompt": "A majestic eagle over golden clouds", "duration": "4"},
    "ark": {
        "model": "dreamina-seedance-2-0-260128",
        "content": [{"type": "text", "text": "A red fox in fresh snow --dur 5"}],
    },
}
ARK_TASKS = "/api/v3/contents/generations/tasks"


@dataclass(frozen=True)
class Policy:
    attempts: int = 5  # per request
    first_backoff: float = 4.0  # simulated seconds, doubled each attempt
    max_backoff: float = 120.0
    honour_retry_after: bool = True
    keep_idempotency_key: bool = True
    poll_every: float = 15.0  # simulated seconds
    deadline: float | None = 1200.0  # simulated seconds for the whole job; None: never
    timeout: float = 2.0  # real seconds per request


class GiveUp(Exception):
    """The job cannot be finished; the message says why."""


@dataclass
class Client:
    policy: Policy
    provider: str
    base_url: str
    key: str
    time_scale: float

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.key}"
        self.started = time.monotonic()

    # time, in the API's seconds --------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        time.sleep(seconds / self.time_scale)

    def check_deadline(self) -> None:
        deadline = self.policy.deadline
        elapsed = (time.monotonic() - self.started) * self.time_scale
        if deadline is not None and elapsed > deadline:
            raise GiveUp(f"gave up: the job is not done after {deadline:g} s")

    def backoff(self, attempt: int, response: requests.Response | None) -> float:
        wait = min(self.policy.first_backoff * 2.0 ** (attempt - 1), self.policy.max_backoff)
        told = response.headers.get("Retry-After") if response is not None else None
        if self.policy.honour_retry_after and told:
            wait = max(wait, float(told))
        return wait

    # one request, retried --------------------------------------------------------------
    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON of a 2xx answer, retrying per the policy; GiveUp otherwise."""
        submit = method == "POST"
        replayable = not submit or self.provider == "seedance2ai"  # an Idempotency-Key
        key = str(uuid.uuid4())
        problem = ""
        for attempt in range(1, self.policy.attempts + 1):
            self.check_deadline()
            headers = {"Idempotency-Key": key} if submit and self.provider == "seedance2ai" else {}
            response = None
            try:
                response = self.session.request(
                    method, self.base_url + path, json=body, headers=headers,
                    timeout=self.policy.timeout,
                )  # fmt: skip
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
                if not (replayable or _never_sent(exc)):
                    raise GiveUp(f"{problem}; not retried, a repeat could pay twice") from exc
            else:
                problem, answer = _read(response, replayable)
                if answer is not None:
                    return answer
            if attempt < self.policy.attempts:
                wait = self.backoff(attempt, response)
                print(f"{method} {path}: {problem}; retrying in {wait:g} s", file=sys.stderr)
                self.sleep(wait)
            if not self.policy.keep_idempotency_key:
                key = str(uuid.uuid4())
        raise GiveUp(f"{method} {path}: {problem} (after {self.policy.attempts} attempt(s))")

    # the job ---------------------------------------------------------------------------
    def generate(self) -> str:
        if self.provider == "seedance2ai":
            task_id = self.call("POST", "/api/v1/video/seedance2", JOBS[self.provider])["id"]
            path = f"/api/v1/tasks/{task_id}"
        elif self.provider == "ark":
            task_id = self.call("POST", ARK_TASKS, JOBS[self.provider])["id"]
            path = f"{ARK_TASKS}/{task_id}"
        else:
            task_id = self.call("POST", "/v1/generate", JOBS[self.provider])["data"]["task_id"]
            path = f"/v1/status?task_id={task_id}"
        print(f"submitted {task_id}", file=sys.stderr)
        while True:
            self.sleep(self.policy.poll_every)
            self.check_deadline()
            video, error = _outcome(self.provider, self.call("GET", path))
            if video:
                return video
            if error is not None:
                raise GiveUp(f"task {task_id} failed: {error}")


def _never_sent(exc: requests.RequestException) -> bool:
    """The connection was never made, so the server cannot have acted on the request."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectTimeout) or isinstance(reason, NewConnectionError)


def _read(response: requests.Response, replayable: bool) -> tuple[str, Any]:
    """(what went wrong, None) to retry, (_, JSON) on success; GiveUp when final."""
    status = response.status_code
    if 200 <= status < 300:
        try:
            return "", response.json()
        except ValueError:
            if not replayable:
                raise GiveUp(f"{status} with an unreadable body; not retried") from None
            return f"{status} with an unreadable body", None
    text = response.text[:200]
    if status in RETRIED_STATUSES or (status == 409 and replayable):
        return f"{status} {text}", None
    raise GiveUp(f"{status} {text}")


def _outcome(provider: str, answer: Any) -> tuple[str | None, str | None]:
    """(the video URL when done, the error when failed) of a status answer."""
    if provider == "seedance2ai":
        status = answer["status"]
        video = (answer.get("output") or {}).get("video_url") if status == "completed" else None
        return video, str(answer.get("error")) if status == "failed" else None
    if provider == "ark":
        status = answer["status"]
        video = (answer.get("content") or {}).get("video_url") if status == "succeeded" else None
        ended = status in ("failed", "expired", "cancelled")
        return video, f"{status}: {answer.get('error')}" if ended else None
    data = answer["data"]
    video = data["response"][0] if data["status"] == "SUCCESS" else None
    return video, str(data.get("error_message")) if data["status"] == "FAILED" else None


def main(policy: Policy, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", default=os.environ.get("SEEDANCE_MOCK_BASE_URL"))
    parser.add_argument("--api-key", default=os.environ.get("SEEDANCE_MOCK_API_KEY"))
    parser.add_argument("--provider", default=os.environ.get("SEEDANCE_MOCK_PROVIDER"))
    parser.add_argument("--deadline", type=float, help="simulated seconds before giving up")
    parser.add_argument("--timeout", type=float, help="real seconds a request may take")
    args = parser.parse_args(argv)
    if args.deadline is not None and policy.deadline is not None:
        policy = replace(policy, deadline=args.deadline)
    if args.timeout is not None:
        policy = replace(policy, timeout=args.timeout)
    scale = float(os.environ.get("SEEDANCE_MOCK_TIME_SCALE", "1"))
    client = Client(policy, args.provider, args.base_url.rstrip("/"), args.api_key, scale)
    try:
        print(client.generate())
    except GiveUp as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Policy()))
