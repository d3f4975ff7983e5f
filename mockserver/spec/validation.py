"""Request validation from the spec: every violation names its field, its rule
and the documented error code it produces.

Messages are written for the caller who has to fix the request
("prompt: must be 3–10000 characters (got 2)"), and the error code comes from
the schema's ``x-error-code`` annotations, so seedanceapi's per-field codes
(INVALID_PROMPT, TOO_MANY_IMAGES, ...) are data, not code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fastjsonschema

from mockserver.spec.formats import CUSTOM_FORMATS, describe_format, format_checker

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "array": "an array",
    "object": "a JSON object",
    "null": "null",
}


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, which keyword, what to fix, and its error code."""

    field: str  # "prompt", "media_urls[3]", or "" for the whole body
    keyword: str  # the JSON Schema keyword that failed, or "x-rule"
    message: str  # "prompt: must be 3–10000 characters (got 2)"
    code: str | None  # the documented error code, when the schema names one


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _got_type(value: Any) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _expected_types(expected: str | list[str]) -> str:
    names = [expected] if isinstance(expected, str) else expected
    return " or ".join(_TYPE_NAMES.get(n, n) for n in names)


def _range(schema: Mapping[str, Any], low: str, high: str, unit: str = "") -> str:
    def counted(n: Any) -> str:
        return f"{n} {unit.removesuffix('s') if n == 1 else unit}".rstrip()

    if low in schema and high in schema:
        if not unit:
            return f"between {schema[low]} and {schema[high]}"
        return f"{schema[low]}–{counted(schema[high])}"
    if low in schema:
        return f"at least {counted(schema[low])}"
    return f"at most {counted(schema[high])}"


def _length_message(error: ValidationError) -> str:
    schema, value = error.schema, error.instance
    assert isinstance(schema, Mapping)
    assert isinstance(value, (str, list))
    if error.validator in ("minLength", "maxLength"):
        return (
            f"must be {_range(schema, 'minLength', 'maxLength', 'characters')} (got {len(value)})"
        )
    return f"must hold {_range(schema, 'minItems', 'maxItems', 'items')} (got {len(value)})"


def _describe(error: ValidationError) -> str:
    """The rule part of a message, for the common JSON Schema keywords."""
    keyword, schema, value = error.validator, error.schema, error.instance
    assert isinstance(schema, Mapping)
    custom = schema.get("x-messages", {}).get(keyword)
    if custom:
        return str(custom)
    if keyword == "type":
        return f"must be {_expected_types(schema['type'])} (got {_got_type(value)})"
    if keyword in ("enum", "const"):
        allowed = schema["enum"] if keyword == "enum" else [schema["const"]]
        listed = ", ".join(_show(v) for v in allowed)
        return f"must be one of {listed} (got {_show(value)})"
    if keyword in ("minLength", "maxLength", "minItems", "maxItems"):
        return _length_message(error)
    if keyword in ("minimum", "maximum"):
        return f"must be {_range(schema, 'minimum', 'maximum')} (got {_show(value)})"
    if keyword == "format":
        return f"must be {describe_format(str(schema['format']))} (got {_show(value)})"
    if keyword == "pattern":
        return f"must match {schema['pattern']} (got {_show(value)})"
    return error.message


def _as_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _field_path(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


#: keywords whose value is a map of names to subschemas
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
#: keywords whose value is a subschema, or a list of them
_SUBSCHEMAS = (
    "allOf",
    "anyOf",
    "oneOf",
    "prefixItems",
    "items",
    "additionalItems",
    "additionalProperties",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
)


def _guarded(schema: Any, *, object_only: bool = False) -> Any:
    """``schema`` with each ``if``/``then`` (no ``else``) whose ``if`` requires a
    property wrapped in ``dependencies`` on that property: the same verdict, but
    the compiled check no longer raises and catches an exception for every rule
    whose condition a body does not meet (5 such rules cost a valid seedance2ai
    body ~9 µs, 90% of its check). Equivalent because an ``if`` that requires a
    missing property fails (so ``then`` does not apply), and a non-object fails
    it too when the ``if`` or the schema around it says ``type: object``.
    ``object_only``: the schema around it does."""
    if isinstance(schema, list):
        return [_guarded(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    objects = schema.get("type") == "object"
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            out[key] = {name: _guarded(sub) for name, sub in value.items()}
        elif key == "allOf" and isinstance(value, list):
            out[key] = [_guarded(sub, object_only=objects) for sub in value]
        elif key in _SUBSCHEMAS:
            out[key] = _guarded(value)
        else:
            out[key] = value
    condition = out.get("if")
    if (
        isinstance(condition, Mapping)
        and "else" not in out
        and "dependencies" not in out
        and isinstance(condition.get("required"), list)
        and condition["required"]
        and (object_only or objects or condition.get("type") == "object")
    ):
        rule = {"if": out.pop("if"), "then": out.pop("then", True)}
        out["dependencies"] = {str(condition["required"][0]): rule}
    return out


def _compiled(schema: Mapping[str, Any]) -> Callable[[Any], Any]:
    """The schema compiled to Python by fastjsonschema, for the common case of a
    valid body. It never fills in defaults (that would change what the caller
    sent), and it runs as draft 7, whose keywords are all these schemas use."""
    draft7 = {**_guarded(schema), "$schema": "http://json-schema.org/draft-07/schema#"}
    checks = {name: check for name, (check, _phrase) in CUSTOM_FORMATS.items()}
    compiled: Callable[[Any], Any] = fastjsonschema.compile(
        draft7, formats=checks, use_default=False
    )
    return compiled


class RequestValidator:
    """Validates one kind of request body (or query) against its schema.

    A compiled check answers for valid bodies (the common case, ~15x faster);
    jsonschema explains invalid ones. tests/spec holds the two to the same verdict.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema  # valid draft 2020-12: tests/spec checks every definition
        self._fast = _compiled(schema)
        self._explainer: Draft202012Validator | None = None
        self._properties: Mapping[str, Any] = schema.get("properties", {})
        self._order = {name: i for i, name in enumerate(self._properties)}
        self._defaults: dict[str, Any] | None = None  # found on first use

    @property
    def _validator(self) -> Draft202012Validator:
        """jsonschema, built (and imported) the first time a body needs explaining."""
        if self._explainer is None:
            from jsonschema import Draft202012Validator

            self._explainer = Draft202012Validator(self.schema, format_checker=format_checker())
        return self._explainer

    def defaults(self) -> dict[str, Any]:
        """The documented default of every property that has one (a new dict each time)."""
        if self._defaults is None:
            found = {k: v["default"] for k, v in self._properties.items() if "default" in v}
            self._defaults = found
        return dict(self._defaults)

    def accepts(self, instance: Any) -> bool:
        """The compiled check's verdict alone."""
        try:
            self._fast(instance)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def violations(self, instance: Any) -> list[Violation]:
        """Every broken rule, one per field: field rules first in schema order,
        then cross-field rules. A body that is not an object reports only that."""
        if self.accepts(instance):
            return []
        found: list[Violation] = []
        for error in self._validator.iter_errors(instance):
            found.extend(self._explain(error, instance))
        found.sort(key=lambda v: (v.keyword == "x-rule", self._rank(v.field), v.field))
        first_per_field: dict[tuple[str, str], Violation] = {}
        for violation in found:
            key = (violation.field, violation.message if violation.keyword == "x-rule" else "")
            first_per_field.setdefault(key, violation)
        return list(first_per_field.values())

    def is_valid(self, instance: Any) -> bool:
        return self.accepts(instance) or bool(self._validator.is_valid(instance))

    def _rank(self, field: str) -> int:
        head = field.split("[", maxsplit=1)[0].split(".", maxsplit=1)[0]
        return self._order.get(head, len(self._order))

    def _explain(self, error: ValidationError, instance: Any) -> list[Violation]:
        rule = self._rule_of(error)
        if rule is not None:
            return [Violation("", "x-rule", str(rule), self.code_for("", "x-rule"))]
        if not error.absolute_path and error.validator == "required":
            return [
                Violation(name, "required", f"{name}: is required", self.code_for(name, "required"))
                for name in _as_list(error.validator_value)
                if isinstance(instance, Mapping) and name not in instance
            ]
        if not error.absolute_path and error.validator == "additionalProperties":
            note = self.schema.get("x-unknown-field-message", "unknown field")
            assert isinstance(instance, Mapping)
            return [
                Violation(name, "additionalProperties", f"{name}: {note}", self.code_for("", "*"))
                for name in instance
                if name not in self._properties
            ]
        field = _field_path(error.absolute_path)
        message = f"{field}: {_describe(error)}" if field else _describe(error)
        return [
            Violation(field, str(error.validator), message, self.code_for(field, error.validator))
        ]

    def _rule_of(self, error: ValidationError) -> str | None:
        """The x-rule text when the error comes from a cross-field rule in allOf."""
        path = list(error.relative_schema_path)
        if len(path) >= 2 and path[0] == "allOf":
            entry = self.schema["allOf"][path[1]]
            return str(entry.get("x-rule", "")) or None
        return None

    def code_for(self, field: str, keyword: object) -> str | None:
        """The documented error code the schema ties to breaking ``keyword`` of ``field``
        (the nearest x-error-code: the property's, else the body's); None when unnamed."""
        head = field.split("[", maxsplit=1)[0].split(".", maxsplit=1)[0]
        for scope in (self._properties.get(head, {}) if head else {}, self.schema):
            mapping = scope.get("x-error-code")
            if isinstance(mapping, str):
                return mapping
            if isinstance(mapping, Mapping):
                return str(mapping.get(str(keyword), mapping.get("*")))
        return None
