"""What keeps a stored task small changes nothing a caller sees.

The memory backend's compact sorted indexes answer exactly as a plain sorted
list of (score, member) pairs would: members added, moved to a new score,
removed and trimmed in any order, read back by scan (bounds, limit, either
direction), firsts and count (chunks are made tiny, so a few members already split and
merge them). A task's params, kept with a key table shared among tasks, are
the request's params: equal, in order, and changed only where changed.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from mockserver.engine.simulation import _compact
from mockserver.engine.store import memory
from mockserver.engine.store.memory import MemoryBackend

INDEX = "index"
#: few enough to collide (moves, ties broken by member) and enough to fill chunks
MEMBERS = st.text(alphabet="abcde", min_size=1, max_size=2)
#: ints and floats that tie (3 == 3.0) and scores a hair apart
SCORES = st.integers(0, 9) | st.sampled_from([2.5, 4.000001, 7.25])
BOUNDS = SCORES | st.sampled_from([-math.inf, math.inf, 3.5])


class IndexAgainstSortedPairs(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.backend = MemoryBackend()
        self.model: dict[str, float] = {}

    @rule(members=st.lists(MEMBERS, max_size=12), score=SCORES)
    def add(self, members: list[str], score: float) -> None:
        self.backend.atomically(lambda tx: [tx.add(INDEX, m, score) for m in members])
        self.model.update(dict.fromkeys(members, score))

    @rule(member=MEMBERS)
    def remove(self, member: str) -> None:
        self.backend.atomically(lambda tx: tx.remove(INDEX, member))
        self.model.pop(member, None)

    @rule(upto=BOUNDS)
    def trim(self, upto: float) -> None:
        self.backend.atomically(lambda tx: tx.trim(INDEX, upto))
        self.model = {m: s for m, s in self.model.items() if s > upto}

    @rule(
        start=BOUNDS,
        upto=BOUNDS,
        limit=st.none() | st.integers(0, 6),
        newest_first=st.booleans(),
    )
    def scan(self, start: float, upto: float, limit: int | None, newest_first: bool) -> None:
        pairs = sorted((s, m) for m, s in self.model.items() if start <= s <= upto)
        expected = [(m, s) for s, m in (pairs[::-1] if newest_first else pairs)][:limit]
        found = self.backend.read(
            lambda tx: tx.scan(
                INDEX, start=start, upto=upto, limit=limit, newest_first=newest_first
            )
        )
        assert found == expected

    @rule()
    def firsts(self) -> None:
        first = min(((s, m) for m, s in self.model.items()), default=None)
        expected = None if first is None else (first[1], first[0])
        assert self.backend.read(lambda tx: tx.firsts([INDEX, "absent"])) == [expected, None]

    @rule(start=BOUNDS, upto=BOUNDS)
    def count(self, start: float, upto: float) -> None:
        expected = sum(start <= s <= upto for s in self.model.values())
        assert self.backend.read(lambda tx: tx.count(INDEX, start=start, upto=upto)) == expected


def test_index_answers_like_a_sorted_list_of_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_CHUNK", 4)
    run_state_machine_as_test(
        IndexAgainstSortedPairs, settings=settings(max_examples=300, stateful_step_count=60)
    )


PARAM_NAMES = st.sampled_from(["prompt", "__class__", "__dict__", "__slots__", "a-b"]) | st.text()
PARAM_VALUES = st.none() | st.booleans() | st.integers() | st.text() | st.text(min_size=65)


@given(params=st.dictionaries(PARAM_NAMES, PARAM_VALUES, max_size=40), name=PARAM_NAMES)
def test_compact_params_are_the_params_and_their_own(params: dict[str, Any], name: str) -> None:
    kept, other = _compact(params), _compact(params)
    assert kept == params
    assert list(kept) == list(params)
    kept[name] = "changed"
    kept.pop(next(iter(params), name), None)
    assert other == params
    assert list(other) == list(params)
