"""What the seedanceapi v1 and v2 tests share: their settings, the demo
account's balance and tasks, and the decided error body (DECISIONS B1)."""

from __future__ import annotations

from typing import Any

from werkzeug.test import TestResponse

from mockserver.runtime import Runtime
from mockserver.spec import load_provider
from tests.settings import EXAMPLE_START

PROVIDER = "seedanceapi"
START = EXAMPLE_START
SPEC = load_provider(PROVIDER)


def balance(runtime: Runtime, account: str = "demo") -> int:
    found = runtime.store.get_account(PROVIDER, account)
    assert found is not None
    return found.credits


def tasks_of(runtime: Runtime, account: str = "demo") -> list[Any]:
    return runtime.store.tasks(provider=PROVIDER, account_id=account)


def assert_error(response: TestResponse, http_status: int, code: str) -> str:
    """The decided error body (DECISIONS B1, B18 for v2), in its field order, valid
    against the Error schema; returns the message."""
    body = response.get_json()
    assert response.status_code == http_status, body
    assert response.mimetype == "application/json"
    assert list(body) == ["code", "message", "error", "data"], body
    assert (body["code"], body["error"], body["data"]) == (http_status, code, None)
    assert body["message"].startswith(f"{code}: "), body
    assert SPEC.validator("Error").violations(body) == []
    message: str = body["message"]
    return message
