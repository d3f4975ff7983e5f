"""The url and live targets, played by the in-process simulator answering the
providers' real hosts (mockserver.inprocess): keys from the environment, a hard
credit budget, reserved hosts, and the control API found only where it exists."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import scenarios
from contracts.conversation import Conversation
from contracts.exchange import ANONYMOUS
from contracts.policy import Pacer
from contracts.strategies import breaches
from contracts.target import Target, live_target, url_target
from mockserver.inprocess import SeedanceMock
from tests.contracts.test_policy import FakeTime

KEYS = {"SEEDANCE2AI_API_KEY": "sk_live_demo", "SEEDANCEAPI_API_KEY": "sa_demo_key"}
EXAMPLE = {
    "prompt": "a glass train crossing a snowy bridge",
    "quality_tier": "pro",
    "resolution": "4k",
    "duration": "15",
    "image_url": "https://real-company.com/a.png",
}


def _live(max_credits: int = 0, environ: dict[str, str] | None = None) -> Target:
    target = live_target(max_credits=max_credits, environ=KEYS if environ is None else environ)
    target.pacer = Pacer(FakeTime())  # the simulator's limits, without real sleeps
    return target


def _charges(sim: SeedanceMock, provider: str = "seedance2ai") -> list[int]:
    _opening, entries = sim.accounts.ledger(provider, "demo")
    return [e.amount for e in entries if e.kind == "charge"]


def test_live_without_keys_skips_and_says_which_variables_to_set() -> None:
    conv = Conversation(_live(environ={}), "seedance2ai")
    with pytest.raises(pytest.skip.Exception) as skipped:
        scenarios.unknown_task_is_404(conv)
    assert "set SEEDANCE2AI_API_KEY (and SEEDANCE2AI_API_KEY_B" in str(skipped.value)
    assert "--max-credits" in str(skipped.value)


def test_live_with_no_budget_makes_only_free_calls(seedance_mock: SeedanceMock) -> None:
    target = _live()
    conv = Conversation(target, "seedance2ai")
    scenarios.unknown_task_is_404(conv)
    scenarios.calls_without_credentials_are_refused(conv, "submit_video", ANONYMOUS)
    [too_short] = [b for b in breaches(conv.spec, "SubmitRequest") if b.name == "prompt.minLength"]
    scenarios.broken_request_is_refused(conv, too_short, {"prompt": "ab"})
    with pytest.raises(pytest.skip.Exception, match="stopped paid calls"):
        scenarios.valid_request_is_accepted(conv, EXAMPLE)
    assert target.budget.spent == 0
    assert _charges(seedance_mock) == []
    assert [e.status for e in seedance_mock.journal.entries()] == [400, 401, 404]  # newest first


def test_a_refused_request_the_live_api_accepts_counts_as_paid(seedance_mock: SeedanceMock) -> None:
    """Live seedanceapi accepted an integer duration (observed): not a free call."""
    conv = Conversation(_live(), "seedanceapi")
    [integer] = [b for b in breaches(conv.spec, "GenerateRequest") if b.name == "duration.type"]
    with pytest.raises(pytest.skip.Exception, match="stopped paid calls"):
        scenarios.broken_request_is_refused(conv, integer, {"prompt": "x", "duration": 8})
    assert seedance_mock.journal.entries() == []


def test_paid_calls_use_the_cheapest_configuration(seedance_mock: SeedanceMock) -> None:
    target = _live(max_credits=100)
    conv = Conversation(target, "seedance2ai")
    scenarios.valid_request_is_accepted(conv, EXAMPLE)
    assert _charges(seedance_mock) == [-9]  # mini, 720p, 4 s, silent: round-half-up(2.2 x 4)
    assert target.budget.spent == 9
    [task] = seedance_mock.tasks.list()
    assert task.params["quality_tier"] == "mini"
    assert task.params["image_url"] == "https://example.com/a.png"  # never a real third party


def test_live_keys_never_reach_a_message_or_an_exchange(seedance_mock: SeedanceMock) -> None:
    target = _live(max_credits=100)
    conv = Conversation(target, "seedanceapi")
    scenarios.valid_request_is_accepted(conv, {"prompt": "a cat"})
    texts = [repr(target), repr(conv.accounts)]
    texts += [repr(e) + e.curl() + str(e.request_headers) for e in conv.ctx.history]
    assert not any("sa_demo_key" in text for text in texts)


def test_a_url_with_a_control_api_is_a_simulator(seedance_mock: SeedanceMock) -> None:
    target = url_target("https://seedanceapi.org")
    assert target.controls is not None
    assert not target.budget.limited
    conv = Conversation(target, "seedanceapi")
    scenarios.finished_task_stays_finished(conv, {"prompt": "a cat"})  # the clock is advanced
    conv.verify_balance()


@pytest.mark.seedance_mock(admin_token="s3cret")
def test_a_url_without_a_control_api_is_treated_like_live(seedance_mock: Any) -> None:
    target = url_target("https://seedanceapi.org", max_credits=0, environ=KEYS)
    assert target.controls is None
    assert target.budget.limit == 0
    assert url_target("https://seedanceapi.org", admin_token="s3cret").controls is not None
