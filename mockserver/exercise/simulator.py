"""A ``seedance-mock serve`` subprocess for the length of an exercise run.

It runs in its own process group on a free loopback port, on a real clock
sped up ``time_scale`` times; the base URL is read from the first line of its
banner. On exit the group is asked to stop, then killed.

A *held* simulator's tasks never end on their own (every provider's task
duration is set to ``HELD_SECONDS`` with ``--set``): the scenarios that decide
a task's fate through the control API run there, so however late their call
comes, the task has not ended first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import requests

from mockserver.spec import PROVIDERS

BANNER = "seedance-mock listening on "
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
#: a scenario's requests all fit: a client looping without pause for a minute is cut short
JOURNAL_SIZE = 20000
#: a held simulator's task duration (simulated seconds): some 31 years
HELD_SECONDS = 10**9


class SimulatorFailed(RuntimeError):
    """The simulator did not start (the message holds its output)."""


@dataclass
class Simulator:
    base_url: str
    process: subprocess.Popen[str]
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=200))

    def output(self) -> str:
        return "\n".join(self.lines)


def serve_command(time_scale: float, profile: str, held: bool = False) -> list[str]:
    command = [
        sys.executable, "-m", "mockserver.cli", "serve",
        "--host", "127.0.0.1", "--port", "0",
        "--clock", "real", "--time-scale", repr(time_scale),
        "--profile", profile, "--journal-size", str(JOURNAL_SIZE),
    ]  # fmt: skip
    for provider in PROVIDERS if held else ():
        for bound in ("min_seconds", "max_seconds"):
            command += ["--set", f"{provider}.timing.{bound}={HELD_SECONDS}"]
    return command


def _environment() -> dict[str, str]:
    """Ours, without SEEDANCE_MOCK_* (they configure serve, and the scenarios do that)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SEEDANCE_MOCK_")}


def _keep_reading(stream: IO[str], lines: deque[str]) -> None:
    """Keep the pipe empty (a full one would block the server), remembering the tail."""
    for line in stream:
        lines.append(line.rstrip("\n"))


def _read_banner(simulator: Simulator, stdout: IO[str]) -> str:
    found: list[str] = []

    def first_line() -> None:
        for line in stdout:
            simulator.lines.append(line.rstrip("\n"))
            if line.startswith(BANNER):
                found.append(line.removeprefix(BANNER).strip())
                return

    reader = threading.Thread(target=first_line, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    if not found:
        raise SimulatorFailed(f"seedance-mock serve printed no banner\n{simulator.output()}")
    return found[0]


def _wait_until_answering(simulator: Simulator) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            requests.get(simulator.base_url + "/__admin/clock", timeout=1)
            return
        except requests.ConnectionError:
            if simulator.process.poll() is not None or time.monotonic() > deadline:
                raise SimulatorFailed(
                    f"seedance-mock serve did not answer\n{simulator.output()}"
                ) from None
            time.sleep(0.05)  # a starting process, not simulated time


def _stop(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # workers too, whatever the arbiter did
    process.wait()


@contextlib.contextmanager
def running_simulator(
    time_scale: float, profile: str = "documented", held: bool = False
) -> Iterator[Simulator]:
    """A started simulator for the ``with`` block, stopped (group and all) afterwards."""
    process = subprocess.Popen(
        serve_command(time_scale, profile, held),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_environment(),
        start_new_session=True,
    )
    simulator = Simulator("", process)
    assert process.stdout is not None
    drain = threading.Thread(
        target=_keep_reading, args=(process.stdout, simulator.lines), daemon=True
    )
    try:
        simulator.base_url = _read_banner(simulator, process.stdout)
        drain.start()
        _wait_until_answering(simulator)
        yield simulator
    finally:
        _stop(process)
        if drain.is_alive():
            drain.join(timeout=2)
        process.stdout.close()
