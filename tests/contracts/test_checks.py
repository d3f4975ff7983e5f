"""Each check on small hand-made exchanges: what it accepts, what it reports."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from contracts.checks import CHECKS, ContractViolation, run_checks
from contracts.context import CheckContext, Expectation
from contracts.dialect import ProviderAPI
from contracts.drift import DriftLog
from contracts.exchange import ANONYMOUS, CONTROL_ACCOUNT, Exchange
from mockserver.spec import load_provider

SUBMIT = "http://127.0.0.1:8000/api/v1/video/seedance2"
TASK = "http://127.0.0.1:8000/api/v1/tasks/sd2_000000000001"
BODY = {"prompt": "a train on a bridge"}  # standard 720p 5 s with audio: 30 credits
ACCEPTED = {
    "id": "sd2_000000000001",
    "status": "processing",
    "model": "seedance2",
    "quality_tier": "standard",
    "channel": "standard",
    "credits_used": 30,
}
COMPLETED = {
    **ACCEPTED,
    "status": "completed",
    "credits_refunded": 0,
    "output": {
        "video_url": "https://cdn.example/v.mp4",
        "last_frame_url": "https://cdn.example/f.png",
        "seed": 7,
    },
    "error": None,
    "created_at": "2026-06-03T10:00:00.000Z",
    "updated_at": "2026-06-03T10:03:00.000Z",
}
PROCESSING = {**COMPLETED, "status": "processing", "output": None}


def _ctx(provider: str = "seedance2ai") -> CheckContext:
    return CheckContext(ProviderAPI(load_provider(provider)))


def _answer(url: str, status: int, body: Any, **kw: Any) -> Exchange:
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    submit = url == SUBMIT
    return Exchange(
        method="POST" if submit else "GET",
        url=url,
        request_headers={"Authorization": "Bearer <redacted>"},
        request_body=kw.pop("request_body", BODY if submit else None),
        status=status,
        response_headers=headers,
        response_body=json.dumps(body).encode(),
        operation="submit_video" if submit else "get_task",
        provider="seedance2ai",
        caller=kw.pop("caller", "A"),
        credential="SEEDANCE2AI_API_KEY",
    )


def _findings(
    ctx: CheckContext, exchange: Exchange, *names: str
) -> list[tuple[str, str, str, str]]:
    try:
        run_checks(ctx, exchange, names or None)
    except ContractViolation as violation:
        return [(f.check, f.at, f.documented, f.received) for f in violation.findings]
    return []


def _submitted(ctx: CheckContext) -> None:
    exchange = _answer(SUBMIT, 202, ACCEPTED)
    run_checks(ctx, exchange)
    ctx.observe(exchange)


def test_the_registry_holds_the_issues_checks() -> None:
    assert {
        "status_code_is_documented",
        "body_matches_schema",
        "error_envelope_is_documented",
        "content_type_is_json",
        "retry_after_on_429",
        "lifecycle_only_moves_forward",
        "completed_task_has_downloadable_outputs",
        "charge_matches_price_table",
        "refund_never_exceeds_charge",
        "replay_returns_same_task",
        "changed_body_under_same_key_is_conflict",
        "no_auth_is_401",
        "someone_elses_task_is_404",
        "balance_is_start_minus_charges_plus_refunds",
    } <= set(CHECKS)


def test_a_documented_answer_passes_every_check() -> None:
    assert _findings(_ctx(), _answer(SUBMIT, 202, ACCEPTED)) == []


def test_a_violation_says_received_documented_and_curl() -> None:
    with pytest.raises(ContractViolation) as caught:
        run_checks(_ctx(), _answer(SUBMIT, 418, {"error": {"code": "teapot", "message": "no"}}))
    message = str(caught.value)
    assert "[status_code_is_documented] at status" in message
    assert "received:   418" in message
    statuses = ", ".join(load_provider("seedance2ai").operations["submit_video"].responses)
    assert f"documented: one of {statuses}" in message
    assert "reproduce: curl -sS -i -X POST" in message
    assert "$SEEDANCE2AI_API_KEY" in message


def test_body_matches_schema_names_the_field() -> None:
    missing = {k: v for k, v in COMPLETED.items() if k != "updated_at"}
    _ctx_ = _ctx()
    assert _findings(_ctx_, _answer(TASK, 200, missing), "body_matches_schema") == [
        ("body_matches_schema", "updated_at", "a required field (Task)", "(missing)")
    ]
    wrong = {**ACCEPTED, "credits_used": "30"}
    [(_check, at, documented, received)] = _findings(
        _ctx_, _answer(SUBMIT, 202, wrong), "body_matches_schema"
    )
    assert (at, received) == ("credits_used", '"30"')
    assert documented.startswith("type")


def test_error_envelope_code_must_be_documented_for_the_status() -> None:
    body = {"error": {"code": "not_found", "message": "x"}}
    assert _findings(_ctx(), _answer(SUBMIT, 400, body), "error_envelope_is_documented") == [
        ("error_envelope_is_documented", "error.code", "one of ['invalid_request']", "not_found")
    ]


@pytest.mark.parametrize(("header", "found"), [(None, 1), ("0", 1), ("1.5", 1), ("30", 0)])
def test_retry_after_on_429(header: str | None, found: int) -> None:
    headers = {"Retry-After": header} if header else {}
    body = {"error": {"code": "rate_limited", "message": "slow down"}}
    exchange = _answer(SUBMIT, 429, body, headers=headers)
    assert len(_findings(_ctx(), exchange, "retry_after_on_429")) == found


def test_expected_error_code() -> None:
    ctx = _ctx("seedanceapi")
    body = {"code": 400, "message": "INVALID_REQUEST: x", "error": "INVALID_REQUEST", "data": None}
    exchange = _answer(SUBMIT, 400, body)
    exchange = replace(exchange, operation="generate", provider="seedanceapi")
    ctx.expectation = Expectation("prompt.maxLength broken", 400, "INVALID_PROMPT")
    assert _findings(ctx, exchange, "request_gets_documented_answer") == [
        (
            "request_gets_documented_answer",
            "status",
            "400 INVALID_PROMPT (prompt.maxLength broken)",
            "400 INVALID_REQUEST",
        )
    ]


def test_lifecycle_only_moves_forward() -> None:
    ctx = _ctx()
    _submitted(ctx)
    for body in (PROCESSING, COMPLETED):
        exchange = _answer(TASK, 200, body)
        assert _findings(ctx, exchange, "lifecycle_only_moves_forward") == []
        ctx.observe(exchange)
    [(_c, at, documented, received)] = _findings(
        ctx, _answer(TASK, 200, PROCESSING), "lifecycle_only_moves_forward"
    )
    assert (at, received) == ("status", "processing")
    assert "processing → processing → completed" in documented


def test_charge_and_refund_follow_the_price_table() -> None:
    ctx = _ctx()
    _submitted(ctx)
    over = {**COMPLETED, "credits_used": 31}
    assert _findings(ctx, _answer(TASK, 200, over)) == [
        ("charge_matches_price_table", "credits_used", "30 (price table)", "31")
    ]
    failed = {
        **PROCESSING,
        "status": "failed",
        "error": {"code": "x", "message": "y"},
        "credits_refunded": 40,
    }
    names = {f[0] for f in _findings(ctx, _answer(TASK, 200, failed))}
    assert names == {"charge_matches_price_table", "refund_never_exceeds_charge"}


def test_no_credentials_must_be_refused() -> None:
    exchange = _answer(TASK, 200, COMPLETED, caller=ANONYMOUS)
    assert _findings(_ctx(), exchange, "no_auth_is_401") == [
        ("no_auth_is_401", "status", "401 unauthorized (request anonymous)", "200 None")
    ]


def test_someone_elses_task_must_be_404() -> None:
    ctx = _ctx()
    _submitted(ctx)
    [(check, *_rest)] = _findings(ctx, _answer(TASK, 200, COMPLETED, caller="B"))
    assert check == "someone_elses_task_is_404"
    not_found = {"error": {"code": "not_found", "message": "no"}}
    assert _findings(ctx, _answer(TASK, 404, not_found, caller="B")) == []


def test_balance_is_start_minus_charges_plus_refunds() -> None:
    ctx = _ctx()
    ctx.openings = {"A": 1000}
    _submitted(ctx)
    ctx.tasks["sd2_000000000001"].failed = True  # refunded: back to 1000
    account = Exchange(
        "GET", "http://x/__admin/accounts/seedance2ai/a", {}, None, 200, {},
        b'{"credits": 970}', CONTROL_ACCOUNT, "seedance2ai", "A",
    )  # fmt: skip
    [(check, at, documented, received)] = _findings(ctx, account)
    assert (check, at, received) == (
        "balance_is_start_minus_charges_plus_refunds",
        "balance of account A",
        "970",
    )
    assert documented.startswith("1000 (start 1000 − charges 30")


def test_replay_and_conflict_under_one_key() -> None:
    ctx = _ctx()
    keyed = {"Authorization": "Bearer <redacted>", "Idempotency-Key": "k1"}
    first = replace(_answer(SUBMIT, 202, ACCEPTED), request_headers=keyed)
    run_checks(ctx, first)
    ctx.observe(first)
    other_task = replace(first, response_body=json.dumps({**ACCEPTED, "id": "sd2_2"}).encode())
    assert _findings(ctx, other_task, "replay_returns_same_task")[0][1:] == (
        "id",
        "sd2_000000000001",
        "sd2_2",
    )
    changed = replace(first, request_body={"prompt": "another"})
    assert _findings(ctx, changed, "changed_body_under_same_key_is_conflict")[0][3] == "202 None"


def test_violations_reach_the_drift_log() -> None:
    ctx = _ctx()
    ctx.drift = log = DriftLog()
    for _ in range(2):
        _findings(ctx, _answer(SUBMIT, 418, {}), "status_code_is_documented")
    [entry] = log.entries()
    assert (entry.cause.operation, entry.at, entry.received, entry.count) == (
        "submit_video",
        "status",
        "418",
        2,
    )
    report = log.markdown("test target")
    assert (
        "| seedance2ai submit_video: undocumented status 418 (status_code_is_documented)" in report
    )
    assert "curl -sS -i -X POST" in report


def test_a_poll_answers_the_task_it_asked_for() -> None:
    ctx = _ctx()
    _submitted(ctx)
    assert _findings(ctx, _answer(TASK, 200, PROCESSING), "poll_answers_the_task_asked_for") == []
    canned = _answer(TASK, 200, {**PROCESSING, "id": "sd2_xxxxx"})
    assert _findings(ctx, canned, "poll_answers_the_task_asked_for") == [
        (
            "poll_answers_the_task_asked_for",
            "id",
            "sd2_000000000001 (the id asked for)",
            "sd2_xxxxx",
        )
    ]


def test_each_submission_creates_a_task_of_its_own() -> None:
    """A stateless server answers every submission with one canned task."""
    ctx = _ctx()
    _submitted(ctx)
    keyed = {"Authorization": "Bearer <redacted>", "Idempotency-Key": "k2"}
    again = replace(_answer(SUBMIT, 202, ACCEPTED), request_headers=keyed)
    [(check, at, _documented, received)] = _findings(ctx, again, "each_submission_creates_a_task")
    assert (check, at, received) == ("each_submission_creates_a_task", "id", "sd2_000000000001")


def test_an_undocumented_code_is_one_cause_whichever_check_meets_it() -> None:
    ctx = _ctx()
    renamed = {"error": {"code": "INVALID_REQUEST", "message": "bad"}}
    ctx.expectation = Expectation.refused(ctx.api.spec.errors["invalid_request"], "a test")
    try:
        run_checks(ctx, _answer(SUBMIT, 400, renamed))
    except ContractViolation as violation:
        found = {(f.check, f.cause_text) for f in violation.findings}
    assert found == {
        ("error_envelope_is_documented", "undocumented error code INVALID_REQUEST"),
        ("request_gets_documented_answer", "undocumented error code INVALID_REQUEST"),
    }


def test_a_throttled_request_is_judged_when_retried_not_before() -> None:
    """Key guessing is refused with 429 + Retry-After; the retried answer counts."""
    body = {"error": {"code": "rate_limited", "message": "too many failed authentications"}}
    throttled = _answer(TASK, 429, body, caller=ANONYMOUS, headers={"Retry-After": "60"})
    assert _findings(_ctx(), throttled) == []
