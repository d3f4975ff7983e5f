"""The lifecycle rule the state machine's invariant holds."""

from __future__ import annotations

import pytest

from contracts.machine import moved_forward


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
    assert moved_forward(seen, "processing") is forward
