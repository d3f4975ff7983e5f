"""What happens around every request: its ``Call`` (the one request-scoped
object), settling what the clock made due, size limits and fault injection
before a provider's view, and the journal after it.

``RequestHooks`` is bound to one runtime when the app is built, so a request
pays for no context lookups.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from typing import TYPE_CHECKING

from flask import Request, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from mockserver.engine.errors import InvalidRequest, SimulatorError
from mockserver.engine.faults import FaultRule, InjectedError, RequestFacts
from mockserver.engine.journal import bounded_headers, clip, environ_headers
from mockserver.providers._http import UnreadableBody, bearer_key, request_body
from mockserver.providers.context import Call, current_call, current_request, open_call

if TYPE_CHECKING:
    from mockserver.providers import Provider
    from mockserver.runtime import Runtime

log = logging.getLogger("seedance_mock")

#: the longest URL (path + query) and header line a provider route accepts
MAX_URL_BYTES = 8192
MAX_HEADER_BYTES = 8192

#: set on a response whose connection a fault dropped (in-process mode has no socket)
DROPPED_HEADER = "X-Seedance-Mock-Dropped"


class RequestHooks:
    """Flask before/after-request hooks."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def before(self) -> Response | None:
        """Open the Call and settle what the clock made due; on a provider's paths,
        check sizes, then let a matching fault rule take over."""
        req = current_request()
        environ = req.environ
        provider = self.runtime.provider_for(req.path)
        call = open_call(provider, environ)
        route = req.url_rule
        self.runtime.store.read_ahead(None if route is None else f"{req.method} {route.rule}")
        self.runtime.simulation.settle_due()  # every answer is up to the clock
        if provider is None:
            return None
        _check_sizes(environ)
        rules = self.runtime.faults.rules()
        if not rules:
            return None
        rule = self.runtime.faults.fire(self._facts(provider, rules))
        call.fault = rule.id if rule else None
        return self._apply(provider, rule) if rule else None

    def _facts(self, provider: Provider, rules: list[FaultRule]) -> RequestFacts:
        key = bearer_key()
        account = None
        if key and any(r.account is not None for r in rules):  # resolve only when asked
            account = self.runtime.simulation.account_of_key(provider.name, key)
        return RequestFacts(provider.name, request.method, request.path, account, key)

    def _apply(self, provider: Provider, rule: FaultRule) -> Response | None:
        if rule.latency_ms:
            # real time, not simulated: latency faults exist to test client timeouts
            self.runtime.gate.sleep(rule.latency_ms / 1000)
        if rule.effect == "error":
            assert rule.error is not None
            raise InjectedError.named(provider.spec, rule.error, rule.message, rule.retry_after)
        if rule.effect == "malformed":
            return Response('{"code":200,"message":"succ', status=200, mimetype="application/json")
        if rule.effect == "drop":
            client = request.environ.get("gunicorn.socket")
            if client is not None:
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)
            # Without a socket (in-process), the adapter turns this marker into a connection error.
            return Response(b"", status=502, headers={DROPPED_HEADER: "1"})
        return None

    def teardown(self, error: BaseException | None = None) -> None:
        """The request is over, however it ended: nothing more is read ahead for it."""
        self.runtime.store.read_ahead(None)

    def after(self, response: Response) -> Response:
        """Record a provider exchange; best effort, so a store outage never changes the answer."""
        req = current_request()
        call = current_call(req.environ)
        if call.provider is not None:
            try:
                self._record(req, call, response)
            except SimulatorError:  # e.g. ServiceBusy while a shared store is down
                log.warning("journal not written for %s %s", request.method, request.path)
        return response

    def _record(self, req: Request, call: Call, response: Response) -> None:
        assert call.provider is not None
        runtime = self.runtime
        environ = req.environ
        runtime.journal.record_fields(
            at=runtime.clock.iso(),
            provider=call.provider.name,
            method=environ["REQUEST_METHOD"],
            path=req.path,
            query=environ.get("QUERY_STRING", "")[:MAX_URL_BYTES],
            account=call.account,
            request_headers=bounded_headers(environ_headers(environ)),
            request_body=_body_for_journal(req),
            status=response.status_code,
            response_headers=bounded_headers(response.headers.to_wsgi_list()),
            response_body="" if response.direct_passthrough else clip(response.get_data()),
            duration_ms=round((time.perf_counter() - call.started) * 1000, 2),
            fault=call.fault,
        )


def _check_sizes(environ: dict[str, object]) -> None:
    """Over-long URLs and headers get the provider's bad-request error."""
    url = len(str(environ.get("PATH_INFO", ""))) + len(str(environ.get("QUERY_STRING", "")))
    if url > MAX_URL_BYTES:
        raise InvalidRequest(f"The URL is {url} bytes long; the limit is {MAX_URL_BYTES}.")
    for name, value in environ.items():
        if name.startswith("HTTP_") and len(name) + len(str(value)) > MAX_HEADER_BYTES:
            shown = name[5:].replace("_", "-").title()[:40]
            raise InvalidRequest(f"Header {shown} is longer than {MAX_HEADER_BYTES} bytes.")


def _body_for_journal(req: Request) -> str:
    environ = req.environ
    if environ.get("CONTENT_LENGTH") in (None, "", "0") and not environ.get(
        "HTTP_TRANSFER_ENCODING"
    ):
        return ""  # a request without a body (RFC 9112 6.3): nothing to read
    try:
        return clip(request_body(req))
    except RequestEntityTooLarge:
        return "[not read: larger than the server's limit]"
    except UnreadableBody as exc:
        return f"[not read: {exc}]"
