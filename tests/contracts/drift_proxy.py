"""A server that drifts from the contract on purpose, one way at a time.

``DriftProxy(upstream, kind)`` is an HTTP proxy on 127.0.0.1 (a free port) that
forwards every request to ``upstream`` (a ``seedance-mock serve``) and rewrites
the provider answers the way ``kind`` says; ``DriftMiddleware(app, kind)`` does
the same to a WSGI app in this process. What to rewrite is derived from spec/
through contracts.dialect (which operation polls, where the task and its status
sit, where an error keeps its code), so a provider added to spec/ drifts too:

- ``dropped-field``: a polled task loses its first field the schema requires;
- ``wrong-type``: a polled task's first number is sent as a string;
- ``renamed-error-code``: the code of a request the schema refuses (errors
  table ``invalid_request``) comes in the other case;
- ``no-retry-after``: no answer carries Retry-After;
- ``status-backwards``: a task read after it finished reads as it did before;
- ``never-ends``: a task reads as it did before it finished, every time.

The control API (``/__admin``) and downloads pass through untouched.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from jsonschema import Draft202012Validator

from contracts.dialect import INVALID, ProviderAPI
from mockserver.spec import PROVIDERS, Operation, load_provider
from tests.server import LocalHTTPServer

DRIFT_KINDS = (
    "dropped-field",
    "wrong-type",
    "renamed-error-code",
    "no-retry-after",
    "status-backwards",
    "never-ends",
)
#: hop-by-hop headers and the ones a rewritten body invalidates
_NOT_FORWARDED = {
    "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
    "proxy-connection", "te", "trailer", "upgrade",
}  # fmt: skip


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as the proxy and the middleware pass it on."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Drift:
    """One way of breaking the contract, applied to every answer of the providers."""

    kind: str
    apis: list[ProviderAPI] = field(
        default_factory=lambda: [
            api for p in PROVIDERS for api in ProviderAPI.lifecycles(load_provider(p))
        ]
    )
    #: status-backwards, never-ends: each task's last answer in its first state,
    #: and the tasks read finished once
    _before: dict[str, bytes] = field(default_factory=dict)
    _finished: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.kind not in (*DRIFT_KINDS, "none"):
            raise ValueError(f"unknown drift {self.kind!r}; choose one of {DRIFT_KINDS}")

    def rewrite(self, method: str, url: str, answer: Answer) -> Answer:
        """``answer`` to ``method url`` as the drifting server gives it."""
        parts = urlsplit(url)
        found = self._route(method, parts.path)
        if found is None or self.kind == "none":
            return answer
        api, op = found
        if self.kind == "no-retry-after":
            return replace(
                answer, headers=[h for h in answer.headers if h[0].lower() != "retry-after"]
            )
        if self.kind in ("status-backwards", "never-ends") and op is api.poll:
            task_id = api.polled_id(parts.path, dict(parse_qsl(parts.query)))
            return self._backwards(api, task_id, answer)
        body = _json(answer)
        if body is None:
            return answer
        edit = _EDITS.get(self.kind)
        edited = edit(api, op, answer.status, copy.deepcopy(body)) if edit else body
        return answer if edited == body else replace(answer, body=json.dumps(edited).encode())

    def _route(self, method: str, path: str) -> tuple[ProviderAPI, Operation] | None:
        """The lifecycle and operation a request calls (the lifecycle it is part
        of, else the provider's first)."""
        found = [(api, op) for api in self.apis if (op := api.operation_at(method, path))]
        own = [(api, op) for api, op in found if op in (api.submit, api.poll)]
        return next(iter(own or found), None)

    def _backwards(self, api: ProviderAPI, task_id: str | None, answer: Answer) -> Answer:
        task = api.task(_json(answer)) if answer.status // 100 == 2 else None
        if task is None or task_id is None:
            return answer
        with self._lock:
            if task.get(api.status_field) == api.states[0]:
                self._before[task_id] = answer.body
                return answer
            seen = task_id in self._finished or self.kind == "never-ends"
            if seen and task_id in self._before:
                return replace(answer, body=self._before[task_id])
            self._finished.add(task_id)
            return answer


def _json(answer: Answer) -> Any:
    try:
        return json.loads(answer.body)
    except ValueError:
        return None


def _drop_a_required_field(api: ProviderAPI, op: Operation, status: int, body: Any) -> Any:
    task = api.task(body) if op is api.poll and status // 100 == 2 else None
    if task is None:
        return body
    # jsonschema itself: the compiled check reads $ref the draft-7 way
    validator = Draft202012Validator(api.spec.validator(api.success_schema(op)).schema)
    kept = {api.status_field, api.task_id_at[-1], *api.poll_parameter[1:]}
    for name in [n for n in task if n not in kept]:
        value = task.pop(name)
        if not validator.is_valid(body):
            return body
        task[name] = value
    return body


def _number_as_string(api: ProviderAPI, op: Operation, status: int, body: Any) -> Any:
    task = api.task(body) if op is api.poll and status // 100 == 2 else None
    for name, value in (task or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            task[name] = str(value)  # type: ignore[index]
            break
    return body


def _rename_error_code(api: ProviderAPI, op: Operation, status: int, body: Any) -> Any:
    code = api.error_code(body) if status >= 400 else None
    if code == api.spec.errors[INVALID].code:
        holder = body
        for part in api.fields.error_code[:-1]:
            holder = holder[part]
        holder[api.fields.error_code[-1]] = code.swapcase()
    return body


_EDITS: dict[str, Callable[[ProviderAPI, Operation, int, Any], Any]] = {
    "dropped-field": _drop_a_required_field,
    "wrong-type": _number_as_string,
    "renamed-error-code": _rename_error_code,
}


# in this process ------------------------------------------------------------------------
class Rewrite:
    """WSGI middleware: ``edit(environ, answer)`` rewrites every answer of ``app``."""

    def __init__(self, app: Callable[..., Any], edit: Callable[[dict[str, Any], Answer], Answer]):
        self.app, self.edit = app, edit

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.update(status=status, headers=headers)
            return lambda _data: None

        chunks = self.app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        status, _, reason = str(seen["status"]).partition(" ")
        answer = self.edit(environ, Answer(int(status), list(seen["headers"]), body))
        headers = [(k, v) for k, v in answer.headers if k.lower() != "content-length"]
        start_response(
            f"{answer.status} {reason}", [*headers, ("Content-Length", str(len(answer.body)))]
        )
        return [answer.body]


class DriftMiddleware(Rewrite):
    """A WSGI app answering like ``app`` but drifting the way ``kind`` says."""

    def __init__(self, app: Callable[..., Any], kind: str) -> None:
        self.drift = Drift(kind)
        super().__init__(app, self._rewrite)

    def _rewrite(self, environ: dict[str, Any], answer: Answer) -> Answer:
        query = environ.get("QUERY_STRING", "")
        url = environ["PATH_INFO"] + (f"?{query}" if query else "")
        return self.drift.rewrite(environ["REQUEST_METHOD"], url, answer)


# over HTTP ------------------------------------------------------------------------------
class DriftProxy(LocalHTTPServer):
    """``with DriftProxy(upstream, kind) as proxy``: a drifting server at ``proxy.base_url``."""

    def __init__(self, upstream: str, kind: str = "none") -> None:
        self.upstream = upstream.rstrip("/")
        self.drift = Drift(kind)
        self.requests = 0
        self._local = threading.local()
        self._count = threading.Lock()
        self._serve(_handler(self))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def forward(
        self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> Answer:
        with self._count:
            self.requests += 1
        session = getattr(self._local, "session", None) or requests.Session()
        self._local.session = session
        sent = {k: v for k, v in headers if k.lower() not in _NOT_FORWARDED}
        got = session.request(
            method, self.upstream + target, headers=sent, data=body or None,
            allow_redirects=False, timeout=60,
        )  # fmt: skip
        kept = [(k, v) for k, v in got.headers.items() if k.lower() not in _NOT_FORWARDED]
        return self.drift.rewrite(method, target, Answer(got.status_code, kept, got.content))


def _handler(proxy: DriftProxy) -> type[BaseHTTPRequestHandler]:
    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the suite's session expects
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                answer = proxy.forward(self.command, self.path, self.headers.items(), body)
            except requests.RequestException as exc:
                answer = Answer(502, [("Content-Type", "text/plain")], str(exc).encode())
            self.send_response_only(answer.status)  # upstream's Date and Server go along
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    return Forward
