"""The OpenAPI export: valid 3.1, and every operation and route present."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from mockserver.spec import PROFILES, PROVIDERS, export_openapi, load_provider


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_openapi_document_is_valid(provider: str, profile: str) -> None:
    validate(export_openapi(load_provider(provider, profile)))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_operation_is_exported_with_its_documented_statuses(provider: str) -> None:
    spec = load_provider(provider)
    document = export_openapi(spec)
    for op in spec.operations.values():
        exported = document["paths"][op.path][op.method.lower()]
        assert exported["operationId"] == op.name
        assert set(exported["responses"]) == set(op.responses)
    assert set(document["components"]["schemas"]) == set(spec.schema["$defs"])


def test_retry_after_is_declared_on_429() -> None:
    document = export_openapi(load_provider("seedance2ai"))
    submit = document["paths"]["/api/v1/video/seedance2"]["post"]
    assert "Retry-After" in submit["responses"]["429"]["headers"]
    header_names = {p["name"] for p in submit["parameters"] if p["in"] == "header"}
    assert header_names == {"Idempotency-Key"}


def test_seedanceapi_exports_its_webhook() -> None:
    document = export_openapi(load_provider("seedanceapi"))
    assert "task_finished" in document["webhooks"]
    query = document["paths"]["/v1/status"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in query] == [("task_id", "query", True)]
