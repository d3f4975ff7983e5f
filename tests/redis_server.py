"""A real redis-server for the tests: started on a free loopback port in a
temporary directory, stopped at the end, and able to stop and start again on
the same port (a Redis restart).

`make test` installs redis-server (Debian's package). When it is missing the
Redis tests are skipped with a message saying so, except under CI (``CI`` set),
where they fail: CI must never pass by silently skipping them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

_START_SECONDS = 15.0
MISSING = (
    "redis-server is not installed; `make test` installs it (or run: apt-get install redis-server)"
)


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def redis_server_binary() -> str:
    """The redis-server on PATH; skips the test without one (fails it under CI)."""
    found = shutil.which("redis-server")
    if found is None:
        if under_ci():
            pytest.fail(MISSING + " -- CI must run the Redis tests", pytrace=False)
        pytest.skip(MISSING)
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process; ``url`` stays the same across restarts."""

    def __init__(self, binary: str, directory: Path) -> None:
        self._binary = binary
        self.directory = directory
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=2, retry=Retry(NoBackoff(), 0)
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start on ``port`` and wait until it answers PING."""
        command = [
            self._binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.directory),
            "--daemonize", "no", "--loglevel", "warning",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + _START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited at start: {self._log()}")
            with contextlib.suppress(redis.ConnectionError), self.client() as probe:
                if probe.ping():
                    return
            time.sleep(0.02)  # real time: waiting for another process to listen
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING in {_START_SECONDS} s")

    def stop(self, *, save: bool = False) -> None:
        """SHUTDOWN (writing the data first when ``save``, so a restart keeps it)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(redis.RedisError), self.client() as client:
            client.shutdown(save=save, nosave=not save)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self, *, keep_data: bool = True) -> None:
        self.stop(save=keep_data)
        self.start()

    def _log(self) -> str:
        log = self.directory / "redis.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


@contextlib.contextmanager
def running_redis_server() -> Iterator[RedisServer]:
    """A started redis-server, stopped (and its directory removed) afterwards."""
    binary = redis_server_binary()
    with tempfile.TemporaryDirectory(prefix="seedance-mock-redis-") as directory:
        server = RedisServer(binary, Path(directory))
        for attempt in range(3):  # another process may take the free port first
            try:
                server.start()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
                server.port = _free_port()
        try:
            yield server
        finally:
            server.stop()
