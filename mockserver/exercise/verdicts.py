"""The verdict rules: what a client must not do, one plain function each.

Every rule has the signature ``rule(observed, scenario, settings) -> str | None``
and returns None when the client kept it, or what it did wrong. A scenario
fails when any enabled rule does. ``RULES`` lists them in report order;
``--rule-off NAME`` turns one off and ``--set`` changes a threshold (see
:mod:`mockserver.exercise.settings`).

- ``gives_up_in_time``: the client ended within ``time_limit`` (wall clock).
  A client still running is killed: an unbounded retry loop, or polling a task
  that will never end.
- ``no_silent_crash``: a non-zero exit comes with some output saying why.
- ``honours_retry_after``: after a 429 or 503 carrying Retry-After, the next
  request came no sooner than Retry-After minus ``retry_after_tolerance``
  simulated seconds.
- ``no_double_charge``: no two still-charged tasks with the same parameters
  (a failed task refunded in full does not count).
- ``retried_submit_keeps_key``: on a provider with idempotent submits, a
  submit repeated after an answer that did not get through (429, 409, 5xx,
  dropped, cut off) carries the same Idempotency-Key; with a new key, a first
  attempt that was processed after all becomes a second job and a second charge.
- ``keeps_to_rate_limit``: no more requests in any window than ``rate_limit``
  allows (documented: the provider's profile.json rate limit that counts every
  request; none where it has none). The window is simulated time, which is the
  client's time when it divides its waits by SEEDANCE_MOCK_TIME_SCALE; a client
  that does not is seen time_scale times slower than it is (judge its pace with
  ``--time-scale 1``).
- ``gets_the_video``: where the scenario expects success (the clean run, one-off
  faults a retry gets through), the client exits 0 after reading the finished task.
- ``reports_failure``: where no video can be had (failed, stuck, refused), the
  client exits non-zero: 0 would tell a calling script that all went well.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from mockserver.exercise.observe import Observation, short_key
from mockserver.exercise.providers import SUBMIT
from mockserver.exercise.scenarios import FAILURE, SUCCESS, Scenario
from mockserver.exercise.settings import Settings

Rule = Callable[[Observation, Scenario, Settings], "str | None"]

#: answers after which a new submit is a definite new job, not a retry
_DEFINITE = (400, 401, 402, 403, 404, 422)


def gives_up_in_time(observed: Observation, scenario: Scenario, settings: Settings) -> str | None:
    """The client ends within the time limit."""
    if not observed.client.killed:
        return None
    last = observed.requests[-1] if observed.requests else None
    latest = f", the last ({last.outcome()}) at {last.arrived:.0f} s simulated" if last else ""
    return (
        f"did not give up: still running after {settings.time_limit:g} s and killed; "
        f"{len(observed.requests)} requests{latest}"
    )


def no_silent_crash(observed: Observation, scenario: Scenario, settings: Settings) -> str | None:
    """A failing client says why."""
    client = observed.client
    if client.killed or client.exit_code == 0 or (client.stdout + client.stderr).strip():
        return None
    return f"exited {client.exit_text()} without a word on stdout or stderr"


def honours_retry_after(
    observed: Observation, scenario: Scenario, settings: Settings
) -> str | None:
    """After Retry-After, the next request waits at least that long."""
    early = []
    for index, answer in enumerate(observed.requests[:-1]):
        wait = answer.retry_after
        gap = observed.requests[index + 1].arrived - answer.answered
        if wait is not None and gap < wait - settings.retry_after_tolerance:
            early.append(
                f"{gap:.1f} s after a {answer.status} on the {answer.operation} "
                f"that said Retry-After: {wait:g}"
            )
    if not early:
        return None
    more = f" (and {len(early) - 1} more time(s))" if len(early) > 1 else ""
    return f"ignored Retry-After: asked again {early[0]}{more} (simulated seconds)"


def no_double_charge(observed: Observation, scenario: Scenario, settings: Settings) -> str | None:
    """One job, one charge."""
    groups = observed.duplicate_jobs()
    if not groups:
        return None
    group = groups[0]
    ids = ", ".join(t.id for t in group)
    paid = sum(t.credits for t in group)
    once = group[0].credits
    return f"{len(group)} tasks for one job ({ids}): {paid} credits charged instead of {once}"


def retried_submit_keeps_key(
    observed: Observation, scenario: Scenario, settings: Settings
) -> str | None:
    """A retried submit reuses its Idempotency-Key."""
    if not observed.provider.idempotent:
        return None
    submits = observed.of(SUBMIT)
    for earlier, later in itertools.pairwise(submits):
        if earlier.readable or earlier.status in _DEFINITE or not later.same_body(earlier):
            continue
        if later.idempotency_key != earlier.idempotency_key:
            return (
                f"retried the submit after {earlier.outcome()} with a new Idempotency-Key "
                f"({short_key(earlier.idempotency_key)} then {short_key(later.idempotency_key)}): "
                "had the first attempt been processed, the retry would be a second job "
                "and a second charge"
            )
    return None


def keeps_to_rate_limit(
    observed: Observation, scenario: Scenario, settings: Settings
) -> str | None:
    """No more requests per window than the rate limit allows."""
    limit = settings.rate_limit_for(observed.provider)
    if limit is None:
        return None
    count, window = limit
    most = observed.busiest(window)
    if most <= count:
        return None
    return f"{most} requests within {window:g} s (simulated); the limit is {count} per {window:g} s"


def gets_the_video(observed: Observation, scenario: Scenario, settings: Settings) -> str | None:
    """Where a retry gets through, the client ends with the video."""
    client = observed.client
    if scenario.expectation(observed.provider) != SUCCESS or client.killed:
        return None
    finished = observed.saw(observed.provider.done)
    if client.exit_code == 0 and finished:
        return None
    if not observed.requests:
        prefix = observed.provider.env_prefix
        return (
            f"made no request to the simulator (exit {client.exit_text()}): does it read "
            f"SEEDANCE_MOCK_BASE_URL or {prefix}_BASE_URL, or take {{base_url}}?"
        )
    if client.exit_code == 0:
        return "exited 0 without ever reading the finished task"
    return f"gave up (exit {client.exit_text()}) where a retry would have got the video"


def reports_failure(observed: Observation, scenario: Scenario, settings: Settings) -> str | None:
    """Where no video can be had, the exit status says so."""
    client = observed.client
    if scenario.expectation(observed.provider) != FAILURE or client.exit_code != 0:
        return None
    return "exited 0 although no video could be made"


RULES: tuple[Rule, ...] = (
    gives_up_in_time,
    no_silent_crash,
    honours_retry_after,
    no_double_charge,
    retried_submit_keeps_key,
    keeps_to_rate_limit,
    gets_the_video,
    reports_failure,
)

BY_NAME: dict[str, Rule] = {rule.__name__: rule for rule in RULES}


@dataclass(frozen=True)
class Finding:
    """A rule the client broke in a scenario."""

    rule: str
    message: str


def judge(
    observed: Observation, scenario: Scenario, settings: Settings, rules: tuple[Rule, ...] = RULES
) -> list[Finding]:
    """Every rule of ``rules`` the client broke in ``scenario``."""
    findings = []
    for rule in rules:
        message = rule(observed, scenario, settings)
        if message is not None:
            findings.append(Finding(rule.__name__, message))
    return findings


def enabled_rules(off: list[str]) -> tuple[Rule, ...]:
    """Every rule but those named in ``off``; ValueError for an unknown name."""
    unknown = [name for name in off if name not in BY_NAME]
    if unknown:
        known = ", ".join(BY_NAME)
        raise ValueError(f"unknown rule(s): {', '.join(unknown)}; the rules are {known}")
    return tuple(rule for rule in RULES if rule.__name__ not in off)
