"""Who may call and who may see a task: no credentials is 401, another account's
task and an id never issued are 404."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import scenarios
from contracts.conversation import Conversation
from contracts.strategies import valid_bodies

Converse = Callable[[str], Conversation]


def test_calls_without_credentials_are_refused(
    converse: Converse, provider: str, operation: str, caller: str
) -> None:
    scenarios.calls_without_credentials_are_refused(converse(provider), operation, caller)


def test_unknown_task_is_404(converse: Converse, provider: str) -> None:
    scenarios.unknown_task_is_404(converse(provider))


@pytest.mark.examples(5)
@given(data=st.data())
def test_someone_elses_task_is_404(converse: Converse, provider: str, data: st.DataObject) -> None:
    conv = converse(provider)
    body = data.draw(valid_bodies(conv.spec, str(conv.api.submit.body)), label="body")
    scenarios.someone_elses_task_is_404(conv, body)


def test_rate_limit_answer_has_retry_after(converse: Converse, provider: str) -> None:
    scenarios.rate_limit_answer_has_retry_after(converse(provider))
