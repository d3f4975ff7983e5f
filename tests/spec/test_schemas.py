"""The request schemas: drawn values are valid, and each constraint, broken
alone, is rejected with the documented error code."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from contracts.strategies import Breach, breaches, valid_bodies
from mockserver.spec import PROVIDERS, load_provider

REQUESTS = [
    ("seedance2ai", "documented", "SubmitRequest"),
    ("seedance2ai", "observed", "SubmitRequest"),
    ("seedanceapi", "documented", "GenerateRequest"),
    ("seedanceapi", "observed", "GenerateRequest"),
    ("ark", "documented", "CreateTaskRequest"),
    ("ark", "observed", "CreateTaskRequest"),
]

# Document 004's error table, written out by hand as the oracle for the
# x-error-code annotations in spec/seedanceapi/schema.json.
SEEDANCEAPI_CODES = {
    "prompt": "INVALID_PROMPT",
    "aspect_ratio": "INVALID_ASPECT_RATIO",
    "resolution": "INVALID_RESOLUTION",
    "duration": "INVALID_DURATION",
    ("image_urls", "maxItems"): "TOO_MANY_IMAGES",
}


@pytest.mark.parametrize(("provider", "profile", "definition"), REQUESTS)
@settings(max_examples=40)
@given(data=st.data())
def test_drawn_requests_are_valid(
    provider: str, profile: str, definition: str, data: st.DataObject
) -> None:
    spec = load_provider(provider, profile)
    body = data.draw(valid_bodies(spec, definition))
    validator = spec.validator(definition)
    assert validator.violations(body) == []
    assert validator.accepts(body)  # the compiled fast path agrees


BREACHES = [
    pytest.param(provider, profile, definition, breach, id=f"{provider}-{profile}:{breach.name}")
    for provider, profile, definition in REQUESTS
    for breach in breaches(load_provider(provider, profile), definition)
]


@pytest.mark.parametrize(("provider", "profile", "definition", "breach"), BREACHES)
@settings(max_examples=15)
@given(data=st.data())
def test_each_constraint_broken_alone_is_rejected(
    provider: str, profile: str, definition: str, breach: Breach, data: st.DataObject
) -> None:
    spec = load_provider(provider, profile)
    body = data.draw(breach.bodies(spec, definition))
    assert not spec.validator(definition).accepts(body)  # the compiled fast path agrees
    [violation] = spec.validator(definition).violations(body)
    assert violation.field.split("[")[0] == breach.field.split("[")[0]
    assert violation.message.strip()
    if provider == "seedanceapi":
        documented = SEEDANCEAPI_CODES.get(
            (breach.field, breach.keyword), SEEDANCEAPI_CODES.get(breach.field, "INVALID_REQUEST")
        )
        assert violation.code == documented


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_definition_is_a_valid_draft_2020_12_schema(provider: str) -> None:
    """The simulator does not re-check its schemas at start-up; this does."""
    spec = load_provider(provider)
    for name in spec.schema["$defs"]:
        Draft202012Validator.check_schema(spec.definition(name))


def test_every_documented_constraint_has_a_breach() -> None:
    """The constraints the issue lists are all found by the schema walk."""
    names = {b.name for b in breaches(load_provider("seedance2ai"), "SubmitRequest")}
    for expected in (
        "prompt.minLength",
        "prompt.maxLength",
        "prompt.required",
        "duration.enum",
        "seed.minimum",
        "seed.maximum",
        "media_urls.maxItems",
        "image_url.format",
        "media_urls[].format",
        "unknown field",
        "rule: image_url is required when mode is image-to-video",
        "rule: media_urls is required (at least one URL) when mode is media-to-video",
        "rule: resolution 1080p-plus and 4k are available on the pro quality_tier only",
        "rule: seed is not supported on the real channel",
        "rule: seed is not supported on the mini quality_tier",
    ):
        assert expected in names
    api = {b.name for b in breaches(load_provider("seedanceapi"), "GenerateRequest")}
    assert {"prompt.maxLength", "prompt.pattern", "image_urls.maxItems", "duration.enum"} <= api


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": "ab"}, "prompt: must be 3–10000 characters (got 2)"),
        ({"prompt": "abc", "duration": 5}, "duration: must be a string (got integer)"),
        ({"prompt": "abc", "seed": -2}, "seed: must be between -1 and 4294967295 (got -2)"),
        ({"prompt": "abc", "colour": "red"}, "colour: unsupported field"),
        (
            {"prompt": "abc", "mode": "image-to-video"},
            "image_url is required when mode is image-to-video",
        ),
        (
            {"prompt": "abc", "image_url": "http://example.com/a.png"},
            'image_url: must be a public https URL (got "http://example.com/a.png")',
        ),
        (
            {"prompt": "abc", "image_url": "https://192.168.1.2/a.png"},
            'image_url: must be a public https URL (got "https://192.168.1.2/a.png")',
        ),
        ([], "must be a JSON object (got array)"),
    ],
)
def test_messages_name_the_field_and_the_rule(body: object, message: str) -> None:
    [violation] = load_provider("seedance2ai").validator("SubmitRequest").violations(body)
    assert violation.message == message


def test_observed_profile_accepts_what_live_accepted() -> None:
    body = {"prompt": "x", "duration": 8, "mode": "text-to-video", "enable_audio": True}
    assert (
        load_provider("seedanceapi", "observed").validator("GenerateRequest").violations(body) == []
    )
    documented = load_provider("seedanceapi").validator("GenerateRequest").violations(body)
    assert {v.code for v in documented} == {"INVALID_DURATION", "INVALID_REQUEST"}
