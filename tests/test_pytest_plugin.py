"""The pytest plugin, as a user meets it: installed by entry point, the
``seedance_mock`` fixture needs no import, each test gets a fresh simulator,
and the ``seedance_mock`` marker passes settings.

Each check runs a small user test file in a separate pytest process
(pytester), so the plugin is found the way an installed package is found.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

ISOLATION = """
import requests

API = "https://seedanceapi.org/v1"
AUTH = {"Authorization": "Bearer sa_demo_key"}
SEEN = {}


def test_first_spends_credits_and_leaves_things_behind(seedance_mock):
    answer = requests.post(f"{API}/generate", json={"prompt": "a fox in the snow"}, headers=AUTH)
    assert answer.json()["code"] == 200
    SEEN["task_id"] = answer.json()["data"]["task_id"]
    seedance_mock.faults.add(provider="seedance2ai", error="internal_error")
    seedance_mock.clock.advance(3600)
    assert seedance_mock.accounts.get("seedanceapi", "demo").credits == 10000 - 28


def test_second_sees_a_fresh_simulator(seedance_mock):
    assert seedance_mock.accounts.get("seedanceapi", "demo").credits == 10000
    assert seedance_mock.tasks.list() == []
    assert seedance_mock.faults.list() == []
    gone = requests.get(f"{API}/status", params={"task_id": SEEN["task_id"]}, headers=AUTH)
    assert gone.status_code == 404
    accepted = requests.post(
        "https://seedance2ai.io/api/v1/video/seedance2",
        json={"prompt": "a fox in the snow"},
        headers={"Authorization": "Bearer sk_live_demo", "Idempotency-Key": "k-1"},
    )
    assert accepted.status_code == 202
"""

MARKER = """
import pytest
import requests

API = "https://seedanceapi.org/v1"
AUTH = {"Authorization": "Bearer sa_demo_key"}
INTEGER_DURATION = {"prompt": "a fox in the snow", "duration": 8}


@pytest.mark.seedance_mock(profile="observed")
def test_observed_profile_from_the_marker(seedance_mock):
    answer = requests.post(f"{API}/generate", json=INTEGER_DURATION, headers=AUTH)
    assert answer.status_code == 200
    assert seedance_mock.config.profile == "observed"


def test_documented_profile_without_the_marker(seedance_mock):
    answer = requests.post(f"{API}/generate", json=INTEGER_DURATION, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["error"] == "INVALID_DURATION"
"""


def test_fixture_needs_no_import_and_tests_are_isolated(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=ISOLATION)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=2)


def test_marker_passes_settings_to_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=MARKER)

    result = pytester.runpytest_subprocess("--strict-markers", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=2)
