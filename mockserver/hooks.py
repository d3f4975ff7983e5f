"""What happens around every provider request: size limits, settling due
tasks, fault injection before the view, and the journal after it.

``ProviderHooks`` is bound to one runtime when the app is built, so a request
pays for no context lookups; paths outside both providers pass untouched.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from types import ModuleType
from typing import TYPE_CHECKING

from flask import Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from mockserver.engine.errors import InvalidRequest, SimulatorError
from mockserver.faults import FaultRule, InjectedError, RequestFacts
from mockserver.journal import clip, redact_environ
from mockserver.providers._http import bearer_key

if TYPE_CHECKING:
    from mockserver.runtime import Runtime

log = logging.getLogger("seedance_mock")

#: the longest URL (path + query) and header line a provider route accepts
MAX_URL_BYTES = 8192
MAX_HEADER_BYTES = 8192

#: set on a response whose connection a fault dropped (in-process mode has no socket)
DROPPED_HEADER = "X-Seedance-Mock-Dropped"


class ProviderHooks:
    """Flask before/after-request hooks for the providers' paths."""

    def __init__(self, runtime: Runtime, prefixes: dict[str, str], modules: dict[str, ModuleType]):
        self.runtime = runtime
        self._prefixes = prefixes
        self._modules = modules

    def provider_for(self, path: str) -> ModuleType | None:
        """The provider whose paths ``path`` falls under (None for /__admin, media...)."""
        for name, prefix in self._prefixes.items():
            if path == prefix or path.startswith(prefix + "/"):
                return self._modules[name]
        return None

    def before(self) -> Response | None:
        """Check sizes, settle due tasks, then let a matching fault rule take over."""
        module = self.provider_for(request.path)
        g.provider = module
        if module is None:
            return None
        g.started = time.perf_counter()
        _check_sizes(request.environ)
        self.runtime.simulation.settle_due()
        rules = self.runtime.faults.rules()
        if not rules:
            return None
        rule = self.runtime.faults.fire(self._facts(module, rules))
        g.fault = rule.id if rule else None
        return self._apply(module, rule) if rule else None

    def _facts(self, module: ModuleType, rules: list[FaultRule]) -> RequestFacts:
        key = bearer_key()
        account = None
        if key and any(r.account is not None for r in rules):  # resolve only when asked
            record = self.runtime.store.resolve_key(module.NAME, key)
            account = record.account_id if record else None
        return RequestFacts(module.NAME, request.method, request.path, account, key)

    def _apply(self, module: ModuleType, rule: FaultRule) -> Response | None:
        if rule.latency_ms:
            # real time, not simulated: latency faults exist to test client timeouts
            time.sleep(rule.latency_ms / 1000)
        if rule.effect == "error":
            assert rule.error is not None
            spec = self.runtime.specs[module.NAME]
            raise InjectedError.named(spec, rule.error, rule.message, rule.retry_after)
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

    def after(self, response: Response) -> Response:
        """Record the exchange; best effort, so a store outage never changes the answer."""
        module = g.get("provider")
        if module is not None:
            try:
                self._record(module, response)
            except SimulatorError:  # e.g. ServiceBusy while a shared store is down
                log.warning("journal not written for %s %s", request.method, request.path)
        return response

    def _record(self, module: ModuleType, response: Response) -> None:
        runtime = self.runtime
        started = g.get("started", time.perf_counter())
        environ = request.environ
        runtime.journal.record_fields(
            at=runtime.clock.iso(),
            provider=module.NAME,
            method=environ["REQUEST_METHOD"],
            path=request.path,
            query=environ.get("QUERY_STRING", ""),
            account=g.get("account"),
            request_headers=redact_environ(environ),
            request_body=_body_for_journal(),
            status=response.status_code,
            response_headers=dict(response.headers.to_wsgi_list()),
            response_body="" if response.direct_passthrough else clip(response.get_data()),
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            fault=g.get("fault"),
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


def _body_for_journal() -> str:
    try:
        return clip(request.get_data(cache=True))
    except RequestEntityTooLarge:
        return "[not read: larger than the server's limit]"
