"""Credits: a submission the balance cannot pay for is refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import scenarios
from contracts.conversation import Conversation
from contracts.strategies import valid_bodies

Converse = Callable[[str], Conversation]


@pytest.mark.examples(3)
@given(data=st.data())
def test_an_empty_balance_is_refused(
    converse: Converse, provider: str, data: st.DataObject
) -> None:
    conv = converse(provider)
    body = data.draw(valid_bodies(conv.spec, str(conv.api.submit.body)), label="body")
    scenarios.empty_balance_is_refused(conv, body)
