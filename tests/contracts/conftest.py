"""Fixtures of the contract suite's own tests: simulators to point it at."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from contracts.conversation import Conversation
from contracts.target import Target, inprocess_target, simulator_config
from mockserver.app import create_app

#: turns a fresh simulator app into the WSGI app under test (a broken variant)
Mutation = Callable[[Flask], Callable[..., Any]]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract-media")


@pytest.fixture(scope="session")
def simulator(media_dir: Path) -> Callable[..., Target]:
    """``simulator(mutation=None)``: an in-process target over a fresh simulator app
    (seeded, so its task ids and timings are the same on every run)."""

    def build(mutation: Mutation | None = None, seed: int = 1234) -> Target:
        app = create_app(simulator_config(seed=seed, media_cache_dir=str(media_dir)))
        return inprocess_target(app=mutation(app) if mutation else app)

    return build


@pytest.fixture(scope="session")
def intact(simulator: Callable[..., Target]) -> Target:
    target: Target = simulator()
    return target


@pytest.fixture(scope="session")
def talk(intact: Target) -> Callable[[str], Conversation]:
    """A new conversation with the intact simulator."""
    return lambda provider: Conversation(intact, provider)
