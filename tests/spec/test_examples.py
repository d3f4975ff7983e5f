"""Every JSON example of both provider documents validates against its schema."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockserver.spec import PROVIDERS, load_provider

EXAMPLES = [
    pytest.param(name, entry, id=f"{name}:{entry['file']}")
    for name in PROVIDERS
    for entry in load_provider(name).example_index()
]


@pytest.mark.parametrize(("provider", "entry"), EXAMPLES)
def test_documented_example_validates(provider: str, entry: dict[str, Any]) -> None:
    validator = load_provider(provider).validator(entry["schema"])
    body = entry["body"]
    if entry.get("abridged"):  # elided as published: valid once each "…" is filled in
        body = json.loads(json.dumps(body, ensure_ascii=False).replace("…", "x"))
    assert validator.violations(body) == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_operation_has_request_and_response_examples(provider: str) -> None:
    spec = load_provider(provider)
    index = spec.example_index()
    for operation in spec.operations:
        kinds = {e["kind"] for e in index if e["operation"] == operation}
        assert "response" in kinds, f"{provider}.{operation} has no documented response example"


def test_examples_are_verbatim_copies_of_the_documents() -> None:
    """The fixture files hold the documents' own text, not a reformatted copy."""
    spec = load_provider("seedance2ai")
    request = next(spec.examples("request", "submit_video"))
    assert request["prompt"] == "A cinematic shot of a glass train crossing a snowy mountain bridge"
    status = next(load_provider("seedanceapi").examples("response", "status"))
    assert status["data"]["response"] == [
        "https://cdn.example.com/videos/seed15abc123def456pro.mp4"
    ]
