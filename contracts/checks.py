"""The checks: plain functions named for the property they assert.

Every check has one signature, ``check(ctx, exchange) -> None``, and lives in
``CHECKS``. A check that finds the exchange disagreeing with spec/ calls
``disagree(at, documented, received)``; ``run_checks`` gathers what every check
found into one ``ContractViolation`` that says what was received, what was
documented, and how to send the request again with curl.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import requests
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from contracts.context import CheckContext
from contracts.dialect import ERROR, dig
from contracts.exchange import ANONYMOUS, CONTROL_ACCOUNT, STRANGER, Exchange
from contracts.transport import NotRecorded
from mockserver.spec import Operation
from mockserver.spec.formats import format_checker

Check = Callable[[CheckContext, Exchange], None]

#: every check, by name, in the order they run
CHECKS: dict[str, Check] = {}

RETRY_AFTER_SCHEMA = "RetryAfterHeader"


@dataclass(frozen=True)
class Finding:
    """One place where an exchange disagreed with the spec."""

    check: str
    at: str  # field path, header, or "status"
    documented: str
    received: str


class Disagreement(Exception):
    """Raised by a check: what it found, before run_checks names the check."""

    def __init__(self, found: list[tuple[str, str, str]]) -> None:
        super().__init__(found)
        self.found = found


class ContractViolation(AssertionError):
    """An exchange broke the contract: every finding, and a curl line to reproduce."""

    def __init__(
        self, exchange: Exchange, findings: list[Finding], others: Iterable[ContractViolation] = ()
    ) -> None:
        self.exchange = exchange
        self.findings = findings
        self.others = list(others)
        super().__init__("\n\n".join([self._message(), *map(str, self.others)]))

    @classmethod
    def combined(cls, violations: list[ContractViolation]) -> ContractViolation:
        """One violation that reports several exchanges."""
        first, *rest = violations
        return cls(first.exchange, first.findings, rest)

    def _message(self) -> str:
        ex = self.exchange
        lines = [
            f"{ex.provider} {ex.operation}: {ex.method} {ex.path} answered {ex.status}, "
            f"which disagrees with spec/ in {len(self.findings)} place(s):"
        ]
        for f in self.findings:
            lines += [
                f"  [{f.check}] at {f.at}",
                f"    received:   {f.received}",
                f"    documented: {f.documented}",
            ]
        lines.append(f"  reproduce: {ex.curl()}")
        return "\n".join(lines)


def check(func: Check) -> Check:
    """Register ``func`` under its own name."""
    CHECKS[func.__name__] = func
    return func


def disagree(at: str, documented: object, received: object) -> NoReturn:
    raise Disagreement([(at, _text(documented), _text(received))])


def run_checks(ctx: CheckContext, exchange: Exchange, names: Iterable[str] | None = None) -> None:
    """Run the named checks (default: all) on ``exchange``; ContractViolation
    listing everything found, also reported to ``ctx.drift``."""
    findings: list[Finding] = []
    for name in names or list(CHECKS):
        try:
            CHECKS[name](ctx, exchange)
        except Disagreement as found:
            findings += [Finding(name, *item) for item in found.found]
    if findings:
        violation = ContractViolation(exchange, findings)
        if ctx.drift is not None:
            ctx.drift.record(violation)
        raise violation


def _text(value: object) -> str:
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= 300 else shown[:297] + "..."


def _operation(ctx: CheckContext, exchange: Exchange) -> Operation | None:
    return ctx.api.operation(exchange.operation)


def _success_body(ctx: CheckContext, exchange: Exchange, op: Operation | None) -> Any:
    """The JSON body of a documented success answer of ``op``, else None."""
    if op is None or exchange.status != ctx.api.success_status(op) or not exchange.is_json:
        return None
    return exchange.json()


# the HTTP shape ------------------------------------------------------------------
@check
def status_code_is_documented(ctx: CheckContext, exchange: Exchange) -> None:
    op = _operation(ctx, exchange)
    if op is not None and str(exchange.status) not in op.responses:
        disagree("status", f"one of {', '.join(op.responses)}", exchange.status)


@check
def content_type_is_json(ctx: CheckContext, exchange: Exchange) -> None:
    if _operation(ctx, exchange) is None:
        return
    received = (exchange.header("Content-Type") or "").split(";")[0].strip().lower()
    if received != "application/json":
        disagree("Content-Type header", "application/json", received or "(none)")


@check
def body_matches_schema(ctx: CheckContext, exchange: Exchange) -> None:
    op = _operation(ctx, exchange)
    if op is None or exchange.status != ctx.api.success_status(op):
        return
    name = ctx.api.success_schema(op)
    if not exchange.is_json:
        disagree("body", f"JSON ({name})", exchange.text()[:200])
    _match(ctx, name, exchange.json())


@check
def error_envelope_is_documented(ctx: CheckContext, exchange: Exchange) -> None:
    op = _operation(ctx, exchange)
    if op is None or exchange.status < 400:
        return
    if not exchange.is_json:
        disagree("body", f"JSON ({ERROR})", exchange.text()[:200])
    _match(ctx, ERROR, exchange.json())
    allowed = ctx.api.allowed_codes(op, exchange.status)
    code = ctx.api.error_code(exchange.json())
    if allowed and code not in allowed:
        disagree(".".join(ctx.api.fields.error_code), f"one of {sorted(allowed)}", code)


@check
def retry_after_on_429(ctx: CheckContext, exchange: Exchange) -> None:
    """429, and every other error the spec marks ``retry_after`` (503), carry a
    Retry-After header of whole seconds."""
    if _operation(ctx, exchange) is None:
        return
    kinds = ctx.api.spec.errors.values()
    if not any(k.retry_after and k.status == exchange.status for k in kinds):
        return
    value = exchange.header("Retry-After")
    schema = ctx.api.spec.validator(RETRY_AFTER_SCHEMA).schema
    if value is None or ctx.api.spec.validator(RETRY_AFTER_SCHEMA).violations(value):
        disagree("Retry-After header", f"whole seconds matching {schema['pattern']}", value)


@check
def request_gets_documented_answer(ctx: CheckContext, exchange: Exchange) -> None:
    """The answer the spec documents for this request (accepted, or the error
    of the one rule it breaks)."""
    wanted = ctx.expectation
    if wanted is None or _operation(ctx, exchange) is None:
        return
    code = ctx.api.error_code(exchange.json()) if exchange.is_json else None
    received = f"{exchange.status} {code or ''}".strip()
    if wanted.status is None and exchange.status // 100 != 2:
        disagree("status", wanted.describe(), received)
    if wanted.status is not None and (exchange.status, code) != (wanted.status, wanted.code):
        disagree("status", wanted.describe(), received)


# who may see what ------------------------------------------------------------------
@check
def no_auth_is_401(ctx: CheckContext, exchange: Exchange) -> None:
    op = _operation(ctx, exchange)
    if op is None or exchange.caller not in (ANONYMOUS, STRANGER) or _throttled(ctx, exchange):
        return
    kind = ctx.api.error_kind(op, 401)
    code = ctx.api.error_code(exchange.json()) if exchange.is_json else None
    if kind is None or (exchange.status, code) != (kind.status, kind.code):
        documented = f"{kind.status} {kind.code}" if kind else "401"
        disagree("status", f"{documented} (request {exchange.caller})", f"{exchange.status} {code}")


@check
def someone_elses_task_is_404(ctx: CheckContext, exchange: Exchange) -> None:
    task_id = ctx.polled_task(exchange)
    record = ctx.tasks.get(task_id or "")
    if record is None or exchange.caller in (record.owner, ANONYMOUS, STRANGER):
        return
    if _throttled(ctx, exchange):
        return
    kind = ctx.api.error_kind(ctx.api.poll, 404)
    code = ctx.api.error_code(exchange.json()) if exchange.is_json else None
    if kind is None or (exchange.status, code) != (kind.status, kind.code):
        documented = f"{kind.status} {kind.code}" if kind else "404"
        disagree(
            "status",
            f"{documented} (task of account {record.owner}, read by {exchange.caller})",
            f"{exchange.status} {code}",
        )


# tasks ----------------------------------------------------------------------------
@check
def lifecycle_only_moves_forward(ctx: CheckContext, exchange: Exchange) -> None:
    task = ctx.api.task(_success_body(ctx, exchange, ctx.api.poll))
    task_id = ctx.polled_task(exchange)
    seen = ctx.statuses.get(task_id or "", [])
    if task is None or not seen:
        return
    status, last, first = task.get(ctx.api.status_field), seen[-1], ctx.api.states[0]
    if last not in (first, status):
        disagree(
            ctx.api.status_field,
            f"{last} for good once the task left {first} (seen: {' → '.join(seen)})",
            status,
        )


@check
def completed_task_has_downloadable_outputs(ctx: CheckContext, exchange: Exchange) -> None:
    body = _success_body(ctx, exchange, ctx.api.poll)
    if body is None or ctx.transport is None:
        return
    for url in _uris(ctx, ctx.api.success_schema(ctx.api.poll), body):
        if url in ctx.downloaded:
            continue
        try:
            got = ctx.transport.request("GET", url, headers={"Range": "bytes=0-1023"})
        except NotRecorded:
            continue  # replayed traffic: the file was not recorded
        except requests.RequestException as exc:
            disagree(url, "a downloadable file", f"{type(exc).__name__}: {exc}")
        ctx.downloaded.add(url)
        if got.status not in (200, 206) or not got.response_body:
            disagree(url, "a downloadable file (200 or 206 with content)", got.status)


# credits ---------------------------------------------------------------------------
@check
def charge_matches_price_table(ctx: CheckContext, exchange: Exchange) -> None:
    api, fields = ctx.api, ctx.api.fields
    accepted = _success_body(ctx, exchange, api.submit)
    if accepted is not None and fields.charge:
        charged = dig(accepted, (*api.task_id_at[:-1], fields.charge))
        price = api.price(exchange.request_body)
        if charged is not None and charged != price:
            disagree(fields.charge, f"{price} (price table, {_priced(ctx, exchange)})", charged)
    task = api.task(_success_body(ctx, exchange, api.poll))
    record = ctx.tasks.get(ctx.polled_task(exchange) or "")
    if task is None or record is None:
        return
    if fields.charge and task.get(fields.charge) != record.price:
        disagree(fields.charge, f"{record.price} (price table)", task.get(fields.charge))
    failed = task.get(api.status_field) == api.failed_state
    refund = record.price if failed and api.spec.profile.failure.refund else 0
    net = _net(ctx, task)
    if net is not None and net != record.price - refund:
        at = fields.net or f"{fields.charge} - {fields.refund}"
        disagree(at, f"{record.price - refund} (price {record.price}, refund {refund})", net)


@check
def refund_never_exceeds_charge(ctx: CheckContext, exchange: Exchange) -> None:
    fields = ctx.api.fields
    task = ctx.api.task(_success_body(ctx, exchange, ctx.api.poll))
    if task is None:
        return
    record = ctx.tasks.get(ctx.polled_task(exchange) or "")
    charge = task.get(fields.charge) if fields.charge else (record.price if record else None)
    net = _net(ctx, task)
    if isinstance(charge, int) and isinstance(net, int) and not 0 <= charge - net <= charge:
        disagree(fields.refund or fields.net or "refund", f"0–{charge} credits", charge - net)


@check
def balance_is_start_minus_charges_plus_refunds(ctx: CheckContext, exchange: Exchange) -> None:
    if exchange.operation != CONTROL_ACCOUNT or not exchange.is_json:
        return
    expected = ctx.expected_balance(exchange.caller or "")
    received = exchange.json().get("credits")
    if expected is not None and received != expected:
        owned = [t for t in ctx.tasks.values() if t.owner == exchange.caller]
        charges = "+".join(str(t.price) for t in owned) or "0"
        disagree(
            f"balance of account {exchange.caller}",
            f"{expected} (start {ctx.openings[exchange.caller or '']} − charges {charges} "
            f"+ refunds of {sum(t.failed for t in owned)} failed task(s))",
            received,
        )


# idempotency -----------------------------------------------------------------------
@check
def replay_returns_same_task(ctx: CheckContext, exchange: Exchange) -> None:
    original = _same_key(ctx, exchange)
    if original is None or original.body != exchange.request_body:
        return
    # Only an answer about the key counts: a 429 or 5xx is a refusal to retry.
    body = _success_body(ctx, exchange, ctx.api.submit)
    conflict = ctx.api.error_kind(ctx.api.submit, 409)
    while_running = ctx.api.spec.profile.idempotency.in_flight == "task"
    if conflict and exchange.status == conflict.status and not while_running:
        disagree("status", f"{ctx.api.success_status(ctx.api.submit)} replay", exchange.status)
    if body is not None and ctx.api.accepted_id(body) != original.id:
        disagree(".".join(ctx.api.task_id_at), original.id, ctx.api.accepted_id(body))


@check
def changed_body_under_same_key_is_conflict(ctx: CheckContext, exchange: Exchange) -> None:
    original = _same_key(ctx, exchange)
    if original is None or original.body == exchange.request_body:
        return
    kind = ctx.api.error_kind(ctx.api.submit, 409)
    code = ctx.api.error_code(exchange.json()) if exchange.is_json else None
    documented = f"{kind.status} {kind.code}" if kind else "409"
    # Accepted, or answered 409 with another code; a 429 or 5xx is a refusal to retry.
    if exchange.status // 100 == 2 or (exchange.status == 409 and kind and code != kind.code):
        disagree("status", f"{documented} (same key, other body)", f"{exchange.status} {code}")


# helpers ---------------------------------------------------------------------------
def _throttled(ctx: CheckContext, exchange: Exchange) -> bool:
    """A refusal to retry later (429, 503 with Retry-After): no answer to the
    question a check asks; the retried request gets the answer that counts."""
    kinds = ctx.api.spec.errors.values()
    return any(k.retry_after and k.status == exchange.status for k in kinds)


def _same_key(ctx: CheckContext, exchange: Exchange) -> Any:
    header = ctx.api.idempotency_header
    if exchange.operation != ctx.api.submit.name or header is None:
        return None
    key = exchange.request_header(header)
    return next(
        (
            t
            for t in ctx.tasks.values()
            if key and t.idempotency_key == key and t.owner == exchange.caller
        ),
        None,
    )


def _net(ctx: CheckContext, task: dict[str, Any]) -> Any:
    fields = ctx.api.fields
    if fields.net:
        return task.get(fields.net)
    if fields.charge and fields.refund:
        charge, refund = task.get(fields.charge), task.get(fields.refund)
        if isinstance(charge, int) and isinstance(refund, int):
            return charge - refund
    return None


def _priced(ctx: CheckContext, exchange: Exchange) -> str:
    params = ctx.api.params(exchange.request_body)
    return ", ".join(f"{k}={params[k]}" for k in ctx.api.spec.profile.pricing.keys)


def _match(ctx: CheckContext, name: str, instance: Any) -> None:
    schema = ctx.api.spec.validator(name).schema
    validator = Draft202012Validator(schema, format_checker=format_checker())
    found = [_finding(e, name) for e in _leaves(validator.iter_errors(instance))]
    if found:
        raise Disagreement(found)


def _leaves(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    """The errors that say what is wrong: inside a oneOf, those of the variant
    the body meant (the one failing no ``const``, then the fewest errors)."""
    for error in errors:
        if error.validator not in ("oneOf", "anyOf") or not error.context:
            yield error
            continue
        variants: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            variants.setdefault(sub.relative_schema_path[0], []).append(sub)
        best = min(
            variants.values(), key=lambda es: (sum(e.validator == "const" for e in es), len(es))
        )
        yield from _leaves(best)


def _finding(error: ValidationError, schema: str) -> tuple[str, str, str]:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.validator == "required":
        missing = str(error.message).split("'")[1]
        return f"{path}.{missing}".lstrip("."), f"a required field ({schema})", "(missing)"
    if error.validator == "additionalProperties":
        return path.lstrip(".") or "body", f"no other fields ({schema})", error.message
    documented = f"{error.validator} {_text(error.validator_value)} ({schema})"
    received = json.dumps(error.instance, ensure_ascii=False)  # quoted: "30" is not 30
    return path.lstrip(".") or "body", documented, _text(received)


def _uris(ctx: CheckContext, schema: str, body: Any) -> list[str]:
    """Every value the schema marks ``format: uri`` in ``body``: the outputs."""
    found: list[str] = []
    collector = FormatChecker(formats=())

    @collector.checks("uri")
    def _collect(value: object) -> bool:
        if isinstance(value, str) and value not in found:
            found.append(value)
        return True

    validator = Draft202012Validator(
        ctx.api.spec.validator(schema).schema, format_checker=collector
    )
    for _error in validator.iter_errors(body):
        pass  # body_matches_schema reports these; only the collected URIs matter here
    return found
