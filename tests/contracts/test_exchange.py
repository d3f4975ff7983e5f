"""An exchange never holds a key, and its curl line reproduces the request."""

from __future__ import annotations

import shlex

from contracts.exchange import REDACTED, Exchange, redact
from contracts.transport import WSGITransport
from mockserver.app import create_app
from mockserver.config import Config

KEY = "sk_live_demo"


def _exchange(**changes: object) -> Exchange:
    fields: dict[str, object] = {
        "method": "POST",
        "url": "http://127.0.0.1:8000/api/v1/video/seedance2",
        "request_headers": redact({"Authorization": f"Bearer {KEY}", "Idempotency-Key": "k 1"}),
        "request_body": {"prompt": "it's a test"},
        "status": 202,
        "credential": "SEEDANCE2AI_API_KEY",
        **changes,
    }
    return Exchange(**fields)  # type: ignore[arg-type]


def test_redact_replaces_the_credential_only() -> None:
    headers = redact({"authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert headers == {"authorization": REDACTED, "Content-Type": "application/json"}


def test_curl_names_the_variable_not_the_key() -> None:
    line = _exchange().curl()
    assert KEY not in line
    assert '-H "Authorization: Bearer $SEEDANCE2AI_API_KEY"' in line
    words = shlex.split(line)
    assert words[:6] == ["curl", "-sS", "-i", "-X", "POST", _exchange().url]
    assert "Idempotency-Key: k 1" in words
    assert words[words.index("--data-raw") + 1] == '{"prompt":"it\'s a test"}'


def test_repr_shows_no_headers() -> None:
    assert repr(_exchange()) == (
        "<Exchange POST http://127.0.0.1:8000/api/v1/video/seedance2 -> 202>"
    )


def test_json_and_headers_of_the_response() -> None:
    exchange = _exchange(response_headers={"retry-after": "3"}, response_body=b'{"a": 1}')
    assert exchange.header("Retry-After") == "3"
    assert exchange.is_json
    assert exchange.json() == {"a": 1}
    assert not _exchange(response_body=b"<html>").is_json


def test_the_in_process_transport_redacts_what_it_sent() -> None:
    app = create_app(Config(clock="manual", background=False))
    exchange = WSGITransport(app).request(
        "GET", "/api/v1/tasks/sd2_unknown", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert exchange.status == 404
    assert exchange.request_headers == {"Authorization": REDACTED}
    assert exchange.url == "http://127.0.0.1:8000/api/v1/tasks/sd2_unknown"
    assert KEY not in repr(exchange) + exchange.curl()
