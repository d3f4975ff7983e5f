"""Hypothesis strategies drawn from spec/: valid requests, and requests that
break exactly one constraint.

Valid bodies come from hypothesis-jsonschema with the domain formats supplied
as custom formats. Breaches are derived by walking the same schema, one per
constraint keyword and one per cross-field rule, so a constraint added to
spec/ is tested without touching this file.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from mockserver.providers import documented_refusal
from mockserver.spec import ProviderSpec

Body = dict[str, Any]

_LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_PATH = st.lists(_LABEL, max_size=3).map(lambda parts: "/" + "/".join(parts))


def _url(schemes: list[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda scheme, name, tld, path: f"{scheme}://{name}.{tld}{path}",
        st.sampled_from(schemes),
        _LABEL,
        st.sampled_from(["com", "org", "io", "net", "dev"]),
        _PATH,
    )


#: Valid values of the domain formats (mockserver/spec/formats.py checks them).
FORMAT_STRATEGIES: dict[str, st.SearchStrategy[str]] = {
    "public-https-url": _url(["https"]),
    "http-url": _url(["http", "https"]),
}

#: One invalid value per domain format.
FORMAT_COUNTEREXAMPLES: dict[str, str] = {
    "public-https-url": "http://example.com/plain-http.png",
    "http-url": "ftp://example.com/file.png",
    "uri": "not a uri",
}


@functools.cache
def from_spec(spec: ProviderSpec, definition: str) -> st.SearchStrategy[Any]:
    """Values of ``$defs[definition]`` (built once per spec and definition)."""
    return from_schema(spec.definition(definition), custom_formats=FORMAT_STRATEGIES)


@functools.cache
def valid_bodies(spec: ProviderSpec, definition: str) -> st.SearchStrategy[Body]:
    """Request bodies the provider documents as valid: every rule of
    ``$defs[definition]`` and every rule its skin checks beyond the schema
    (``mockserver.providers.documented_refusal``). A definition marked
    ``x-contract-bodies: examples`` is drawn from its documented examples varied
    field by field (a model catalogue is not JSON Schema); any other, from its
    schema."""
    if _from_examples(spec, definition):
        drawn = _varied_examples(spec, definition)
    else:
        drawn = from_spec(spec, definition)
    return drawn.filter(lambda body: documented_refusal(spec, definition, body) is None)


def _varied_examples(spec: ProviderSpec, definition: str) -> st.SearchStrategy[Body]:
    """A documented example request, with up to four of its fields given other
    values: each drawn from the field's ``x-values`` list (pointer into the
    profile) if it has one, else from the examples' own values of that field,
    else (a field no example sets) from the field's schema."""
    examples = _examples(spec, definition)
    properties: Mapping[str, Any] = spec.definition(definition).get("properties", {})
    values = {name: _field_values(spec, name, raw, examples) for name, raw in properties.items()}
    required = set(spec.definition(definition).get("required", []))

    @st.composite
    def varied(draw: st.DrawFn) -> Body:
        body: Body = copy.deepcopy(draw(st.sampled_from(examples)))
        for name in draw(st.lists(st.sampled_from(sorted(values)), max_size=4, unique=True)):
            if name not in required and draw(st.booleans()):
                body.pop(name, None)
            else:
                body[name] = copy.deepcopy(draw(values[name]))
        return body

    return varied()


def _examples(spec: ProviderSpec, definition: str) -> list[Body]:
    examples = [
        entry["body"]
        for entry in spec.example_index()
        if entry["schema"] == definition and entry["kind"] == "request"
    ]
    if not examples:
        raise ValueError(f"{spec.name} {definition}: x-contract-bodies needs request examples")
    return examples


def _field_values(
    spec: ProviderSpec, name: str, raw: Mapping[str, Any], examples: list[Body]
) -> st.SearchStrategy[Any]:
    listed = raw.get("x-values")
    if listed:
        return st.sampled_from(_listed_values(spec, listed))
    seen = [example[name] for example in examples if name in example]
    drawn = [st.sampled_from(seen)] if seen else []
    if not seen or not _conditional(spec, raw, set()):
        drawn.append(_values_of({**_resolve(spec, raw), "$defs": spec.schema["$defs"]}))
    return st.one_of(drawn)


def _listed_values(spec: ProviderSpec, listed: Mapping[str, Any]) -> list[Any]:
    """The values an ``x-values`` annotation points at: the keys (an object) or the
    items (a list) at its ``profile`` pointer, less ``x-`` annotations."""
    found: Any = spec.profile_json
    for part in str(listed["profile"]).strip("/").split("/"):
        found = found[part]
    return [k for k in found if not str(k).startswith("x-")]


def _conditional(spec: ProviderSpec, schema: Any, followed: set[str]) -> bool:
    """Whether a schema (through its references) holds an ``if``: values drawn from
    it would mostly be rejected, so only the examples' values are used."""
    if isinstance(schema, list):
        return any(_conditional(spec, item, followed) for item in schema)
    if not isinstance(schema, Mapping):
        return False
    if "if" in schema:
        return True
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref not in followed:
        followed.add(ref)
        if _conditional(spec, spec.resolve_ref(ref), followed):
            return True
    return any(_conditional(spec, value, followed) for value in schema.values())


def _values_of(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    return from_schema(dict(schema), custom_formats=FORMAT_STRATEGIES)


@dataclass(frozen=True)
class Breach:
    """A way to break exactly one constraint of a request schema."""

    name: str  # "prompt.maxLength", "rule: seed is not supported on the real channel"
    field: str  # the property broken, "" for whole-body rules
    keyword: str  # the keyword broken, "x-rule" for a cross-field rule
    build: Callable[[st.DataObject, Body], Body]

    def bodies(self, spec: ProviderSpec, definition: str) -> st.SearchStrategy[Body]:
        """Bodies that break this constraint and nothing else."""
        validator = spec.validator(definition)

        @st.composite
        def breached(draw: st.DrawFn) -> Body:
            data = draw(st.data())
            body = self.build(data, copy.deepcopy(draw(valid_bodies(spec, definition))))
            found = validator.violations(body)
            assume(len(found) == 1)
            return body

        return breached()

    def expected_code(self, spec: ProviderSpec, definition: str) -> str | None:
        """The documented error code the spec ties to this constraint."""
        return spec.validator(definition).code_for(self.field, self.keyword)


def _wrong_type_value(schema: Mapping[str, Any]) -> Any:
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    for candidate in (12345, "12345", True, ["x"], {"x": 1}, None):
        kind = {bool: "boolean", int: "integer", str: "string", list: "array", dict: "object"}
        name = kind.get(type(candidate), "null")
        if name not in types and not (name == "integer" and "number" in types):
            return candidate
    raise ValueError(f"no wrong-type value for {types}")


def _too_long(schema: Mapping[str, Any]) -> str:
    """A string one character over maxLength that keeps the schema's format."""
    prefix = "https://example.com/" if schema.get("format") in FORMAT_STRATEGIES else ""
    return prefix + "x" * (int(schema["maxLength"]) + 1 - len(prefix))


def _set(field: str, value: Any) -> Callable[[st.DataObject, Body], Body]:
    def build(_data: st.DataObject, body: Body) -> Body:
        body[field] = value
        return body

    return build


def _resolve(spec: ProviderSpec, schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema a ``$ref`` points at, merged with the keywords beside it."""
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    merged = {**_resolve(spec, spec.resolve_ref(ref)), **schema}
    merged.pop("$ref")
    return merged


def _property_breaches(spec: ProviderSpec, field: str, raw: Mapping[str, Any]) -> Iterator[Breach]:
    schema = _resolve(spec, raw)
    if "type" in schema:
        yield Breach(f"{field}.type", field, "type", _set(field, _wrong_type_value(schema)))
    if "enum" in schema:
        yield Breach(f"{field}.enum", field, "enum", _set(field, "not-a-documented-value"))
    if schema.get("minLength", 0) > 0:
        yield Breach(
            f"{field}.minLength", field, "minLength", _set(field, "x" * (schema["minLength"] - 1))
        )
    if "maxLength" in schema:
        yield Breach(f"{field}.maxLength", field, "maxLength", _set(field, _too_long(schema)))
    if "pattern" in schema:
        yield Breach(
            f"{field}.pattern",
            field,
            "pattern",
            _set(field, " " * max(1, schema.get("minLength", 1))),
        )
    for bound, step in (("minimum", -1), ("maximum", 1)):
        if bound in schema:
            yield Breach(f"{field}.{bound}", field, bound, _set(field, schema[bound] + step))
    if "format" in schema and schema["format"] in FORMAT_COUNTEREXAMPLES:
        yield Breach(
            f"{field}.format",
            field,
            "format",
            _set(field, FORMAT_COUNTEREXAMPLES[schema["format"]]),
        )
    if schema.get("type") == "array":
        items = _resolve(spec, schema.get("items", {}))
        if "maxItems" in schema:
            item_values = _values_of({**items, "$defs": spec.schema["$defs"]})
            count = schema["maxItems"] + 1

            def too_many(data: st.DataObject, body: Body, f: str = field) -> Body:
                own = body.get(f)
                if isinstance(own, list) and own:  # the body's own items, repeated
                    body[f] = [copy.deepcopy(own[n % len(own)]) for n in range(count)]
                else:
                    body[f] = data.draw(st.lists(item_values, min_size=count, max_size=count))
                return body

            yield Breach(f"{field}.maxItems", field, "maxItems", too_many)
        if items.get("format") in FORMAT_COUNTEREXAMPLES:
            bad = FORMAT_COUNTEREXAMPLES[items["format"]]
            yield Breach(f"{field}[].format", f"{field}[0]", "format", _set(field, [bad]))


def _apply_if(body: Body, clause: Mapping[str, Any]) -> None:
    for name, rule in clause.get("properties", {}).items():
        body[name] = rule["const"] if "const" in rule else rule["enum"][-1]


def _rule_breach(
    spec: ProviderSpec, properties: Mapping[str, Any], rule: Mapping[str, Any]
) -> Breach:
    """Satisfy the rule's ``if`` and break its ``then``."""
    then = rule["then"]
    forbidden = {
        name: _values_of(_resolve(spec, properties[name]))
        for name in then.get("not", {}).get("required", [])
    }

    def build(data: st.DataObject, body: Body) -> Body:
        _apply_if(body, rule["if"])
        for name in then.get("required", []):
            if name not in then.get("properties", {}):
                body.pop(name, None)
        for name, sub in then.get("properties", {}).items():
            if "const" in sub:
                others = [v for v in _resolve(spec, properties[name])["enum"] if v != sub["const"]]
                body[name] = data.draw(st.sampled_from(others))
            elif "minItems" in sub:
                body[name] = []
        for name, values in forbidden.items():
            body[name] = data.draw(values)
        return body

    return Breach(f"rule: {rule['x-rule']}", "", "x-rule", build)


def breaches(spec: ProviderSpec, definition: str) -> list[Breach]:
    """One breach per constraint of ``$defs[definition]``: each property keyword,
    each required field, unknown fields, and each cross-field rule."""
    schema = spec.definition(definition)
    properties: Mapping[str, Any] = schema.get("properties", {})
    found: list[Breach] = []
    for name in schema.get("required", []):

        def drop(_data: st.DataObject, body: Body, n: str = name) -> Body:
            body.pop(n, None)
            return body

        found.append(Breach(f"{name}.required", name, "required", drop))
    for name, raw in properties.items():
        found.extend(_property_breaches(spec, name, raw))
    if schema.get("additionalProperties") is False:
        found.append(
            Breach(
                "unknown field",
                "unexpected_field",
                "additionalProperties",
                _set("unexpected_field", 1),
            )
        )
    found.extend(_rule_breach(spec, properties, rule) for rule in schema.get("allOf", []))
    return found


def documented_options(spec: ProviderSpec, definition: str) -> list[tuple[str, Any]]:
    """Every value of every enumerated or boolean property of ``$defs[definition]``:
    each mode and option a caller can choose."""
    found: list[tuple[str, Any]] = []
    for name, raw in spec.definition(definition).get("properties", {}).items():
        schema = _resolve(spec, raw)
        kinds = schema.get("type")
        boolean = "boolean" in (kinds if isinstance(kinds, list) else [kinds])
        values = schema.get("enum", [False, True] if boolean else [])
        found += [(name, value) for value in values]
    if _from_examples(spec, definition):  # an option no model offers is no option
        found = [(name, value) for name, value in found if _offered(spec, definition, name, value)]
    return found


def _from_examples(spec: ProviderSpec, definition: str) -> bool:
    return str(spec.definition(definition).get("x-contract-bodies", "")).startswith("examples")


def _offered(spec: ProviderSpec, definition: str, field: str, value: Any) -> bool:
    """Whether some documented example, with ``value`` for ``field`` (and perhaps
    another ``x-values`` choice), is a valid request."""
    return any(
        _choosing(spec, definition, {**example, field: value}, field) is not None
        for example in _examples(spec, definition)
    )


def with_option(
    spec: ProviderSpec, definition: str, field: str, value: Any
) -> st.SearchStrategy[Body]:
    """Valid request bodies that choose ``value`` for ``field`` (where the body's
    other choices rule the value out, another value of an ``x-values`` field, such
    as a model that offers it, is tried before the body is given up)."""
    chosen = valid_bodies(spec, definition).map(
        lambda body: _choosing(spec, definition, {**body, field: value}, field)
    )
    return chosen.filter(lambda body: body is not None).map(lambda body: cast(Body, body))


def _choosing(spec: ProviderSpec, definition: str, body: Body, kept: str) -> Body | None:
    if documented_refusal(spec, definition, body) is None:
        return body
    properties = spec.definition(definition).get("properties", {})
    for name, raw in properties.items():
        if name == kept or not raw.get("x-values"):
            continue
        for other in _listed_values(spec, raw["x-values"]):
            tried = {**body, name: other}
            if documented_refusal(spec, definition, tried) is None:
                return tried
    return None
