"""The simulator inside a Python test: no server, no port, no network.

``with seedance_mock() as sim:`` routes every ``requests`` call to the real
hosts of every provider (its api.json ``servers`` and ``media_hosts``) into a
fresh simulator through the ``responses`` library, and gives the control plane's
``Control`` (the same object ``/__admin`` drives) as Python calls::

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
from mockserver.control import AccountsControl, FaultsControl, TasksControl
from mockserver.engine.clock import Clock
from mockserver.engine.journal import Journal
from mockserver.engine.model import Delivery
from mockserver.providers.context import EXTENSION
from mockserver.runtime import Runtime

if TYPE_CHECKING:
    import httpx

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

P = ParamSpec("P")
R = TypeVar("R")


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
        hosts: tuple[str, ...] | None = None,
        **settings: Any,
    ) -> None:
        if config is None:
            config = Config(**{"clock": "manual", "background": False, **settings})
        elif settings:
            config = config.with_changes(**settings)
        self.config = config
        self.app = create_app(config)
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.hosts = hosts if hosts is not None else self.runtime.hosts()
        pattern = re.compile(
            r"https?://(" + "|".join(re.escape(h) for h in self.hosts) + r")(:\d+)?(/.*)?$"
        )
        for method in _METHODS:
            self.mock.add_callback(method, pattern, callback=self._serve, content_type=None)
        if passthrough:
            self.mock.add_passthru(re.compile(r"https?://.*"))
        control = self.runtime.control
        self.accounts: AccountsControl = control.accounts
        self.faults: FaultsControl = control.faults
        self.tasks: TasksControl = control.tasks

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
        return self.runtime.control.deliveries(task_id=task_id)

    def reset(self) -> None:
        """Back to the start state (accounts, clock, no tasks, no faults)."""
        self.runtime.control.reset()

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
