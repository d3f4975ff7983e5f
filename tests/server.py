"""Start ``seedance-mock serve`` as a real subprocess for tests that need real HTTP.

``running_server(*args)`` starts ``python -m mockserver serve --port 0 *args``,
reads the base URL from the banner, waits until the control API answers,
yields a :class:`Server`, and on exit stops it with SIGTERM and checks that it
went away cleanly. The server binds 127.0.0.1 on a free port unless ``args``
say otherwise.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Self

import pytest
import requests

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
#: gunicorn's arbiter exits 0 after a graceful SIGTERM or SIGINT shutdown
GRACEFUL_EXIT_CODES = (0,)
BANNER_PREFIX = "seedance-mock listening on "
ENV_PREFIX = "SEEDANCE_MOCK_"


def _drain(stream: IO[str], lines: list[str], changed: threading.Condition) -> None:
    """Keep a pipe empty (a full pipe would block the server) and remember its lines."""
    for line in stream:
        with changed:
            lines.append(line.rstrip("\n"))
            changed.notify_all()
    with changed:
        changed.notify_all()


@dataclass
class Server:
    """A started ``seedance-mock serve`` process."""

    base_url: str
    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def wait_for_stdout(self, text: str, timeout: float = 5.0) -> list[str]:
        """The standard output lines once one of them contains ``text``."""
        return _wait_for_line(self.stdout, self._changed, text, timeout, self.process)

    def output(self) -> str:
        with self._changed:
            return "\n".join(["[stdout]", *self.stdout, "[stderr]", *self.stderr])


def _wait_for_line(
    lines: list[str],
    changed: threading.Condition,
    text: str,
    timeout: float,
    process: subprocess.Popen[str],
) -> list[str]:
    deadline = time.monotonic() + timeout
    exited_at: float | None = None
    with changed:
        while not any(text in line for line in lines):
            now = time.monotonic()
            if exited_at is None and process.poll() is not None:
                exited_at = now  # give the readers a moment to drain what is left
            if now >= deadline or (exited_at is not None and now - exited_at > 1.0):
                raise AssertionError(f"no output line containing {text!r} within {timeout} s")
            changed.wait(0.1)
        return list(lines)


def clean_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without SEEDANCE_MOCK_* settings, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    return {**base, **(env or {})}


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mockserver", "serve", "--port", "0", *args]


def _wait_until_answering(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"seedance-mock exited with {server.process.returncode}\n{server.output()}")
        try:
            requests.get(server.url("/__admin/clock"), timeout=1)
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"seedance-mock did not answer within {START_TIMEOUT} s\n{server.output()}"
                )
            time.sleep(0.05)  # polling a starting process, not waiting for a task


def _read_base_url(server: Server) -> str:
    try:
        lines = _wait_for_line(
            server.stdout, server._changed, BANNER_PREFIX, START_TIMEOUT, server.process
        )
    except AssertionError:
        pytest.fail(f"seedance-mock printed no banner within {START_TIMEOUT} s\n{server.output()}")
    first = next(line for line in lines if line.startswith(BANNER_PREFIX))
    return first.removeprefix(BANNER_PREFIX).strip()


def stop(server: Server, sig: signal.Signals = signal.SIGTERM) -> int:
    """Send ``sig`` and wait for the process to end; fail unless it ends cleanly in time."""
    process = server.process
    if process.poll() is None:
        process.send_signal(sig)
    try:
        code = process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"seedance-mock ignored {sig.name} for {STOP_TIMEOUT} s\n{server.output()}")
    return code


@contextlib.contextmanager
def running_server(*args: str, env: Mapping[str, str] | None = None) -> Iterator[Server]:
    """A ``seedance-mock serve`` subprocess for the ``with`` block, stopped with SIGTERM."""
    process = subprocess.Popen(
        serve_command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environment(env),
        start_new_session=True,  # its own process group: the cleanup below reaches the workers
    )
    server = Server("", process)
    readers = [
        threading.Thread(target=_drain, args=(pipe, lines, server._changed), daemon=True)
        for pipe, lines in ((process.stdout, server.stdout), (process.stderr, server.stderr))
    ]
    for reader in readers:
        reader.start()
    try:
        server.base_url = _read_base_url(server)
        _wait_until_answering(server)
        yield server
        code = stop(server)
        assert code in GRACEFUL_EXIT_CODES, (
            f"seedance-mock exited with {code} after SIGTERM\n{server.output()}"
        )
    finally:
        # Whatever happened, no worker outlives the test (one orphaned by a killed
        # arbiter would keep the port, and the pipes the readers are blocked on).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for reader in readers:
            reader.join(timeout=5)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


# a webhook receiver ----------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LocalHTTPServer:
    """A threaded HTTP server on a free port of 127.0.0.1, serving while in its
    ``with`` block; a subclass hands ``_serve`` its request handler class."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Receiver(LocalHTTPServer):
    """A tiny HTTP server on 127.0.0.1 that records what it receives.

    POSTs are answered with ``statuses`` in turn (then 200), so a test can make
    the first webhook attempt fail; GETs answer ``page``.
    """

    def __init__(self, statuses: tuple[int, ...] = (), page: bytes = b"hello") -> None:
        self.requests: list[Received] = []
        self._statuses = list(statuses)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.command, self.path, dict(self.headers.items()), body)
                    )

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self._record()
                with receiver._lock:
                    status = receiver._statuses.pop(0) if receiver._statuses else 200
                self._answer(status, b"ok" if status < 300 else b"try again")

            def do_GET(self) -> None:
                self._record()
                self._answer(200, page)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output quiet

        self._serve(Handler)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def posts(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]
