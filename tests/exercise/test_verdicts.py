"""The verdict rules on small hand-made observations (no server), and the
settings, rule switches and placeholders they are configured with."""

from __future__ import annotations

import dataclasses

import pytest

from mockserver.exercise.observe import ClientRun, Observation, Request, TaskRecord
from mockserver.exercise.providers import Provider, provider_named
from mockserver.exercise.runner import client_command, client_values
from mockserver.exercise.scenarios import BY_NAME, Scenario
from mockserver.exercise.settings import Settings
from mockserver.exercise.verdicts import (
    enabled_rules,
    gets_the_video,
    gives_up_in_time,
    honours_retry_after,
    keeps_to_rate_limit,
    no_double_charge,
    no_silent_crash,
    reports_failure,
    retried_submit_keeps_key,
)

SETTINGS = Settings()
SEEDANCE2AI, SEEDANCEAPI = provider_named("seedance2ai"), provider_named("seedanceapi")
CLEAN, FAILED_TASK, STUCK = BY_NAME["clean"], BY_NAME["failed_task"], BY_NAME["stuck_task"]
DROPPED_SUBMIT = BY_NAME["dropped_submit"]
BODY = '{"prompt": "a train"}'


def request(at: float, operation: str = "poll", status: int = 200, **fields: object) -> Request:
    values: dict[str, object] = {
        "arrived": at, "answered": at, "operation": operation,
        "method": "POST" if operation == "submit" else "GET", "path": "/p", "status": status,
        "effect": None, "retry_after": None, "idempotency_key": None,
        "body": BODY if operation == "submit" else "", "task_status": None,
    }  # fmt: skip
    values.update(fields)
    return Request(**values)  # type: ignore[arg-type]


def task(task_id: str, status: str = "processing", refunded: int = 0) -> TaskRecord:
    return TaskRecord(task_id, status, BODY, credits=30, refunded=refunded)


def observed(
    *requests: Request,
    exit_code: int | None = 0,
    output: str = "done",
    tasks: tuple[TaskRecord, ...] = (),
    provider: Provider = SEEDANCE2AI,
) -> Observation:
    client = ClientRun(("client",), exit_code, 1.0, output, "")
    return Observation(provider, client, tuple(requests), tasks, 30, 0, ())


def finished(at: float) -> Request:
    return request(at, task_status=SEEDANCE2AI.done)


# the rules ----------------------------------------------------------------------------


def test_a_retry_sooner_than_retry_after_is_caught_and_one_after_it_is_not() -> None:
    limited = request(10, status=429, retry_after=30.0)
    early = observed(limited, request(25))
    assert "15.0 s after a 429" in str(honours_retry_after(early, CLEAN, SETTINGS))
    assert honours_retry_after(observed(limited, request(39.5)), CLEAN, SETTINGS) is None
    strict = dataclasses.replace(SETTINGS, retry_after_tolerance=0.0)
    assert honours_retry_after(observed(limited, request(39.5)), CLEAN, strict) is not None


def test_thirty_one_requests_in_a_minute_break_the_documented_limit() -> None:
    steady = [request(2.0 * i) for i in range(31)]  # 31 in 60 s: the last at 60 s
    hurried = [request(1.9 * i) for i in range(31)]  # 31 within 57 s
    assert keeps_to_rate_limit(observed(*steady), CLEAN, SETTINGS) is None
    assert "31 requests within 60 s" in str(
        keeps_to_rate_limit(observed(*hurried), CLEAN, SETTINGS)
    )
    assert keeps_to_rate_limit(observed(*hurried, provider=SEEDANCEAPI), CLEAN, SETTINGS) is None
    off = dataclasses.replace(SETTINGS, rate_limit="off")
    assert keeps_to_rate_limit(observed(*hurried), CLEAN, off) is None


def test_two_charged_tasks_for_one_job_are_a_double_charge_but_a_refunded_one_is_not() -> None:
    twice = observed(tasks=(task("a"), task("b", "completed")))
    assert "2 tasks for one job (a, b): 60 credits" in str(no_double_charge(twice, CLEAN, SETTINGS))
    refunded = observed(tasks=(task("a", "failed", refunded=30), task("b")))
    assert no_double_charge(refunded, CLEAN, SETTINGS) is None


def test_a_submit_retried_with_a_new_key_after_an_unclear_answer_is_caught() -> None:
    def submits(first: Request) -> Observation:
        return observed(first, request(5, "submit", 202, idempotency_key="k2"))

    dropped = request(0, "submit", 502, effect="drop", idempotency_key="k1", body="")
    assert "new Idempotency-Key" in str(
        retried_submit_keeps_key(submits(dropped), DROPPED_SUBMIT, SETTINGS)
    )
    refused = request(0, "submit", 402, idempotency_key="k1")  # a definite no: a new job is fine
    assert retried_submit_keeps_key(submits(refused), CLEAN, SETTINGS) is None
    same = observed(dropped, request(5, "submit", 202, idempotency_key="k1"))
    assert retried_submit_keeps_key(same, DROPPED_SUBMIT, SETTINGS) is None
    other_api = dataclasses.replace(submits(dropped), provider=SEEDANCEAPI)
    assert retried_submit_keeps_key(other_api, DROPPED_SUBMIT, SETTINGS) is None


def test_the_exit_status_must_match_what_could_be_had() -> None:
    assert gets_the_video(observed(finished(10)), CLEAN, SETTINGS) is None
    gave_up = observed(request(1, status=500), exit_code=1)
    assert "gave up (exit 1)" in str(gets_the_video(gave_up, CLEAN, SETTINGS))
    nowhere = gets_the_video(observed(exit_code=1), CLEAN, SETTINGS)
    assert "made no request to the simulator" in str(nowhere)
    assert "SEEDANCE2AI_BASE_URL" in str(nowhere)
    assert "without ever reading" in str(gets_the_video(observed(request(1)), CLEAN, SETTINGS))
    assert reports_failure(observed(exit_code=1), FAILED_TASK, SETTINGS) is None
    assert "exited 0" in str(reports_failure(observed(), FAILED_TASK, SETTINGS))
    either = Scenario("slow", "slow", expect="either")
    assert gets_the_video(observed(exit_code=1), either, SETTINGS) is None
    assert reports_failure(observed(), either, SETTINGS) is None


def test_a_killed_client_did_not_give_up_and_a_silent_one_crashed() -> None:
    killed = observed(request(0), request(600), exit_code=None)
    assert "did not give up" in str(gives_up_in_time(killed, STUCK, SETTINGS))
    assert reports_failure(killed, STUCK, SETTINGS) is None  # one verdict for one flaw
    assert gives_up_in_time(observed(exit_code=1), STUCK, SETTINGS) is None
    assert "without a word" in str(
        no_silent_crash(observed(exit_code=3, output=""), CLEAN, SETTINGS)
    )
    assert no_silent_crash(observed(exit_code=3), CLEAN, SETTINGS) is None


def test_seedanceapi_expects_no_retry_of_a_submit_whose_answer_was_lost() -> None:
    assert DROPPED_SUBMIT.expectation(SEEDANCE2AI) == "success"
    assert DROPPED_SUBMIT.expectation(SEEDANCEAPI) == "either"
    assert not BY_NAME["rate_limited_poll"].applies_to(SEEDANCEAPI)  # no documented limit


# configuration ------------------------------------------------------------------------


def test_settings_take_key_value_pairs_and_refuse_unknown_keys_and_bad_values() -> None:
    changed = SETTINGS.assign(["retry_after=60", "rate_limit=10/30", "slow_task_seconds=90"])
    assert (changed.retry_after, changed.slow_task_seconds) == (60, 90.0)
    assert changed.rate_limit_for(SEEDANCEAPI) == (10, 30.0)
    for wrong in ("nope=1", "retry_after=soon", "rate_limit=fast", "retry_after"):
        with pytest.raises(ValueError, match=r"--set|rate_limit"):
            SETTINGS.assign([wrong])


def test_rules_can_be_turned_off_by_name() -> None:
    assert honours_retry_after not in enabled_rules(["honours_retry_after"])
    with pytest.raises(ValueError, match="unknown rule"):
        enabled_rules(["be_nice"])


def test_placeholders_are_filled_and_other_braces_kept() -> None:
    values = client_values("http://127.0.0.1:9", SEEDANCEAPI, "sa_k", 60.0)
    command = ["gen", "--url={provider_base_url}", "{api_key}", '{"json": 1}', "{time_scale}"]
    assert client_command(command, values) == [
        "gen", "--url=http://127.0.0.1:9/v1", "sa_k", '{"json": 1}', "60",
    ]  # fmt: skip
