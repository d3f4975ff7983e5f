"""The control API under /__admin: reproduce any edge case on demand.

These paths are a stable contract (extend, never rename). Every answer is
JSON; errors are ``{"error": {"code", "message"}}``. When an admin token is
configured every call must carry it as ``Authorization: Bearer <token>`` (or
``X-Admin-Token``), compared in constant time.
"""

from __future__ import annotations

import dataclasses
import hmac
from typing import Any

from flask import Blueprint, Response, request

from mockserver.engine.clock import format_instant
from mockserver.engine.errors import KeyInUse, TaskNotFound, UnknownAccount
from mockserver.engine.model import COMPLETED, FAILED, PROCESSING, Account, Delivery, Task
from mockserver.faults import error_names, parse_rule
from mockserver.providers._http import json_response
from mockserver.providers.context import current_runtime

blueprint = Blueprint("admin", __name__, url_prefix="/__admin")


class AdminError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@blueprint.errorhandler(AdminError)
def _admin_error(error: AdminError) -> Response:
    return json_response({"error": {"code": error.code, "message": error.message}}, error.status)


@blueprint.before_request
def _require_token() -> None:
    token = current_runtime().config.admin_token
    if not token:
        return
    given = request.headers.get("X-Admin-Token") or ""
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        given = given or bearer.strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise AdminError(401, "unauthorized", "The control API needs the admin token.")


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if request.get_data() and not isinstance(data, dict):
        raise AdminError(400, "invalid_request", "Send a JSON object.")
    return data or {}


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else format_instant(seconds)


def account_json(account: Account) -> dict[str, Any]:
    keys = current_runtime().store.keys_of(account.provider, account.id)
    return {
        "provider": account.provider,
        "id": account.id,
        "credits": account.credits,
        "purchased": account.purchased,
        "keys": [{"key": k.key, "revoked": k.revoked} for k in keys],
        "created_at": _iso(account.created_at),
    }


def task_json(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "provider": task.provider,
        "account": task.account_id,
        "status": task.status,
        "planned": task.planned,
        "credits": task.credits,
        "refunded": task.refunded,
        "created_at": _iso(task.created_at),
        "updated_at": _iso(task.updated_at),
        "due_at": _iso(task.due_at),
        "params": task.params,
        "seed": task.seed,
        "media": dataclasses.asdict(task.media),
        "callback_url": task.callback_url,
        "error": {"code": task.error_code, "message": task.error_message}
        if task.status == FAILED
        else None,
    }


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "task_id": delivery.task_id,
        "provider": delivery.provider,
        "account": delivery.account_id,
        "url": delivery.url,
        "state": delivery.state,
        "duplicate": delivery.duplicate,
        "next_attempt_at": _iso(delivery.due_at) if delivery.state == "pending" else None,
        "attempts": [{**dataclasses.asdict(a), "at": _iso(a.at)} for a in delivery.attempts],
    }


# reset and clock --------------------------------------------------------------
@blueprint.post("/reset")
def reset() -> Response:
    runtime = current_runtime()
    runtime.reset()
    return json_response({"reset": True, "now": runtime.clock.iso()})


@blueprint.get("/clock")
def clock() -> Response:
    c = current_runtime().clock
    return json_response({"now": c.iso(), "mode": c.mode, "time_scale": c.time_scale})


@blueprint.post("/clock/advance")
def advance() -> Response:
    seconds = _body().get("seconds")
    if (
        not isinstance(seconds, (int, float))
        or isinstance(seconds, bool)
        or not 0 <= seconds <= 10**9
    ):
        raise AdminError(400, "invalid_request", "seconds must be a number >= 0.")
    runtime = current_runtime()
    runtime.clock.advance(float(seconds))
    return json_response({"now": runtime.clock.iso()})


# accounts -----------------------------------------------------------------------
def _account(provider: str, account_id: str) -> Account:
    account = current_runtime().store.get_account(provider, account_id)
    if account is None:
        raise AdminError(404, "not_found", f"No {provider} account {account_id!r}.")
    return account


@blueprint.post("/accounts")
def create_account() -> Response:
    data = _body()
    keys = data.get("keys", [])
    try:
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            raise ValueError("keys must be a list of non-empty strings")
        credits = data.get("credits", 0)
        if not isinstance(credits, int) or isinstance(credits, bool):
            raise ValueError("credits must be a whole number")
        if not isinstance(data.get("id"), str) or not data["id"]:
            raise ValueError("id must be a non-empty string")
        account = current_runtime().simulation.create_account(
            str(data.get("provider")), data["id"], credits, keys, bool(data.get("purchased", True))
        )
    except KeyInUse as exc:
        raise AdminError(409, "conflict", str(exc)) from exc
    except ValueError as exc:
        status, code = (409, "conflict") if "exists" in str(exc) else (400, "invalid_request")
        raise AdminError(status, code, str(exc)) from exc
    return json_response(account_json(account), 201)


@blueprint.get("/accounts")
def list_accounts() -> Response:
    accounts = current_runtime().store.accounts(request.args.get("provider"))
    return json_response({"accounts": [account_json(a) for a in accounts]})


@blueprint.get("/accounts/<provider>/<account_id>")
def get_account(provider: str, account_id: str) -> Response:
    return json_response(account_json(_account(provider, account_id)))


@blueprint.patch("/accounts/<provider>/<account_id>")
def update_account(provider: str, account_id: str) -> Response:
    data = _body()
    store, now = current_runtime().store, current_runtime().clock.now()
    _account(provider, account_id)
    if "credits" in data:
        credits = data["credits"]
        if not isinstance(credits, int) or isinstance(credits, bool) or credits < 0:
            raise AdminError(400, "invalid_request", "credits must be a whole number >= 0.")
        store.set_credits(provider, account_id, credits, now, "set through the control API")
    if "purchased" in data:
        current_runtime().simulation.set_purchased(provider, account_id, bool(data["purchased"]))
    return json_response(account_json(_account(provider, account_id)))


@blueprint.get("/accounts/<provider>/<account_id>/ledger")
def ledger(provider: str, account_id: str) -> Response:
    account = _account(provider, account_id)
    opening, entries = current_runtime().store.ledger(provider, account_id)
    return json_response(
        {
            "balance": account.credits,
            "opening": opening,
            "entries": [{**dataclasses.asdict(e), "at": _iso(e.at)} for e in entries],
        }
    )


@blueprint.post("/accounts/<provider>/<account_id>/keys")
def add_key(provider: str, account_id: str) -> Response:
    key = _body().get("key")
    if not isinstance(key, str) or not key:
        raise AdminError(400, "invalid_request", "key must be a non-empty string.")
    try:
        current_runtime().store.add_key(provider, account_id, key)
    except UnknownAccount as exc:
        raise AdminError(404, "not_found", str(exc)) from exc
    except KeyInUse as exc:
        raise AdminError(409, "conflict", str(exc)) from exc
    return json_response(account_json(_account(provider, account_id)), 201)


@blueprint.delete("/accounts/<provider>/<account_id>/keys/<key>")
def revoke_key(provider: str, account_id: str, key: str) -> Response:
    store = current_runtime().store
    record = store.resolve_key(provider, key)
    if record is None or record.account_id != account_id:
        raise AdminError(404, "not_found", "No such key on this account.")
    store.revoke_key(provider, key)
    return json_response(account_json(_account(provider, account_id)))


# faults -------------------------------------------------------------------------
@blueprint.post("/faults")
def add_fault() -> Response:
    runtime = current_runtime()
    data = _body()
    provider = data.get("provider")
    specs = [runtime.specs[provider]] if provider in runtime.specs else list(runtime.specs.values())
    if provider is not None and provider not in runtime.specs:
        raise AdminError(400, "invalid_request", f"unknown provider {provider!r}")
    try:
        rule = runtime.faults.add(parse_rule(data, error_names(specs)))
    except ValueError as exc:
        raise AdminError(400, "invalid_request", str(exc)) from exc
    return json_response(rule.describe(), 201)


@blueprint.get("/faults")
def list_faults() -> Response:
    return json_response({"faults": [r.describe() for r in current_runtime().faults.rules()]})


@blueprint.delete("/faults/<rule_id>")
def remove_fault(rule_id: str) -> Response:
    if not current_runtime().faults.remove(rule_id):
        raise AdminError(404, "not_found", f"No fault {rule_id!r}.")
    return json_response({"removed": rule_id})


@blueprint.delete("/faults")
def clear_faults() -> Response:
    current_runtime().faults.clear()
    return json_response({"removed": "all"})


# tasks ----------------------------------------------------------------------------
@blueprint.get("/tasks")
def list_tasks() -> Response:
    runtime = current_runtime()
    runtime.simulation.settle_due()
    limit = request.args.get("limit", default=100, type=int)
    tasks = runtime.store.tasks(request.args.get("provider"), request.args.get("account"), limit)
    status = request.args.get("status")
    return json_response({"tasks": [task_json(t) for t in tasks if status in (None, t.status)]})


@blueprint.get("/tasks/<task_id>")
def get_task(task_id: str) -> Response:
    runtime = current_runtime()
    runtime.simulation.settle_due()
    task = runtime.store.get_task(task_id)
    if task is None:
        raise AdminError(404, "not_found", f"No task {task_id!r}.")
    return json_response(task_json(task))


def _force(
    task_id: str, outcome: str, code: str | None = None, message: str | None = None
) -> Response:
    try:
        task = current_runtime().simulation.force(task_id, outcome, code, message)
    except TaskNotFound as exc:
        raise AdminError(404, "not_found", f"No task {task_id!r}.") from exc
    except ValueError as exc:
        raise AdminError(409, "conflict", str(exc)) from exc
    return json_response(task_json(task))


@blueprint.post("/tasks/<task_id>/complete")
def complete_task(task_id: str) -> Response:
    return _force(task_id, COMPLETED)


@blueprint.post("/tasks/<task_id>/fail")
def fail_task(task_id: str) -> Response:
    data = _body()
    return _force(task_id, FAILED, data.get("code"), data.get("message"))


@blueprint.post("/tasks/<task_id>/stall")
def stall_task(task_id: str) -> Response:
    return _force(task_id, PROCESSING)


# journal and webhooks -----------------------------------------------------------------
@blueprint.get("/journal")
def journal() -> Response:
    args = request.args
    entries = current_runtime().journal.entries(
        provider=args.get("provider"),
        path=args.get("path"),
        status=args.get("status", type=int),
        method=args.get("method"),
        limit=args.get("limit", default=100, type=int),
    )
    return json_response({"entries": [e.as_json() for e in entries]})


@blueprint.delete("/journal")
def clear_journal() -> Response:
    current_runtime().journal.clear()
    return json_response({"cleared": True})


@blueprint.get("/webhooks")
def webhooks() -> Response:
    args = request.args
    found = current_runtime().store.deliveries(
        args.get("provider"), args.get("account"), args.get("task_id")
    )
    return json_response({"deliveries": [delivery_json(d) for d in found]})
