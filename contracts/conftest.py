"""pytest wiring of the contract suite: options, the target, reports.

    pytest contracts                                  # the simulator in this process
    pytest contracts --target url --base-url http://127.0.0.1:8000
    SEEDANCE2AI_API_KEY=... pytest contracts --target live --provider seedance2ai \\
        --max-credits 50 --record cassettes/ --drift-report drift.md
    pytest contracts --target replay [--cassettes DIR]
    pytest contracts ... --junitxml contract.xml      # JUnit XML: pytest's own option

The same tests run on every target; only the objects the target fixture builds
differ. Live keys are read from the environment and never printed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import is_hypothesis_test

from contracts.cassettes import SHIPPED, Recorder, load_cassettes
from contracts.checks import ContractViolation, KnownDrift
from contracts.conversation import Conversation
from contracts.drift import DriftLog
from contracts.exchange import ANONYMOUS, STRANGER
from contracts.target import (
    SHRINK_SECONDS,
    Target,
    contract_settings,
    inprocess_target,
    live_target,
    replay_target,
    url_target,
)
from mockserver.contract_cli import SUITE_OPTIONS
from mockserver.spec import PROVIDERS, load_provider

DRIFT = pytest.StashKey[DriftLog]()
TARGET = pytest.StashKey[Target]()
SIMULATOR_SEED = 1234


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("seedance-contracts", "seedance-mock contract suite")
    for option in SUITE_OPTIONS:  # declared once, for this and `seedance-mock contract`
        group.addoption(option.flag, **option.settings)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "examples(n): Hypothesis examples on the in-process target")
    if config.getoption("--target") == "url" and not config.getoption("--base-url"):
        raise pytest.UsageError("--target url needs --base-url (e.g. http://127.0.0.1:8000)")
    config.stash[DRIFT] = DriftLog(
        SHRINK_SECONDS[config.getoption("--target")], config.getoption("--keep-going")
    )


def _providers(config: pytest.Config) -> list[str]:
    chosen = config.getoption("--provider")
    return list(PROVIDERS) if chosen in ("all", "both") else [chosen]  # "both": older name


def _build_target(config: pytest.Config, media_dir: Path) -> Target:
    name, profile = config.getoption("--target"), config.getoption("--spec-profile")
    credits, environ = config.getoption("--max-credits"), dict(os.environ)
    if name == "url":
        base, token = config.getoption("--base-url"), config.getoption("--admin-token")
        pace = config.getoption("--pace") == "documented"
        return url_target(base, profile, token, credits, environ, pace=pace)
    if name == "live":
        return live_target(profile, credits, environ)
    if name == "replay":
        folder = config.getoption("--cassettes")
        return replay_target(load_cassettes(Path(folder) if folder else SHIPPED), profile)
    # Seeded: task ids and timings repeat from run to run, as Hypothesis examples do.
    return inprocess_target(profile, seed=SIMULATOR_SEED, media_cache_dir=str(media_dir))


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Target:
    """The server under test, built once per session from the options."""
    built = _build_target(pytestconfig, tmp_path_factory.mktemp("media"))
    built.task_timeout = pytestconfig.getoption("--task-timeout")
    built.max_examples = pytestconfig.getoption("--max-examples")
    record = pytestconfig.getoption("--record")
    if record:
        built.recorder = Recorder(Path(record), built.secret_values)
    pytestconfig.stash[TARGET] = built
    return built


@pytest.fixture(scope="session")
def drift(pytestconfig: pytest.Config) -> DriftLog:
    return pytestconfig.stash[DRIFT]


@pytest.fixture(scope="session")
def converse(target: Target, drift: DriftLog) -> Callable[[str], Conversation]:
    """A new conversation with one provider of the target (one per Hypothesis example)."""
    return lambda provider: Conversation(target, provider, drift)


# parametrisation: providers, and what each provider's spec lists ------------------------
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config, names = metafunc.config, metafunc.fixturenames
    providers = _providers(config)
    cases: list[tuple[tuple[Any, ...], str]]
    if "breach" in names:
        cases = [((p, b), f"{p}:{b.name}") for p in providers for b in _breaches(config, p)]
        _parametrize(metafunc, ("provider", "breach"), cases)
    elif "option" in names:
        cases = [((p, o), f"{p}:{o[0]}={o[1]}") for p in providers for o in _options(config, p)]
        _parametrize(metafunc, ("provider", "option"), cases)
    elif "cassette" in names:
        _parametrize_cassettes(metafunc, providers)
    elif "caller" in names:
        cases = [
            ((p, op, caller), f"{p}:{op}:{caller}")
            for p in providers
            for op in load_provider(p).operations
            for caller in (ANONYMOUS, STRANGER)
        ]
        _parametrize(metafunc, ("provider", "operation", "caller"), cases)
    elif "provider" in names:
        metafunc.parametrize("provider", providers)


def _parametrize(
    metafunc: pytest.Metafunc, names: tuple[str, ...], cases: list[tuple[tuple[Any, ...], str]]
) -> None:
    metafunc.parametrize(names, [values for values, _id in cases], ids=[i for _v, i in cases])


def _spec_and_body(config: pytest.Config, provider: str) -> tuple[Any, str]:
    spec = load_provider(provider, config.getoption("--spec-profile"))
    return spec, str(next(op for op in spec.operations.values() if op.body).body)


# contracts.strategies imports hypothesis-jsonschema, which must not load while
# conftest files are imported (Hypothesis warns about the side effect).
def _breaches(config: pytest.Config, provider: str) -> list[Any]:
    from contracts.strategies import breaches

    return breaches(*_spec_and_body(config, provider))


def _options(config: pytest.Config, provider: str) -> list[tuple[str, Any]]:
    from contracts.strategies import documented_options

    return documented_options(*_spec_and_body(config, provider))


def _parametrize_cassettes(metafunc: pytest.Metafunc, providers: list[str]) -> None:
    if metafunc.config.getoption("--target") != "replay":
        skip = pytest.mark.skip(reason="re-checks recorded cassettes: run with --target replay")
        metafunc.parametrize("cassette", [pytest.param(None, marks=skip)], ids=["cassettes"])
        return
    folder = metafunc.config.getoption("--cassettes")
    found = [
        c for c in load_cassettes(Path(folder) if folder else SHIPPED) if c.provider in providers
    ]
    metafunc.parametrize("cassette", found, ids=[f"{c.provider}:{c.name}" for c in found])


# Hypothesis settings per target ----------------------------------------------------------
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give each contract test the examples its target affords (``@examples(n)``);
    on the replay target, keep only the tests that replay cassettes."""
    name, here = config.getoption("--target"), Path(__file__).parent
    ours = [i for i in items if i.path.is_relative_to(here)]
    if name == "replay":
        idle = [i for i in ours if "cassette" not in getattr(i, "fixturenames", ())]
        config.hook.pytest_deselected(items=idle)
        items[:] = [i for i in items if i not in idle]
    for item in ours:
        marker = item.get_closest_marker("examples")
        test = getattr(item, "obj", None)
        if marker is None or not is_hypothesis_test(test):
            continue
        if not getattr(test, "_hypothesis_internal_settings_applied", False):
            cap = config.getoption("--max-examples")
            contract_settings(name, int(marker.args[0]), cap=cap)(test)
        if config.getoption("--keep-going"):
            _report_after_each_example(test, config.stash[DRIFT])


def _report_after_each_example(test: Any, drift: DriftLog) -> None:
    """Let the drift log end a test after an example (--keep-going: one example
    that went on past known drift is enough). Hypothesis lets a plugin wrap the
    test's ``inner_test``."""
    inner = test.hypothesis.inner_test
    if getattr(inner, "_reports_to_drift", False):
        return  # one function, several parametrized items

    @functools.wraps(inner)
    def example(*args: Any, **kwargs: Any) -> None:
        inner(*args, **kwargs)
        drift.after_example()

    example._reports_to_drift = True  # type: ignore[attr-defined]
    test.hypothesis.inner_test = example


# reports -------------------------------------------------------------------------------
def pytest_runtest_setup(item: pytest.Item) -> None:
    if DRIFT in item.config.stash:
        item.config.stash[DRIFT].current_test = item.nodeid


def pytest_runtest_teardown(item: pytest.Item) -> None:
    built = item.config.stash.get(TARGET, None)
    if built is not None and built.recorder is not None:
        built.recorder.flush(item.nodeid, f"recorded from {built.description}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Each disagreement of a failed contract test, as a JUnit XML property."""
    report = yield
    error = call.excinfo.value if call.excinfo else None
    drift = item.config.stash.get(DRIFT, None)
    tolerated = drift.tolerated(item.nodeid) if drift is not None else []
    if call.when == "call" and report.passed and tolerated:
        error = ContractViolation.combined(tolerated)
        report.outcome = "failed"
        report.longrepr = f"went on past drift already reported (--keep-going):\n{error}"
    if isinstance(error, KnownDrift):
        item.user_properties.append(("stopped early", error.reason))
        error = error.violation
    if isinstance(error, ContractViolation):
        for violation in (error, *error.others):
            for f in violation.findings:
                detail = f"{f.at}: documented {f.documented}; received {f.received}"
                item.user_properties.append((f"{violation.exchange.operation}.{f.check}", detail))
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--drift-report")
    built = session.config.stash.get(TARGET, None)
    if path and DRIFT in session.config.stash:
        described = built.description if built else session.config.getoption("--target")
        session.config.stash[DRIFT].write(path, described)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    built, drift = config.stash.get(TARGET, None), config.stash.get(DRIFT, None)
    if built is None or drift is None:
        return
    lines = [f"contract target: {built.description}; {drift.headline()}"]
    lines += drift.table() if len(drift) else []
    if built.budget.limited:
        lines.append(f"credits spent: {built.budget.spent} of {built.budget.limit}")
    if built.budget.stopped:
        lines.append(built.budget.stopped)
    if config.getoption("--drift-report"):
        lines.append(f"drift report: {config.getoption('--drift-report')}")
    for line in lines:
        terminalreporter.write_line(line)
