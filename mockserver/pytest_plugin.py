"""pytest plugin (registered by entry point): the ``seedance_mock`` fixture.

Each test gets a fresh in-process simulator on a manual clock; ``requests``
calls to the providers' hosts reach it through ``responses``. Settings come
from the ``seedance_mock`` marker::

    @pytest.mark.seedance_mock(profile="observed", seed=7)
    def test_quirk(seedance_mock): ...
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mockserver.inprocess import SeedanceMock


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "seedance_mock(**settings): Config fields (profile, seed, overrides, ...) and "
        "passthrough for the seedance_mock fixture",
    )


@pytest.fixture
def seedance_mock(request: pytest.FixtureRequest) -> Iterator[SeedanceMock]:
    """A fresh simulator for this test, answering seedance2ai and seedanceapi calls."""
    marker = request.node.get_closest_marker("seedance_mock")
    settings = dict(marker.kwargs) if marker else {}
    with SeedanceMock(**settings) as sim:
        yield sim
