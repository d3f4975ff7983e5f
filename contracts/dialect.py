"""What the suite knows about one provider's API, read from spec/.

The operations, where a new task's id sits, where a polled task sits, its
lifecycle states and the error a fault can cause all come from api.json and
schema.json; which response field carries the charge, the refund or the net
consumption, and where an error body keeps its code, from the schema's
``x-role`` annotations ("charge", "refund", "net-charge", "error-code").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from mockserver.spec import ErrorKind, Operation, ProviderSpec

Pointer = tuple[str, ...]
Body = dict[str, Any]

#: the $defs names the two schemas share
TASK_ID, TASK, FAILED_VARIANT, ERROR = "TaskId", "Task", "TaskFailed", "Error"
IDEMPOTENCY_HEADER_SCHEMA = "IdempotencyKeyHeader"
#: the errors-table condition of a request that breaks the schema
INVALID = "invalid_request"


@dataclass(frozen=True)
class _Fields:
    charge: str | None  # gross credits charged, in the task and the accepted body
    refund: str | None  # credits given back
    net: str | None  # credits consumed after refunds
    error_code: Pointer


def _fields(spec: ProviderSpec) -> _Fields:
    """The response fields the schema marks with an ``x-role``."""

    def field(role: str) -> str | None:
        found = _role(spec, spec.schema["$defs"][TASK], role, set())
        return found[-1] if found else None

    error_code = _role(spec, spec.schema["$defs"][ERROR], "error-code", set())
    if error_code is None:
        raise LookupError(f"{spec.name}: no x-role error-code in the Error schema")
    return _Fields(field("charge"), field("refund"), field("net-charge"), error_code)


def _role(
    spec: ProviderSpec, schema: Mapping[str, Any], role: str, seen: set[str]
) -> Pointer | None:
    """Where in a body of ``schema`` the property marked ``x-role: role`` sits."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref not in seen:
        seen.add(ref)
        target: Any = spec.schema
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        found = _role(spec, target, role, seen) if isinstance(target, Mapping) else None
        if found is not None:
            return found
    for name, sub in schema.get("properties", {}).items():
        if isinstance(sub, Mapping):
            if sub.get("x-role") == role:
                return (name,)
            inner = _role(spec, sub, role, seen)
            if inner is not None:
                return (name, *inner)
    for keyword in ("oneOf", "anyOf", "allOf"):
        for variant in schema.get(keyword, []):
            found = _role(spec, variant, role, seen)
            if found is not None:
                return found
    return None


def dig(value: Any, pointer: Pointer) -> Any:
    """The value at ``pointer`` inside ``value``; None when absent."""
    for part in pointer:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


class ProviderAPI:
    """A provider's operations and response shapes, derived from its spec."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.fields = _fields(spec)
        self.submit = next(op for op in spec.operations.values() if op.body)
        self.poll = next(op for op in spec.operations.values() if op.query or op.path_parameters)
        ref = f"#/$defs/{TASK_ID}"
        self.task_id_at = _pointer_to(spec, {"$ref": self._schema_name(self.submit)}, ref)
        self.task_at = _pointer_to(spec, {"$ref": self._schema_name(self.poll)}, f"#/$defs/{TASK}")
        self.status_field, self.states, self.failed_state = _lifecycle(spec)

    def __repr__(self) -> str:
        return f"<ProviderAPI {self.name}>"

    # operations --------------------------------------------------------------
    def operation(self, name: str | None) -> Operation | None:
        return self.spec.operations.get(name) if name else None

    @staticmethod
    def success_status(op: Operation) -> int:
        return next(int(s) for s in op.responses if s.startswith("2"))

    def _schema_name(self, op: Operation) -> str:
        return f"#/$defs/{op.responses[str(self.success_status(op))]['schema']}"

    def success_schema(self, op: Operation) -> str:
        return str(op.responses[str(self.success_status(op))]["schema"])

    def error_kind(self, op: Operation, status: int) -> ErrorKind | None:
        entry = op.responses.get(str(status), {})
        return self.spec.errors[entry["error"]] if "error" in entry else None

    def allowed_codes(self, op: Operation, status: int) -> set[str]:
        """Error codes the spec allows in a ``status`` answer of ``op``: the errors
        table's, plus the field codes (x-error-code) of its body and query."""
        kind = self.error_kind(op, status)
        if kind is None:
            return set()
        annotated: set[str] = set()
        for definition in (op.body, op.query):
            if definition:
                annotated |= set(_codes_in(self.spec.definition(definition)))
        # A field code the errors table lacks is a validation failure (INVALID_PROMPT).
        field_codes = {c for c in annotated if self.spec.error(INVALID, c).status == status}
        return {kind.code} | field_codes

    def fault_conditions(self, op: Operation) -> list[str]:
        """Server-side conditions ``op`` documents (429 and 5xx): what a fault may cause."""
        return [
            str(entry["error"])
            for status, entry in op.responses.items()
            if "error" in entry and (int(status) >= 500 or int(status) == 429)
        ]

    # requests ----------------------------------------------------------------
    @property
    def idempotency_header(self) -> str | None:
        """The Idempotency-Key header, when the provider documents and honours one."""
        if not self.spec.profile.idempotency.enabled:
            return None
        for name, header in self.submit.headers.items():
            if header.get("schema") == IDEMPOTENCY_HEADER_SCHEMA:
                return str(name)
        return None

    def params(self, body: Body) -> Body:
        """The request as the provider reads it: documented defaults filled in."""
        assert self.submit.body is not None
        return {**self.spec.validator(self.submit.body).defaults(), **body}

    def price(self, body: Body) -> int:
        return self.spec.price(self.params(body)).credits

    def poll_request(self, task_id: str) -> tuple[str, dict[str, str]]:
        """Path and query that read ``task_id``."""
        if self.poll.query:
            [name] = self.spec.definition(self.poll.query)["required"]
            return self.poll.path, {name: task_id}
        return re.sub(r"\{\w+\}", quote(task_id, safe=""), self.poll.path), {}

    def polled_id(self, path: str, query: Mapping[str, str]) -> str | None:
        """The task id a poll request asked for."""
        if self.poll.query:
            [name] = self.spec.definition(self.poll.query)["required"]
            return query.get(name)
        pattern = "^" + re.sub(r"\\\{\w+\\\}", "([^/]+)", re.escape(self.poll.path)) + "$"
        found = re.match(pattern, path)
        return unquote(found.group(1)) if found else None

    # responses -----------------------------------------------------------------
    def accepted_id(self, body: Any) -> str | None:
        found = dig(body, self.task_id_at)
        return found if isinstance(found, str) else None

    def task(self, body: Any) -> dict[str, Any] | None:
        found = dig(body, self.task_at)
        return found if isinstance(found, dict) else None

    def error_code(self, body: Any) -> Any:
        return dig(body, self.fields.error_code)


def _resolved(spec: ProviderSpec, schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$ref`` chain merged in (its own keywords win,
    ``properties`` merge)."""
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return dict(schema)
    base = _resolved(spec, spec.schema["$defs"][ref.rsplit("/", 1)[-1]])
    merged = {**base, **{k: v for k, v in schema.items() if k != "$ref"}}
    merged["properties"] = {**base.get("properties", {}), **schema.get("properties", {})}
    return merged


def _pointer_to(spec: ProviderSpec, schema: Mapping[str, Any], ref: str) -> Pointer:
    """Where in a body of ``schema`` the value ``ref`` describes sits."""
    if schema.get("$ref") == ref:
        return ()
    for name, sub in _resolved(spec, schema).get("properties", {}).items():
        if isinstance(sub, Mapping):
            try:
                return (name, *_pointer_to(spec, sub, ref))
            except LookupError:
                continue
    raise LookupError(f"{ref} is not in this schema")


def _lifecycle(spec: ProviderSpec) -> tuple[str, tuple[str, ...], str]:
    """The status field, the states in document order, and the failed state:
    the field every variant of Task pins with a ``const``."""
    variants = spec.schema["$defs"][TASK]["oneOf"]
    props = [_resolved(spec, v)["properties"] for v in variants]
    [field] = [n for n in props[0] if all("const" in p.get(n, {}) for p in props)]
    states = tuple(str(p[field]["const"]) for p in props)
    failed = next(
        s for v, s in zip(variants, states, strict=True) if v["$ref"].endswith(FAILED_VARIANT)
    )
    return field, states, failed


def _codes_in(node: Any) -> list[str]:
    if isinstance(node, Mapping):
        own = node.get("x-error-code")
        codes = [own] if isinstance(own, str) else list((own or {}).values())
        return codes + [c for v in node.values() for c in _codes_in(v)]
    if isinstance(node, list):
        return [c for v in node for c in _codes_in(v)]
    return []
