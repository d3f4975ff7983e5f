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
"""

from __future__ import annotations

import functools
import json
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.strategies import FORMAT_STRATEGIES
from mockserver.app import create_app
from mockserver.providers.context import EXTENSION
from mockserver.spec import Operation, ProviderSpec
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
    lifted_config,
    route_of,
    send,
    send_raw,
    undocumented,
)
from tests.server import Server, running_server

IN_PROCESS_EXAMPLES = 1500
OVER_SOCKET_EXAMPLES = 250
MIB = 1024 * 1024
OTHER_ACCOUNT = {"seedance2ai": "sk_other_account", "seedanceapi": "sa_other_account"}

# requests -------------------------------------------------------------------------------


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=6,
)
#: bodies a buggy client really sends, each a known trap for a JSON parser
SPECIAL_BODIES = (
    b"",
    b"   \r\n",
    b"null",
    b"[]",
    b'"just a string"',
    b"12",
    b'{"prompt": NaN}',
    b'{"prompt": -Infinity}',
    b'{"prompt": "lone \\ud800 surrogate"}',
    b'{"prompt\\u0000": "NUL in a name"}',
    b'{"prompt": "raw \x00 NUL byte"}',
    b'\xef\xbb\xbf{"prompt": "a byte order mark"}',
    b'{"prompt": "duplicate names", "prompt": 12}',
    b'{"prompt": "a huge number", "seed": 1e400}',
    b'{"prompt": "a long integer", "seed": 123456789012345678901234567890}',
    b'{"prompt": "caf\xe9 in latin-1"}',
    b'\xff\xfe{\x00"\x00p\x00',
    b'{"prompt": "' + b"a" * 20000 + b'"}',
    b'{"prompt": "unterminated',
)
CONTENT_TYPES = (
    "application/json",
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "application/json; charset=latin-1",
    "application/json;;;",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/vnd.api+json",
    "",
    "not a media type",
)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND")
OUTSIDE_PATHS = (
    "/",
    "/v2/generate",
    "/api/v2/video/seedance2",
    "/api",
    "/favicon.ico",
    "/V1/status",
)
#: printable latin-1, what a header value may carry
HEADER_TEXT = st.text(
    "".join(chr(c) for c in [*range(0x20, 0x7F), *range(0xA0, 0x100)]), max_size=40
)
HEADER_NAME = st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True)
SEGMENT = st.one_of(
    st.text(max_size=20).map(lambda s: quote(s, safe="")),
    st.sampled_from(["..", "%2e%2e", "a%2Fb", "%00", "%ff%fe", "", "a" * 9000]),
)
JUNK_QUERY = st.sampled_from(["%ff%fe", "&&==", "x", "a=" + "b" * 9000, "%00=%00"])
SCENARIOS = st.sampled_from(["instant", "fail", "stuck", "complete", "slow"]) | HEADER_TEXT
IDEMPOTENCY_KEYS = st.one_of(
    st.uuids().map(lambda u: f"fuzz-{u}"),
    st.uuids().map(lambda u: f"fuzz-{u}"),
    st.sampled_from(["shared-key", "", "x" * 300]),
    HEADER_TEXT,
)


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def _broken(data: bytes, at: int, how: int, byte: bytes) -> bytes:
    """``data`` with one byte-level accident: an inserted byte, a cut or a repeat."""
    at = at % (len(data) + 1)
    if how == 0:
        return data[:at] + byte + data[at:]
    if how == 1:
        return data[:at]
    return data[:at] + data[at : at + 20] * 3 + data[at:]


def _values(spec: ProviderSpec, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of one property schema, cheaply (enums, bounds and formats honoured;
    cross-field rules not, so some bodies break one: a documented 400)."""
    if "$ref" in schema:
        schema = {**spec.schema["$defs"][schema["$ref"].rsplit("/", 1)[1]], **schema}
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "array":
        return st.lists(_values(spec, schema["items"]), max_size=min(schema.get("maxItems", 3), 3))
    if schema.get("format") in FORMAT_STRATEGIES:
        return FORMAT_STRATEGIES[schema["format"]]
    low = schema.get("minLength", 0)
    return st.text(min_size=low, max_size=max(low, min(schema.get("maxLength", 40), 40)))


def valid_bodies(spec: ProviderSpec, definition: str) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies whose every field is valid (a cross-field rule may still be broken)."""
    schema = spec.validator(definition).schema
    required = set(schema.get("required", []))
    fields = {name: _values(spec, sub) for name, sub in schema["properties"].items()}
    return st.fixed_dictionaries(
        {k: v for k, v in fields.items() if k in required},
        optional={k: v for k, v in fields.items() if k not in required},
    )


def bodies(spec: ProviderSpec, op: Operation) -> st.SearchStrategy[bytes]:
    if op.body is None:
        return st.just(b"") | st.binary(max_size=50)
    valid = valid_bodies(spec, op.body)
    names = st.sampled_from(sorted(spec.validator(op.body).schema["properties"]))
    wrong_field = st.builds(lambda b, k, v: _dump({**b, k: v}), valid, names, JSON_VALUES)
    accident = st.sampled_from([b"\x00", b"\xff", b"\xc3", b"\x80", b'"', b"{", b"\\", b"\n"])
    broken = st.builds(
        _broken, valid.map(_dump), st.integers(0, 10**4), st.integers(0, 2), accident
    )
    return st.one_of(
        valid.map(_dump),
        wrong_field,
        JSON_VALUES.map(_dump),
        broken,
        st.binary(max_size=200),
        st.builds(_nested, st.integers(20, 3000), st.sampled_from(["array", "object"])),
        st.sampled_from(SPECIAL_BODIES),
    )


def paths(spec: ProviderSpec, op: Operation, known: tuple[str, ...]) -> st.SearchStrategy[str]:
    """The operation's path (its {id} a real task, junk or a trap), another path under
    the provider's prefix, or a path outside both providers."""
    prefix = posixpath.commonpath([o.path for o in spec.operations.values()])
    under = st.lists(SEGMENT, max_size=3).map(lambda parts: prefix + "/" + "/".join(parts))
    documented: st.SearchStrategy[str] = st.just(op.path)
    if "{" in op.path:
        documented = (st.sampled_from(known) | SEGMENT).map(
            lambda value: re.sub(r"\{[^}]+\}", quote(value, safe="%"), op.path)
        )
    outside = st.sampled_from(OUTSIDE_PATHS)
    return st.one_of(*[documented] * 5, under, under, outside)


def _joined(*parts: str | None) -> str:
    return "&".join(p for p in parts if p is not None)


def queries(op: Operation, known: tuple[str, ...]) -> st.SearchStrategy[str]:
    pair = (st.sampled_from(known) | st.text(max_size=20)).map(
        lambda v: "task_id=" + quote(v, safe="")
    )
    query = st.builds(
        _joined, pair | pair | st.none(), st.none() | st.none() | pair, st.none() | JUNK_QUERY
    )
    return query if op.query else st.just("") | query


def _headers(
    auth: str | None,
    key: str | None,
    content_type: str | None,
    scenario: str | None,
    extra: tuple[str, str] | None,
) -> dict[str, str]:
    found = {
        "Authorization": auth,
        "Idempotency-Key": key,
        "Content-Type": content_type,
        "X-Seedance-Mock-Scenario": scenario,
    }
    if extra is not None:
        found[extra[0]] = extra[1]
    return {name: value for name, value in found.items() if value is not None}


def headers(provider: str, op: Operation) -> st.SearchStrategy[dict[str, str]]:
    key = KEYS[provider]
    other = next(k for p, k in KEYS.items() if p != provider)
    mistakes = [f"Bearer {other}", "Bearer wrong-key", "Bearer", "Basic c2s6", f"bearer   {key}  "]
    auth = st.sampled_from([f"Bearer {key}"] * 6 + mistakes) | HEADER_TEXT.map("Bearer ".__add__)
    idempotency = IDEMPOTENCY_KEYS if op.requires_header("Idempotency-Key") else st.nothing()
    return st.builds(
        _headers,
        auth | auth | st.none(),
        idempotency | idempotency | st.none(),
        st.sampled_from(CONTENT_TYPES) | HEADER_TEXT | st.none(),
        st.none() | st.none() | SCENARIOS,
        st.none() | st.none() | st.tuples(HEADER_NAME, HEADER_TEXT | st.just("v" * 9000)),
    )


@functools.cache
def probes(provider: str, known: tuple[str, ...]) -> st.SearchStrategy[Probe]:
    """Requests to ``provider``'s operations, built once per provider."""
    spec = SPECS[provider]
    return st.one_of(
        [
            st.builds(
                Probe,
                method=st.sampled_from([op.method] * 6 + list(METHODS)),
                path=paths(spec, op, known),
                query=queries(op, known),
                headers=headers(provider, op),
                body=bodies(spec, op),
                chunked=st.booleans(),
            )
            for op in spec.operations.values()
        ]
    )


def all_probes(known: Mapping[str, tuple[str, ...]]) -> st.SearchStrategy[Probe]:
    return st.one_of([probes(provider, known[provider]) for provider in KEYS])


# what was found -----------------------------------------------------------------------------


@dataclass
class Findings:
    """Inputs tried and the undocumented answers among them, grouped by kind."""

    tried: int = 0
    undocumented: int = 0
    kinds: dict[tuple[str, int, str], tuple[int, Answer, list[str]]] = field(default_factory=dict)

    def record(self, answer: Answer) -> None:
        self.tried += 1
        problems = undocumented(answer)
        if not problems:
            return
        self.undocumented += 1
        where = "provider path" if route_of(answer.method, answer.path) else "other path"
        kind = (where, answer.status, problems[0].split(":")[0])
        count, first, found = self.kinds.get(kind, (0, answer, problems))
        self.kinds[kind] = (count + 1, first, found)

    def summary(self, what: str, ledger: list[str]) -> str:
        return (
            f"fuzz ({what}): {self.tried} HTTP inputs tried, "
            f"{self.undocumented} undocumented answers in {len(self.kinds)} kinds, "
            f"{len(ledger)} ledger violations afterwards"
        )

    def report(self) -> str:
        lines = []
        for (where, status, _), (count, answer, problems) in self.kinds.items():
            lines += [
                f"{count} x {status} on a {where}: {'; '.join(problems)}",
                f"    e.g. {answer.describe()}",
                f"    reproduce: {answer.curl()}",
            ]
        return "\n".join(lines)


def _seed_tasks(app: Flask, client: FlaskClient) -> dict[str, tuple[str, ...]]:
    """A processing, a completed and a failed task per provider, and one of another
    account, so fuzzed ids sometimes name real tasks."""
    runtime = app.extensions[EXTENSION]
    known: dict[str, tuple[str, ...]] = {}
    for provider, key in KEYS.items():
        spec = SPECS[provider]
        op = next(o for o in spec.operations.values() if o.body)
        example = next(iter(spec.examples("request", op.name)))
        runtime.simulation.create_account(provider, "other", 10**6, [OTHER_ACCOUNT[provider]])
        ids = []
        for n, owner_key in enumerate([key, key, key, OTHER_ACCOUNT[provider]]):
            answer = send(
                client,
                "POST",
                op.path,
                headers={
                    "Authorization": f"Bearer {owner_key}",
                    "Idempotency-Key": f"seed-{n}",
                    "Content-Type": "application/json",
                },
                body=_dump(example),
            )
            assert answer.status // 100 == 2, answer.describe()
            data = answer.json()
            ids.append(data.get("id") or data["data"]["task_id"])
        runtime.simulation.force(ids[1], "completed")
        runtime.simulation.force(ids[2], "failed")
        known[provider] = tuple(ids)
    return known


@pytest.fixture(scope="module")
def fuzz_app() -> Iterator[Flask]:
    application = create_app(lifted_config())
    yield application
    application.extensions[EXTENSION].close()


# in-process -------------------------------------------------------------------------------


def test_fuzzed_requests_get_documented_answers_and_leave_the_ledger_whole(
    fuzz_app: Flask, figures: Figures
) -> None:
    client = fuzz_app.test_client()
    known = _seed_tasks(fuzz_app, client)
    findings = Findings()

    @settings(
        max_examples=IN_PROCESS_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(probe=all_probes(known))
    def fuzz(probe: Probe) -> None:
        findings.record(
            send(
                client,
                probe.method,
                probe.path,
                query=probe.query,
                headers=probe.headers,
                body=probe.body,
            )
        )

    fuzz()
    ledger = ledger_violations(InProcessControl(client))
    figures.report("fuzz-wsgi", findings.summary("in-process WSGI, both providers", ledger))
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
    known = dict.fromkeys(KEYS, ("seednonexistent00000000", "sd2_nonexistent"))

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
        body=b'{"prompt": "x", "a": ' + _nested(32, "array") + b"}",
    ),
    Case("nesting 100000 deep", 400, "JSON", body=_nested(100000, "array")),
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


def _wrong_types(schema: dict[str, Any], spec: ProviderSpec) -> list[Any]:
    if "$ref" in schema:
        schema = spec.schema["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    allowed = schema.get("type")
    allowed = {allowed} if isinstance(allowed, str) else set(allowed or [])
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
        "Authorization": f"Bearer {KEYS[provider]}",
        "Idempotency-Key": f"wrong-{name}-{type(value).__name__}",
        "Content-Type": "application/json",
    }
    answer = send(fuzz_app.test_client(), op.method, op.path, headers=sent, body=_dump(body))
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
