"""Profiles: every documented and observed price reproduced exactly, every
value carrying its provenance, timings and ids in the documented shapes."""

from __future__ import annotations

import random
import re
import statistics
from typing import Any

import pytest

from mockserver.spec import PROFILES, PROVIDERS, load_provider

# Copied by hand from document 004's pricing table: the oracle for spec/.
DOCUMENT_004_PRICES = {
    ("480p", 4, False): 8, ("480p", 4, True): 14,
    ("480p", 8, False): 14, ("480p", 8, True): 28,
    ("480p", 12, False): 19, ("480p", 12, True): 38,
    ("720p", 4, False): 14, ("720p", 4, True): 28,
    ("720p", 8, False): 28, ("720p", 8, True): 56,
    ("720p", 12, False): 42, ("720p", 12, True): 84,
}  # fmt: skip

# Document 000's example and every row of observed-behaviour.md's credit table.
OBSERVED_SEEDANCE2AI_PRICES = {
    ("mini", "720p", 10, False): 22,
    ("standard", "720p", 5, True): 30,
    ("standard", "720p", 15, True): 135,
    ("standard", "1080p", 10, False): 145,
    ("pro", "720p", 5, False): 55,
    ("pro", "720p", 10, False): 110,
    ("pro", "1080p", 4, False): 95,
    ("pro", "1080p", 5, False): 120,
    ("pro", "1080p", 10, False): 240,
    ("mini", "1080p", 15, True): 180,
}


def test_seedanceapi_prices_are_the_published_table() -> None:
    spec = load_provider("seedanceapi")
    grid = {
        (p["resolution"], int(p["duration"]), p["generate_audio"]): price
        for p, price in spec.price_grid("generate")
    }
    assert {k: v.credits for k, v in grid.items()} == DOCUMENT_004_PRICES
    assert all(v.provenance == "document 004" and not v.estimate for v in grid.values())


@pytest.mark.parametrize("profile", PROFILES)
def test_seedance2ai_reproduces_every_observed_price(profile: str) -> None:
    spec = load_provider("seedance2ai", profile)
    for (tier, resolution, seconds, audio), credits in OBSERVED_SEEDANCE2AI_PRICES.items():
        params = {
            "quality_tier": tier,
            "resolution": resolution,
            "duration": str(seconds),
            "generate_audio": audio,
        }
        price = spec.price(params)
        assert (price.credits, price.estimate) == (credits, False), params


def test_seedance2ai_prices_every_valid_request_and_marks_estimates() -> None:
    grid = list(load_provider("seedance2ai").price_grid("submit_video"))
    # mini and standard: 2 resolutions; pro: 4. Durations 4..15, audio on/off.
    assert len(grid) == (2 + 2 + 4) * 12 * 2
    observed = [p for _, p in grid if not p.estimate]
    assert len(observed) == len(OBSERVED_SEEDANCE2AI_PRICES)
    for params, price in grid:
        assert price.credits > 0, params
        assert price.provenance.startswith("estimate: ") == price.estimate
        assert price.provenance


def test_seedance2ai_estimates_grow_with_duration_and_audio() -> None:
    spec = load_provider("seedance2ai")
    for tier, resolution in (("mini", "720p"), ("standard", "1080p"), ("pro", "4k")):
        prices = [
            spec.price(
                {
                    "quality_tier": tier,
                    "resolution": resolution,
                    "duration": str(d),
                    "generate_audio": False,
                }
            ).credits
            for d in range(4, 16)
        ]
        assert prices == sorted(prices)


_PROSE = ("provider", "description", "rule", "unit")


def _unsourced(node: Any, path: str = "", covered: bool = False) -> list[str]:
    """Paths of profile sections holding facts with no x-provenance on them or above."""
    missing: list[str] = []
    if isinstance(node, dict):
        covered = covered or "x-provenance" in node
        facts = [
            k
            for k, v in node.items()
            if not k.startswith("x-") and k not in _PROSE and not isinstance(v, (dict, list))
        ]
        if facts and not covered:
            missing.append(path)
        for key, value in node.items():
            if not key.startswith("x-"):
                missing += _unsourced(value, f"{path}.{key}", covered)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            missing += _unsourced(item, f"{path}[{i}]", covered)
    return missing


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_profile_value_names_its_source(provider: str) -> None:
    spec = load_provider(provider)
    raw = spec.profile_json
    assert _unsourced(raw) == []
    pattern = re.compile(r"(document 00[04]|observed: |decided|estimate|fitted)")
    for path in ("ids.task", "limits", "idempotency", "refunds", "timing", "media", "retention"):
        section = raw
        for part in path.split("."):
            section = section[part]
        assert pattern.search(section["x-provenance"]), path


@pytest.mark.parametrize("provider", PROVIDERS)
def test_generated_task_ids_match_the_schema(provider: str) -> None:
    spec = load_provider(provider)
    rng = random.Random(7)
    schema_id = spec.validator("TaskId")
    for _ in range(200):
        task_id = spec.profile.task_id.generate(rng)
        assert spec.profile.task_id.matches(task_id)
        assert schema_id.is_valid(task_id)


def test_seedance2ai_ids_are_sd2_and_12_base62() -> None:
    task_id = load_provider("seedance2ai").profile.task_id.generate(random.Random(1))
    assert re.fullmatch(r"sd2_[0-9A-Za-z]{12}", task_id)


def test_timing_model_fits_the_observed_durations() -> None:
    timing = load_provider("seedance2ai").profile.timing
    rng = random.Random(3)
    draws = [
        timing.sample(rng, clip, tier)
        for clip, tier in [(10, "pro"), (5, "pro"), (4, "pro"), (10, "standard")] * 250
    ]
    assert min(draws) >= 102 * 0.8
    assert max(draws) <= 267 * 1.4
    assert 150 <= statistics.median(draws) <= 220  # observed median 184 s
    assert timing.sample(random.Random(5), 10, "pro") == timing.sample(random.Random(5), 10, "pro")


def test_observed_overlay_changes_only_what_was_observed() -> None:
    documented = load_provider("seedance2ai").profile
    observed = load_provider("seedance2ai", "observed").profile
    assert documented.failure.refund
    assert not observed.failure.refund
    assert documented.media.size("1080p", "9:16") == (1080, 1920)
    assert observed.media.size("1080p", "9:16") == (720, 1280)
    assert observed.media.size("720p", "9:16") == (496, 864)
    assert observed.media.frame_count(10) == 241  # 10.042 s at 24 fps
    assert observed.pricing != documented.pricing  # the current rate card (DECISIONS A29)
    assert "purchase_required" in observed.quirks
    assert "purchase_required" not in documented.quirks


def test_overrides_merge_into_the_profile() -> None:
    spec = load_provider(
        "seedance2ai",
        overrides={"idempotency": {"in_flight": "task"}, "refunds": {"on_failure": False}},
    )
    assert spec.profile.idempotency.in_flight == "task"
    assert not spec.profile.failure.refund
    assert load_provider("seedance2ai").profile.idempotency.in_flight == "request"
    with pytest.raises(ValueError, match="in_flight"):
        load_provider("seedance2ai", overrides={"idempotency": {"in_flight": "sometimes"}})


def test_rate_limits_come_from_the_spec() -> None:
    rules = {r.name: r for r in load_provider("seedance2ai").profile.rate_limits}
    assert (rules["requests"].limit, rules["requests"].window_seconds) == (30, 60)
    assert (rules["media_validations"].limit, rules["media_validations"].window_seconds) == (3, 60)
    assert load_provider("seedanceapi").profile.rate_limits == ()
