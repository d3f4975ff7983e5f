"""Load (issue #8): under sustained concurrent load the invariants hold.

A real server (in-memory store with one worker, and SQLite with two) takes a
bounded run of rounds. In each round every account's requests are sent at
once from a thread pool: new submissions, replays of earlier ones (same key
and body), conflicts (same key, another body), two identical submissions at
the same moment, polls of its own tasks and of another account's, invalid
bodies, and a few unknown keys. Some accounts send more than the 30-a-minute
limit, some less, two run out of credits. Between rounds the manual clock
moves 61 s, so each round is one rate-limit window.

Afterwards: one task per idempotency key, one charge per task, balances equal
to the ledger's sum and never negative, exactly min(30, sent) requests
admitted per account and window, every answer the documented one.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.reliability.conftest import (
    SPECS,
    Answer,
    Figures,
    HttpControl,
    all_tasks,
    ledger_violations,
    undocumented,
)
from tests.server import Server, running_server

pytestmark = pytest.mark.slow

LOAD_SECONDS = 8.0
MAX_ROUNDS = 10
CLIENT_THREADS = 16
WINDOW = 61  # seconds the clock moves between rounds: a fresh rate-limit window
LIMIT = SPECS["seedance2ai"].profile_json["rate_limits"]["requests"]["limit"]
#: (provider, account, requests per round, starting credits)
ACCOUNTS = (
    *[("seedance2ai", f"busy-{n}", 40, 10**6) for n in range(6)],
    *[("seedance2ai", f"quiet-{n}", 20, 10**6) for n in range(2)],
    *[("seedance2ai", f"poor-{n}", 40, 100) for n in range(2)],
    *[("seedanceapi", f"api-{n}", 25, 10**6) for n in range(3)],
    ("seedanceapi", "api-poor", 25, 100),
)
KEYS_PER_ACCOUNT = 3
UNKNOWN_KEYS_PER_ROUND = 5


@dataclass(frozen=True)
class Call:
    """One planned request and what the plan expects (besides 429 where limits apply)."""

    provider: str
    account: str
    kind: str  # submit, replay, conflict, twin, poll, stranger, invalid, unknown-key
    key: str
    idempotency_key: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    task_id: str = ""


@dataclass
class Outcome:
    call: Call
    answer: Answer
    round: int


@dataclass
class World:
    """What the clients know: their tasks and the first answer each key got."""

    tasks: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    receipts: dict[tuple[str, str], tuple[dict[str, Any], bytes]] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


def _submit_op(provider: str) -> Any:
    return next(o for o in SPECS[provider].operations.values() if o.body)


def _body(provider: str, rng: random.Random, n: int) -> dict[str, Any]:
    spec = SPECS[provider]
    op = _submit_op(provider)
    example = dict(next(iter(spec.examples("request", op.name))))
    durations = spec.validator(op.body).schema["properties"]["duration"]["enum"]
    return {**example, "prompt": f"load clip {n}", "duration": rng.choice(durations)}


def _keys(account: str) -> list[str]:
    return [f"key-{account}-{i}" for i in range(KEYS_PER_ACCOUNT)]


def _plan_account(
    provider: str, account: str, count: int, world: World, *, rng: random.Random, round_: int
) -> list[Call]:
    calls: list[Call] = []
    own = world.tasks[account]
    strangers = [t for a, ts in world.tasks.items() if a != account for t in ts]
    receipts = [k for (a, k) in world.receipts if a == account]
    while len(calls) < count:
        key = rng.choice(_keys(account))
        n = len(calls)
        roll = rng.random()
        if provider == "seedance2ai" and receipts and roll < 0.15:
            body = world.receipts[(account, (ik := rng.choice(receipts)))][0]
            calls.append(Call(provider, account, "replay", key, ik, body))
        elif provider == "seedance2ai" and receipts and roll < 0.25:
            ik = rng.choice(receipts)
            other = {**world.receipts[(account, ik)][0], "prompt": "another clip, same key"}
            calls.append(Call(provider, account, "conflict", key, ik, other))
        elif provider == "seedance2ai" and roll < 0.30:
            ik, body = f"{account}-r{round_}-{n}-twin", _body(provider, rng, n)
            calls += [Call(provider, account, "twin", key, ik, body)] * 2
        elif own and roll < 0.55:
            calls.append(Call(provider, account, "poll", key, task_id=rng.choice(own)))
        elif strangers and roll < 0.62:
            calls.append(Call(provider, account, "stranger", key, task_id=rng.choice(strangers)))
        elif roll < 0.67:
            calls.append(
                Call(provider, account, "invalid", key, f"{account}-r{round_}-{n}", {"prompt": 5})
            )
        else:
            ik = f"{account}-r{round_}-{n}"
            calls.append(Call(provider, account, "submit", key, ik, _body(provider, rng, n)))
    return calls[:count]


def _send(session: requests.Session, base: str, call: Call) -> Answer:
    spec = SPECS[call.provider]
    headers = {"Authorization": f"Bearer {call.key}"}
    if call.kind in ("poll", "stranger", "unknown-key") and not call.body:
        op = next(o for o in spec.operations.values() if not o.body)
        if op.query:
            path, query = op.path, f"task_id={call.task_id}"
        else:
            path, query = op.path.replace("{id}", call.task_id), ""
        response = session.get(
            base + path + (f"?{query}" if query else ""), headers=headers, timeout=30
        )
        return Answer(
            "GET",
            path,
            query,
            response.status_code,
            dict(response.headers),
            response.content,
            headers,
        )
    op = _submit_op(call.provider)
    headers["Idempotency-Key"] = call.idempotency_key
    response = session.post(base + op.path, json=call.body, headers=headers, timeout=30)
    return Answer(
        "POST", op.path, "", response.status_code, dict(response.headers), response.content, headers
    )


EXPECTED = {
    "submit": {200, 202, 402},
    "replay": {202},
    "conflict": {409},
    "twin": {202, 402, 409},  # A4: the second of two at once may find the first running
    "poll": {200},
    "stranger": {404},  # C1: never 403
    "invalid": {400},
    "unknown-key": {401},
}


def _check(outcome: Outcome, world: World) -> None:
    call, answer = outcome.call, outcome.answer
    problems = undocumented(answer)
    limited = call.provider == "seedance2ai" and call.kind != "unknown-key"
    allowed = EXPECTED[call.kind] | ({429} if limited else set())
    if answer.status not in allowed:
        problems.append(f"{call.kind} answered {answer.status}, expected one of {sorted(allowed)}")
    if call.kind == "replay" and answer.status == 202:
        original = world.receipts[(call.account, call.idempotency_key)][1]
        if answer.body != original:
            problems.append(
                f"replay of {call.idempotency_key} is not the original 202 byte for byte"
            )
    if problems:
        world.violations.append(f"{answer.describe()}: {'; '.join(problems)}")


def _task_id(provider: str, body: Any) -> str:
    return str(body["id"] if provider == "seedance2ai" else body["data"]["task_id"])


def _learn(outcome: Outcome, world: World, ids: dict[tuple[str, str], set[str]]) -> None:
    call, answer = outcome.call, outcome.answer
    if call.kind not in ("submit", "twin", "replay") or answer.status // 100 != 2:
        return
    task_id = _task_id(call.provider, answer.json())
    ids[(call.account, call.idempotency_key)].add(task_id)
    if (call.account, call.idempotency_key) not in world.receipts:
        world.receipts[(call.account, call.idempotency_key)] = (call.body, answer.body)
        world.tasks[call.account].append(task_id)


def _round(
    base: str, world: World, rng: random.Random, round_: int, pool: ThreadPoolExecutor
) -> list[Outcome]:
    calls: list[Call] = []
    for provider, account, count, _ in ACCOUNTS:
        calls += _plan_account(provider, account, count, world, rng=rng, round_=round_)
    known = [t for ts in world.tasks.values() for t in ts] or ["none"]
    for n in range(UNKNOWN_KEYS_PER_ROUND):
        provider = rng.choice(list(SPECS))
        calls.append(
            Call(
                provider, "nobody", "unknown-key", f"guess-{round_}-{n}", task_id=rng.choice(known)
            )
        )
    rng.shuffle(calls)
    local = threading.local()

    def run(call: Call) -> Outcome:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return Outcome(call, _send(local.session, base, call), round_)

    return list(pool.map(run, calls))


def _rate_limit_violations(outcomes: list[Outcome]) -> list[str]:
    sent: Counter[tuple[int, str]] = Counter()
    admitted: Counter[tuple[int, str]] = Counter()
    problems = []
    for o in outcomes:
        if o.call.kind == "unknown-key":
            continue
        sent[(o.round, o.call.account)] += 1
        admitted[(o.round, o.call.account)] += o.answer.status != 429
        if o.call.provider == "seedanceapi" and o.answer.status == 429:
            problems.append(
                f"seedanceapi has no rate limit but answered 429: {o.answer.describe()}"
            )
    for (round_, account), count in sent.items():
        provider = next(p for p, a, _, _ in ACCOUNTS if a == account)
        wanted = min(LIMIT, count) if provider == "seedance2ai" else count
        if admitted[(round_, account)] != wanted:
            problems.append(
                f"round {round_}, {account}: {admitted[(round_, account)]} of {count} admitted, "
                f"the limit makes it exactly {wanted}"
            )
    return problems


def _store_violations(
    control: HttpControl, ids: dict[tuple[str, str], set[str]], world: World
) -> list[str]:
    problems = [f"key {k} made tasks {sorted(v)}" for k, v in ids.items() if len(v) > 1]
    stored = Counter(t["account"] for t in all_tasks(control).values())
    for provider, account, _, _ in ACCOUNTS:
        made = len(world.tasks[account])
        if stored[account] != made:
            problems.append(
                f"{account}: {stored[account]} tasks stored, {made} acknowledged ({provider})"
            )
    return problems + ledger_violations(control)


@pytest.fixture(params=[("memory", 1), ("sqlite", 2)], ids=["memory-1-worker", "sqlite-2-workers"])
def loaded_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Server]]:
    store, workers = request.param
    where = "memory" if store == "memory" else f"sqlite:{tmp_path / 'state.db'}"
    args = ("--clock", "manual", "--store", where, "--workers", str(workers), "--threads", "16")
    with running_server(*args) as server:
        yield f"{store}, {workers} worker{'s' if workers > 1 else ''}", server


def test_invariants_hold_under_sustained_concurrent_load(
    loaded_server: tuple[str, Server], figures: Figures
) -> None:
    label, server = loaded_server
    control = HttpControl(server.base_url)
    for provider, account, _, credits in ACCOUNTS:
        body = {"provider": provider, "id": account, "credits": credits, "keys": _keys(account)}
        control.call("POST", "/accounts", body, expect=201)
    world = World()
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    rng = random.Random(8)
    started = time.monotonic()
    rounds = 0
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        while rounds < MAX_ROUNDS and time.monotonic() - started < LOAD_SECONDS:
            round_, rounds = rounds, rounds + 1
            outcomes = _round(server.base_url, world, rng, round_, pool)
            for outcome in outcomes:
                _check(outcome, world)
                _learn(outcome, world, ids)
            world.outcomes += outcomes
            control.call("POST", "/clock/advance", {"seconds": WINDOW})
    world.violations += _rate_limit_violations(world.outcomes)
    world.violations += _store_violations(control, ids, world)

    figures.report(
        f"load-{label}",
        f"load ({label}): {len(world.outcomes)} requests in {rounds} rounds, "
        f"{len(ACCOUNTS)} accounts x {KEYS_PER_ACCOUNT} keys, "
        f"{sum(o.answer.status == 429 for o in world.outcomes)} rate-limited, "
        f"{len(world.violations)} invariant violations",
    )
    assert world.violations == [], "\n".join(world.violations[:30])
