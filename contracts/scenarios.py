"""What the contract suite does to a target, one function per behaviour.

The test modules draw the inputs (Hypothesis strategies from the schemas) and
call these; the mutant tests call the same functions against broken
simulators. Each function sends requests through a Conversation, so every
answer is also run through every check.
"""

from __future__ import annotations

import pytest
from hypothesis import assume

from contracts.cassettes import Cassette
from contracts.checks import ContractViolation
from contracts.context import DriftSink, Expectation
from contracts.conversation import Conversation
from contracts.dialect import INSUFFICIENT, INVALID, Body
from contracts.exchange import ANONYMOUS, EMPTY_ACCOUNT, STRANGER
from contracts.strategies import Breach
from contracts.target import Target, key_env
from contracts.transport import ReplayTransport
from mockserver.spec import ErrorKind, Operation

ACCEPTED = Expectation.accepted("a request that keeps every documented rule")
READ_BACK = Expectation.accepted("reading a task of this account")
CALLERS_WITHOUT_CREDENTIALS = (ANONYMOUS, STRANGER)


def _kind(conv: Conversation, op: Operation, status: int) -> ErrorKind:
    kind = conv.api.error_kind(op, status)
    if kind is None:
        pytest.skip(f"{conv.api.name} {op.name} documents no {status}")
    return kind


def _require_idempotency(conv: Conversation) -> str:
    if conv.api.idempotency_header is None:
        pytest.skip(f"{conv.api.name} documents no idempotency (profile idempotency.enabled)")
    return conv.api.idempotency_header


def _require_second_account(conv: Conversation) -> None:
    if not conv.has_second_account:
        pytest.skip(f"needs a key of a second account: set {key_env(conv.api.name, 'B')}")


# requests ------------------------------------------------------------------------
def valid_request_is_accepted(
    conv: Conversation, body: Body, keep: frozenset[str] = frozenset()
) -> None:
    """A body that keeps every rule creates a task the caller can read back."""
    accepted = conv.submit(body, expect=ACCEPTED, keep=keep)
    conv.poll(conv.task_id(accepted), expect=READ_BACK)


def each_submission_is_a_task(conv: Conversation, body: Body) -> None:
    """The same body submitted twice, each time as a new request (its own
    idempotency key, if any): two tasks, each readable (not one canned task)."""
    first = conv.task_id(conv.submit(body, expect=ACCEPTED))
    second = conv.task_id(conv.submit(body, expect=ACCEPTED))  # each_submission_creates_a_task
    for task_id in (first, second):
        conv.poll(task_id, expect=READ_BACK)


def broken_request_is_refused(conv: Conversation, breach: Breach, body: Body) -> None:
    """A body breaking exactly one rule gets that rule's documented error."""
    definition = str(conv.api.submit.body)
    code = breach.expected_code(conv.spec, definition) or conv.spec.errors[INVALID].code
    expect = Expectation.refused(conv.spec.error(INVALID, code), f"{breach.name} broken", code)
    touched = frozenset({breach.field.split("[")[0]})
    conv.submit(body, expect=expect, keep=touched)


def empty_balance_is_refused(conv: Conversation, body: Body) -> None:
    """A submission the balance cannot pay for (an account with no credits) gets
    the documented insufficient-credits error, and creates nothing."""
    kind = conv.spec.errors.get(INSUFFICIENT)
    if kind is None or str(kind.status) not in conv.api.submit.responses:
        pytest.skip(f"{conv.api.name} {conv.api.submit.name} documents no {INSUFFICIENT}")
    expect = Expectation.refused(kind, "an account with no credits")
    conv.submit(body, caller=EMPTY_ACCOUNT, expect=expect)


# who may see what ----------------------------------------------------------------
def calls_without_credentials_are_refused(conv: Conversation, operation: str, caller: str) -> None:
    """No key, or a key nobody owns: 401 on every operation (and never a charge)."""
    op = conv.spec.operations[operation]
    expect = Expectation.refused(_kind(conv, op, 401), f"a request by a {caller} caller")
    if op.body:
        example = next(conv.spec.examples("request", op.name))
        key = conv.new_idempotency_key()
        header = conv.api.idempotency_header
        headers = {header: key} if header and key else {}
        conv.send(op, caller=caller, expect=expect, body=conv.prepare(example), headers=headers)
    else:
        path, params = conv.api.poll_request(conv.unknown_task_id())
        conv.send(op, caller=caller, expect=expect, path=path, params=params)


def unknown_task_is_404(conv: Conversation) -> None:
    expect = Expectation.refused(_kind(conv, conv.api.poll, 404), "a task id never issued")
    conv.poll(conv.unknown_task_id(), expect=expect)


def someone_elses_task_is_404(conv: Conversation, body: Body) -> None:
    """Another account's task does not exist for the caller; its owner still sees it."""
    _require_second_account(conv)
    task_id = conv.task_id(conv.submit(body, expect=ACCEPTED))
    expect = Expectation.refused(_kind(conv, conv.api.poll, 404), "another account's task")
    conv.poll(task_id, caller="B", expect=expect)
    conv.poll(task_id, expect=READ_BACK)


# idempotency ------------------------------------------------------------------------
def replay_returns_same_task(conv: Conversation, body: Body) -> None:
    """The same body under the same key: the same task, charged once."""
    _require_idempotency(conv)
    key = conv.new_idempotency_key()
    first = conv.submit(body, idempotency_key=key, expect=ACCEPTED)
    again = Expectation.accepted("the same body again under the same Idempotency-Key")
    conv.submit(first.request_body, idempotency_key=key, expect=again)
    conv.poll(conv.task_id(first), expect=READ_BACK)
    conv.verify_balance()


def changed_body_is_conflict(conv: Conversation, body: Body, other: Body) -> None:
    """Another body under a used key is a conflict, and charges nothing."""
    _require_idempotency(conv)
    assume(conv.prepare(other) != conv.prepare(body))  # (on a budget both may be the cheapest)
    key = conv.new_idempotency_key()
    conv.submit(body, idempotency_key=key, expect=ACCEPTED)
    kind = _kind(conv, conv.api.submit, 409)
    conv.submit(other, idempotency_key=key, expect=Expectation.refused(kind, "a used key"))
    conv.verify_balance()


# rate limits and outputs ---------------------------------------------------------------
def rate_limit_answer_has_retry_after(conv: Conversation) -> None:
    """Past the documented request limit: 429 with Retry-After (free calls only)."""
    rule = next((r for r in conv.spec.profile.rate_limits if r.counts == "every_operation"), None)
    if rule is None:
        pytest.skip(f"{conv.api.name} documents no request rate limit")
    path, params = conv.api.poll_request(conv.unknown_task_id())
    kind = _kind(conv, conv.api.poll, 429)
    for n in range(1, rule.limit + 2):
        why = f"request {n} within {rule.window_seconds:g} s (limit {rule.limit})"
        expect = Expectation.refused(kind, why) if n > rule.limit else None
        refused = conv.send(
            conv.api.poll, caller="A", expect=expect, path=path, params=params, paced=False
        )
        if refused.status == kind.status:
            break
    conv.target.pacer.retry_after(refused.header("Retry-After"))  # leave the window clear


def finished_task_stays_finished(conv: Conversation, body: Body) -> None:
    """Once a task has ended, every later read shows the same end."""
    task_id = conv.task_id(conv.submit(body, expect=ACCEPTED))
    conv.wait_until_done(task_id)
    for _ in range(2):
        conv.poll(task_id, expect=READ_BACK)


def completed_task_has_downloadable_outputs(conv: Conversation, body: Body) -> None:
    """A task that completes gives out files that download (the checks fetch them)."""
    accepted = conv.submit(body, expect=ACCEPTED)
    done = conv.wait_until_done(conv.task_id(accepted))
    if conv.status_of(done) == conv.api.failed_state:
        pytest.skip("the task failed, so it has no outputs to download")
    assert conv.ctx.downloaded, f"the completed task gave no output URL: {done.text()[:300]}"


# recorded traffic -----------------------------------------------------------------------
def recorded_exchanges_keep_the_contract(
    target: Target, cassette: Cassette, drift: DriftSink | None = None
) -> None:
    """Every recorded answer, replayed in order, still keeps today's spec (each
    example of the documents on its own: they are alternatives, not a sequence)."""
    transport = ReplayTransport(cassette.exchanges, f"{cassette.provider}/{cassette.name}")
    conv = Conversation(target, cassette.provider, drift, transport=transport)
    failures = []
    for recorded in cassette.exchanges:
        if not cassette.is_one_conversation:
            conv = Conversation(target, cassette.provider, drift, transport=transport)
        try:
            conv.resend(recorded)
        except ContractViolation as violation:
            failures.append(violation)
    if failures:
        raise ContractViolation.combined(failures)
