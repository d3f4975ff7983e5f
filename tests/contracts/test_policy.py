"""Pacing, the credit budget and reserved hosts: how the suite treats a target."""

from __future__ import annotations

import pytest

from contracts.policy import Budget, Pacer, on_reserved_hosts
from mockserver.spec import load_provider

SPEC = load_provider("seedance2ai")
SUBMIT, POLL = SPEC.operations["submit_video"], SPEC.operations["get_task"]


class FakeTime:
    """A clock that moves only when someone waits."""

    def __init__(self) -> None:
        self.t, self.waits = 0.0, list[float]()

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds


def test_the_pacer_keeps_an_account_under_the_documented_limit() -> None:
    clock = FakeTime()
    pacer = Pacer(clock)
    for _ in range(30):  # document 000: 30 requests per 60 s per account
        pacer.before(SPEC, "a", POLL)
    assert clock.waits == []
    pacer.before(SPEC, "a", SUBMIT)
    assert clock.waits == [60.5]
    pacer.before(SPEC, "b", POLL)  # another account has its own window
    assert len(clock.waits) == 1


def test_the_pacer_waits_out_retry_after() -> None:
    clock = FakeTime()
    for value in ("36", None, "0", "oops", "100000"):
        Pacer(clock).retry_after(value)
    assert clock.waits == [36, 1, 1, 1, 300]


def test_an_unlimited_budget_changes_nothing() -> None:
    budget = Budget(None)
    body = {"prompt": "abc", "quality_tier": "pro", "resolution": "4k"}
    assert budget.shape(SPEC, "SubmitRequest", body, set()) is body
    budget.reserve(10**9, "anything")
    assert budget.remaining() == float("inf")


def test_a_budget_sends_the_cheapest_configuration_that_changes_nothing_else() -> None:
    budget = Budget(50)
    body = {"prompt": "abc", "quality_tier": "pro", "resolution": "4k", "seed": 5}
    shaped = budget.shape(SPEC, "SubmitRequest", body, set())
    # seed rules out mini; the cheapest configuration left is standard 720p 4 s silent
    assert shaped == {**body, "quality_tier": "standard", "resolution": "720p", "duration": "4",
                      "generate_audio": False}  # fmt: skip
    kept = budget.shape(SPEC, "SubmitRequest", body, {"resolution"})
    assert (kept["resolution"], kept["quality_tier"]) == ("4k", "pro")


def test_a_budget_keeps_the_rule_a_negative_case_breaks() -> None:
    broken = {"prompt": "abc", "resolution": "4k", "quality_tier": "standard"}
    before = SPEC.validator("SubmitRequest").violations(broken)
    shaped = Budget(0).shape(SPEC, "SubmitRequest", broken, {"resolution"})
    assert SPEC.validator("SubmitRequest").violations(shaped) == before


def test_a_budget_stops_paid_calls_and_says_so() -> None:
    budget = Budget(20)
    budget.reserve(9, "first")
    with pytest.raises(pytest.skip.Exception, match="may cost 12 credits and 9 of the 20"):
        budget.reserve(12, "second")
    assert budget.stopped is not None
    assert budget.spent == 9
    budget.release(9)
    assert budget.remaining() == 20


def test_urls_move_to_reserved_hosts_unless_that_changes_the_breach() -> None:
    body = {
        "prompt": "abc",
        "image_url": "https://real-company.com/cat.png",
        "media_urls": ["https://a.io/1.mp4"],
        "end_image_url": "http://example.com/plain.png",
    }
    moved = on_reserved_hosts(SPEC, "SubmitRequest", body)
    assert moved["image_url"] == "https://example.com/cat.png"
    assert moved["media_urls"] == ["https://example.com/1.mp4"]
    assert moved["end_image_url"] == body["end_image_url"]  # http: the breach stays
