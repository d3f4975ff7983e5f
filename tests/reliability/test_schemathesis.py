"""Schemathesis against the exported OpenAPI documents (issue #8, "Bad input").

Each provider's document is the one ``seedance-mock openapi`` prints
(``export_openapi``). Schemathesis draws valid (positive) and invalid
(negative) requests from it and runs its stateless checks on each answer:
no server error, a documented status, content type, body schema and headers,
valid data accepted, invalid data refused. Its stateful phase then walks the
task lifecycle by the documents' links (submit → poll with the id answered).
Requests go through the WSGI app in-process with a valid key and, for valid
submissions, a fresh Idempotency-Key; the domain formats (``public-https-url``...) come from the
contract suite's strategies, as everywhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from requests.structures import CaseInsensitiveDict
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from contracts.strategies import FORMAT_STRATEGIES
from mockserver.app import create_app
from mockserver.providers.context import EXTENSION
from mockserver.spec import export_openapi
from tests.reliability.conftest import (
    KEYS,
    SPECS,
    Figures,
    InProcessControl,
    ledger_violations,
    lifted_config,
)

EXAMPLES = 200
STATELESS_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    missing_required_header,
]
MODE_CHECKS = {
    GenerationMode.POSITIVE: [positive_data_acceptance],
    GenerationMode.NEGATIVE: [negative_data_rejection],
}
SUMMARY = (
    "schemathesis: {cases} cases (positive and negative) from 2 exported OpenAPI "
    "documents, {failures} failing"
)

for _format, _strategy in FORMAT_STRATEGIES.items():
    schemathesis.openapi.format(_format, _strategy)


@pytest.fixture
def app() -> Iterator[Flask]:
    application = create_app(lifted_config())
    yield application
    application.extensions[EXTENSION].close()


def _fresh_idempotency_key(case: Case[Any]) -> None:
    """Valid submissions each get their own key (a repeated one is a documented 409,
    but would stop valid data from being tried)."""
    if case.headers is not None and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = f"schemathesis-{uuid.uuid4()}"


@pytest.mark.parametrize("mode", list(MODE_CHECKS), ids=lambda m: m.value)
@pytest.mark.parametrize("provider", list(KEYS))
def test_schemathesis_finds_no_undocumented_answer(
    app: Flask, provider: str, mode: GenerationMode, figures: Figures
) -> None:
    schema = schemathesis.openapi.from_dict(export_openapi(SPECS[provider]))
    schema.app = app
    auth = {"Authorization": f"Bearer {KEYS[provider]}"}
    checks = STATELESS_CHECKS + MODE_CHECKS[mode]
    tried = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=schema.as_strategy(generation_mode=mode))
    def exchange(case: Case[Any]) -> None:
        nonlocal tried
        tried += 1
        if mode is GenerationMode.POSITIVE:
            _fresh_idempotency_key(case)
        response = case.call(headers=auth)
        case.validate_response(response, checks=checks, headers=auth)

    try:
        exchange()
    except BaseException:
        figures.add("schemathesis", SUMMARY, cases=tried, failures=1)
        raise
    figures.add("schemathesis", SUMMARY, cases=tried, failures=0)
    assert ledger_violations(InProcessControl(app.test_client())) == []


# the stateful phase: the lifecycle, walked by the documents' links -----------------------
STATEFUL_SCENARIOS = 25
STATEFUL_SUMMARY = (
    "schemathesis stateful: {scenarios} scenarios, {calls} calls, {links} links followed "
    "(submit → poll, from the documents' links), {failures} failing"
)


@pytest.mark.parametrize("provider", list(KEYS))
def test_schemathesis_walks_the_lifecycle_by_its_links(
    app: Flask, provider: str, figures: Figures
) -> None:
    """Schemathesis's stateful phase submits, follows each submit answer's link to
    the poll operation with the task id it answered, and checks every answer
    (schemas, statuses, headers, auth enforced, created resources readable)."""
    document = export_openapi(SPECS[provider])
    schema = schemathesis.openapi.from_dict(document)
    schema.app = app
    counts = {"scenarios": 0, "calls": 0, "links": 0, "failures": 0}

    @schema.auth()
    class DemoKey:
        def get(self, case: Case[Any], ctx: Any) -> str:
            return KEYS[provider]

        def set(self, case: Case[Any], data: str, ctx: Any) -> None:
            if case.headers is None:
                case.headers = CaseInsensitiveDict()
            case.headers["Authorization"] = f"Bearer {data}"

    class Lifecycle(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            counts["scenarios"] += 1

        def before_call(self, case: Case[Any]) -> None:
            _fresh_idempotency_key(case)

        def step(self, input: StepInput) -> StepOutput:
            counts["calls"] += 1
            if input.transition is not None and not input.transition.is_inferred:
                counts["links"] += input.is_applied
            output: StepOutput = super().step(input)
            return output

    run = settings(
        max_examples=STATEFUL_SCENARIOS,
        deadline=None,
        stateful_step_count=10,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    try:
        Lifecycle.run(settings=run)
    except BaseException:
        counts["failures"] += 1
        raise
    finally:
        figures.add("schemathesis stateful", STATEFUL_SUMMARY, **counts)
    assert counts["links"] > 0, "the stateful phase followed no link of the document"
    assert ledger_violations(InProcessControl(app.test_client())) == []
