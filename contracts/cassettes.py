"""Cassettes: recorded exchanges, replayed through ``responses`` by the replay target.

One JSON file per conversation: the provider, where the traffic came from, and
each exchange (request, response, which operation and which caller). The
shipped cassettes are built from every example of each provider's documents
(``python -m contracts.cassettes`` rebuilds them); ``--record DIR`` writes live
traffic in the same format, with keys redacted and ids, idempotency keys,
timestamps and signed URLs normalised so that a cassette is stable and safe to
commit.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from contracts.dialect import ProviderAPI, dig
from contracts.exchange import Exchange, redact
from mockserver.spec import PROVIDERS, Operation, ProviderSpec, load_provider
from mockserver.spec.profile import IdFormat

SHIPPED = Path(__file__).resolve().parent / "cassettes"
_KEEP_REQUEST = {"authorization", "content-type", "idempotency-key", "range"}
_KEEP_RESPONSE = {"content-type", "retry-after", "content-range", "location"}
_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d+))?Z")
#: recorded timelines are moved to start here
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
#: the cassette of the documents' examples
EXAMPLES = "document-examples"


@dataclass(frozen=True)
class Cassette:
    provider: str
    name: str
    source: str
    exchanges: tuple[Exchange, ...]

    @property
    def is_one_conversation(self) -> bool:
        """Whether the exchanges happened in turn (a recording), rather than
        being alternatives side by side (the documents' examples, where four
        request examples share one documented answer)."""
        return self.name != EXAMPLES


# JSON form ------------------------------------------------------------------------
def _body_json(exchange: Exchange) -> dict[str, Any]:
    if exchange.is_json:
        return {"body": exchange.json()}
    if (exchange.header("Content-Type") or "").startswith("text/"):
        return {"text": exchange.text()}
    return {"bytes": len(exchange.response_body)}


def exchange_json(exchange: Exchange) -> dict[str, Any]:
    return {
        "operation": exchange.operation,
        "caller": exchange.caller,
        "credential": exchange.credential,
        "request": {
            "method": exchange.method,
            "url": exchange.url,
            "headers": {
                k: v
                for k, v in redact(exchange.request_headers).items()
                if k.lower() in _KEEP_REQUEST
            },
            "body": exchange.request_body,
        },
        "response": {
            "status": exchange.status,
            "headers": {
                k: v for k, v in exchange.response_headers.items() if k.lower() in _KEEP_RESPONSE
            },
            **_body_json(exchange),
        },
    }


def exchange_from_json(data: dict[str, Any], provider: str) -> Exchange:
    request, response = data["request"], data["response"]
    if "body" in response:
        raw = json.dumps(response["body"], ensure_ascii=False).encode()
    elif "text" in response:
        raw = str(response["text"]).encode()
    else:
        raw = b"\0" * min(int(response.get("bytes", 0)), 16)  # a stand-in for the file
    return Exchange(
        method=request["method"],
        url=request["url"],
        request_headers=request.get("headers", {}),
        request_body=request.get("body"),
        status=int(response["status"]),
        response_headers=response.get("headers", {}),
        response_body=raw,
        operation=data.get("operation"),
        provider=provider,
        caller=data.get("caller"),
        credential=data.get("credential"),
    )


def cassette_json(cassette: Cassette) -> dict[str, Any]:
    return {
        "provider": cassette.provider,
        "source": cassette.source,
        "exchanges": [exchange_json(e) for e in cassette.exchanges],
    }


def write_cassette(directory: Path, cassette: Cassette) -> Path:
    path = directory / cassette.provider / f"{cassette.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(cassette_json(cassette), indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def load_cassettes(directory: Path = SHIPPED) -> tuple[Cassette, ...]:
    """Every cassette under ``directory``/<provider>/*.json, in name order."""
    found = []
    for provider in PROVIDERS:
        for path in sorted((directory / provider).glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            exchanges = tuple(exchange_from_json(e, provider) for e in data["exchanges"])
            found.append(Cassette(provider, path.stem, str(data.get("source", "")), exchanges))
    return tuple(found)


# the documents' examples ------------------------------------------------------------
def example_cassette(spec: ProviderSpec) -> Cassette:
    """Every response example of the provider document, each after the request
    example of its operation (the document shows them together); an example the
    index marks ``abridged`` (elided with "…" as published) is not an answer and
    is left out."""
    api, index = ProviderAPI(spec), spec.example_index()
    requests = [e for e in index if e["kind"] == "request"]
    exchanges: list[Exchange] = []
    answers = (e for e in index if e["kind"] == "response" and not e.get("abridged"))
    for answer in answers:
        asked = [r for r in requests if r["operation"] == answer["operation"]] or [answer]
        exchanges += [_example_exchange(spec, api, ask, answer) for ask in asked]
    source = f"every JSON example of the {spec.name} document (spec/{spec.name}/examples)"
    return Cassette(spec.name, EXAMPLES, source, tuple(exchanges))


def _example_exchange(
    spec: ProviderSpec, api: ProviderAPI, ask: dict[str, Any], answer: dict[str, Any]
) -> Exchange:
    op = spec.operations[answer["operation"]]
    headers = {"Authorization": "Bearer <redacted>", **ask.get("headers", {})}
    body = ask["body"] if op.body else None
    if int(answer["status"]) >= 400 and api.idempotency_header:
        # The document's generic error example, paired with its request sent without
        # the Idempotency-Key: the documented 400 of DECISIONS A1 (and no replay).
        headers.pop(api.idempotency_header, None)
    path = answer.get("path", op.path)
    query = "&".join(f"{k}={v}" for k, v in answer.get("query", {}).items())
    own = _own_id(spec, op, answer)
    if own is not None:  # a task read back: asked for by its own id
        path, params = own[0].poll_request(own[1])
        query = urlencode(params)
    return Exchange(
        method=op.method,
        url=spec.base_url + path + (f"?{query}" if query else ""),
        request_headers=redact(headers),
        request_body=body,
        status=int(answer["status"]),
        response_headers={"Content-Type": "application/json"},
        response_body=json.dumps(answer["body"], ensure_ascii=False).encode(),
        operation=op.name,
        provider=spec.name,
        caller="A",
        credential=f"{spec.name.upper()}_API_KEY",
    )


def _own_id(
    spec: ProviderSpec, op: Operation, answer: dict[str, Any]
) -> tuple[ProviderAPI, str] | None:
    """The lifecycle that reads tasks with ``op``, and the id the answer's task
    gives itself (so that the example asks for the task it shows)."""
    for api in ProviderAPI.lifecycles(spec):
        if api.poll.name == op.name and api.own_id_at is not None:
            if int(answer["status"]) != api.success_status(op):
                return None
            own = dig(answer["body"], (*api.task_at, *api.own_id_at))
            return (api, own) if isinstance(own, str) else None
    return None


# recording ----------------------------------------------------------------------------
class Recorder:
    """Keeps what a test sent and writes it as normalised cassettes (``--record DIR``)."""

    def __init__(self, directory: Path, secrets: Iterable[str] = ()) -> None:
        self.directory = directory
        self._secrets = [s for s in secrets if s]
        self._pending: list[Exchange] = []

    def add(self, exchange: Exchange) -> None:
        self._pending.append(exchange)

    def keep_secret(self, *values: str) -> None:
        """Redact ``values`` (keys the suite talks with) wherever they appear,
        an answer that echoes one included."""
        self._secrets += [v for v in values if v and v not in self._secrets]

    def flush(self, name: str, source: str) -> list[Path]:
        """Write what was kept since the last flush, one cassette per provider."""
        written = []
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:150] or "cassette"
        for provider in PROVIDERS:
            mine = tuple(e for e in self._pending if e.provider == provider)
            if mine:
                cassette = normalise(Cassette(provider, safe, source, mine), self._secrets)
                written.append(write_cassette(self.directory, cassette))
        self._pending.clear()
        return written


def normalise(cassette: Cassette, secrets: Iterable[str] = ()) -> Cassette:
    """``cassette`` safe to commit and stable between recordings: keys redacted,
    task ids and idempotency keys replaced by placeholders of the same shape,
    timestamps moved to start at EPOCH, and query strings (signatures) dropped
    from URLs in response bodies."""
    api = ProviderAPI(load_provider(cassette.provider))
    exchanges = [_without_signatures(e) for e in cassette.exchanges]
    text = json.dumps([exchange_json(e) for e in exchanges], ensure_ascii=False)
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    for n, task_id in enumerate(_task_ids(api, exchanges), 1):
        text = text.replace(task_id, _placeholder(task_id, n, api.spec.profile.task_id))
    for n, key in enumerate(_idempotency_keys(api, exchanges), 1):
        text = text.replace(json.dumps(key), json.dumps(f"idempotency-key-{n:04d}"))
    data = json.loads(_shift_instants(text))
    return replace(
        cassette, exchanges=tuple(exchange_from_json(e, cassette.provider) for e in data)
    )


def _task_ids(api: ProviderAPI, exchanges: list[Exchange]) -> Iterator[str]:
    seen: list[str] = []
    for ex in exchanges:
        found = api.polled_id(ex.path, ex.query) if ex.operation == api.poll.name else None
        if ex.operation == api.submit.name and ex.is_json:
            found = api.accepted_id(ex.json())
        if found and found not in seen:
            seen.append(found)
            yield found


def _idempotency_keys(api: ProviderAPI, exchanges: list[Exchange]) -> list[str]:
    header = api.idempotency_header
    keys = [ex.request_header(header) for ex in exchanges] if header else []
    return list(dict.fromkeys(k for k in keys if k))


def _placeholder(task_id: str, n: int, shape: IdFormat) -> str:
    """A stand-in for ``task_id`` with the same shape (prefix, alphabet, length)."""
    if not shape.matches(task_id):
        return "task" + str(n).zfill(max(1, len(task_id) - 4))
    digits = ""
    while n:
        n, rest = divmod(n, len(shape.alphabet))
        digits = shape.alphabet[rest] + digits
    return shape.prefix + digits.rjust(shape.length, shape.alphabet[0])


def _shift_instants(text: str) -> str:
    """Move every ISO 8601 instant by the same amount so the first is EPOCH."""
    found = list(_INSTANT.finditer(text))
    if not found:
        return text
    first = min(datetime.fromisoformat(m.group(0).replace("Z", "+00:00")) for m in found)
    shift = EPOCH - first

    def moved(match: re.Match[str]) -> str:
        when = datetime.fromisoformat(match.group(0).replace("Z", "+00:00")) + shift
        digits = len(match.group(1) or "")
        fraction = f".{when.microsecond:06d}"[: digits + 1] if digits else ""
        return when.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"

    return _INSTANT.sub(moved, text)


def _without_signatures(exchange: Exchange) -> Exchange:
    if not exchange.is_json:
        return exchange
    body = _strip_queries(exchange.json())
    return replace(exchange, response_body=json.dumps(body, ensure_ascii=False).encode())


def _strip_queries(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_queries(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_queries(v) for v in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")) and "?" in value:
        return urlunsplit(urlsplit(value)._replace(query="", fragment=""))
    return value


def build_examples(directory: Path = SHIPPED) -> list[Path]:
    """Write the cassettes of the documents' examples (what ships in the package)."""
    return [write_cassette(directory, example_cassette(load_provider(p))) for p in PROVIDERS]


if __name__ == "__main__":
    for written in build_examples(Path(sys.argv[1]) if len(sys.argv) > 1 else SHIPPED):
        print(f"wrote {written}")
