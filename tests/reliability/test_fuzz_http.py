"""Bad input never gets an undocumented answer (issue #8, "Bad input").

Hypothesis throws requests at both providers: valid bodies, a wrong type in a
field, any JSON value, broken bytes (NUL, invalid UTF-8, truncation), deep
nesting, lone surrogates, junk content types, keys and headers, unknown paths
and methods. Every answer must be documented (``undocumented(answer) == []``):
a documented status, ``application/json``, the provider's error envelope with
a code of that status, or the operation's success schema; never a 500, an
HTML page or a stack trace. Afterwards the ledger must still add up.

The same requests go once through the WSGI app (fast, thousands of inputs)
and once as bytes over a socket to a real gunicorn server, where framing
(chunked bodies, Content-Length, header sizes) is the server's to parse.
Inputs that are not valid HTTP framing at all have their own table below.

Every input tried is counted, and the counts are printed in the summary.
The generators live in ``fuzz_inputs.py``; ``fuzz_run.py`` (``make fuzz``)
throws 100,000 of them, over sockets too, with broken HTTP framing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings

from mockserver.app import create_app
from mockserver.providers.context import EXTENSION
from mockserver.spec import ProviderSpec
from tests.reliability.conftest import (
    KEYS,
    LIFTED_FLAGS,
    SPECS,
    Answer,
    Figures,
    HttpControl,
    InProcessControl,
    Probe,
    ledger_violations,
    send,
    send_raw,
    undocumented,
)
from tests.reliability.fuzz_findings import Findings
from tests.reliability.fuzz_inputs import (
    OUTSIDE_PATHS,
    all_probes,
    json_bytes,
    nested_json,
    resolved,
)
from tests.reliability.fuzz_simulator import FUZZ_KEYS, fuzz_config, seed_tasks, through_app
from tests.server import Server, running_server

IN_PROCESS_EXAMPLES = 1500
OVER_SOCKET_EXAMPLES = 250
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def fuzz_app() -> Iterator[Flask]:
    application = create_app(fuzz_config())
    yield application
    application.extensions[EXTENSION].close()


# in-process -------------------------------------------------------------------------------


def test_fuzzed_requests_get_documented_answers_and_leave_the_ledger_whole(
    fuzz_app: Flask, figures: Figures
) -> None:
    client = fuzz_app.test_client()
    send_probe = through_app(client)
    known = seed_tasks(send_probe, InProcessControl(client))
    findings = Findings()

    @settings(
        max_examples=IN_PROCESS_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(probe=all_probes(known))
    def fuzz(probe: Probe) -> None:
        findings.record(send_probe(probe))

    fuzz()
    ledger = ledger_violations(InProcessControl(client))
    figures.report("fuzz-wsgi", findings.summary("in-process WSGI, every provider", ledger))
    assert not findings.kinds, findings.report()
    assert ledger == []


# over a socket to a real server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[Server]:
    with running_server("--clock", "manual", "--auth-failure-limit", "0", *LIFTED_FLAGS) as server:
        yield server


def _still_serves(server: Server) -> None:
    probe = Probe("GET", "/v1/status", "task_id=nothing", {"Authorization": "Bearer sa_demo_key"})
    answer = send_raw(server, probe)
    assert (answer.status, undocumented(answer)) == (404, []), answer.describe()


@pytest.mark.slow
def test_fuzzed_requests_over_a_socket_get_documented_answers(
    fuzz_server: Server, figures: Figures
) -> None:
    findings = Findings()
    known = dict.fromkeys(SPECS, ("seednonexistent00000000", "sd2_nonexistent"))

    @settings(
        max_examples=OVER_SOCKET_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(probe=all_probes(known))
    def fuzz(probe: Probe) -> None:
        findings.record(send_raw(fuzz_server, probe))

    fuzz()
    ledger = ledger_violations(HttpControl(fuzz_server.base_url))
    figures.report("fuzz-socket", findings.summary("bytes over a socket to gunicorn", ledger))
    assert not findings.kinds, findings.report()
    assert ledger == []
    _still_serves(fuzz_server)


# the named cases of the issue, each with the message it should give ----------------------------


@dataclass(frozen=True)
class Case:
    name: str
    status: int
    says: str  # a word the message must contain, so it is useful
    body: bytes = b'{"prompt": "A lighthouse in a storm at night"}'
    content_type: str | None = "application/json"
    query: str = ""
    extra: dict[str, str] = field(default_factory=dict)


BAD_INPUT = (
    Case("invalid JSON", 400, "JSON", body=b'{"prompt": "A lighthouse",'),
    Case("JSON that is not an object", 400, "object", body=b'["A lighthouse"]'),
    Case("wrong content type", 400, "Content-Type", content_type="text/plain"),
    Case("no content type", 400, "Content-Type", content_type=None),
    Case("empty body", 400, "empty", body=b""),
    Case("body just over 1 MiB", 413, "limit", body=b'{"prompt": "' + b"a" * MIB + b'"}'),
    Case("body of 5 MiB", 413, "limit", body=b'{"prompt": "' + b"a" * (5 * MIB) + b'"}'),
    Case(
        "nesting 33 deep",
        400,
        "nested",
        body=b'{"prompt": "x", "a": ' + nested_json(32, "array") + b"}",
    ),
    Case("nesting 100000 deep", 400, "JSON", body=nested_json(100000, "array")),
    Case("invalid UTF-8", 400, "UTF-8", body=b'{"prompt": "caf\xc3\x28 au lait"}'),
    Case("lone surrogate", 400, "surrogate", body=b'{"prompt": "a \\udc00 b c"}'),
    Case("NUL byte in the body", 400, "JSON", body=b'{"prompt": "a\x00b c d"}'),
    Case("NUL in a field name", 400, "NUL", body=b'{"prompt\\u0000": "a b c"}'),
    Case("query string over 8 KB", 400, "URL", query="x=" + "a" * 9000),
    Case("header over 8 KB", 400, "Header", extra={"X-Big": "a" * 9000}),
)


def _bad_input_answer(client: FlaskClient, provider: str, case: Case) -> Answer:
    op = next(o for o in SPECS[provider].operations.values() if o.body)
    sent = {
        "Authorization": f"Bearer {KEYS[provider]}",
        "Idempotency-Key": "bad-input",
        **case.extra,
    }
    if case.content_type is not None:
        sent["Content-Type"] = case.content_type
    return send(client, op.method, op.path, query=case.query, headers=sent, body=case.body)


def _message(answer: Answer) -> str:
    body = answer.json()
    return str(body["error"]["message"] if isinstance(body["error"], dict) else body["message"])


@pytest.mark.parametrize("provider", list(KEYS))
@pytest.mark.parametrize("case", BAD_INPUT, ids=[c.name for c in BAD_INPUT])
def test_bad_input_gets_the_envelope_with_a_useful_message(
    fuzz_app: Flask, provider: str, case: Case
) -> None:
    answer = _bad_input_answer(fuzz_app.test_client(), provider, case)

    assert undocumented(answer) == [], answer.describe()
    assert answer.status == case.status, answer.describe()
    assert case.says.lower() in _message(answer).lower(), answer.describe()


def _types(schema: dict[str, Any], spec: ProviderSpec) -> set[str]:
    """The JSON types a property schema allows, its anyOf/oneOf branches included."""
    schema = resolved(spec, schema)
    kinds = schema.get("type")
    found = {kinds} if isinstance(kinds, str) else set(kinds or [])
    for branch in [*schema.get("anyOf", []), *schema.get("oneOf", [])]:
        found |= _types(branch, spec)
    return found


def _wrong_types(schema: dict[str, Any], spec: ProviderSpec) -> list[Any]:
    allowed = _types(schema, spec)
    samples = {
        "null": None,
        "boolean": True,
        "integer": 7,
        "number": 2.5,
        "string": "7",
        "array": ["7"],
        "object": {"value": "7"},
    }
    if "number" in allowed:
        allowed.add("integer")  # 7 is a number too (2.5 stays wrong for an integer)
    return [value for kind, value in samples.items() if kind not in allowed]


def _field_cases() -> list[tuple[str, str, Any]]:
    cases = []
    for provider, spec in SPECS.items():
        op = next(o for o in spec.operations.values() if o.body)
        assert op.body is not None
        for name, schema in spec.validator(op.body).schema["properties"].items():
            cases += [(provider, name, value) for value in _wrong_types(schema, spec)]
    return cases


FIELD_CASES = _field_cases()


@pytest.mark.parametrize(
    ("provider", "name", "value"),
    FIELD_CASES,
    ids=[f"{p}-{n}-{type(v).__name__}" for p, n, v in FIELD_CASES],
)
def test_a_wrong_type_in_any_field_is_400_naming_the_field(
    fuzz_app: Flask, provider: str, name: str, value: Any, figures: Figures
) -> None:
    spec = SPECS[provider]
    op = next(o for o in spec.operations.values() if o.body)
    body = {**next(iter(spec.examples("request", op.name))), name: value}
    sent = {
        "Authorization": f"Bearer {FUZZ_KEYS[provider]}",
        "Idempotency-Key": f"wrong-{name}-{type(value).__name__}",
        "Content-Type": "application/json",
    }
    answer = send(fuzz_app.test_client(), op.method, op.path, headers=sent, body=json_bytes(body))
    named = answer.status == 400 and not undocumented(answer) and name in _message(answer)
    figures.add(
        "wrong-types",
        "wrong types: {pairs} field/type pairs sent, {named} answered 400 naming the field",
        pairs=1,
        named=int(named),
    )

    assert undocumented(answer) == [], answer.describe()
    assert answer.status == 400, answer.describe()
    assert name in _message(answer), answer.describe()


@pytest.mark.parametrize("provider", list(KEYS))
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"])
def test_an_undocumented_method_is_405_in_the_envelope(
    fuzz_app: Flask, provider: str, method: str
) -> None:
    client = fuzz_app.test_client()
    for op in SPECS[provider].operations.values():
        path = op.path.replace("{id}", "some-task")
        answer = send(client, method, path, headers={"Authorization": f"Bearer {KEYS[provider]}"})

        assert (answer.status, undocumented(answer)) == (405, []), answer.describe()
        assert answer.header("Allow"), answer.describe()


@pytest.mark.parametrize("path", [*OUTSIDE_PATHS, "/__admin/no-such-call", "/__media/a/b/c"])
def test_a_path_outside_both_providers_is_never_an_html_page(fuzz_app: Flask, path: str) -> None:
    answer = send(fuzz_app.test_client(), "GET", path)

    assert answer.status == 404, answer.describe()
    assert undocumented(answer) == [], answer.describe()


# what only a real server sees: bytes that are not valid HTTP framing -----------------------------


def _raw(request_line: bytes, *headers: bytes, body: bytes = b"") -> bytes:
    return (
        request_line
        + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + b"".join(h + b"\r\n" for h in headers)
        + b"\r\n"
        + body
    )


S2_AUTH = b"Authorization: Bearer sk_live_demo"
SA_AUTH = b"Authorization: Bearer sa_demo_key"
JSON_TYPE = b"Content-Type: application/json"
RAW_CASES: dict[str, tuple[str, bytes]] = {
    "NUL byte in a header value": (
        "seedance2ai",
        _raw(b"GET /api/v1/tasks/abc HTTP/1.1", S2_AUTH, b"X-Note: a\x00b"),
    ),
    "invalid UTF-8 in the path": (
        "seedance2ai",
        _raw(b"GET /api/v1/tasks/\xff\xfe HTTP/1.1", S2_AUTH),
    ),
    "raw UTF-8 in the path": (
        "seedance2ai",
        _raw("GET /api/v1/tasks/tâche HTTP/1.1".encode(), S2_AUTH),
    ),
    "raw byte in the query": (
        "seedanceapi",
        _raw(b"GET /v1/status?task_id=\xe9t\xe9 HTTP/1.1", SA_AUTH),
    ),
    "Content-Length that is not a number": (
        "seedanceapi",
        _raw(b"POST /v1/generate HTTP/1.1", SA_AUTH, JSON_TYPE, b"Content-Length: ten", body=b"{}"),
    ),
    "2 MB request line": (
        "seedanceapi",
        _raw(b"GET /v1/status?task_id=" + b"a" * 2_000_000 + b" HTTP/1.1", SA_AUTH),
    ),
    "5 MiB body with its Content-Length": (
        "seedanceapi",
        _raw(
            b"POST /v1/generate HTTP/1.1",
            SA_AUTH,
            JSON_TYPE,
            b"Content-Length: %d" % (5 * MIB),
            body=b"a" * (5 * MIB),
        ),
    ),
}
EXPECTED_STATUS = {"5 MiB body with its Content-Length": 413}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RAW_CASES))
def test_malformed_http_gets_the_providers_envelope_and_the_server_stays_up(
    fuzz_server: Server, name: str
) -> None:
    provider, wire = RAW_CASES[name]
    method, target = wire.decode("latin-1").split(" ")[:2]
    path = target.split("?")[0]
    answer = replace(send_raw(fuzz_server, Probe(method, path), wire), path=path)

    assert answer.status == EXPECTED_STATUS.get(name, 400), answer.describe()
    assert answer.content_type == "application/json", answer.describe()
    assert SPECS[provider].validator("Error").violations(answer.json()) == [], answer.describe()
    _still_serves(fuzz_server)


@pytest.mark.slow
@pytest.mark.parametrize(
    "wire",
    [
        _raw(b"GET /api/v1/tasks/abc HTTP/1.1", S2_AUTH, b"X-Big: " + b"a" * 70000),
        _raw(b"GET /api/v1/tasks/abc HTTP/1.1", S2_AUTH, *[b"X-%d: a" % i for i in range(150)]),
    ],
    ids=["70 KB header line", "150 header lines"],
)
def test_beyond_the_servers_ceilings_it_refuses_and_stays_up(
    fuzz_server: Server, wire: bytes
) -> None:
    # DECISIONS C10: past gunicorn's own ceilings gunicorn answers by itself
    answer = send_raw(fuzz_server, Probe("GET", "/"), wire)

    assert 400 <= answer.status < 500, answer.describe()
    _still_serves(fuzz_server)
