"""The request journal: the last N provider requests and their responses.

Authorization is redacted before anything is stored, bodies are cut at a
fixed size, and the journal is bounded, so it can stay on under load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mockserver.engine.state import State as Store

BODY_LIMIT = 16384
_REDACTED = {"authorization", "x-admin-token", "cookie", "proxy-authorization"}


def redact_environ(environ: Mapping[str, Any]) -> dict[str, str]:
    """A request's headers (read from its WSGI environ) with every credential
    replaced: only an Authorization scheme is kept."""
    shown: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").title()
        else:
            continue
        if name.lower() in _REDACTED:
            scheme, _, secret = str(value).partition(" ")
            shown[name] = f"{scheme} [redacted]" if secret else "[redacted]"
        else:
            shown[name] = str(value)
    return shown


def clip(data: bytes) -> str:
    text = data[:BODY_LIMIT].decode("utf-8", errors="replace")
    return text + ("…[truncated]" if len(data) > BODY_LIMIT else "")


@dataclass(frozen=True)
class Entry:
    at: str  # simulated time of the request
    provider: str
    method: str
    path: str
    query: str
    account: str | None
    request_headers: dict[str, str]
    request_body: str
    status: int
    response_headers: dict[str, str]
    response_body: str
    duration_ms: float
    fault: str | None = None
    id: int = 0  # given by the store when recorded

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    """A view of the journal kept in the store (shared by every worker)."""

    def __init__(self, store: Store, size: int) -> None:
        self._store = store
        self._size = size

    def record_fields(self, **fields: Any) -> int:
        """Record one exchange given as Entry's fields (built straight into the
        stored dict: an Entry and asdict() would copy every header map twice)."""
        return self._store.journal_append(fields, self._size)

    def clear(self) -> None:
        self._store.clear_journal()

    def entries(
        self,
        *,
        provider: str | None = None,
        path: str | None = None,
        status: int | None = None,
        method: str | None = None,
        limit: int = 100,
    ) -> list[Entry]:
        """Newest first, filtered; ``path`` matches a prefix."""
        chosen = [
            e
            for e in (Entry(**data) for data in reversed(self._store.journal()))
            if provider in (None, e.provider)
            and (path is None or e.path.startswith(path))
            and status in (None, e.status)
            and (method is None or e.method == method.upper())
        ]
        return chosen[: max(0, limit)]
