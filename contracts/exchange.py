"""One request and its answer, as the contract suite saw it.

An exchange never holds a credential: transports redact ``Authorization``
before building one, and the curl line names the environment variable that
holds the key instead (``-H "Authorization: Bearer $SEEDANCE2AI_API_KEY"``).
"""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

REDACTED = "Bearer <redacted>"

#: who sent a request, besides the labels of the suite's accounts ("A", "B")
ANONYMOUS = "anonymous"  # no Authorization header at all
STRANGER = "stranger"  # a key no account owns
EMPTY_ACCOUNT = "EMPTY"  # an account with no credits

#: ``operation`` of exchanges that are not provider operations
DOWNLOAD = "download"
CONTROL_ACCOUNT = "control:account"  # a control-API read of an account's balance
CONTROL_TASK = "control:task"  # a control-API call that forced a task's outcome


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with any credential replaced by a placeholder."""
    return {
        name: REDACTED if name.lower() == "authorization" else value
        for name, value in headers.items()
    }


@dataclass(frozen=True)
class Exchange:
    """A request the suite sent and the response it got."""

    method: str
    url: str  # absolute, query included
    request_headers: Mapping[str, str]  # credentials already redacted
    request_body: Any  # the JSON value sent, None when there was no body
    status: int
    response_headers: Mapping[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    #: the spec operation, or DOWNLOAD / CONTROL_ACCOUNT; None when unknown
    operation: str | None = None
    provider: str | None = None
    caller: str | None = None  # "A", "B", ANONYMOUS or STRANGER
    #: the environment variable named for the key in the curl line
    credential: str | None = None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        """A response header, whatever its case."""
        wanted = name.lower()
        return next((v for k, v in self.response_headers.items() if k.lower() == wanted), None)

    def request_header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.request_headers.items() if k.lower() == wanted), None)

    @functools.cached_property
    def _parsed(self) -> tuple[bool, Any]:
        try:
            return True, json.loads(self.response_body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return False, None

    @property
    def is_json(self) -> bool:
        return self._parsed[0]

    def json(self) -> Any:
        """The response body as JSON; ValueError when it is not JSON."""
        ok, value = self._parsed
        if not ok:
            raise ValueError(f"the response body is not JSON: {self.text()[:200]!r}")
        return value

    def text(self) -> str:
        return self.response_body.decode("utf-8", errors="replace")

    def curl(self) -> str:
        """A shell command that sends this request again (the key comes from the
        environment, never from the exchange)."""
        parts = ["curl", "-sS", "-i", "-X", self.method, shlex.quote(self.url)]
        for name, value in self.request_headers.items():
            if name.lower() == "authorization":
                env = self.credential or "API_KEY"
                parts += ["-H", f'"Authorization: Bearer ${env}"']
            else:
                parts += ["-H", shlex.quote(f"{name}: {value}")]
        if self.request_body is not None:
            text = json.dumps(self.request_body, ensure_ascii=False, separators=(",", ":"))
            parts += ["--data-raw", shlex.quote(text)]
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"<Exchange {self.method} {self.url} -> {self.status}>"
