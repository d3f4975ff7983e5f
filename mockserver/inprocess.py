"""The simulator inside a Python test: no server, no port, no network.

``with seedance_mock() as sim:`` routes every ``requests`` call to the real
hosts (seedance2ai.io, www.seedance2ai.io, seedanceapi.org) into a fresh
simulator through the ``responses`` library, and gives the same control as the
HTTP control plane as Python calls::

    with seedance_mock() as sim:
        task = requests.post("https://seedance2ai.io/api/v1/video/seedance2", ...)
        sim.clock.advance(300)
        sim.faults.add(provider="seedance2ai", error="service_busy", times=1)
        sim.journal.entries(provider="seedance2ai")

For httpx clients, ``sim.httpx_transport()`` (or ``async_httpx_transport()``)
serves the same simulator.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import io
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import unquote_to_bytes, urlsplit

import requests
import responses

from mockserver.app import DROPPED_HEADER, create_app
from mockserver.config import Config
from mockserver.engine.clock import Clock
from mockserver.engine.model import (
    COMPLETED,
    FAILED,
    PROCESSING,
    Account,
    ApiKey,
    Delivery,
    LedgerEntry,
    Task,
)
from mockserver.faults import FaultRule, error_names, parse_rule
from mockserver.journal import Journal
from mockserver.providers.context import EXTENSION
from mockserver.runtime import Runtime

if TYPE_CHECKING:
    import httpx

#: the hosts the documents and live clients call
HOSTS = ("seedance2ai.io", "www.seedance2ai.io", "cdn.seedance2ai.io", "seedanceapi.org")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

P = ParamSpec("P")
R = TypeVar("R")


class Accounts:
    """Accounts, keys and balances of the simulator."""

    def __init__(self, sim: SeedanceMock) -> None:
        self._sim = sim

    def create(
        self,
        provider: str,
        id: str,
        credits: int = 0,
        keys: tuple[str, ...] | list[str] = (),
        purchased: bool = True,
    ) -> Account:
        return self._sim.runtime.simulation.create_account(
            provider, id, credits, list(keys), purchased
        )

    def get(self, provider: str, id: str) -> Account:
        account = self._sim.runtime.store.get_account(provider, id)
        if account is None:
            raise KeyError(f"no {provider} account {id!r}")
        return account

    def set_credits(self, provider: str, id: str, credits: int) -> Account:
        runtime = self._sim.runtime
        return runtime.store.set_credits(
            provider, id, credits, runtime.clock.now(), "set from Python"
        )

    def add_key(self, provider: str, id: str, key: str) -> ApiKey:
        return self._sim.runtime.store.add_key(provider, id, key)

    def revoke_key(self, provider: str, key: str) -> ApiKey | None:
        return self._sim.runtime.store.revoke_key(provider, key)

    def ledger(self, provider: str, id: str) -> tuple[int, list[LedgerEntry]]:
        return self._sim.runtime.store.ledger(provider, id)


class FaultControl:
    """Fault rules (see mockserver/faults.py for the fields)."""

    def __init__(self, sim: SeedanceMock) -> None:
        self._sim = sim

    def add(self, **rule: Any) -> FaultRule:
        runtime = self._sim.runtime
        provider = rule.get("provider")
        specs = [runtime.specs[provider]] if provider else list(runtime.specs.values())
        return runtime.faults.add(parse_rule(rule, error_names(specs)))

    def remove(self, rule_id: str) -> bool:
        return self._sim.runtime.faults.remove(rule_id)

    def clear(self) -> None:
        self._sim.runtime.faults.clear()

    def list(self) -> list[FaultRule]:
        return self._sim.runtime.faults.rules()


class TaskControl:
    """Tasks of every account, and their forced outcomes."""

    def __init__(self, sim: SeedanceMock) -> None:
        self._sim = sim

    def list(self, provider: str | None = None, account: str | None = None) -> list[Task]:
        self._sim.runtime.simulation.settle_due()
        return self._sim.runtime.store.tasks(provider, account, limit=10**9)

    def get(self, task_id: str) -> Task:
        self._sim.runtime.simulation.settle_due()
        task = self._sim.runtime.store.get_task(task_id)
        if task is None:
            raise KeyError(f"no task {task_id!r}")
        return task

    def complete(self, task_id: str) -> Task:
        return self._sim.runtime.simulation.force(task_id, COMPLETED)

    def fail(self, task_id: str, message: str | None = None, code: str | None = None) -> Task:
        return self._sim.runtime.simulation.force(task_id, FAILED, code, message)

    def stall(self, task_id: str) -> Task:
        return self._sim.runtime.simulation.force(task_id, PROCESSING)


def _body_bytes(body: object) -> bytes:
    """A request body as bytes, whichever form requests holds it in."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "read"):  # a file: requests would stream it
        return _body_bytes(body.read())
    if isinstance(body, Iterable):  # a generator: requests would send it chunked
        return b"".join(_body_bytes(chunk) for chunk in body)
    raise TypeError(f"cannot send a request body of type {type(body).__name__}")


def _environ(prepared: requests.PreparedRequest) -> dict[str, Any]:
    """The WSGI environ of ``prepared``, as a server on the provider's host would build it
    (PEP 3333: the path percent-decoded, then read as latin-1)."""
    url = urlsplit(prepared.url or "")
    body = _body_bytes(prepared.body)
    secure = url.scheme == "https"
    environ: dict[str, Any] = {
        "REQUEST_METHOD": prepared.method or "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(url.path or "/").decode("latin-1"),
        "QUERY_STRING": url.query,
        "SERVER_NAME": url.hostname or "localhost",
        "SERVER_PORT": str(url.port or (443 if secure else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": url.netloc,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,  # the whole body, even when requests sends it chunked
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in prepared.headers.items():
        key = _text(name).upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ[key] = _text(value)
        elif key not in ("HOST", "CONTENT_LENGTH"):
            environ["HTTP_" + key] = _text(value)
    return environ


def _text(value: str | bytes) -> str:
    """A header name or value as WSGI wants it (requests also accepts bytes)."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


class SeedanceMock:
    """A fresh simulator answering ``requests`` calls to the providers' hosts."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        passthrough: bool = False,
        hosts: tuple[str, ...] = HOSTS,
        **settings: Any,
    ) -> None:
        if config is None:
            config = Config(**{"clock": "manual", "background": False, **settings})
        elif settings:
            config = config.with_changes(**settings)
        self.config = config
        self.app = create_app(config)
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        pattern = re.compile(
            r"https?://(" + "|".join(re.escape(h) for h in hosts) + r")(:\d+)?(/.*)?$"
        )
        for method in _METHODS:
            self.mock.add_callback(method, pattern, callback=self._serve, content_type=None)
        if passthrough:
            self.mock.add_passthru(re.compile(r"https?://.*"))
        self.accounts = Accounts(self)
        self.faults = FaultControl(self)
        self.tasks = TaskControl(self)

    # state -------------------------------------------------------------------
    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.extensions[EXTENSION]
        return runtime

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def journal(self) -> Journal:
        return self.runtime.journal

    def webhooks(self, task_id: str | None = None) -> list[Delivery]:
        return self.runtime.store.deliveries(task_id=task_id)

    def reset(self) -> None:
        """Back to the start state (accounts, clock, no tasks, no faults)."""
        self.runtime.reset()

    # routing -----------------------------------------------------------------
    def _serve(self, prepared: requests.PreparedRequest) -> tuple[int, dict[str, str], Any]:
        status = ""
        headers: list[tuple[str, str]] = []

        def start_response(line: str, pairs: list[tuple[str, str]], *exc: object) -> Any:
            nonlocal status, headers
            status, headers = line, pairs
            return None

        chunks = self.app.wsgi_app(_environ(prepared), start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        answer = dict(headers)
        if answer.get(DROPPED_HEADER):
            return 0, {}, requests.ConnectionError("Connection dropped (seedance-mock fault).")
        return int(status.split(" ", 1)[0]), answer, body

    def httpx_transport(self) -> httpx.BaseTransport:
        """An httpx transport serving this simulator: ``httpx.Client(transport=...)``."""
        import httpx

        return httpx.WSGITransport(app=self.app)

    def async_httpx_transport(self) -> httpx.AsyncBaseTransport:
        """The same for ``httpx.AsyncClient``."""
        import httpx

        sync = self.httpx_transport()

        class _AsyncWSGITransport(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                body = await request.aread()
                copy = httpx.Request(
                    request.method, request.url, headers=request.headers, content=body
                )
                response = await asyncio.to_thread(sync.handle_request, copy)
                content = await asyncio.to_thread(response.read)
                return httpx.Response(
                    response.status_code, headers=response.headers, content=content
                )

        return _AsyncWSGITransport()

    # lifetime -----------------------------------------------------------------
    def start(self) -> SeedanceMock:
        self.mock.start()
        return self

    def stop(self) -> None:
        self.mock.stop()
        self.mock.reset()
        self.runtime.close()

    def __enter__(self) -> SeedanceMock:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def seedance_mock(config: Config | None = None, **settings: Any) -> Iterator[SeedanceMock]:
    """A fresh in-process simulator for the ``with`` block (see SeedanceMock)."""
    sim = SeedanceMock(config, **settings)
    with sim:
        yield sim


def with_seedance_mock(**settings: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator form: the test gets ``sim`` as a keyword argument."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with seedance_mock(**settings) as sim:
                kwargs["sim"] = sim
                return func(*args, **kwargs)

        # Hide ``sim`` from callers that read signatures (pytest would take it for a fixture).
        signature = inspect.signature(func)
        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[p for name, p in signature.parameters.items() if name != "sim"]
        )
        return wrapper

    return decorate
