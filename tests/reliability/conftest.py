"""Shared pieces of the reliability suite (issue #8).

- ``figures``: the counts each test reports (inputs tried, faults survived,
  requests under load, nothing lost), printed in pytest's closing summary so
  that ``make test`` shows them.
- ``Answer``, ``send`` (through the WSGI app) and ``send_raw`` (bytes over a
  socket to a real server): one request and what came back.
- ``undocumented(answer)``: everything in one HTTP answer that spec/ and
  DECISIONS.md do not document (status, content type, envelope, schema).
- ``ledger_violations(control)``: the audit of balances, charges and tasks,
  read through the control API of any simulator (in-process or a server).
- ``lifted_config()`` / ``LIFTED_FLAGS``: a simulator whose rate limits and
  balances never get in a fuzzer's way.
- ``Listener``: a TCP receiver on 127.0.0.1 that answers webhooks well or
  badly (hangs, resets, trickles, redirects) and records what reached it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shlex
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

import pytest
import requests
from flask.testing import FlaskClient

from mockserver.config import AccountSeed, Config
from mockserver.engine.model import COMPLETED, FAILED, LIFECYCLE
from mockserver.spec import PROVIDERS, Operation, ProviderSpec, load_provider
from tests.server import Server

#: the demo key of each provider (what ``serve`` creates when given no accounts)
KEYS = {"seedance2ai": "sk_live_demo", "seedanceapi": "sa_demo_key"}
SPECS = {name: load_provider(name) for name in PROVIDERS}
TIMEOUT = 15

#: rate limits out of the way (a fuzzer sends thousands of requests at one instant)
LIFTED = {
    "seedance2ai": {
        "rate_limits": {"requests": {"limit": 10**9}, "media_validations": {"limit": 10**9}}
    }
}
LIFTED_FLAGS = (
    "--set",
    f"seedance2ai.rate_limits.requests.limit={10**9}",
    "--set",
    f"seedance2ai.rate_limits.media_validations.limit={10**9}",
)


def lifted_config(**changes: Any) -> Config:
    """A manual-clock simulator with no rate limit, no failed-auth limit and a
    balance no fuzzer can spend, on the demo keys."""
    accounts = tuple(AccountSeed(p, "fuzz", 10**12, (key,)) for p, key in KEYS.items())
    settings: dict[str, Any] = {
        "clock": "manual",
        "seed": 8,
        "background": False,
        "clock_start": "2026-06-03T10:00:00Z",
        "auth_failure_limit": 0,
        "overrides": LIFTED,
        "accounts": accounts,
    }
    return Config(**{**settings, **changes})


# figures -------------------------------------------------------------------------------


@dataclass
class Figures:
    """One summary line per test (or family of tests) that counts something."""

    lines: dict[str, str] = field(default_factory=dict)
    totals: dict[str, Counter[str]] = field(default_factory=dict)

    def report(self, name: str, line: str) -> None:
        self.lines[name] = line

    def add(self, name: str, template: str, **counts: int) -> None:
        """Add ``counts`` to the running totals of ``name``; its line is ``template``
        filled with the totals (for parametrized tests that share one line)."""
        totals = self.totals.setdefault(name, Counter())
        totals.update(counts)
        self.lines[name] = template.format(**totals)


_FIGURES = pytest.StashKey[Figures]()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    return request.config.stash.setdefault(_FIGURES, Figures())


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    found = config.stash.get(_FIGURES, None)
    if found is None or not found.lines:
        return
    terminalreporter.section("reliability figures (issue #8)")
    for line in found.lines.values():
        terminalreporter.write_line(line)


# answers and what is documented ----------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One request and the answer it got, as bytes on the wire would show them."""

    method: str
    path: str  # as sent, percent-encoding kept, without the query
    query: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    request_headers: Mapping[str, str] = field(default_factory=dict)
    request_body: bytes = b""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def json(self) -> Any:
        return json.loads(self.body)

    def curl(self, base: str = "http://127.0.0.1:8000") -> str:
        url = base + self.path + (f"?{self.query}" if self.query else "")
        parts = ["curl", "-si", "-X", self.method, url]
        for name, value in self.request_headers.items():
            parts += ["-H", f"{name}: {value}"]
        if self.request_body:
            shown = self.request_body[:300].decode("latin-1")
            parts += ["--data-binary", shown + ("..." if len(self.request_body) > 300 else "")]
        return shlex.join(parts)

    def describe(self) -> str:
        query = f"?{self.query[:80]}" if self.query else ""
        return (
            f"{self.method} {self.path[:120]}{query} -> {self.status} "
            f"{self.content_type or '(no content type)'}: {self.body[:200]!r}"
        )


def send(
    client: FlaskClient,
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    remote_addr: str = "127.0.0.1",
) -> Answer:
    """One request through the app's WSGI interface, kept as an Answer."""
    response = client.open(
        path,
        method=method,
        query_string=query,
        headers=dict(headers or {}),
        data=body,
        environ_base={"REMOTE_ADDR": remote_addr},
    )
    return Answer(
        method,
        path,
        query,
        response.status_code,
        dict(response.headers),
        response.get_data(),
        dict(headers or {}),
        body,
    )


@dataclass(frozen=True)
class Probe:
    """One request to send: everything ASCII on the wire except header values (latin-1)."""

    method: str
    path: str  # percent-encoded
    query: str = ""  # percent-encoded
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunked: bool = False  # over a socket: Transfer-Encoding: chunked instead of Content-Length


def to_wire(probe: Probe, host: str) -> bytes:
    """``probe`` as HTTP/1.1 bytes, its body framed by Content-Length or in chunks."""
    target = probe.path + (f"?{probe.query}" if probe.query else "")
    lines = [f"{probe.method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in probe.headers.items()]
    if probe.chunked:
        lines.append("Transfer-Encoding: chunked")
        size = max(1, len(probe.body) // 3)
        pieces = [probe.body[i : i + size] for i in range(0, len(probe.body), size)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(probe.body)}")
        body = probe.body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def send_raw(
    server: Server, probe: Probe, wire: bytes | None = None, *, half_close: bool = False
) -> Answer:
    """``probe`` (or exactly the bytes ``wire``) over a new connection, then the write
    side shut when ``half_close`` (the client sends nothing more); the parsed answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        # the server may answer and close before it has read a huge body
        with contextlib.suppress(OSError):
            sock.sendall(wire if wire is not None else to_wire(probe, f"127.0.0.1:{server.port}"))
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock, method=probe.method)
        try:
            response.begin()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:  # no answer at all
            return Answer(probe.method, probe.path, probe.query, 0, {}, repr(exc).encode())
        return Answer(
            probe.method,
            probe.path,
            probe.query,
            response.status,
            dict(response.getheaders()),
            body,
            probe.headers,
            probe.body,
        )


@dataclass(frozen=True)
class Route:
    """Where a request lands in the spec: a provider, maybe an operation."""

    spec: ProviderSpec
    operation: Operation | None  # None: no documented operation at this path
    method_allowed: bool


def _template(path: str) -> re.Pattern[str]:
    pieces = re.split(r"\{[^}]+\}", path)
    return re.compile("[^/]+".join(re.escape(p) for p in pieces) + r"\Z")


def route_of(method: str, path: str) -> Route | None:
    """The provider (and operation) whose paths ``path`` falls under, if any."""
    decoded = unquote(path, errors="replace")
    for spec in SPECS.values():
        if not any(decoded == p or decoded.startswith(p + "/") for p in spec.path_prefixes):
            continue
        at_path = [op for op in spec.operations.values() if _template(op.path).match(decoded)]
        methods = {op.method for op in at_path} | (
            {"HEAD"} if any(op.method == "GET" for op in at_path) else set()
        )
        chosen = next((op for op in at_path if op.method == method), None)
        chosen = chosen or next((op for op in at_path if op.method == "GET"), None)
        return Route(spec, chosen or (at_path[0] if at_path else None), method in methods)
    return None


#: DECISIONS C10: past its ceilings (request line, header lines) the HTTP server
#: answers by itself, in the provider's envelope with its bad-request code
SERVER_CEILINGS = frozenset({414, 431})


def documented_statuses(route: Route, unparsed: bool = False) -> set[int]:
    """Every status spec/ and DECISIONS.md allow for a request on ``route``.

    C10 (URL or header over 8 KB: 400; body over 1 MiB: 413; with ``unparsed``,
    the server's own 414 and 431) holds on every provider path, C9 (429 after 60
    failed authentications) on every operation, A18 (unknown path 404, wrong
    method 405) everywhere else.
    """
    ceilings = SERVER_CEILINGS if unparsed else set()
    if route.operation is None:
        return {400, 404, 413} | ceilings
    if not route.method_allowed:
        return {400, 405, 413} | ceilings
    return {int(status) for status in route.operation.responses} | {400, 413, 429} | ceilings


def _codes_for(spec: ProviderSpec, status: int) -> set[str]:
    if status in SERVER_CEILINGS:
        status = 400
    table = {kind.code for kind in spec.errors.values()}
    codes = {kind.code for kind in spec.errors.values() if kind.status == status}
    if status == 400:
        codes |= spec.error_codes() - table  # the per-field codes (x-error-code)
    return codes


def _code_path(schema: Mapping[str, Any], path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where the field marked ``x-role: error-code`` sits in an error body."""
    if schema.get("x-role") == "error-code":
        return path
    for name, sub in schema.get("properties", {}).items():
        found = _code_path(sub, (*path, name))
        if found is not None:
            return found
    return None


def _status_fields(schema: Mapping[str, Any]) -> list[str]:
    """Top-level integer fields of an error body that mirror the HTTP status."""
    return [
        name
        for name, sub in schema.get("properties", {}).items()
        if sub.get("type") == "integer" and sub.get("minimum", 0) >= 400
    ]


def _envelope_problems(spec: ProviderSpec, answer: Answer, body: Any) -> list[str]:
    envelope = spec.validator("Error")
    violations = envelope.violations(body)
    if violations:
        return [f"error body is not the {spec.name} envelope: {violations[0].message}"]
    allowed = _codes_for(spec, answer.status)
    code = body
    for name in _code_path(envelope.schema) or ("error", "code"):
        code = code[name]
    for name in _status_fields(envelope.schema):
        if body[name] != answer.status:
            return [f"body {name} {body[name]} is not the HTTP status {answer.status}"]
    if spec.name == "seedanceapi" and not body["message"].startswith(f"{code}: "):
        return [f"message does not start with {code!r}: {body['message'][:80]!r}"]
    if code not in allowed:
        return [f"error code {code!r} is not documented for {answer.status} ({sorted(allowed)})"]
    return []


def _retry_after_problems(spec: ProviderSpec, answer: Answer) -> list[str]:
    if not any(k.retry_after and k.status == answer.status for k in spec.errors.values()):
        return []
    value = answer.header("Retry-After")
    if value is None or spec.validator("RetryAfterHeader").violations(value):
        return [f"{answer.status} without a whole-seconds Retry-After (got {value!r})"]
    return []


def _body_problems(route: Route, answer: Answer) -> list[str]:
    spec = route.spec
    try:
        body = answer.json()
    except ValueError:
        return [f"body is not JSON: {answer.body[:120]!r}"]
    if answer.status >= 400:
        return _envelope_problems(spec, answer, body) + _retry_after_problems(spec, answer)
    response = route.operation.responses.get(str(answer.status), {}) if route.operation else {}
    if "schema" not in response:
        return [f"{answer.status} has no documented body"]
    violations = spec.validator(response["schema"]).violations(body)
    return [f"body breaks {response['schema']}: {v.message}" for v in violations[:3]]


def undocumented(answer: Answer, *, unparsed: bool = False) -> list[str]:
    """What in ``answer`` spec/ does not document; [] when it is a documented answer.

    On a provider path: a documented status, ``application/json``, and the
    provider's error envelope (with a code of that status and Retry-After where
    due) or the operation's success schema. Anywhere: never a 5xx, an HTML page
    or a stack trace. ``unparsed``: bytes a real server may have failed to parse,
    so its own 414 and 431 are documented too (DECISIONS C10).
    """
    problems = []
    if answer.status < 100:
        problems.append(f"no HTTP answer ({answer.body[:100]!r})")
    if answer.status >= 500:
        problems.append(f"server error {answer.status}")
    if answer.content_type == "text/html" or b"<html" in answer.body[:200].lower():
        problems.append("an HTML page")
    if b"Traceback (most recent call last)" in answer.body:
        problems.append("a stack trace")
    route = route_of(answer.method, answer.path)
    if route is None:
        return problems
    if answer.status not in documented_statuses(route, unparsed):
        problems.append(f"status {answer.status} is not documented for this route")
    if answer.content_type != "application/json":
        problems.append(f"Content-Type {answer.content_type or '(none)'}, not application/json")
    elif answer.method != "HEAD":
        problems += _body_problems(route, answer)
    return problems


# the control plane and the ledger audit ----------------------------------------------------


class ControlPlane(Protocol):
    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any: ...


class InProcessControl:
    """The control API of an in-process app."""

    def __init__(self, client: FlaskClient, token: str | None = None) -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self._client.open(
            "/__admin" + path, method=method, json=body, headers=self._headers
        )
        assert response.status_code == expect, f"{method} {path}: {response.get_data()!r}"
        return response.get_json()


class HttpControl:
    """The control API of a running server."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = requests.request(
            method,
            self.base_url + "/__admin" + path,
            json=body,
            headers=self._headers,
            timeout=TIMEOUT,
        )
        assert response.status_code == expect, f"{method} {path}: {response.text}"
        return response.json()


def all_tasks(control: ControlPlane) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in control.call("GET", "/tasks?limit=100000000")["tasks"]}


def _billed_on_completion(provider: str) -> bool:
    """Whether ``provider`` charges when a task completes (then a balance may also
    end below zero: ark, DECISIONS D13) rather than when it is submitted."""
    spec = SPECS.get(provider)
    return spec is not None and spec.profile.charge == "on_completion"


def _charges_due(task: Mapping[str, Any]) -> int:
    """One charge from the submission, or, billed on completion, once completed."""
    if _billed_on_completion(task["provider"]):
        return int(task["status"] == COMPLETED)
    return 1


def ledger_violations(control: ControlPlane) -> list[str]:
    """Every break of the money invariants, read through the control API.

    For each account: opening + the sum of its entries is its balance, every
    entry's running balance is right and never below zero (unless its provider
    bills on completion). Every charge names an existing task of that account
    for exactly its price; every task has exactly the charges its provider's
    billing makes due; refunds only for failed tasks, never above the charge.
    """
    tasks = all_tasks(control)
    problems = [
        f"task {t['id']} has status {t['status']!r}"
        for t in tasks.values()
        if t["status"] not in LIFECYCLE
    ]
    charges: Counter[str] = Counter()
    refunds: Counter[str] = Counter()
    for account in control.call("GET", "/accounts")["accounts"]:
        owner = (account["provider"], account["id"])
        ledger = control.call("GET", "/accounts/{}/{}/ledger".format(*owner))
        running = ledger["opening"]
        for entry in ledger["entries"]:
            running += entry["amount"]
            if entry["balance"] != running or (running < 0 and not _billed_on_completion(owner[0])):
                problems.append(f"{owner}: entry {entry} after a running balance of {running}")
            task = tasks.get(entry["task_id"] or "")
            if entry["kind"] == "charge":
                charges[entry["task_id"]] += 1
                if task is None:
                    problems.append(f"{owner}: charge without its task: {entry}")
                elif (task["provider"], task["account"]) != owner or -entry["amount"] != task[
                    "credits"
                ]:
                    problems.append(f"{owner}: charge {entry} does not match task {task['id']}")
            elif entry["kind"] == "refund":
                refunds[entry["task_id"]] += entry["amount"]
        if not ledger["balance"] == running == account["credits"]:
            problems.append(
                f"{owner}: balance {account['credits']} / {ledger['balance']} "
                f"but opening + entries = {running}"
            )
    for task in tasks.values():
        if charges[task["id"]] != _charges_due(task):
            problems.append(
                f"task {task['id']} ({task['status']}) has {charges[task['id']]} charges"
            )
        if refunds[task["id"]] != task["refunded"] or task["refunded"] > task["credits"]:
            problems.append(
                f"task {task['id']}: refunded {task['refunded']}, ledger {refunds[task['id']]}"
            )
        if task["refunded"] and task["status"] != FAILED:
            problems.append(f"task {task['id']} is {task['status']} but was refunded")
    return problems


# a receiver that misbehaves on purpose ---------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic() when the request had arrived in full
    request: bytes  # the request head and body as received


class Listener:
    """A TCP server on 127.0.0.1 that answers each HTTP request with ``behaviour``:

    "ok" (200), "hang" (never answers, until the listener stops), "reset" (a TCP
    RST instead of an answer), "trickle" (a 200, one byte every 0.3 s) or
    "redirect" (302 to ``location``). Every request that reaches it is kept.
    """

    def __init__(self, behaviour: str = "ok", location: str = "") -> None:
        self.behaviour = behaviour
        self.location = location
        self.arrivals: list[Arrival] = []
        self._changed = threading.Condition()
        self._stopped = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def wait_for(self, count: int, timeout: float) -> list[Arrival]:
        """The arrivals once there are ``count`` of them (or when ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.arrivals) < count and time.monotonic() < deadline:
                self._changed.wait(max(0.0, deadline - time.monotonic()))
            return list(self.arrivals)

    def __enter__(self) -> Listener:
        accepting = threading.Thread(target=self._accept, daemon=True)
        accepting.start()
        self._threads.append(accepting)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            serving = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            serving.start()
            self._threads.append(serving)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            request = _read_request(conn)
            with self._changed:
                self.arrivals.append(Arrival(time.monotonic(), request))
                self._changed.notify_all()
            self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        if self.behaviour == "hang":
            self._stopped.wait()
        elif self.behaviour == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif self.behaviour == "trickle":
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                if self._stopped.wait(0.3):
                    return
                with contextlib.suppress(OSError):
                    conn.sendall(bytes([byte]))
        elif self.behaviour == "redirect":
            conn.sendall(
                f"HTTP/1.1 302 Found\r\nLocation: {self.location}\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


def _read_request(conn: socket.socket) -> bytes:
    """The head and (Content-Length) body of one HTTP request."""
    conn.settimeout(5)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        wanted = int(match.group(1)) if match else 0
        while len(body) < wanted:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        data = head + b"\r\n\r\n" + body
    return data


@contextlib.contextmanager
def listeners(*behaviours: str) -> Iterator[list[Listener]]:
    """Several Listeners at once, all stopped on exit."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(Listener(b)) for b in behaviours]
