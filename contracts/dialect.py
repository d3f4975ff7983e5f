"""What the suite knows about one provider's API, read from spec/.

The operations, where a new task's id sits, where a polled task sits, its
lifecycle states and the error a fault can cause all come from api.json and
schema.json; which response field carries the charge, the refund or the net
consumption, and where an error body keeps its code, from the schema's
``x-role`` annotations ("charge", "refund", "net-charge", "error-code").

A ``ProviderAPI`` is one lifecycle: an operation that creates a task (it takes
a body and answers a ``TaskId``) and the operation that reads it back (the
GET taking that id, whose path shares the most with the creating one's).
``ProviderAPI(spec)`` is the first; ``ProviderAPI.lifecycles(spec)`` lists them
all (a provider may serve several API versions side by side).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from mockserver.spec import ErrorKind, Operation, ProviderSpec

Pointer = tuple[str, ...]
Body = dict[str, Any]

#: the $defs names the schemas share (a task's own name may carry a suffix: TaskV2)
TASK_ID, FAILED_VARIANT, ERROR = "TaskId", "TaskFailed", "Error"
IDEMPOTENCY_HEADER_SCHEMA = "IdempotencyKeyHeader"
#: the errors-table conditions of a request that breaks the schema, and of a
#: submission the balance cannot pay for
INVALID, INSUFFICIENT = "invalid_request", "insufficient_credits"


@dataclass(frozen=True)
class _Fields:
    charge: str | None  # gross credits charged, in the task and the accepted body
    refund: str | None  # credits given back
    net: str | None  # credits consumed after refunds
    error_code: Pointer


def _fields(spec: ProviderSpec, task: str) -> _Fields:
    """The response fields the schema marks with an ``x-role`` (in ``$defs[task]``)."""

    def field(role: str) -> str | None:
        found = _role(spec, spec.schema["$defs"][task], role, set())
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
        target = spec.resolve_ref(ref)
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

    def __init__(self, spec: ProviderSpec, submit: str | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.submit = (
            spec.operations[submit]
            if submit
            else next(op for op in spec.operations.values() if op.body)
        )
        self.poll = _poll_of(spec, self.submit)
        ref = f"#/$defs/{TASK_ID}"
        self.task_id_at = _pointer_to(spec, {"$ref": self._schema_name(self.submit)}, ref)
        self.task_schema, self.task_at = _task_in(spec, {"$ref": self._schema_name(self.poll)})
        #: where a polled task names its own id (None: it does not)
        self.own_id_at: Pointer | None = _optional_pointer(spec, f"#/$defs/{self.task_schema}", ref)
        self.fields = _fields(spec, self.task_schema)
        self.status_field, self.states, self.failed_state = _lifecycle(spec, self.task_schema)
        #: the states of a task not yet ended (queued, running): those before the
        #: variant marked ``x-role: succeeded``, else the first
        self.in_flight = _in_flight(spec, self.task_schema, self.states)

    @classmethod
    def lifecycles(cls, spec: ProviderSpec) -> list[ProviderAPI]:
        """One ProviderAPI per operation that creates a task (it takes a body and
        answers a TaskId), in document order."""
        found = []
        for op in spec.operations.values():
            if op.body:
                try:
                    found.append(cls(spec, op.name))
                except LookupError:
                    continue  # a body, but no task: not a lifecycle
        return found

    def __repr__(self) -> str:
        return f"<ProviderAPI {self.name} {self.submit.name}→{self.poll.name}>"

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
        table's (every condition the response lists under ``errors``, else its
        ``error``), plus the field codes (x-error-code) of its body and query."""
        kind = self.error_kind(op, status)
        if kind is None:
            return set()
        listed = op.responses[str(status)].get("errors", [])
        codes = {kind.code} | {self.spec.errors[c].code for c in listed if c in self.spec.errors}
        annotated: set[str] = set()
        for definition in (op.body, op.query):
            if definition:
                annotated |= set(_codes_in(self.spec.definition(definition)))
        # A field code the errors table lacks is a validation failure (INVALID_PROMPT).
        field_codes = {c for c in annotated if self.spec.error(INVALID, c).status == status}
        return codes | field_codes

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

    def price_of(self, body: Body) -> int | None:
        """The price table's credits for ``body``; None when spec/ alone cannot
        price it (a price that depends on what the server derives from it)."""
        try:
            return self.price(body)
        except (LookupError, ValueError, TypeError):
            return None

    def poll_request(self, task_id: str) -> tuple[str, dict[str, str]]:
        """Path and query that read ``task_id``."""
        location, name = self.poll_parameter
        if location == "query":
            return self.poll.path, {name: task_id}
        return self.poll.path.replace(f"{{{name}}}", quote(task_id, safe="")), {}

    @property
    def poll_parameter(self) -> tuple[str, str]:
        """Where a poll request carries the task id: ("query" or "path", its name)."""
        if self.poll.query:
            [name] = self.spec.definition(self.poll.query)["required"]
            return "query", str(name)
        [name] = re.findall(r"\{(\w+)\}", self.poll.path)
        return "path", str(name)

    def polled_id(self, path: str, query: Mapping[str, str]) -> str | None:
        """The task id a poll request asked for."""
        location, name = self.poll_parameter
        if location == "query":
            return query.get(name)
        found = _path_pattern(self.poll.path).match(path)
        return unquote(found.group(1)) if found else None

    def operation_at(self, method: str, path: str) -> Operation | None:
        """The operation a request of ``method`` to ``path`` calls (None: not this API's)."""
        for op in self.spec.operations.values():
            if op.method == method.upper() and _path_pattern(op.path).match(path):
                return op
        return None

    # responses -----------------------------------------------------------------
    def accepted_id(self, body: Any) -> str | None:
        found = dig(body, self.task_id_at)
        return found if isinstance(found, str) else None

    def task(self, body: Any) -> dict[str, Any] | None:
        found = dig(body, self.task_at)
        return found if isinstance(found, dict) else None

    def error_code(self, body: Any) -> Any:
        return dig(body, self.fields.error_code)


def _path_pattern(template: str) -> re.Pattern[str]:
    """``/tasks/{id}`` as a regular expression capturing each parameter."""
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", "([^/]+)", re.escape(template)) + "$")


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
    resolved = _resolved(spec, schema)
    for name, sub in resolved.get("properties", {}).items():
        if isinstance(sub, Mapping):
            try:
                return (name, *_pointer_to(spec, sub, ref))
            except LookupError:
                continue
    for variant in resolved.get("oneOf", [])[:1]:  # the variants share their fields
        return _pointer_to(spec, variant, ref)
    raise LookupError(f"{ref} is not in this schema")


def _optional_pointer(spec: ProviderSpec, schema_ref: str, ref: str) -> Pointer | None:
    try:
        return _pointer_to(spec, {"$ref": schema_ref}, ref)
    except LookupError:
        return None


def _lifecycle(spec: ProviderSpec, task: str) -> tuple[str, tuple[str, ...], str]:
    """The status field, the states in document order, and the failed state:
    the field every variant of ``$defs[task]`` pins with a ``const``."""
    variants = spec.schema["$defs"][task].get("oneOf")
    if not variants or not all(isinstance(v.get("$ref"), str) for v in variants):
        raise LookupError(f"{task} is not a oneOf of task states")
    props = [_resolved(spec, v).get("properties", {}) for v in variants]
    pinned = [n for n in props[0] if all("const" in p.get(n, {}) for p in props)]
    if len(pinned) != 1:
        raise LookupError(f"{task}: no single field pins the state of every variant")
    [field] = pinned
    states = tuple(str(p[field]["const"]) for p in props)
    failed = next(
        s
        for v, s in zip(variants, states, strict=True)
        if FAILED_VARIANT in v["$ref"].rsplit("/", 1)[-1]
    )
    return field, states, failed


def moved_forward(seen: Iterable[str], in_flight: Sequence[str]) -> bool:
    """Whether a task's statuses only moved forward: through the in-flight states
    in their order, and never out of a state that ended it."""
    settled: str | None = None
    reached = -1
    for status in seen:
        if settled is not None:
            if status != settled:
                return False
        elif status in in_flight:
            if in_flight.index(status) < reached:
                return False
            reached = in_flight.index(status)
        else:
            settled = status
    return True


def _in_flight(spec: ProviderSpec, task: str, states: tuple[str, ...]) -> tuple[str, ...]:
    variants = spec.schema["$defs"][task]["oneOf"]
    marked = [i for i, v in enumerate(variants) if v.get("x-role") == "succeeded"]
    return states[: marked[0]] if marked else states[:1]


def _poll_of(spec: ProviderSpec, submit: Operation) -> Operation:
    """The operation reading back what ``submit`` creates: a GET taking one id
    (a path parameter, or a single required query field), the one whose path
    shares the longest start with ``submit``'s (earliest in the document on a tie)."""
    candidates = [
        op
        for op in spec.operations.values()
        if op.method == "GET"
        and (
            op.path_parameters
            or (op.query and len(spec.definition(op.query).get("required", [])) == 1)
        )
    ]
    if not candidates:
        raise LookupError(f"{spec.name}: no operation reads back a task of {submit.name}")

    def shared(op: Operation) -> int:
        return len(_common_prefix(op.path, submit.path))

    return max(candidates, key=shared)  # max keeps the first of equals


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _task_in(spec: ProviderSpec, schema: Mapping[str, Any]) -> tuple[str, Pointer]:
    """The $defs name of the task inside a body of ``schema`` (a oneOf of states),
    and where it sits."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        try:
            _lifecycle(spec, name)
            return name, ()
        except (LookupError, KeyError):
            pass
    for prop, sub in _resolved(spec, schema).get("properties", {}).items():
        if isinstance(sub, Mapping):
            try:
                name, inner = _task_in(spec, sub)
            except LookupError:
                continue
            return name, (prop, *inner)
    raise LookupError("no task in this schema")


def _codes_in(node: Any) -> list[str]:
    if isinstance(node, Mapping):
        own = node.get("x-error-code")
        codes = [own] if isinstance(own, str) else list((own or {}).values())
        return codes + [c for v in node.values() for c in _codes_in(v)]
    if isinstance(node, list):
        return [c for v in node for c in _codes_in(v)]
    return []
