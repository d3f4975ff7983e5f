"""Request parsing and response writing shared by the provider modules.

Everything here turns bad input into InvalidRequest with a message that says
what to fix; the provider's error handler renders it in its own envelope.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from flask import Request, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.sansio.utils import get_current_url

from mockserver.engine.errors import InvalidRequest, PayloadTooLarge, SimulatorError
from mockserver.engine.orders import Caller, Order
from mockserver.engine.simulation import SCENARIOS
from mockserver.providers.context import current_call, current_request
from mockserver.spec import ErrorKind, ProviderSpec

SCENARIO_HEADER = "X-Seedance-Mock-Scenario"
_SCENARIO_KEY = "HTTP_" + SCENARIO_HEADER.upper().replace("-", "_")  # its WSGI environ key
MAX_JSON_DEPTH = 32
#: what json.dumps(ensure_ascii=False, separators=(",", ":")) makes (one encoder, not one a call)
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: what json.dumps(ensure_ascii=False) makes
_PLAIN = json.JSONEncoder(ensure_ascii=False)


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """JSON in the order the body was built (documented field order), compact."""
    text = _COMPACT.encode(body)
    response = Response(text, status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(kind: ErrorKind, error: SimulatorError, body: Any) -> Response:
    """The provider's error ``body`` with ``kind``'s status and Retry-After where it belongs."""
    headers = {}
    retry_after = getattr(error, "retry_after", None)
    if kind.retry_after:
        headers["Retry-After"] = str(max(1, int(retry_after or 1)))
    return json_response(body, kind.status, headers)


def caller(provider: str) -> Caller:
    """Who sends this request (the engine checks the key), noted for the journal."""
    req = current_request()
    environ = req.environ
    found = current_call(environ).caller = Caller(provider, _bearer(environ), req.remote_addr)
    return found


def bearer_key() -> str | None:
    """The key of ``Authorization: Bearer <key>``, or None when absent or malformed."""
    return _bearer(request.environ)


def _bearer(environ: Mapping[str, Any]) -> str | None:
    header: str = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, key = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def origin() -> str:
    """Where the client reached us (output URLs point back here): ``request.host_url``
    without its slash."""
    req = current_request()
    return _origin(req.scheme, req.host)


@functools.lru_cache(maxsize=256)
def _origin(scheme: str, host: str) -> str:
    # what request.host_url makes of them (an IRI: quoted bytes decoded), once per host
    return get_current_url(scheme, host).rstrip("/")


def scenario() -> str | None:
    """The task fate a test asked for with X-Seedance-Mock-Scenario, if any."""
    return _scenario(request.environ)


def _scenario(environ: Mapping[str, Any]) -> str | None:
    value: str | None = environ.get(_SCENARIO_KEY)
    if value is None:
        return None
    chosen = value.strip().lower()
    if chosen not in SCENARIOS:
        raise InvalidRequest(
            f"{SCENARIO_HEADER} must be one of {', '.join(SCENARIOS)} (got {value!r})."
        )
    return chosen


def order(
    spec: ProviderSpec,
    definition: str,
    *,
    join: bool,
    code: str | None = None,
    idempotency_key: Callable[[], str | None] = lambda: None,
    normalise: Callable[[dict[str, Any]], dict[str, Any]] = lambda params: params,
) -> Order:
    """The submission in this request, read and checked against ``definition``:
    an Order with the params (defaults filled in), or with what to refuse it with."""
    req = current_request()
    try:
        body = read_json_object(spec, code, req)
    except SimulatorError as exc:  # still counted as a request, then refused
        return Order({}, None, exc)
    try:
        key = idempotency_key()
        validate(spec, definition, body, join=join)
        chosen = _scenario(req.environ)
    except SimulatorError as exc:
        return Order(body, None, exc)
    params = normalise({**spec.validator(definition).defaults(), **body})
    operation = str(req.endpoint or "").rpartition(".")[2] or None
    return Order(body, params, None, key, _origin(req.scheme, req.host), chosen, operation)


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, stopping once it passes ``limit``."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
    return deepest


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _number(text: str) -> float | int:
    """A JSON number with a fraction or exponent. JSON has one number type (1.0 and
    1e0 are the integer 1 to JSON Schema, and to idempotency: DECISIONS A5), so an
    integral one is read as that integer and every answer renders it as one."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return int(value) if value.is_integer() and abs(value) <= 2**53 else value


class UnreadableBody(Exception):
    """The request's body framing is broken (the client's fault, never ours)."""


def request_body(req: Request | None = None) -> bytes:
    """The whole body of the request (``req``, default the current one);
    UnreadableBody when its framing is broken (bad chunked encoding, cut short,
    an unknown transfer coding) whatever the server."""
    if req is None:
        req = current_request()
    codings = [
        c.strip().lower()
        for c in req.environ.get("HTTP_TRANSFER_ENCODING", "").split(",")
        if c.strip()
    ]
    unknown = [c for c in codings if c != "chunked"]
    if unknown:
        raise UnreadableBody(
            f"Transfer-Encoding {', '.join(unknown)} is not supported: send the body as it "
            "is, with a Content-Length or chunked."
        )
    try:
        return req.get_data(cache=True)
    except RequestEntityTooLarge:
        raise
    except HTTPException as exc:  # e.g. werkzeug's ClientDisconnected: body cut short
        raise UnreadableBody(f"The request body could not be read: {exc.description}") from exc
    except Exception as exc:  # the server's own framing errors (gunicorn, granian)
        reason = str(exc) or type(exc).__name__
        raise UnreadableBody(
            f"The request body could not be read ({reason[:200]}); send it with a correct "
            "Content-Length, or as valid chunked encoding."
        ) from exc


def read_json_object(
    spec: ProviderSpec, code: str | None, req: Request | None = None
) -> dict[str, Any]:
    """The body of the request (``req``, default the current one) as a JSON object,
    or InvalidRequest saying what is wrong."""
    if req is None:
        req = current_request()
    mimetype = req.mimetype
    if mimetype != "application/json":
        shown = mimetype or "none"
        raise InvalidRequest(f"Content-Type must be application/json (got {shown}).", code=code)
    raw = _read_raw(req, spec, code)
    body = _parse_json(raw, code)
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object.", code=code)
    # Strict UTF-8 decoding lets no surrogate through: only a \u escape can make one.
    try:
        if b"\\u" in raw:
            _PLAIN.encode(body).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(
            "Request body holds a \\u escape that is not a Unicode character (a lone surrogate).",
            code=code,
        ) from exc
    # Each level of nesting takes a bracket: fewer brackets than levels allowed, no need to count.
    brackets = raw.count(b"{") + raw.count(b"[")
    if brackets >= MAX_JSON_DEPTH and _depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise InvalidRequest(
            f"Request body is nested deeper than {MAX_JSON_DEPTH} levels.", code=code
        )
    if any("\x00" in k for k in body):
        raise InvalidRequest("Field names must not contain NUL characters.", code=code)
    return body


def _read_raw(req: Request, spec: ProviderSpec, code: str | None) -> bytes:
    """The body's bytes, within the provider's size limit and as long as announced."""
    length = req.content_length
    limit = spec.profile.max_body_bytes
    if length is not None and length > limit:
        raise PayloadTooLarge(f"Request body is {length} bytes; the limit is {limit}.")
    try:
        raw = request_body(req)
    except RequestEntityTooLarge as exc:  # a chunked body past the server's cap
        raise PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes.") from exc
    except UnreadableBody as exc:
        raise InvalidRequest(str(exc), code=code) from exc
    if len(raw) > limit:
        raise PayloadTooLarge(f"Request body is {len(raw)} bytes; the limit is {limit}.")
    if length is not None and len(raw) < length:
        raise InvalidRequest(
            f"The request body was cut short: {len(raw)} of the {length} bytes its "
            "Content-Length announces arrived.",
            code=code,
        )
    if not raw.strip():
        raise InvalidRequest("Request body is empty; send a JSON object.", code=code)
    return raw


#: what json.loads(text, parse_constant=_reject_constant, parse_float=_number) decodes
#: with, built once (json.loads builds a decoder a call when given either)
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_number)


def _parse_json(raw: bytes, code: str | None) -> Any:
    try:
        text = raw.decode("utf-8")
        if text.startswith("\ufeff"):  # refused as json.loads refuses it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _DECODER.decode(text)
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"Request body is not valid UTF-8 (byte {exc.start}).", code=code
        ) from exc
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}.", code=code) from exc


def validate(spec: ProviderSpec, definition: str, instance: Any, *, join: bool) -> None:
    """Raise InvalidRequest for the first broken rule (or all of them, ``join``ed)."""
    violations = spec.validator(definition).violations(instance)
    if not violations:
        return
    shown = violations if join else violations[:1]
    raise InvalidRequest("; ".join(v.message for v in shown), code=violations[0].code)
