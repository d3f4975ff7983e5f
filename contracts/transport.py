"""The one seam between the contract suite and a server.

A test talks to a ``Transport`` chosen by the target: the simulator app in this
process (``WSGITransport``), any base URL over real HTTP (``HTTPTransport``, for
the url and live targets) or recorded exchanges served through ``responses``
(``ReplayTransport``). Test bodies never know which one they hold.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import requests
import responses
from responses import matchers
from werkzeug.test import Client

from contracts.exchange import Exchange, redact

Params = Mapping[str, str]
#: on every replayed answer: which cassette it came from (never the live service)
REPLAYED_HEADER = "X-Seedance-Mock-Replayed"
#: the display base of in-process exchanges: where ``make serve`` listens
SERVE_URL = "http://127.0.0.1:8000"
USER_AGENT = "Mozilla/5.0 (compatible; seedance-mock-contracts/0.1)"


class NotRecorded(Exception):
    """The replay target has no recorded answer for this request."""


class Transport(Protocol):
    """Sends one request and returns the exchange (credentials redacted)."""

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
        params: Params | None = None,
    ) -> Exchange: ...


def _with_json_type(headers: Mapping[str, str], body: Any) -> dict[str, str]:
    sent = dict(headers)
    if body is not None and not any(k.lower() == "content-type" for k in sent):
        sent["Content-Type"] = "application/json"
    return sent


def _url(base: str, path: str, params: Params | None) -> str:
    url = path if urlsplit(path).scheme else base.rstrip("/") + path
    return f"{url}?{urlencode(params)}" if params else url


class _Sending:
    """What both transports share: the request they send and the exchange they record."""

    base_url: str

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
        params: Params | None = None,
    ) -> Exchange:
        sent = _with_json_type(headers, json)
        url = _url(self.base_url, path, params)
        data = None if json is None else jsonlib.dumps(json, ensure_ascii=False).encode()
        status, response_headers, body = self._send(method, url, sent, data)
        return Exchange(
            method=method,
            url=url,
            request_headers=redact(sent),
            request_body=json,
            status=status,
            response_headers=response_headers,
            response_body=body,
        )

    def _send(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError


class WSGITransport(_Sending):
    """Requests into a WSGI app in this process (the in-process target): no port.
    Exchanges show ``display_base`` (where ``make serve`` listens) as their host."""

    def __init__(self, app: Callable[..., Any], display_base: str = SERVE_URL) -> None:
        self.app = app
        self.base_url = display_base
        self._client = Client(app)

    def _send(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        response = self._client.open(
            parts.path,
            base_url=f"{parts.scheme}://{parts.netloc}",
            method=method,
            query_string=parts.query,
            headers=headers,
            data=data,
        )
        return response.status_code, dict(response.headers), response.get_data()


class HTTPTransport(_Sending):
    """Requests over real HTTP to ``base_url`` (the url and live targets).

    Redirects are not followed: a redirect is an answer the spec does not
    document (and a followed one drops Authorization, observed on seedance2ai).
    """

    def __init__(
        self, base_url: str, session: requests.Session | None = None, timeout: float = 120.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT

    def _send(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        response = self._session.request(
            method, url, headers=headers, data=data, timeout=self.timeout, allow_redirects=False
        )
        return response.status_code, dict(response.headers), response.content

    def close(self) -> None:
        self._session.close()


class ReplayTransport:
    """Recorded exchanges served through ``responses`` (requests carry absolute URLs).

    Identical requests get their answers in recorded order (a poll reads
    processing, then completed; the last answer repeats), and every answer
    carries ``X-Seedance-Mock-Replayed: <cassette>`` so that nobody takes it
    for the live service.
    """

    def __init__(self, recorded: Iterable[Exchange], cassette: str = "cassette") -> None:
        # When several recordings match a request, responses answers with the first
        # and drops it, so identical requests get their answers in recorded order.
        self._mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        for exchange in recorded:
            self._mock.add(_recorded_response(exchange, cassette))
        self._http = HTTPTransport("http://recorded.invalid")  # requests carry absolute URLs

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
        params: Params | None = None,
    ) -> Exchange:
        self._mock.start()
        try:
            return self._http.request(method, path, headers=headers, json=json, params=params)
        except requests.RequestException as exc:
            raise NotRecorded(f"no recorded answer for {method} {path}: {exc}") from exc
        finally:
            self._mock.stop(allow_assert=False)


def _recorded_response(exchange: Exchange, cassette: str) -> responses.Response:
    parts = urlsplit(exchange.url)
    url = f"{parts.scheme}://{parts.netloc}{parts.path}"
    match = [matchers.query_param_matcher(exchange.query)]
    if exchange.request_body is not None:
        match.append(matchers.json_params_matcher(exchange.request_body))
    headers = {k: v for k, v in exchange.response_headers.items() if k.lower() != "content-type"}
    headers[REPLAYED_HEADER] = cassette
    return responses.Response(
        exchange.method,
        url,
        body=exchange.response_body,
        status=exchange.status,
        headers=headers,
        content_type=exchange.header("Content-Type"),
        match=match,
    )
