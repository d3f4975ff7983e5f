"""The OpenAPI export: valid 3.1, every operation and route present, and the
lifecycle walkable: submit links to poll, the webhook is a callback of submit."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from contracts.dialect import ProviderAPI
from mockserver.spec import PROFILES, PROVIDERS, export_openapi, load_provider


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at JSON pointer ``pointer`` (RFC 6901) in ``document``."""
    for escaped in pointer.lstrip("/").split("/") if pointer else []:
        part = escaped.replace("~1", "/").replace("~0", "~")
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


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


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_submit_answer_links_to_its_poll_by_task_id(provider: str) -> None:
    """The link's expression finds the task id in the documented submit answer,
    and names a parameter the poll operation takes."""
    spec = load_provider(provider)
    document = export_openapi(spec)
    lifecycles = ProviderAPI.lifecycles(spec)
    assert lifecycles
    for api in lifecycles:
        submit = document["paths"][api.submit.path][api.submit.method.lower()]
        [link] = submit["responses"][str(api.success_status(api.submit))]["links"].values()
        assert link["operationId"] == api.poll.name
        [(where, expression)] = link["parameters"].items()
        location, name = where.split(".")
        poll = document["paths"][api.poll.path][api.poll.method.lower()]
        assert (name, location) in [(p["name"], p["in"]) for p in poll["parameters"]]
        pointer = expression.removeprefix("$response.body#")
        answers = [
            e["body"]
            for e in spec.example_index()
            if (e["kind"], e["operation"]) == ("response", api.submit.name)
            and e.get("status") == api.success_status(api.submit)
        ]
        assert answers, f"{provider} documents no {api.submit.name} answer to check the link on"
        for body in answers:
            assert isinstance(resolve_pointer(body, pointer), str)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_webhook_is_a_callback_of_the_submit_operation(provider: str) -> None:
    spec = load_provider(provider)
    webhook = spec.api.get("webhook")
    if not webhook:
        pytest.skip(f"{provider} documents no webhook")
    document = export_openapi(spec)
    api = ProviderAPI(spec)
    submit = document["paths"][api.submit.path][api.submit.method.lower()]
    [(url, item)] = submit["callbacks"][webhook["name"]].items()
    field = url.removeprefix("{$request.body#/").removesuffix("}")
    assert field in spec.definition(str(api.submit.body))["properties"]
    assert item == document["webhooks"][webhook["name"]]
