"""The checks: plain functions named for the property they assert.

Every check has one signature, ``check(ctx, exchange) -> None``, and lives in
``CHECKS``. A check that finds the exchange disagreeing with spec/ calls
``disagree(at, documented, received)``; ``run_checks`` gathers what every check
found into one ``ContractViolation`` that says what was received, what was
documented, and how to send the request again with curl.

Each finding names its cause: what is wrong, in words that stay the same
whichever request showed it (``updated_at: a required field``, ``status moved
back``, ``error.code = invalid_prompt``), so that one drift of the target is
one finding however many tests meet it (contracts/drift.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import requests
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from contracts.context import CheckContext
from contracts.dialect import ERROR, dig, moved_forward
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
    cause: str = ""  # what is wrong, the same for every exchange that shows it

    @property
    def cause_text(self) -> str:
        return self.cause or f"{self.at}: {self.documented}"


class Disagreement(Exception):
    """Raised by a check: what it found, before run_checks names the check."""

    def __init__(self, found: list[tuple[str, str, str, str]]) -> None:
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


class KnownDrift(BaseException):
    """The running test has nothing new to find: it fails at once with
    ``violation`` instead of drawing more examples or shrinking further (an
    earlier test reported all of it, or this test spent its shrinking time and
    ``violation`` is the smallest failing exchange it saw).

    A BaseException on purpose: Hypothesis shrinks and retries every Exception,
    and lets anything else through at once (pytest still reports a failure).
    """

    def __init__(self, violation: ContractViolation, reason: str) -> None:
        super().__init__(violation, reason)
        self.violation = violation
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason} (see --drift-report):\n{self.violation}"


def check(func: Check) -> Check:
    """Register ``func`` under its own name."""
    CHECKS[func.__name__] = func
    return func


def disagree(at: str, documented: object, received: object, cause: str = "") -> NoReturn:
    """Report a disagreement; ``cause`` names it when ``documented`` varies from
    one exchange to the next (it holds prices, ids, the statuses seen)."""
    raise Disagreement([(at, _text(documented), _text(received), cause)])


def run_checks(ctx: CheckContext, exchange: Exchange, names: Iterable[str] | None = None) -> None:
    """Run the named checks (default: all) on ``exchange``; ContractViolation
    listing everything found, also reported to ``ctx.drift`` (see ``report``)."""
    findings: list[Finding] = []
    for name in names or list(CHECKS):
        try:
            CHECKS[name](ctx, exchange)
        except Disagreement as found:
            findings += [Finding(name, *item) for item in found.found]
    if findings:
        report(ctx, exchange, findings)


def report(ctx: CheckContext, exchange: Exchange, findings: list[Finding]) -> None:
    """Raise ContractViolation for ``findings`` about ``exchange``, reported to
    ``ctx.drift`` first (which raises KnownDrift when the test should stop, and
    lets the test go on past drift already reported when asked to keep going)."""
    violation = ContractViolation(exchange, findings)
    if ctx.drift is not None and ctx.drift.record(violation):
        return
    raise violation


def _text(value: object) -> str:
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= 300 else shown[:297] + "..."


def _operation(ctx: CheckContext, exchange: Exchange) -> Operation | None:
    return ctx.api.operation(exchange.operation)


def _success_body(ctx: CheckContext, exchange: Exchange, op: Operation | None) -> Any:
    """The JSON body of a documented success answer of ``op``, else None."""
    if op is None or exchange.operation != op.name or not exchange.is_json:
        return None
    if exchange.status != ctx.api.success_status(op):
        return None
    return exchange.json()


# the HTTP shape ------------------------------------------------------------------
@check
def status_code_is_documented(ctx: CheckContext, exchange: Exchange) -> None:
    op = _operation(ctx, exchange)
    if op is not None and str(exchange.status) not in op.responses:
        documented = f"one of {', '.join(op.responses)}"
        disagree("status", documented, exchange.status, f"undocumented status {exchange.status}")


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
    found = _schema_findings(ctx, ERROR, exchange.json())
    allowed = ctx.api.allowed_codes(op, exchange.status)
    code = ctx.api.error_code(exchange.json())
    if allowed and code not in allowed:
        at = ".".join(ctx.api.fields.error_code)
        cause = _code_cause(ctx, code, f"error code {_text(code)} on {exchange.status}")
        # the code's own schema finding (a pattern) is this one
        found = [(at, f"one of {sorted(allowed)}", _text(code), cause)] + [
            f for f in found if f[0] != at
        ]
    if found:
        raise Disagreement(found)


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
        documented = f"whole seconds matching {schema['pattern']}"
        shape = "missing" if value is None else "not whole seconds"
        cause = f"Retry-After on {exchange.status} is {shape}"
        disagree("Retry-After header", documented, value, cause)


@check
def request_gets_documented_answer(ctx: CheckContext, exchange: Exchange) -> None:
    """The answer the spec documents for this request (accepted, or the error
    of the one rule it breaks)."""
    wanted = ctx.expectation
    if wanted is None or _operation(ctx, exchange) is None:
        return
    code = ctx.api.error_code(exchange.json()) if exchange.is_json else None
    received = f"{exchange.status} {code or ''}".strip()
    cause = _not_answered(wanted.status or "2xx", wanted.code)
    if exchange.status == wanted.status:
        cause = _code_cause(ctx, code, cause)
    if wanted.status is None and exchange.status // 100 != 2:
        disagree("status", wanted.describe(), received, cause)
    if wanted.status is not None and (exchange.status, code) != (wanted.status, wanted.code):
        disagree("status", wanted.describe(), received, cause)


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
        received = f"{exchange.status} {code}"
        cause = _not_answered(kind.status, kind.code) if kind else _not_answered(401)
        cause = _code_cause(ctx, code, cause) if kind and exchange.status == kind.status else cause
        disagree("status", f"{documented} (request {exchange.caller})", received, cause)


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
            _code_cause(ctx, code, _not_answered(404, kind.code if kind else None))
            if kind and exchange.status == kind.status
            else _not_answered(404, kind.code if kind else None),
        )


# tasks ----------------------------------------------------------------------------
@check
def lifecycle_only_moves_forward(ctx: CheckContext, exchange: Exchange) -> None:
    task = ctx.api.task(_success_body(ctx, exchange, ctx.api.poll))
    task_id = ctx.polled_task(exchange)
    seen = ctx.statuses.get(task_id or "", [])
    if task is None or not seen:
        return
    status, last = task.get(ctx.api.status_field), seen[-1]
    if not moved_forward([*seen, str(status)], ctx.api.in_flight):
        disagree(
            ctx.api.status_field,
            f"{last} or a later state (seen: {' → '.join(seen)})",
            status,
            f"{ctx.api.status_field} moved back to {_text(status)}",
        )


@check
def poll_answers_the_task_asked_for(ctx: CheckContext, exchange: Exchange) -> None:
    """A poll describes the task whose id it asked for (not a canned one)."""
    task = ctx.api.task(_success_body(ctx, exchange, ctx.api.poll))
    asked = ctx.polled_task(exchange)
    if task is None or asked is None or ctx.api.own_id_at is None:
        return
    answered = dig(task, ctx.api.own_id_at)
    if answered != asked:
        at = ".".join((*ctx.api.task_at, *ctx.api.own_id_at))
        disagree(at, f"{asked} (the id asked for)", answered, "answers another task than asked for")


@check
def each_submission_creates_a_task(ctx: CheckContext, exchange: Exchange) -> None:
    """A submission that is not a replay creates a task of its own: its id is
    new (a stateless server answers every submission with the same task)."""
    accepted = ctx.api.accepted_id(_success_body(ctx, exchange, ctx.api.submit))
    earlier = ctx.tasks.get(accepted or "")
    if earlier is None:
        return
    replayed = _same_key(ctx, exchange)
    if replayed is None or replayed.id != accepted:
        at = ".".join(ctx.api.task_id_at)
        documented = "a new task id (not a replay of an earlier submission)"
        disagree(at, documented, accepted, "a new submission creates nothing new")


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
            received = f"{type(exc).__name__}: {exc}"
            disagree(url, "a downloadable file", received, "an output does not download")
        ctx.downloaded.add(url)
        if got.status not in (200, 206) or not got.response_body:
            documented = "a downloadable file (200 or 206 with content)"
            disagree(url, documented, got.status, "an output does not download")


# credits ---------------------------------------------------------------------------
@check
def charge_matches_price_table(ctx: CheckContext, exchange: Exchange) -> None:
    api, fields = ctx.api, ctx.api.fields
    accepted = _success_body(ctx, exchange, api.submit)
    if accepted is not None and fields.charge:
        charged = dig(accepted, (*api.task_id_at[:-1], fields.charge))
        price = api.price_of(exchange.request_body)
        if _is_count(charged) and price is not None and charged != price:
            documented = f"{price} (price table, {_priced(ctx, exchange)})"
            disagree(
                fields.charge, documented, charged, f"{fields.charge} is not the price table's"
            )
    task = api.task(_success_body(ctx, exchange, api.poll))
    record = ctx.tasks.get(ctx.polled_task(exchange) or "")
    if task is None or record is None or record.price is None:
        return
    if (
        fields.charge
        and _is_count(task.get(fields.charge))
        and task.get(fields.charge) != record.price
    ):
        cause = f"{fields.charge} is not the price table's"
        disagree(fields.charge, f"{record.price} (price table)", task.get(fields.charge), cause)
    failed = task.get(api.status_field) == api.failed_state
    refund = record.price if failed and api.spec.profile.failure.refund else 0
    net = _net(ctx, task)
    if _is_count(net) and net != record.price - refund:
        at = fields.net or f"{fields.charge} - {fields.refund}"
        documented = f"{record.price - refund} (price {record.price}, refund {refund})"
        disagree(at, documented, net, f"{at} is not price minus refund")


@check
def refund_never_exceeds_charge(ctx: CheckContext, exchange: Exchange) -> None:
    fields = ctx.api.fields
    task = ctx.api.task(_success_body(ctx, exchange, ctx.api.poll))
    if task is None:
        return
    # without a charge field, charge_matches_price_table holds the net to the price
    charge = task.get(fields.charge) if fields.charge else None
    net = _net(ctx, task)
    if isinstance(charge, int) and isinstance(net, int) and not 0 <= charge - net <= charge:
        at = fields.refund or fields.net or "refund"
        disagree(at, f"0–{charge} credits", charge - net, f"{at} exceeds the charge")


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
            "balance is not start − charges + refunds",
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
        replayed = f"{ctx.api.success_status(ctx.api.submit)} replay"
        disagree("status", replayed, exchange.status, f"a replay is answered {conflict.status}")
    if body is not None and ctx.api.accepted_id(body) != original.id:
        at = ".".join(ctx.api.task_id_at)
        disagree(at, original.id, ctx.api.accepted_id(body), "a replay creates another task")


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
        cause = _not_answered(409, kind.code if kind else None)
        cause = _code_cause(ctx, code, cause) if exchange.status == 409 else cause
        disagree(
            "status", f"{documented} (same key, other body)", f"{exchange.status} {code}", cause
        )


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


def _is_count(value: Any) -> bool:
    """An integer (a value of another type is body_matches_schema's to report)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _not_answered(status: object, code: str | None = None) -> str:
    """The cause of an answer other than the documented one: the same words
    from every check that expects ``status code`` (so they share a line)."""
    return f"answer is not {status} {code or ''}".rstrip()


def _code_cause(ctx: CheckContext, code: Any, otherwise: str) -> str:
    """A code the spec documents nowhere is one cause, whichever check meets it."""
    if isinstance(code, str) and code not in ctx.api.spec.error_codes():
        return f"undocumented error code {code}"
    return otherwise


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
    found = _schema_findings(ctx, name, instance)
    if found:
        raise Disagreement(found)


def _schema_findings(
    ctx: CheckContext, name: str, instance: Any
) -> list[tuple[str, str, str, str]]:
    schema = ctx.api.spec.validator(name).schema
    validator = Draft202012Validator(schema, format_checker=format_checker())
    return [_finding(e, name) for e in _leaves(validator.iter_errors(instance))]


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


def _finding(error: ValidationError, schema: str) -> tuple[str, str, str, str]:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    where = re.sub(r"\[\d+\]", "[]", path).lstrip(".")  # every item alike
    if error.validator == "required":
        missing = str(error.message).split("'")[1]
        at = f"{path}.{missing}".lstrip(".")
        cause = f"{where}.{missing}".lstrip(".") + " is missing"
        return at, f"a required field ({schema})", "(missing)", cause
    where = where or "body"
    if error.validator == "additionalProperties":
        at = path.lstrip(".") or "body"
        return at, f"no other fields ({schema})", error.message, f"{where} has other fields"
    documented = f"{error.validator} {_text(error.validator_value)} ({schema})"
    received = json.dumps(error.instance, ensure_ascii=False)  # quoted: "30" is not 30
    cause = f"{where} breaks the {schema} schema"  # one cause per field, whatever keyword
    return path.lstrip(".") or "body", documented, _text(received), cause


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
