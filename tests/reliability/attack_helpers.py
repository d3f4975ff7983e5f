"""Small pieces for tests/reliability/test_attacks.py.

- ``exchange``: exact bytes to a real server, optionally half-closing the write
  side (a client that stops sending), the answer kept as conftest's ``Answer``.
- ``bad_request_problems``: what keeps an answer from being the owning
  provider's documented 400 (status, JSON, envelope, code).
- ``stalled_connections`` / ``timed_gets``: slow clients held open, and normal
  requests timed while they are.
- ``range_problems``: what is wrong with an answer to a ``Range`` request.
- ``integral_floats``: JSON numbers written with a fraction or exponent whose
  value is a whole number (``1000.0``, ``1e3``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import select
import socket
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from tests.reliability.conftest import SPECS, Answer

#: the documented bad-request code of each provider
BAD_REQUEST = {"seedance2ai": "invalid_request", "seedanceapi": "INVALID_REQUEST"}


# raw exchanges ---------------------------------------------------------------------------


def exchange(port: int, wire: bytes, *, half_close: bool = False, timeout: float = 5.0) -> Answer:
    """Send exactly ``wire`` on a new connection (then shut the write side when
    ``half_close``) and read one answer; status 0 when none came."""
    method, target = wire.decode("latin-1").split(" ", 2)[:2]
    path, _, query = target.partition("?")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the server may answer and close early
            sock.sendall(wire)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock, method=method)
        try:
            response.begin()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return Answer(method, path, query, 0, {}, repr(exc).encode())
        return Answer(method, path, query, response.status, dict(response.getheaders()), body)


def message_of(body: Any) -> str:
    """The human message of either provider's error envelope ("" if none)."""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or "")
    return str(body.get("message") or "")


def bad_request_problems(provider: str, answer: Answer) -> list[str]:
    """[] when ``answer`` is ``provider``'s documented 400: application/json,
    its error envelope (not the other provider's) and its bad-request code."""
    problems = [] if answer.status == 400 else [f"status {answer.status}, not 400"]
    if answer.content_type != "application/json":
        return [*problems, f"Content-Type {answer.content_type or '(none)'}: {answer.body[:80]!r}"]
    try:
        body = answer.json()
    except ValueError:
        return [*problems, f"body is not JSON: {answer.body[:80]!r}"]
    violations = SPECS[provider].validator("Error").violations(body)
    if violations:
        return [*problems, f"not {provider}'s envelope ({violations[0].message}): {body}"]
    wanted = BAD_REQUEST[provider]
    if provider == "seedance2ai":
        code = body["error"]["code"]
    else:
        code = body["error"]
        if body["code"] != 400 or body["data"] is not None:
            problems.append(f"body code {body['code']} / data {body['data']!r}")
        if not body["message"].startswith(f"{wanted}: "):
            problems.append(f"message does not start with {wanted!r}: {body['message']!r}")
    if code != wanted:
        problems.append(f"code {code!r}, not {wanted!r}")
    return problems


# slow clients ---------------------------------------------------------------------------------


@contextlib.contextmanager
def stalled_connections(port: int, count: int, sent: bytes) -> Iterator[list[socket.socket]]:
    """``count`` connections that each sent ``sent`` and then nothing; closed on exit."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            held.append(sock)
            sock.sendall(sent)
        yield held
    finally:
        for sock in held:
            sock.close()


def still_open(sock: socket.socket) -> bool:
    """Whether the server has neither closed nor answered this connection yet."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable  # readable: the server closed it (EOF) or answered


@dataclass(frozen=True)
class Timed:
    url: str
    status: int | None  # None: no answer within the timeout
    seconds: float
    error: str = ""


def _timed_get(url: str, headers: Mapping[str, str], timeout: float) -> Timed:
    started = time.monotonic()
    try:
        response = requests.get(url, headers=dict(headers), timeout=timeout)
    except requests.RequestException as exc:
        return Timed(url, None, time.monotonic() - started, type(exc).__name__)
    return Timed(url, response.status_code, time.monotonic() - started)


def timed_gets(calls: list[tuple[str, Mapping[str, str]]], timeout: float) -> list[Timed]:
    """Every GET at once (so a starved server costs one timeout, not one each)."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(_timed_get, url, headers, timeout) for url, headers in calls]
        return [f.result() for f in futures]


# ranges ----------------------------------------------------------------------------------------


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def byteranges(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """The (Content-Range, data) of each part of a multipart/byteranges body."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if found is None:
        return []
    parts = []
    for part in body.split(b"--" + found.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.partition(b"\r\n\r\n")
        content_range = re.search(rb"(?im)^content-range:\s*(.+?)\s*$", head)
        shown = content_range.group(1).decode("latin-1") if content_range else ""
        parts.append((shown, data.removesuffix(b"\r\n")))
    return parts


def range_problems(
    expected: str, status: int, headers: Mapping[str, str], body: bytes, full: bytes
) -> list[str]:
    """What is wrong with one answer to a Range request. ``expected``: "full" (200,
    the whole file), "unsatisfiable" (416, ``bytes */length``), "multi" (206
    byteranges of 0-1 and 4-5, or 200 with the whole file) or "A-B" (206, one range)."""
    seen = _lower(headers)
    size = len(full)
    if status >= 500:
        return [f"server error {status}: {body[:120]!r}"]
    if expected == "full" or (expected == "multi" and status == 200):
        return [] if (status, body) == (200, full) else [f"{status}, {len(body)} bytes, not 200"]
    if expected == "unsatisfiable":
        wanted = f"bytes */{size}"
        if status == 416 and seen.get("content-range") == wanted:
            return []
        return [f"{status} Content-Range {seen.get('content-range')!r}, not 416 {wanted!r}"]
    if expected == "multi":
        parts = byteranges(seen.get("content-type", ""), body)
        wanted_parts = [(f"bytes 0-1/{size}", full[0:2]), (f"bytes 4-5/{size}", full[4:6])]
        if status == 206 and seen.get("content-type", "").startswith("multipart/byteranges"):
            return [] if parts == wanted_parts else [f"206 parts {parts!r}, not {wanted_parts!r}"]
        return [f"{status} {seen.get('content-type')!r}: neither byteranges nor the whole file"]
    start, end = (int(n) for n in expected.split("-"))
    wanted = f"bytes {start}-{end}/{size}"
    if status == 206 and seen.get("content-range") == wanted and body == full[start : end + 1]:
        return []
    return [
        f"{status} Content-Range {seen.get('content-range')!r}, {len(body)} bytes; want {wanted}"
    ]


# numbers ---------------------------------------------------------------------------------------


def integral_floats(text: str) -> list[str]:
    """Every number in the JSON ``text`` written with a fraction or an exponent
    although its value is whole (what a client would parse as a float)."""
    found: list[str] = []

    def keep(literal: str) -> float:
        if float(literal).is_integer():
            found.append(literal)
        return float(literal)

    json.loads(text, parse_float=keep)
    return found
