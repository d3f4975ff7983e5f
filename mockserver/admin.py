"""The control API under /__admin: HTTP over the runtime's ``Control``.

These paths are a stable contract (extend, never rename). Every answer is
JSON; errors are ``{"error": {"code", "message"}}``, the status chosen by the
class of the refusal (ERRORS). When an admin token is configured every call
must carry it as ``Authorization: Bearer <token>`` (or ``X-Admin-Token``),
compared in constant time.
"""

from __future__ import annotations

import dataclasses
import hmac
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from mockserver.control import Control
from mockserver.engine.clock import format_instant
from mockserver.engine.errors import (
    AccountExists,
    ControlError,
    InvalidControlValue,
    KeyInUse,
    TaskAlreadyEnded,
    UnknownAccount,
    UnknownFault,
    UnknownKey,
    UnknownTask,
)
from mockserver.engine.model import FAILED, Account, ApiKey, Delivery, Task
from mockserver.providers._http import UnreadableBody, json_response, request_body
from mockserver.providers.context import current_runtime

blueprint = Blueprint("admin", __name__, url_prefix="/__admin")

#: how each refusal of the control plane is answered: status and code
ERRORS: dict[type[ControlError], tuple[int, str]] = {
    InvalidControlValue: (400, "invalid_request"),
    UnknownAccount: (404, "not_found"),
    UnknownKey: (404, "not_found"),
    UnknownTask: (404, "not_found"),
    UnknownFault: (404, "not_found"),
    AccountExists: (409, "conflict"),
    KeyInUse: (409, "conflict"),
    TaskAlreadyEnded: (409, "conflict"),
}


class AdminError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@blueprint.errorhandler(AdminError)
def _admin_error(error: AdminError) -> Response:
    return json_response({"error": {"code": error.code, "message": error.message}}, error.status)


@blueprint.errorhandler(ControlError)
def _refused(error: ControlError) -> Response:
    status, code = next(v for k, v in ERRORS.items() if isinstance(error, k))
    return json_response({"error": {"code": code, "message": str(error)}}, status)


def token_given() -> bool:
    """Whether this request may use the control plane (no token set, or the right one)."""
    token = current_runtime().config.admin_token
    if not token:
        return True
    given = request.headers.get("X-Admin-Token") or ""
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        given = given or bearer.strip()
    return hmac.compare_digest(given.encode(), token.encode())


@blueprint.before_request
def _require_token() -> None:
    if not token_given():
        raise AdminError(401, "unauthorized", "The control API needs the admin token.")


def _control() -> Control:
    return current_runtime().control


def _body() -> dict[str, Any]:
    try:
        raw = request_body()
    except (UnreadableBody, RequestEntityTooLarge) as exc:
        raise AdminError(400, "invalid_request", f"Send a JSON object ({exc}).") from exc
    data = request.get_json(silent=True)
    if raw and not isinstance(data, dict):
        raise AdminError(400, "invalid_request", "Send a JSON object.")
    return data or {}


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else format_instant(seconds)


# renderings ---------------------------------------------------------------------------------
def account_json(account: Account, keys: list[ApiKey]) -> dict[str, Any]:
    return {
        "provider": account.provider,
        "id": account.id,
        "credits": account.credits,
        "purchased": account.purchased,
        "keys": [{"key": k.key, "revoked": k.revoked} for k in keys],
        "created_at": _iso(account.created_at),
    }


def _account(provider: str, account_id: str) -> Response:
    accounts = _control().accounts
    found = accounts.get(provider, account_id)
    return json_response(account_json(found, accounts.keys(provider, account_id)))


def task_json(task: Task) -> dict[str, Any]:
    video, frame = _control().tasks.media_urls(task)
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
        "outputs": {"video_url": video, "last_frame_url": frame},
        "callback_url": task.callback_url,
        "deleted_at": _iso(task.deleted_at),
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


# reset and clock --------------------------------------------------------------------------------
@blueprint.post("/reset")
def reset() -> Response:
    _control().reset()
    return json_response({"reset": True, "now": _control().clock()["now"]})


@blueprint.get("/clock")
def clock() -> Response:
    return json_response(_control().clock())


@blueprint.post("/clock/advance")
def advance() -> Response:
    _control().advance(_body().get("seconds"))
    return json_response({"now": _control().clock()["now"]})


# accounts -----------------------------------------------------------------------------------------
@blueprint.post("/accounts")
def create_account() -> Response:
    data = _body()
    account = _control().accounts.create(
        str(data.get("provider")),
        data.get("id"),  # type: ignore[arg-type]  # checked by the control
        data.get("credits", 0),
        data.get("keys", []),
        bool(data.get("purchased", True)),
    )
    keys = _control().accounts.keys(account.provider, account.id)
    return json_response(account_json(account, keys), 201)


@blueprint.get("/accounts")
def list_accounts() -> Response:
    accounts = _control().accounts
    found = accounts.list(request.args.get("provider"))
    return json_response(
        {"accounts": [account_json(a, accounts.keys(a.provider, a.id)) for a in found]}
    )


@blueprint.get("/accounts/<provider>/<account_id>")
def get_account(provider: str, account_id: str) -> Response:
    return _account(provider, account_id)


@blueprint.patch("/accounts/<provider>/<account_id>")
def update_account(provider: str, account_id: str) -> Response:
    data = _body()
    purchased = data.get("purchased")
    _control().accounts.update(
        provider,
        account_id,
        credits=data.get("credits"),
        purchased=None if purchased is None else bool(purchased),
    )
    return _account(provider, account_id)


@blueprint.get("/accounts/<provider>/<account_id>/ledger")
def ledger(provider: str, account_id: str) -> Response:
    accounts = _control().accounts
    opening, entries = accounts.ledger(provider, account_id)
    return json_response(
        {
            "balance": accounts.get(provider, account_id).credits,
            "opening": opening,
            "entries": [{**dataclasses.asdict(e), "at": _iso(e.at)} for e in entries],
        }
    )


@blueprint.post("/accounts/<provider>/<account_id>/keys")
def add_key(provider: str, account_id: str) -> Response:
    _control().accounts.add_key(provider, account_id, _body().get("key"))  # type: ignore[arg-type]
    response = _account(provider, account_id)
    response.status_code = 201
    return response


@blueprint.delete("/accounts/<provider>/<account_id>/keys/<key>")
def revoke_key(provider: str, account_id: str, key: str) -> Response:
    _control().accounts.revoke_key(provider, key, account=account_id)
    return _account(provider, account_id)


# faults -----------------------------------------------------------------------------------------
@blueprint.post("/faults")
def add_fault() -> Response:
    return json_response(_control().faults.add(_body()).describe(), 201)


@blueprint.get("/faults")
def list_faults() -> Response:
    return json_response({"faults": [r.describe() for r in _control().faults.list()]})


@blueprint.delete("/faults/<rule_id>")
def remove_fault(rule_id: str) -> Response:
    _control().faults.remove_existing(rule_id)
    return json_response({"removed": rule_id})


@blueprint.delete("/faults")
def clear_faults() -> Response:
    _control().faults.clear()
    return json_response({"removed": "all"})


# tasks -----------------------------------------------------------------------------------------
@blueprint.get("/tasks")
def list_tasks() -> Response:
    args = request.args
    tasks = _control().tasks.list(
        args.get("provider"),
        args.get("account"),
        args.get("status"),
        args.get("limit", default=100, type=int),
    )
    return json_response({"tasks": [task_json(t) for t in tasks]})


@blueprint.get("/tasks/<task_id>")
def get_task(task_id: str) -> Response:
    return json_response(task_json(_control().tasks.get(task_id)))


@blueprint.post("/tasks/<task_id>/complete")
def complete_task(task_id: str) -> Response:
    return json_response(task_json(_control().tasks.complete(task_id)))


@blueprint.post("/tasks/<task_id>/fail")
def fail_task(task_id: str) -> Response:
    data = _body()
    failed = _control().tasks.fail(task_id, data.get("message"), data.get("code"))
    return json_response(task_json(failed))


@blueprint.post("/tasks/<task_id>/stall")
def stall_task(task_id: str) -> Response:
    return json_response(task_json(_control().tasks.stall(task_id)))


# journal and webhooks ---------------------------------------------------------------------------
@blueprint.get("/journal")
def journal() -> Response:
    args = request.args
    entries = _control().journal(
        provider=args.get("provider"),
        path=args.get("path"),
        status=args.get("status", type=int),
        method=args.get("method"),
        limit=args.get("limit", default=100, type=int),
    )
    return json_response({"entries": [e.as_json() for e in entries]})


@blueprint.delete("/journal")
def clear_journal() -> Response:
    _control().clear_journal()
    return json_response({"cleared": True})


@blueprint.get("/webhooks")
def webhooks() -> Response:
    args = request.args
    found = _control().deliveries(args.get("provider"), args.get("account"), args.get("task_id"))
    return json_response({"deliveries": [delivery_json(d) for d in found]})
