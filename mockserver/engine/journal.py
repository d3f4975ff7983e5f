"""The request journal: the last N requests and their responses.

Credentials are redacted before anything is stored, and what an entry keeps is
bounded: each body at BODY_LIMIT bytes, the headers of each side at
HEADERS_LIMIT bytes in all (HEADER_COUNT_LIMIT headers, each value cut at
HEADER_VALUE_LIMIT). With the default size of 1,000 entries the journal holds
at most about 1000 x (2 x 8 KB + 2 x 4 KB + 1 KB) = 25 MB, whatever clients send.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mockserver.engine.state import State

BODY_LIMIT = 8192
HEADERS_LIMIT = 4096
HEADER_COUNT_LIMIT = 64
HEADER_VALUE_LIMIT = 1024
TRUNCATED = "…[truncated]"
_MORE = ("…", "[more headers not kept]")
_REDACTED = {"authorization", "x-admin-token", "cookie", "proxy-authorization"}


def clip(data: bytes) -> str:
    """A body as the journal keeps it: text, at most BODY_LIMIT bytes of it."""
    text = data[:BODY_LIMIT].decode("utf-8", errors="replace")
    return text + (TRUNCATED if len(data) > BODY_LIMIT else "")


def bounded_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as the journal keeps them: credentials replaced (only an
    Authorization scheme is kept), and the whole, markers included, within
    HEADERS_LIMIT characters."""
    kept: dict[str, str] = {}
    budget = HEADERS_LIMIT - len(_MORE[0]) - len(_MORE[1])  # room for the last marker
    for name, value in pairs:
        if name.lower() in _REDACTED:
            scheme, _, secret = value.partition(" ")
            value = f"{scheme} [redacted]" if secret else "[redacted]"  # noqa: PLW2901
        size = len(name) + len(value)
        if size <= budget and len(value) <= HEADER_VALUE_LIMIT:
            kept[name] = value
            budget -= size
        elif budget > len(name) + len(TRUNCATED) and len(name) <= HEADER_VALUE_LIMIT:
            room = min(HEADER_VALUE_LIMIT, budget - len(name)) - len(TRUNCATED)
            kept[name] = value[:room] + TRUNCATED
            budget -= len(name) + room + len(TRUNCATED)
        else:
            kept[_MORE[0]] = _MORE[1]
            break
        if len(kept) >= HEADER_COUNT_LIMIT:
            kept[_MORE[0]] = _MORE[1]
            break
    return kept


def environ_headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A request's headers as (name, value), read from its WSGI environ."""
    found = []
    for key, value in environ.items():
        name = _header_name(key)
        if name is not None:
            found.append((name, str(value)))
    return found


@functools.lru_cache(maxsize=1024)
def _header_name(key: str) -> str | None:
    """The header an environ key holds (``HTTP_USER_AGENT``: ``User-Agent``), None
    for the other keys (the same few keys come with every request: one lookup each)."""
    if key.startswith("HTTP_"):
        return key[5:].replace("_", "-").title()
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return key.replace("_", "-").title()
    return None


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

    def __init__(self, store: State, size: int) -> None:
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
