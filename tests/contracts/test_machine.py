"""The lifecycle rule the state machine's invariant holds."""

from __future__ import annotations

import pytest

from contracts.dialect import moved_forward


@pytest.mark.parametrize(
    ("seen", "forward"),
    [
        ([], True),
        (["processing", "processing", "completed", "completed"], True),
        (["processing", "failed"], True),
        (["processing", "completed", "processing"], False),
        (["processing", "completed", "failed"], False),
    ],
)
def test_moved_forward(seen: list[str], forward: bool) -> None:
    assert moved_forward(seen, ("processing",)) is forward


@pytest.mark.parametrize(
    ("seen", "forward"),
    [
        (["queued", "running", "running", "succeeded"], True),
        (["queued", "cancelled"], True),
        (["running", "queued"], False),
        (["queued", "succeeded", "running"], False),
    ],
)
def test_moved_forward_through_several_in_flight_states(seen: list[str], forward: bool) -> None:
    assert moved_forward(seen, ("queued", "running")) is forward
