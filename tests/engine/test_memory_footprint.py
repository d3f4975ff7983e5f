"""What keeps a stored task small changes nothing a caller sees.

The memory backend's compact sorted indexes answer exactly as a plain sorted
list of (score, member) pairs would: members added, moved to a new score,
removed and trimmed in any order, read back by scan (bounds, limit, either
direction), firsts and count (chunks are made tiny, so a few members already split and
merge them). A task's params, kept with a key table shared among tasks, are
the request's params: equal, in order, and changed only where changed. A task
a ledger entry or an idempotency record, kept as a row whose groups of fields it
shares with other records, comes back exactly as it went in: the same objects
(integers: equal ones of the same type; a MediaSpec: an equal one of the same
values), its params a new dict of the same keys and values. And the rows of what
a served POST stores are plain tuples the garbage collector does not track, so
its full collections do not grow with the store.
"""

from __future__ import annotations

import dataclasses
import gc
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from mockserver.app import create_app
from mockserver.config import AccountSeed, Config
from mockserver.engine.model import IdempotencyRecord, LedgerEntry, MediaSpec, Task
from mockserver.engine.simulation import _compact
from mockserver.engine.store import memory
from mockserver.engine.store.memory import MemoryBackend
from mockserver.providers.context import EXTENSION

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


class _Label(str):
    """A str that equals a plain one (the store must not swap one for the other)."""


#: values that are equal without being the same: ints (1, True, 1.0; big ones
#: made anew), 0.0 and -0.0, a str and a _Label; and some that are not hashable
FIELD_VALUES = (
    st.sampled_from([None, 0, 1, True, False, 1.0, 0.0, -0.0, "a", _Label("a"), math.nan])
    | st.integers(2**40, 2**40 + 2).map(lambda n: int(str(n)))
    | st.text(alphabet="ab", max_size=2)
    | st.lists(st.integers(0, 2), max_size=2)
)
#: specs equal without being the same (audio 1 or True), and values no spec has
MEDIA = FIELD_VALUES | st.builds(
    MediaSpec,
    width=st.integers(1, 3),
    height=st.just(2),
    frames=st.just(1),
    fps=st.just(24),
    audio=st.sampled_from([True, 1, False, 0]),
)
PARAMS = st.dictionaries(st.sampled_from(["prompt", "ratio", 1, True, 2.0]), FIELD_VALUES) | (
    FIELD_VALUES
)


def _records(cls: type) -> st.SearchStrategy[Any]:
    special = {"params": PARAMS, "media": MEDIA}
    fields = {f.name: special.get(f.name, FIELD_VALUES) for f in dataclasses.fields(cls)}
    return st.fixed_dictionaries(fields).map(lambda values: cls(**values))


RECORDS = _records(Task) | _records(LedgerEntry) | _records(IdempotencyRecord)
KEYS = st.sampled_from(["k1", "k2", "k3", "k4"])


def _same(found: Any, kept: Any) -> bool:
    if type(found) is type(kept) is MediaSpec:  # kept as its values, made again on a read
        fields = [f.name for f in dataclasses.fields(MediaSpec)]
        return all(_same(getattr(found, name), getattr(kept, name)) for name in fields)
    return found is kept or (type(found) is type(kept) is int and found == kept)


def assert_comes_back(found: Any, kept: Any) -> None:
    assert type(found) is type(kept)
    assert found is not kept
    for field in dataclasses.fields(kept):
        got, want = getattr(found, field.name), getattr(kept, field.name)
        if field.name == "params" and type(want) is dict:
            assert type(got) is dict
            assert got is not want
            assert len(got) == len(want)
            assert all(map(_same, got, want)), (got, want)
            assert all(map(_same, got.values(), want.values())), (got, want)
        else:
            assert _same(got, want), (field.name, got, want)


class RecordsComeBackAsTheyWentIn(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.backend = MemoryBackend()
        self.model: dict[str, Any] = {}

    @rule(records=st.lists(st.tuples(KEYS, RECORDS), max_size=4))
    def put(self, records: list[tuple[str, Any]]) -> None:
        self.backend.atomically(lambda tx: [tx.put("t", key, r) for key, r in records])
        self.model.update(records)

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        self.backend.atomically(lambda tx: tx.delete("t", key))
        self.model.pop(key, None)

    @rule(key=KEYS)
    def read(self, key: str) -> None:
        found = self.backend.read(lambda tx: tx.get("t", key))
        if key not in self.model:
            assert found is None
            return
        assert_comes_back(found, self.model[key])
        if isinstance(found, Task) and type(found.params) is dict:
            found.params["changed"] = True  # a read's params are its own
            assert_comes_back(self.backend.read(lambda tx: tx.get("t", key)), self.model[key])


def test_records_come_back_as_they_went_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_KNOWN", 3)  # what a backend knows is forgotten often
    run_state_machine_as_test(
        RecordsComeBackAsTheyWentIn, settings=settings(max_examples=150, stateful_step_count=25)
    )


def test_tasks_alike_share_their_groups_and_keys() -> None:
    backend = MemoryBackend()
    task = Task("t", "p", "a", {"prompt": "x"}, 30, 1.0, 1.0, None, "completed", True, 7,
                None, "m", 2.0)  # type: ignore[arg-type]  # fmt: skip
    others = [dataclasses.replace(task, id=f"t{n}", params={"prompt": "x"}) for n in range(3)]
    backend.atomically(lambda tx: [tx.put("task", t.id, t) for t in [task, *others]])
    rows = list(backend.tables["task"].values())
    assert all(row[1] is rows[0][1] and row[2] is rows[0][2] for row in rows)
    assert len({id(row[memory._LAYOUTS[Task].keys_at]) for row in rows}) == 1


def test_a_task_read_and_written_again_keeps_sharing_its_groups() -> None:
    """A read makes the task's MediaSpec anew: written back (a task starting,
    ending, cancelled), the task still points at the groups it shared."""
    backend = MemoryBackend()
    spec = MediaSpec(1280, 720, 120, 24, True)
    task = Task("t", "p", "a", {"prompt": "x"}, 30, 1.0, 1.0, None, "completed", True, 7,
                spec, "m", 2.0)  # fmt: skip
    backend.atomically(lambda tx: tx.put("task", "t", task))
    for n in range(5):
        read: Task = backend.read(lambda tx: tx.get("task", "t"))
        assert read.media == spec
        assert read.media is not spec

        def write_back(tx: Any, read: Task = read, n: int = n) -> None:
            tx.put("task", f"t{n}", read)

        backend.atomically(write_back)
    rows = list(backend.tables["task"].values())
    assert len(rows) == 6
    assert all(row[1] is rows[0][1] for row in rows)
    assert len(backend._known._groups) == 2  # the task's two groups, once


def test_stored_rows_cost_the_garbage_collector_nothing() -> None:
    """Tasks, charges and idempotency keys stored by served POSTs are left out of
    every collection (a full one scanned each of them: 6 ms at 10,000 tasks)."""
    key = "sk_gc"
    app = create_app(
        Config(
            clock="manual",
            background=False,
            accounts=(AccountSeed("seedance2ai", "gc", 10**9, (key,)),),
            overrides={"seedance2ai": {"rate_limits": {"requests": {"limit": 10**6}}}},
        )
    )
    client = app.test_client()
    try:
        for n in range(40):
            response = client.post(
                "/api/v1/video/seedance2",
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"k{n}"},
                json={"prompt": f"shot {n % 3}", "duration": ("5", "10")[n % 2]},
            )
            assert response.status_code == 202, response.data
        # a tuple is let go once what it holds is: two passes see a row after its groups
        gc.collect()
        gc.collect()
        backend = app.extensions[EXTENSION].store.backend
        rows = {table: list(kept.values()) for table, kept in backend.tables.items()}
        assert len(rows["task"]) == len(rows["idem"]) == 40
        assert len(rows["ledger"]) >= 40
        tracked = [
            (table, row)
            for table in ("task", "idem", "ledger")
            for row in rows[table]
            if gc.is_tracked(row)
        ]
        assert not tracked, tracked[:3]
    finally:
        app.extensions[EXTENSION].close()
