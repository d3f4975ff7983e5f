"""The request journal: the last N provider requests and their responses.

Authorization is redacted before anything is stored, bodies are cut at a
fixed size, and the journal is bounded, so it can stay on under load.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from mockserver.engine.store import Store

BODY_LIMIT = 16384
_REDACTED = {"authorization", "x-admin-token", "cookie", "proxy-authorization"}


def redact_headers(headers: Any) -> dict[str, str]:
    """Headers as a dict with every credential replaced (only its scheme is kept)."""
    shown: dict[str, str] = {}
    for name, value in headers.items():
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


_FIELDS = fields(Entry)


class Journal:
    """A view of the journal kept in the store (shared by every worker)."""

    def __init__(self, store: Store, size: int) -> None:
        self._store = store
        self._size = size

    def record(self, entry: Entry) -> int:
        # fields() and a shallow dict: asdict() would deep-copy every header map
        return self._store.journal_append(
            {f.name: getattr(entry, f.name) for f in _FIELDS}, self._size
        )

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
