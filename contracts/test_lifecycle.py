"""Tasks over time: the stateful machine, and outputs that download."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import scenarios
from contracts.conversation import Conversation
from contracts.drift import DriftLog
from contracts.machine import run_lifecycle
from contracts.strategies import valid_bodies
from contracts.target import Target, contract_settings

Converse = Callable[[str], Conversation]


def test_task_lifecycle_keeps_the_contract(target: Target, drift: DriftLog, provider: str) -> None:
    # No shrinking: it replays every step through the server for minutes, and a
    # failure already names the exchange and gives its curl line.
    run_settings = contract_settings(
        target.name, 20, shrink=False, cap=target.max_examples, stateful_step_count=25
    )
    run_lifecycle(target, provider, drift, run_settings)


@pytest.mark.examples(3)
@given(data=st.data())
def test_completed_task_has_downloadable_outputs(
    converse: Converse, provider: str, data: st.DataObject
) -> None:
    conv = converse(provider)
    body = data.draw(valid_bodies(conv.spec, str(conv.api.submit.body)), label="body")
    scenarios.completed_task_has_downloadable_outputs(conv, body)


@pytest.mark.examples(3)
@given(data=st.data())
def test_finished_task_stays_finished(
    converse: Converse, provider: str, data: st.DataObject
) -> None:
    conv = converse(provider)
    body = data.draw(valid_bodies(conv.spec, str(conv.api.submit.body)), label="body")
    scenarios.finished_task_stays_finished(conv, body)
