"""pytest plugin: the contract suite's in-process target, drifting on purpose.

    pytest contracts -p tests.contracts.drift_plugin --inject-drift dropped-field

wraps the simulator the in-process target builds in a DriftMiddleware (see
tests/contracts/drift_proxy.py for the kinds of drift).
"""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.app import create_app
from tests.contracts.drift_proxy import DRIFT_KINDS, DriftMiddleware

_PATCH = pytest.StashKey[pytest.MonkeyPatch]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--inject-drift", choices=("none", *DRIFT_KINDS), default=None,
        help="run the in-process target against a simulator drifting this way",
    )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    kind = config.getoption("--inject-drift")
    if not kind:
        return

    def drifting(*args: Any, **kwargs: Any) -> DriftMiddleware:
        return DriftMiddleware(create_app(*args, **kwargs), kind)

    patch = config.stash[_PATCH] = pytest.MonkeyPatch()
    patch.setattr("contracts.target.create_app", drifting)


def pytest_unconfigure(config: pytest.Config) -> None:
    patch = config.stash.get(_PATCH, None)
    if patch is not None:
        patch.undo()
