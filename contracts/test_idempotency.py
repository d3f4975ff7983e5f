"""Idempotency-Key: a replay is the same task, charged once; another body under a
used key is a conflict."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import scenarios
from contracts.conversation import Conversation
from contracts.strategies import valid_bodies

Converse = Callable[[str], Conversation]


@pytest.mark.examples(8)
@given(data=st.data())
def test_replay_returns_same_task(converse: Converse, provider: str, data: st.DataObject) -> None:
    conv = converse(provider)
    body = data.draw(valid_bodies(conv.spec, str(conv.api.submit.body)), label="body")
    scenarios.replay_returns_same_task(conv, body)


@pytest.mark.examples(8)
@given(data=st.data())
def test_changed_body_under_same_key_is_conflict(
    converse: Converse, provider: str, data: st.DataObject
) -> None:
    conv = converse(provider)
    bodies = valid_bodies(conv.spec, str(conv.api.submit.body))
    first, other = data.draw(bodies, label="body"), data.draw(bodies, label="other")
    scenarios.changed_body_is_conflict(conv, first, other)
