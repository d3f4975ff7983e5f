"""Record what an official Ark Python SDK sends, and what it makes of each answer.

Not a test (pytest does not collect it) and not part of the simulator: a probe
whose findings are written up in spec/ark/SDK-NOTES.md. Run it with the
interpreter of a throwaway virtualenv that holds one of the SDKs:

    python3 -m venv /tmp/ark-ve && /tmp/ark-ve/bin/pip install 'volcengine-python-sdk[ark]'
    /tmp/ark-ve/bin/python tests/providers/ark_sdk/capture_sdk.py --sdk volcengine \
        --out /tmp/ark-capture-volcengine.json

    python3 -m venv /tmp/ark-bp && /tmp/ark-bp/bin/pip install 'byteplus-python-sdk-v2[ark]' \
        httpx anyio sniffio    # the [ark] extra does not bring these (see SDK-NOTES.md)
    /tmp/ark-bp/bin/python tests/providers/ark_sdk/capture_sdk.py --sdk byteplus \
        --out /tmp/ark-capture-byteplus.json

A scripted HTTP server on 127.0.0.1 (a free port) answers each request with the
next response of the running scenario; every request is recorded (method, path,
raw query, headers, body) with its arrival time, so retries and their backoff
show. Nothing leaves the machine. A full run takes about half a minute, most of
it the SDK's own retry sleeps.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SDKS = {
    "volcengine": ("volcenginesdkarkruntime", ("volcengine-python-sdk", "volcengine-ark-runtime")),
    "byteplus": ("byteplussdkarkruntime", ("byteplus-python-sdk-v2",)),
}

API_KEY = "ark-capture-key-0123456789"
TASK_ID = "cgt-20260514183217-t8rzv"

TASK_SUCCEEDED: dict[str, Any] = {
    "id": "cgt-20260828062711-hj94q",
    "model": "seedance-1-0-pro-250528",
    "status": "succeeded",
    "content": {
        "video_url": "https://example.invalid/recorded-video.mp4",
        "last_frame_url": "https://example.invalid/recorded-video_last-frame.png",
    },
    "usage": {"completion_tokens": 19845, "total_tokens": 19845},
    "created_at": 1787869631,
    "updated_at": 1787869648,
    "seed": 17918,
    "resolution": "480p",
    "ratio": "16:9",
    "duration": 2,
    "framespersecond": 24,
    "service_tier": "default",
    "execution_expires_after": 172800,
    "draft": False,
    "priority": 0,
    "output_format": "mp4",
}
TASK_QUEUED: dict[str, Any] = {
    "id": TASK_ID,
    "model": "doubao-seedance-1-0-lite-t2v-250428",
    "status": "queued",
    "created_at": 1745899232,
    "updated_at": 1745899232,
}
TASK_FAILED: dict[str, Any] = {
    "id": TASK_ID,
    "model": "doubao-seedance-2-0-260128",
    "status": "failed",
    "error": {
        "code": "OutputVideoSensitiveContentDetected.PolicyViolation",
        "message": "The request failed because the output video may be related to copyright "
        "restrictions.",
    },
    "created_at": 1778754737,
    "updated_at": 1778755025,
}
REQUEST_ID = "021777221411142d7af947c1ba7087bbc51da73d8efb12cc57108"


def ark_error(status_type: str, code: str, message: str, param: str = "") -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": f"{message} Request id: {REQUEST_ID}",
            "param": param,
            "type": status_type,
        }
    }


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = None  # JSON-encodable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if self.body is None:
            return b""
        return json.dumps(self.body).encode()


class Script:
    """The replies of the running scenario and the requests it received."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.started = time.monotonic()

    def load(self, replies: list[Reply]) -> None:
        with self.lock:
            self.replies = list(replies)
            self.requests = []
            self.started = time.monotonic()

    def take(self, request: dict[str, Any]) -> Reply:
        with self.lock:
            request["t"] = round(time.monotonic() - self.started, 3)
            self.requests.append(request)
            if self.replies:
                return self.replies.pop(0)
        request["unscripted"] = True
        return Reply(200, {})


SCRIPT = Script()


class CaptureHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        url = urlsplit(self.path)
        reply = SCRIPT.take(
            {
                "method": self.command,
                "path": url.path,
                "raw_query": url.query,
                "query_pairs": parse_qsl(url.query, keep_blank_values=True),
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_raw": raw.decode("utf-8", "replace"),
                "body": parsed,
            }
        )
        if reply.delay:
            time.sleep(reply.delay)
        payload = reply.encoded()
        try:
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout scenario)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # keep the capture output clean


def describe(value: Any) -> Any:
    """What the SDK returned, as JSON: its dict form plus its Python type."""
    if value is None:
        return None
    if hasattr(value, "to_dict"):
        return {"python_type": type(value).__name__, "to_dict": value.to_dict()}
    return {"python_type": type(value).__name__, "repr": repr(value)}


def probe(value: Any, names: list[str]) -> dict[str, Any]:
    """Reading each attribute as application code would: the value or the exception."""
    found: dict[str, Any] = {}
    for name in names:
        try:
            attr = getattr(value, name)
        except Exception as exc:
            found[name] = f"raises {type(exc).__name__}: {exc}"
            continue
        found[name] = attr.to_dict() if hasattr(attr, "to_dict") else attr
    return found


def describe_error(exc: BaseException) -> dict[str, Any]:
    names = ["status_code", "code", "param", "type", "request_id", "message", "body"]
    details = {name: getattr(exc, name, "<absent>") for name in names}
    return {
        "exception": f"{type(exc).__module__}.{type(exc).__name__}",
        "mro": [cls.__name__ for cls in type(exc).__mro__[:5]],
        "str": str(exc),
        **{
            k: v if isinstance(v, (str, int, dict, list, type(None))) else repr(v)
            for k, v in details.items()
        },
    }


@dataclass
class Scenario:
    name: str
    replies: list[Reply]
    call: Callable[[Any], Any]
    probes: list[str] = field(default_factory=list)
    client_options: dict[str, Any] = field(default_factory=dict)
    sdk_only: str | None = None


def scenarios(sdk: str) -> list[Scenario]:
    created = Reply(200, {"id": TASK_ID})
    text = {"type": "text", "text": "A glass train crosses a snowy bridge --ratio 16:9 --dur 5"}
    image = {"type": "image_url", "image_url": {"url": "https://example.invalid/a.png"}}
    full_kwargs: dict[str, Any] = {
        "model": "dreamina-seedance-2-0-260128",
        "content": [
            text,
            {**image, "role": "reference_image"},
            {
                "type": "video_url",
                "video_url": {"url": "https://example.invalid/v.mp4"},
                "role": "reference_video",
            },
            {
                "type": "audio_url",
                "audio_url": {"url": "https://example.invalid/a.mp3"},
                "role": "reference_audio",
            },
        ],
        "safety_identifier": "user-4f2a",
        "callback_url": "https://example.invalid/hook",
        "return_last_frame": True,
        "service_tier": "default",
        "execution_expires_after": 3600,
        "priority": 5,
        "generate_audio": True,
        "draft": False,
        "camera_fixed": False,
        "watermark": True,
        "seed": 42,
        "resolution": "720p",
        "ratio": "16:9",
        "duration": 5,
        "output_format": "mp4",
    }
    if sdk == "volcengine":  # tools exist in the Volcengine SDK only, for Volcengine 2.0 models
        full_kwargs["model"] = "doubao-seedance-2-0-260128"
        full_kwargs["tools"] = [{"type": "web_search"}]
    frames_kwargs = {
        "model": "seedance-1-0-pro-250528",
        "content": [
            {"type": "text", "text": "360 degree orbit"},
            {**image, "role": "first_frame"},
            {
                "type": "image_url",
                "image_url": {"url": "https://example.invalid/b.png"},
                "role": "last_frame",
            },
        ],
        "frames": 121,
        "seed": -1,
    }
    tasks = "content_generation.tasks"

    def on(client: Any) -> Any:
        target = client
        for part in tasks.split("."):
            target = getattr(target, part)
        return target

    task_fields = [
        "id",
        "model",
        "status",
        "content",
        "usage",
        "error",
        "seed",
        "duration",
        "frames",
        "created_at",
        "priority",
        "output_format",
        "tools",
    ]
    error_429 = ark_error("TooManyRequests", "QuotaExceeded", "The request has exceeded the quota.")
    error_500 = ark_error(
        "InternalServerError",
        "InternalServiceError",
        "The service encountered an unexpected internal error. Please retry later.",
    )
    invalid = ark_error(
        "BadRequest",
        "InvalidParameter",
        "The parameter `content` specified in the request is not valid: role must be specified "
        "for image contents.",
        "content",
    )
    minimal = {"model": "dreamina-seedance-2-0-260128", "content": [text]}
    return [
        Scenario(
            "create_minimal",
            [created],
            lambda c: on(c).create(**minimal),
            ["id", "safety_identifier"],
        ),
        Scenario("create_all_parameters", [created], lambda c: on(c).create(**full_kwargs)),
        Scenario("create_frames_first_last", [created], lambda c: on(c).create(**frames_kwargs)),
        Scenario(
            "create_extra_body_and_headers",
            [created],
            lambda c: on(c).create(
                **minimal,
                extra_body={"custom_field": 1, "seed": 7},
                extra_headers={"X-Trace-Id": "trace-1"},
                extra_query={"debug": "1"},
            ),
        ),
        Scenario(
            "create_answer_201",
            [Reply(201, {"id": TASK_ID})],
            lambda c: on(c).create(**minimal),
            ["id"],
        ),
        Scenario(
            "create_answer_extra_fields",
            [Reply(200, {"id": TASK_ID, "status": "queued"})],
            lambda c: on(c).create(**minimal),
            ["id", "status"],
        ),
        Scenario(
            "get_succeeded",
            [Reply(200, TASK_SUCCEEDED)],
            lambda c: on(c).get(task_id=TASK_SUCCEEDED["id"]),
            task_fields,
        ),
        Scenario(
            "get_queued_minimal_fields",
            [Reply(200, TASK_QUEUED)],
            lambda c: on(c).get(task_id=TASK_ID),
            task_fields,
        ),
        Scenario(
            "get_failed",
            [Reply(200, TASK_FAILED)],
            lambda c: on(c).get(task_id=TASK_ID),
            task_fields,
        ),
        Scenario(
            "get_wrong_types_and_unknown_fields",
            [
                Reply(
                    200,
                    {
                        "id": TASK_ID,
                        "status": "running",
                        "created_at": "yesterday",
                        "usage": None,
                        "brand_new": {"x": 1},
                    },
                )
            ],
            lambda c: on(c).get(task_id=TASK_ID),
            ["created_at", "usage", "brand_new"],
        ),
        Scenario(
            "get_id_needing_escape",
            [Reply(200, TASK_QUEUED)],
            lambda c: on(c).get(task_id="cgt-a b/c?d"),
        ),
        Scenario(
            "list_all_filters",
            [Reply(200, {"total": 2, "items": [TASK_SUCCEEDED, TASK_QUEUED]})],
            lambda c: on(c).list(
                page_num=2,
                page_size=3,
                status="succeeded",
                task_ids=["cgt-20250730114109-xtv7k", "cgt-20250730114109-jfd6d"],
                model="ep-20260111161309-2gz8b",
                service_tier="flex",
            ),
            ["total", "items"],
        ),
        Scenario(
            "list_no_arguments",
            [Reply(200, {"total": 0, "items": []})],
            lambda c: on(c).list(),
            ["total", "items"],
        ),
        Scenario(
            "list_falsy_paging_and_single_id",
            [Reply(200, {"total": 0, "items": []})],
            lambda c: on(c).list(page_num=0, page_size=0, task_ids="cgt-single"),
        ),
        Scenario(
            "list_answer_without_total",
            [Reply(200, {"items": []})],
            lambda c: on(c).list(),
            ["total", "items"],
        ),
        Scenario(
            "delete_answer_empty_object", [Reply(200, {})], lambda c: on(c).delete(task_id=TASK_ID)
        ),
        Scenario(
            "delete_answer_204_no_body", [Reply(204, None)], lambda c: on(c).delete(task_id=TASK_ID)
        ),
        Scenario(
            "error_400_invalid_parameter", [Reply(400, invalid)], lambda c: on(c).create(**minimal)
        ),
        Scenario(
            "error_401_authentication",
            [
                Reply(
                    401,
                    ark_error(
                        "Unauthorized",
                        "AuthenticationError",
                        "The API key or AK/SK in the request is missing or invalid.",
                    ),
                )
            ],
            lambda c: on(c).get(task_id=TASK_ID),
        ),
        Scenario(
            "error_403_account_overdue",
            [
                Reply(
                    403,
                    ark_error(
                        "Forbidden",
                        "AccountOverdueError",
                        "The request failed because your account has an overdue balance.",
                    ),
                )
            ],
            lambda c: on(c).create(**minimal),
        ),
        Scenario(
            "error_404_not_found",
            [
                Reply(
                    404,
                    ark_error(
                        "NotFound",
                        "ModelNotOpen",
                        "Your account 2100000000 has not activated the model "
                        "dreamina-seedance-2-0.",
                    ),
                )
            ],
            lambda c: on(c).create(**minimal),
        ),
        Scenario(
            "error_429_every_attempt",
            [Reply(429, error_429, {"Retry-After": "20"})] * 4,
            lambda c: on(c).create(**minimal),
        ),
        Scenario(
            "error_429_then_success",
            [Reply(429, error_429), created],
            lambda c: on(c).create(**minimal),
            ["id"],
        ),
        Scenario(
            "error_500_every_attempt",
            [Reply(500, error_500)] * 4,
            lambda c: on(c).get(task_id=TASK_ID),
        ),
        Scenario(
            "error_503_every_attempt",
            [Reply(503, {"error": {"code": "ServiceUnavailable", "message": "busy"}})] * 4,
            lambda c: on(c).list(),
        ),
        Scenario(
            "error_409_every_attempt",
            [Reply(409, ark_error("Conflict", "Conflict", "conflict"))] * 4,
            lambda c: on(c).delete(task_id=TASK_ID),
        ),
        Scenario(
            "error_500_with_x_should_retry_false",
            [Reply(500, error_500, {"x-should-retry": "false"})] * 4,
            lambda c: on(c).get(task_id=TASK_ID),
        ),
        Scenario(
            "error_400_with_x_should_retry_true",
            [Reply(400, invalid, {"x-should-retry": "true"})] * 4,
            lambda c: on(c).create(**minimal),
        ),
        Scenario(
            "error_502_html_body",
            [Reply(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"})] * 4,
            lambda c: on(c).get(task_id=TASK_ID),
        ),
        Scenario(
            "error_400_top_level_message_only",
            [Reply(400, {"message": "bad request"})],
            lambda c: on(c).create(**minimal),
        ),
        Scenario("error_400_empty_body", [Reply(400, None)], lambda c: on(c).create(**minimal)),
        Scenario(
            "success_body_not_json",
            [Reply(200, b"not json", {"Content-Type": "text/plain"})],
            lambda c: on(c).get(task_id=TASK_ID),
        ),
        Scenario(
            "timeout_every_attempt",
            [Reply(200, TASK_QUEUED, delay=1.2)] * 4,
            lambda c: on(c).get(task_id=TASK_ID),
            client_options={"timeout": 0.4},
        ),
        Scenario(
            "max_retries_zero",
            [Reply(429, error_429)] * 2,
            lambda c: on(c).create(**minimal),
            client_options={"max_retries": 0},
        ),
    ]


def run_scenario(module: Any, base_url: str, scenario: Scenario) -> dict[str, Any]:
    client = module.Ark(base_url=base_url, api_key=API_KEY, **scenario.client_options)
    SCRIPT.load(scenario.replies)
    outcome: dict[str, Any] = {"scenario": scenario.name}
    if scenario.client_options:
        outcome["client_options"] = scenario.client_options
    started = time.monotonic()
    try:
        result = scenario.call(client)
    except Exception as exc:
        outcome["raised"] = describe_error(exc)
    else:
        outcome["returned"] = describe(result)
        if scenario.probes:
            outcome["attributes"] = probe(result, scenario.probes)
    outcome["elapsed_s"] = round(time.monotonic() - started, 3)
    with SCRIPT.lock:
        outcome["requests"] = list(SCRIPT.requests)
    outcome["attempts"] = len(outcome["requests"])
    times = [r["t"] for r in outcome["requests"]]
    outcome["gaps_s"] = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    return outcome


def client_facts(module: Any, base_url: str) -> dict[str, Any]:
    client = module.Ark(base_url=base_url, api_key=API_KEY)
    constants = importlib.import_module(f"{module.__name__}._constants")
    return {
        "default_base_url": constants.BASE_URL,
        "client_timeout": repr(client.timeout),
        "client_max_retries": client.max_retries,
        "user_agent": client.user_agent,
        "initial_retry_delay": constants.INITIAL_RETRY_DELAY,
        "max_retry_delay": constants.MAX_RETRY_DELAY,
    }


def installed_versions(distributions: tuple[str, ...]) -> dict[str, str]:
    """The version of each distribution that is installed (the runtime alone is enough)."""
    found: dict[str, str] = {}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sdk", choices=sorted(SDKS), required=True)
    parser.add_argument("--out", required=True, help="where to write the capture (JSON)")
    parser.add_argument("--only", nargs="*", help="run only these scenarios")
    args = parser.parse_args(argv)
    module_name, distributions = SDKS[args.sdk]
    module = importlib.import_module(module_name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), CaptureHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}/api/v3"
    try:
        runs = [
            run_scenario(module, base_url, s)
            for s in scenarios(args.sdk)
            if not args.only or s.name in args.only
        ]
        capture = {
            "sdk": args.sdk,
            "module": module_name,
            "versions": installed_versions(distributions),
            "python": sys.version.split()[0],
            "base_url": base_url,
            "client": client_facts(module, base_url),
            "scenarios": runs,
        }
    finally:
        server.shutdown()
        server.server_close()
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(capture, handle, indent=2, ensure_ascii=False, default=repr)
    for run in runs:
        verdict = run.get("raised", {}).get("exception", "ok")
        print(f"{run['scenario']:<40} attempts={run['attempts']} gaps={run['gaps_s']} {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
