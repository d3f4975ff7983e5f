"""Shared test settings and fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings

from mockserver.app import create_app
from mockserver.config import Config
from mockserver.providers.context import EXTENSION
from mockserver.runtime import Runtime
from tests.settings import simulator_config

settings.register_profile(
    "default",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "ci", parent=settings.get_profile("default"), derandomize=True, print_blob=True
)
settings.load_profile(
    "ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "default")
)


# Fixtures: config -> app -> client / runtime. A fresh simulator per test, on a
# manual clock that starts at the document's example instant, with no
# background thread (tests move time with runtime.clock.advance).


@pytest.fixture
def config() -> Config:
    return simulator_config()


@pytest.fixture
def app(config: Config) -> Iterator[Flask]:
    application = create_app(config)
    yield application
    application.extensions[EXTENSION].close()


@pytest.fixture
def runtime(app: Flask) -> Runtime:
    found: Runtime = app.extensions[EXTENSION]
    return found


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
