"""Hostile HTTP requests for every provider.

Shared by ``test_fuzz_http.py`` (a sample in ``make test``) and ``fuzz_run.py``
(``make fuzz``, a long run). Providers and their operations are read from
spec/ (``SPECS``), so a new provider is fuzzed without a change here.

- ``all_probes(known)``: a Hypothesis strategy of ``Probe``s to every
  operation of every provider: valid bodies, a wrong type in a field, any JSON
  value, broken bytes (NUL, invalid UTF-8, truncation), deep nesting, lone
  surrogates, junk content types, keys and headers, unknown paths and methods.
- ``input_kinds(probe)``: what kind of input a probe is, along each dimension
  (method, path, query, headers, body), for the counts a run prints.

What they are thrown at (keys, accounts, limits lifted) is ``fuzz_simulator.py``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from contracts.strategies import FORMAT_STRATEGIES
from mockserver.spec import Operation, ProviderSpec
from tests.reliability.conftest import SPECS, Probe, route_of
from tests.reliability.fuzz_simulator import FUZZ_KEYS

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
    "/v9/generate",
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


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def nested_json(depth: int, kind: str) -> bytes:
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


def resolved(spec: ProviderSpec, schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$ref`` (a JSON pointer into the provider's schema.json,
    maybe to another ``$ref``) merged in, its own keywords winning."""
    merged = dict(schema)
    while "$ref" in merged:
        node: Any = spec.schema
        for part in merged.pop("$ref").removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        merged = {**node, **merged}
    return merged


def _values(spec: ProviderSpec, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of one property schema, cheaply (enums, bounds and formats honoured;
    cross-field rules not, so some bodies break one: a documented 400)."""
    schema = resolved(spec, schema)
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
    wrong_field = st.builds(lambda b, k, v: json_bytes({**b, k: v}), valid, names, JSON_VALUES)
    accident = st.sampled_from([b"\x00", b"\xff", b"\xc3", b"\x80", b'"', b"{", b"\\", b"\n"])
    broken = st.builds(
        _broken, valid.map(json_bytes), st.integers(0, 10**4), st.integers(0, 2), accident
    )
    return st.one_of(
        valid.map(json_bytes),
        wrong_field,
        JSON_VALUES.map(json_bytes),
        broken,
        st.binary(max_size=200),
        st.builds(nested_json, st.integers(20, 3000), st.sampled_from(["array", "object"])),
        st.sampled_from(SPECIAL_BODIES),
    )


def paths(spec: ProviderSpec, op: Operation, known: tuple[str, ...]) -> st.SearchStrategy[str]:
    """The operation's path (its {id} a real task, junk or a trap), another path under
    the provider's prefix, or a path outside every provider."""
    under = st.builds(
        lambda prefix, parts: prefix + "/" + "/".join(parts),
        st.sampled_from(spec.path_prefixes),
        st.lists(SEGMENT, max_size=3),
    )
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
    key = FUZZ_KEYS[provider]
    others = [f"Bearer {k}" for p, k in FUZZ_KEYS.items() if p != provider]
    mistakes = [*others, "Bearer wrong-key", "Bearer", "Basic c2s6", f"bearer   {key}  "]
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
    """Requests to every operation of every provider; ``known`` holds task ids
    (per provider) that paths and queries sometimes name."""
    return st.one_of([probes(provider, known[provider]) for provider in SPECS])


# what kind of input a probe is --------------------------------------------------------------

URL_LIMIT = 8192  # DECISIONS C10: a URL or header line over 8 KB is the provider's 400
MAX_DEPTH = 32  # DECISIONS C12: JSON nested deeper is bad input


def _path_kind(probe: Probe) -> str:
    route = route_of(probe.method, probe.path)
    if len(probe.path) > URL_LIMIT:
        return "over 8 KB"
    if route is None:
        return "outside every provider"
    if route.operation is None:
        return "unknown, under a provider"
    return "documented method and path" if route.method_allowed else "documented path, wrong method"


def _query_kind(query: str) -> str:
    if not query:
        return "none"
    if len(query) > URL_LIMIT:
        return "over 8 KB"
    return "task_id" if query.startswith("task_id=") else "junk"


def _auth_kind(value: str | None) -> str:
    if value is None:
        return "no Authorization"
    if any(value == f"Bearer {key}" for key in FUZZ_KEYS.values()):
        return "a right key (maybe another provider's)"
    return "a wrong or malformed key"


def _body_kind(body: bytes) -> str:
    if not body.strip():
        return "empty"
    if len(body) > URL_LIMIT:
        return "over 8 KB"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid UTF-8"
    if "\x00" in text or "\\u0000" in text:
        return "NUL byte"
    if text.startswith(("[" * (MAX_DEPTH + 1), '{"a":' * (MAX_DEPTH + 1))):
        return "nested deeper than 32"
    try:
        value = json.loads(text)
    except ValueError:
        return "not JSON"
    return "JSON object" if isinstance(value, dict) else "JSON, not an object"


def _content_type_kind(value: str | None) -> str:
    if value is None:
        return "none"
    return "application/json" if value.lower().startswith("application/json") else "other"


def input_kinds(probe: Probe) -> dict[str, str]:
    """What kind of input ``probe`` is, along each dimension a fuzzer varies."""
    longest = max((len(v) for v in probe.headers.values()), default=0)
    extra = set(probe.headers) - {"Authorization", "Content-Type", "Idempotency-Key"}
    return {
        "method": probe.method,
        "path": _path_kind(probe),
        "query": _query_kind(probe.query),
        "authorization": _auth_kind(probe.headers.get("Authorization")),
        "content type": _content_type_kind(probe.headers.get("Content-Type")),
        "other headers": "over 8 KB" if longest > URL_LIMIT else ("some" if extra else "none"),
        "body": _body_kind(probe.body),
    }
