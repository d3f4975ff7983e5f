"""The request journal: the last N provider requests and their responses.

Authorization is redacted before anything is stored, bodies are cut at a
fixed size, and the journal is bounded, so it can stay on under load.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

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
    id: int
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

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    def __init__(self, size: int) -> None:
        self._entries: deque[Entry] = deque(maxlen=max(1, size))
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def record(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

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
        with self._lock:
            snapshot = list(self._entries)
        chosen = [
            e
            for e in reversed(snapshot)
            if provider in (None, e.provider)
            and (path is None or e.path.startswith(path))
            and status in (None, e.status)
            and (method is None or e.method == method.upper())
        ]
        return chosen[: max(0, limit)]
