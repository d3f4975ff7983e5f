"""Run a client once per scenario against one simulator and judge each run.

For each scenario: reset the simulator and arrange the scenario
(:func:`~mockserver.exercise.scenarios.arrange`), start the client with the
base URL and key in its environment (and in its arguments, through the
``{base_url}``-style placeholders), kill it at the time limit, let requests
still held by the server land, then read back what it did
(:mod:`~mockserver.exercise.observe`) and apply the verdict rules.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mockserver.exercise.control import ControlClient
from mockserver.exercise.observe import ClientRun, Observation, observe
from mockserver.exercise.providers import Provider
from mockserver.exercise.scenarios import Arrangement, Scenario, arrange
from mockserver.exercise.settings import Settings
from mockserver.exercise.simulator import JOURNAL_SIZE, running_simulator
from mockserver.exercise.verdicts import RULES, Finding, Rule, judge

#: how much of the client's stdout and stderr a report keeps (the end of each)
OUTPUT_KEPT = 4000
#: the placeholders a command's arguments may hold
PLACEHOLDERS = ("base_url", "provider_base_url", "api_key", "provider", "time_scale")


@dataclass(frozen=True)
class Exercise:
    """What to run, where, and how to judge it."""

    provider: Provider
    command: tuple[str, ...]
    scenarios: tuple[Scenario, ...]
    settings: Settings
    rules: tuple[Rule, ...] = RULES
    profile: str = "documented"


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    observed: Observation
    findings: tuple[Finding, ...]

    @property
    def passed(self) -> bool:
        return not self.findings and not self.observed.problems

    @property
    def verdict(self) -> str:
        """pass, FAIL (the client broke a rule) or ERROR (the scenario was not arranged)."""
        return "ERROR" if self.observed.problems else "pass" if self.passed else "FAIL"


def client_values(base_url: str, provider: Provider, key: str, time_scale: float) -> dict[str, str]:
    """The placeholder values of one scenario."""
    return {
        "base_url": base_url,
        "provider_base_url": base_url + provider.base_path,
        "api_key": key,
        "provider": provider.name,
        "time_scale": f"{time_scale:g}",
    }


def client_environment(values: dict[str, str], provider: Provider) -> dict[str, str]:
    """Ours, plus the simulator's URL and key under the generic and the provider's names."""
    env = dict(os.environ)
    env.update(
        SEEDANCE_MOCK_BASE_URL=values["base_url"],
        SEEDANCE_MOCK_API_KEY=values["api_key"],
        SEEDANCE_MOCK_PROVIDER=provider.name,
        SEEDANCE_MOCK_TIME_SCALE=values["time_scale"],
    )
    env[f"{provider.env_prefix}_BASE_URL"] = values["provider_base_url"]
    env[f"{provider.env_prefix}_API_KEY"] = values["api_key"]
    return env


def client_command(command: Sequence[str], values: dict[str, str]) -> list[str]:
    """``command`` with ``{base_url}``, ``{api_key}``... replaced (other braces kept)."""
    filled = []
    for argument in command:
        text = argument
        for name in PLACEHOLDERS:
            text = text.replace("{" + name + "}", values[name])
        filled.append(text)
    return filled


def _tail(text: str) -> str:
    return text if len(text) <= OUTPUT_KEPT else "…" + text[-OUTPUT_KEPT:]


def run_client(command: list[str], env: dict[str, str], time_limit: float) -> ClientRun:
    """Run ``command`` in its own process group; the whole group is killed when it
    outlives ``time_limit`` (and any leftovers once it has exited)."""
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    killed = False
    try:
        stdout, stderr = process.communicate(timeout=time_limit)
    except subprocess.TimeoutExpired:
        # the client itself may have ended, leaving a child that holds its output open
        killed = process.poll() is None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    seconds = time.monotonic() - started
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return ClientRun(
        command=tuple(command),
        exit_code=None if killed else process.returncode,
        seconds=seconds,
        stdout=_tail(stdout),
        stderr=_tail(stderr),
    )


def _settle(control: ControlClient, arranged: Arrangement, settings: Settings) -> None:
    """Wait for answers the server still holds (a slow answer whose client hung up
    lands later, and may still create a task)."""
    held = {rule for rule, fault in arranged.faults.items() if fault.effect == "latency"}
    fired = held - control.fault_ids()
    deadline = time.monotonic() + settings.latency_ms / 1000 + 2.0
    while fired and time.monotonic() < deadline:
        fired -= {e.get("fault") for e in control.journal(arranged.provider.name, JOURNAL_SIZE)}
        if fired:
            time.sleep(0.05)  # a request in the server, not simulated time


def run_scenario(
    exercise: Exercise, base_url: str, control: ControlClient, scenario: Scenario
) -> ScenarioResult:
    """Arrange ``scenario``, run the client once, and judge what it did."""
    settings = exercise.settings
    arranged = arrange(scenario, exercise.provider, control, settings)
    values = client_values(base_url, exercise.provider, arranged.key, settings.time_scale)
    if arranged.watcher is not None:
        arranged.watcher.start()
    try:
        client = run_client(
            client_command(exercise.command, values),
            client_environment(values, exercise.provider),
            settings.time_limit,
        )
    finally:
        if arranged.watcher is not None:
            arranged.watcher.halt()
    _settle(control, arranged, settings)
    observed = observe(control, arranged, client, settings.time_scale)
    findings = judge(observed, scenario, settings, exercise.rules)
    return ScenarioResult(scenario, observed, tuple(findings))


class _Simulators:
    """The run's simulators, each started when a scenario first needs it: a normal
    one, and a held one whose tasks end only when the control API says so."""

    def __init__(self, exercise: Exercise, stack: contextlib.ExitStack) -> None:
        self._exercise = exercise
        self._stack = stack
        self._started: dict[bool, tuple[str, ControlClient]] = {}

    def __call__(self, held: bool) -> tuple[str, ControlClient]:
        if held not in self._started:
            settings, profile = self._exercise.settings, self._exercise.profile
            simulator = self._stack.enter_context(
                running_simulator(settings.time_scale, profile, held)
            )
            control = ControlClient(simulator.base_url)
            self._stack.callback(control.close)
            self._started[held] = (simulator.base_url, control)
        return self._started[held]


def run_exercise(
    exercise: Exercise, on_result: Callable[[ScenarioResult], None] | None = None
) -> list[ScenarioResult]:
    """Every scenario of ``exercise``, in order, on simulators started for the run."""
    results = []
    with contextlib.ExitStack() as stack:
        simulator = _Simulators(exercise, stack)
        for scenario in exercise.scenarios:
            base_url, control = simulator(scenario.on_task is not None)
            result = run_scenario(exercise, base_url, control, scenario)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results
