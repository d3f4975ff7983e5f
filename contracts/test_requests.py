"""Requests drawn from the schemas: every valid one is accepted, and each one that
breaks exactly one rule gets that rule's documented error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import scenarios
from contracts.conversation import Conversation
from contracts.strategies import Breach, valid_bodies, with_option

Converse = Callable[[str], Conversation]


def _definition(conv: Conversation) -> str:
    return str(conv.api.submit.body)


@pytest.mark.examples(20)
@given(data=st.data())
def test_valid_requests_are_accepted(
    converse: Converse, provider: str, data: st.DataObject
) -> None:
    conv = converse(provider)
    body = data.draw(valid_bodies(conv.spec, _definition(conv)), label="body")
    scenarios.valid_request_is_accepted(conv, body)


@pytest.mark.examples(3)
@given(data=st.data())
def test_each_submission_is_a_task_of_its_own(
    converse: Converse, provider: str, data: st.DataObject
) -> None:
    conv = converse(provider)
    body = data.draw(valid_bodies(conv.spec, _definition(conv)), label="body")
    scenarios.each_submission_is_a_task(conv, body)


@pytest.mark.examples(3)
@given(data=st.data())
def test_each_documented_option_is_accepted(
    converse: Converse, provider: str, option: tuple[str, Any], data: st.DataObject
) -> None:
    conv = converse(provider)
    field, value = option
    body = data.draw(with_option(conv.spec, _definition(conv), field, value), label="body")
    scenarios.valid_request_is_accepted(conv, body, keep=frozenset({field}))


@pytest.mark.examples(5)
@given(data=st.data())
def test_each_rule_broken_alone_gets_its_documented_error(
    converse: Converse, provider: str, breach: Breach, data: st.DataObject
) -> None:
    conv = converse(provider)
    body = data.draw(breach.bodies(conv.spec, _definition(conv)), label="body")
    scenarios.broken_request_is_refused(conv, breach, body)
