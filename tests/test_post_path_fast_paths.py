"""The shortcuts a submission takes, held to the slow paths they replace.

Each test compares a fast path with the code it replaced (written out here as
the oracle) on random inputs, valid and invalid: the compiled schema check with
its ``if`` rules guarded, the body checks that skip work a body cannot need, the
prebuilt JSON encoders and decoder, the per-host origin, the remembered prices
and the journal's header list.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import fastjsonschema
import pytest
from flask import Flask, Response, request
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.engine.errors import InvalidRequest
from mockserver.engine.journal import environ_headers
from mockserver.engine.simulation import fingerprint
from mockserver.providers import _http
from mockserver.spec import PROVIDERS, load_provider
from mockserver.spec.formats import CUSTOM_FORMATS
from mockserver.spec.profile import PriceTable
from mockserver.spec.validation import RequestValidator

# --- the compiled check, with its if/then rules guarded --------------------------


@functools.cache
def _unguarded(provider: str, name: str) -> Callable[[Any], bool]:
    """The compiled check as it was built before the guard (the oracle)."""
    schema = load_provider(provider).definition(name)
    draft7 = {**schema, "$schema": "http://json-schema.org/draft-07/schema#"}
    formats = {name: check for name, (check, _phrase) in CUSTOM_FORMATS.items()}
    compiled = fastjsonschema.compile(draft7, formats=formats, use_default=False)

    def accepts(instance: Any) -> bool:
        try:
            compiled(instance)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return accepts


def _facts(node: Any, names: set[str], values: list[Any]) -> None:
    """Every property name and every enum/const value in a schema."""
    if isinstance(node, dict):
        names.update(node.get("properties", {}) if isinstance(node.get("properties"), dict) else {})
        names.update(str(n) for n in node.get("required", []) if isinstance(n, str))
        values.extend(node.get("enum", []) if isinstance(node.get("enum"), list) else [])
        if "const" in node:
            values.append(node["const"])
        for child in node.values():
            _facts(child, names, values)
    elif isinstance(node, list):
        for child in node:
            _facts(child, names, values)


def _bodies(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Objects (and a few non-objects) made of the schema's own names and values,
    so that rules' conditions are met as often as not."""
    names: set[str] = set()
    values: list[Any] = []
    _facts(schema, names, values)
    scalars = st.one_of(
        st.sampled_from(values or [None]),
        st.none(),
        st.booleans(),
        st.integers(-2, 2**33),
        st.sampled_from(["", "a cat", "https://cdn.example.com/a.png", "http://localhost/x"]),
    )
    keys = st.sampled_from(sorted(names | {"unknown_field"}))
    json_values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=8,
    )
    return st.dictionaries(keys, json_values, max_size=8) | scalars


def _with_rules(provider: str) -> Iterator[str]:
    """The definitions the guard can change: those holding an if/then rule."""
    for name, schema in load_provider(provider).schema["$defs"].items():
        if '"if":' in json.dumps(schema):
            yield name


DEFINITIONS = [
    pytest.param(provider, name, id=f"{provider}:{name}")
    for provider in PROVIDERS
    for name in _with_rules(provider)
]


@pytest.mark.parametrize(("provider", "name"), DEFINITIONS)
@settings(max_examples=40)
@given(data=st.data())
def test_guarded_check_agrees_with_the_unguarded_one(
    provider: str, name: str, data: st.DataObject
) -> None:
    spec = load_provider(provider)
    schema = spec.definition(name)
    body = data.draw(_bodies(schema))
    assert spec.validator(name).accepts(body) == _unguarded(provider, name)(body)


def test_an_if_without_type_object_still_applies_to_non_objects() -> None:
    # "required" holds for a non-object, so this rule refuses 5: the guard must not skip it
    loose = {"allOf": [{"if": {"required": ["a"]}, "then": False}]}
    assert not RequestValidator(loose).accepts(5)
    assert RequestValidator(loose).accepts({})
    assert not RequestValidator(loose).accepts({"a": 1})
    # ... unless the "if" (or the schema around it) is for objects only
    strict = {"allOf": [{"if": {"type": "object", "required": ["a"]}, "then": False}]}
    assert RequestValidator(strict).accepts(5)
    assert not RequestValidator(strict).accepts({"a": 1})
    around = {"type": "object", "allOf": [{"if": {"required": ["a"]}, "then": False}]}
    assert not RequestValidator(around).accepts(5)  # refused by "type", as before
    assert not RequestValidator(around).accepts({"a": 1})
    with_else = {"allOf": [{"if": {"type": "object", "required": ["a"]}, "else": False}]}
    assert not RequestValidator(with_else).accepts({})  # "else" is never skipped


def test_defaults_are_a_new_dict_each_time() -> None:
    validator = load_provider("seedance2ai").validator("SubmitRequest")
    first = validator.defaults()
    first["mode"] = "changed"
    assert validator.defaults()["mode"] == "text-to-video"


# --- the request body: read, parsed and checked ----------------------------------


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _slow_json_object(raw: bytes) -> dict[str, Any] | str:
    """read_json_object's checks as they were: the body, or the refusal's message."""
    try:
        body = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_http._number
        )
    except UnicodeDecodeError as exc:
        return f"Request body is not valid UTF-8 (byte {exc.start})."
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        return f"Request body is not valid JSON: {exc}."
    if not isinstance(body, dict):
        return "Request body must be a JSON object."
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "Request body holds a \\u escape that is not a Unicode character (a lone surrogate)."
    if _http._depth(body, _http.MAX_JSON_DEPTH) > _http.MAX_JSON_DEPTH:
        return f"Request body is nested deeper than {_http.MAX_JSON_DEPTH} levels."
    if any("\x00" in k for k in body):
        return "Field names must not contain NUL characters."
    return body


@st.composite
def _raw_bodies(draw: st.DrawFn) -> bytes:
    """JSON texts nested around the depth limit, with \\u escapes (lone surrogates
    among them), brackets inside strings, and now and then something broken."""
    escapes = st.sampled_from(
        ["\\ud800", "\\uDC00", "\\ud83d\\ude00", "\\u00e9", "\\\\u", "\\u0000"]
    )
    plain = st.text(alphabet="ab{}[]:,é\x00", max_size=6).map(
        lambda s: json.dumps(s, ensure_ascii=False)[1:-1]
    )
    string = st.lists(escapes | plain, max_size=3).map(lambda parts: '"' + "".join(parts) + '"')
    leaf = draw(st.sampled_from(["1", "1.0", "2.5", "null", "true", "[]", "{}", "NaN"]) | string)
    text = leaf
    for _ in range(draw(st.integers(0, _http.MAX_JSON_DEPTH + 3))):
        key = draw(string)
        text = "[" + text + "]" if draw(st.booleans()) else "{" + key + ":" + text + "}"
    if draw(st.booleans()):
        text = "{" + draw(string) + ":" + text + "}"
    raw = text.encode("utf-8", errors="surrogatepass")
    return draw(st.sampled_from([raw, raw, raw, b"\xef\xbb\xbf" + raw, raw[:-1], raw + b"\xff"]))


@pytest.fixture(scope="module")
def bare_app() -> Flask:
    return Flask(__name__)


@settings(max_examples=300)
@given(raw=_raw_bodies())
def test_body_checks_refuse_what_they_refused(bare_app: Flask, raw: bytes) -> None:
    spec = load_provider("seedance2ai")
    with bare_app.test_request_context(
        "/", method="POST", data=raw, content_type="application/json"
    ):
        try:
            found: dict[str, Any] | str = _http.read_json_object(spec, None)
        except InvalidRequest as exc:
            found = str(exc.message)
    assert found == _slow_json_object(raw)


@settings(max_examples=200)
@given(text=st.text(max_size=30) | st.sampled_from(["\ufeff{}", '{"a": 1e999}', "[-0.0, 1E2]"]))
def test_the_prebuilt_decoder_reads_as_json_loads(text: str) -> None:
    raw = text.encode("utf-8", errors="surrogatepass")
    try:
        expected: Any = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_http._number
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as exc:
        expected = type(exc)
    try:
        found: Any = _http._parse_json(raw, None)
    except InvalidRequest as exc:
        found = exc.__cause__.__class__
    assert found == expected


# --- what is written back ---------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(body=JSON_VALUES)
def test_json_response_writes_what_json_dumps_wrote(bare_app: Flask, body: Any) -> None:
    with bare_app.app_context():
        found = _http.json_response(body, 202, {"Retry-After": "3"})
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        expected = Response(text, status=202, mimetype="application/json")
        expected.headers["Retry-After"] = "3"
    assert found.get_data() == expected.get_data()
    assert found.headers.to_wsgi_list() == expected.headers.to_wsgi_list()
    assert found.status == expected.status


@given(body=JSON_VALUES)
def test_fingerprint_is_the_canonical_dump_it_was(body: Any) -> None:
    import base64
    import hashlib

    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.blake2b(canonical.encode(), digest_size=16).digest()
    assert fingerprint(body) == base64.b64encode(digest).decode()


HOSTS = [
    "127.0.0.1:8000",
    "localhost",
    "seedance2ai.io",
    "xn--bcher-kva.example",
    "b%C3%BCcher.example:8443",
    "[::1]:8000",
]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_origin_is_the_host_url_for_each_host(bare_app: Flask, scheme: str) -> None:
    for host in [*HOSTS, *reversed(HOSTS)]:  # again, now remembered
        with bare_app.test_request_context("/", base_url=f"{scheme}://{host}"):
            assert _http.origin() == request.host_url.rstrip("/")


# --- prices, remembered -----------------------------------------------------------


def _tables() -> Iterator[tuple[str, PriceTable]]:
    for provider in PROVIDERS:
        spec = load_provider(provider)
        for operation in spec.operations:
            yield f"{provider}:{operation}", spec.profile_for(operation).pricing


TABLES = [pytest.param(table, id=name) for name, table in _tables()]


def _table_values(table: PriceTable) -> list[Any]:
    found: list[Any] = []
    for entry in [*table.cells, *(rate.get("when", {}) for rate in table.rates)]:
        for key, value in entry.items():
            if key != "credits" and not key.startswith("x-"):
                found.extend(value if isinstance(value, list) else [value])
    return found


@pytest.mark.parametrize("table", TABLES)
@settings(max_examples=60)
@given(data=st.data())
def test_a_remembered_price_is_the_price(table: PriceTable, data: st.DataObject) -> None:
    documented = [v for v in _table_values(table) if not isinstance(v, dict)] or [None]
    value = st.one_of(
        st.sampled_from(documented),
        st.sampled_from([True, False, 1, 0, 1.0, "1", "5", 5, 5.0, 10, "10", "auto", None, -0.0]),
        st.lists(
            st.sampled_from(["https://a.example/v.mp4", "https://a.example/i.png"]), max_size=2
        ),
    )
    fields = list(table._read_fields)
    chosen = data.draw(st.lists(st.sampled_from(fields), unique=True)) if fields else []
    params = {name: data.draw(value) for name in chosen}
    expected = _outcome(table._price, params)
    assert _outcome(table.price, params) == expected
    assert _outcome(table.price, params) == expected  # and again, remembered


def _outcome(price: Callable[[Mapping[str, Any]], Any], params: Mapping[str, Any]) -> Any:
    """A price, or the refusal (its type and message) when there is none."""
    try:
        return price(params)
    except Exception as exc:  # the same refusal, whichever path
        return (type(exc), str(exc))


def test_prices_of_equal_values_of_other_types_stay_apart() -> None:
    table = load_provider("seedance2ai").profile.pricing
    base = {"quality_tier": "standard", "resolution": "720p", "duration": "5"}
    for audio in (True, 1, 1.0, False, 0, "true", None):  # True first: remembered, then 1...
        params = {**base, "generate_audio": audio}
        assert _outcome(table.price, params) == _outcome(table._price, params)
    assert _outcome(table.price, base) == _outcome(table._price, base)  # missing: not None
    assert isinstance(_outcome(table.price, {**base, "generate_audio": 1}), tuple)  # no price


# --- the journal's request headers ------------------------------------------------


def _slow_environ_headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    found = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            found.append((key[5:].replace("_", "-").title(), str(value)))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            found.append((key.replace("_", "-").title(), str(value)))
    return found


@given(
    environ=st.dictionaries(
        st.tuples(
            st.sampled_from(["HTTP_", "CONTENT_TYPE", "CONTENT_LENGTH", "wsgi.", "HTTP"]),
            st.text(alphabet="ABC_x-1", max_size=6),
        ).map("".join),
        st.text(max_size=5) | st.integers() | st.none(),
        max_size=12,
    )
)
def test_environ_headers_are_the_headers_they_were(environ: dict[str, Any]) -> None:
    assert environ_headers(environ) == _slow_environ_headers(environ)
