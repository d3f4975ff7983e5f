"""Each provider as a client meets it, read from its spec.

``exercise`` drives the simulator only through its public surfaces (the
provider APIs and ``/__admin``), so it knows each provider the way a client
does: where a job is submitted and polled, which errors each of those calls
documents, whether submits are idempotent, the rate limit, and the words a
task's status ends in. None of it is typed here: it is read from
``spec/<name>/`` through :func:`mockserver.spec.load_provider` and the contract
suite's :class:`~contracts.dialect.ProviderAPI`, for every provider of the
registry (:data:`mockserver.spec.PROVIDERS`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from contracts.dialect import ProviderAPI
from mockserver.spec import Operation, ProviderSpec, load_provider

#: the two calls a client makes, by the name scenarios and reports use
SUBMIT, POLL = "submit", "poll"

#: conditions the engine raises only while a profile setting is on: a 429 needs a
#: rate limit, a 409 an Idempotency-Key (seedanceapi documents both, but only for
#: when they are switched on)
_ONLY_WITH: dict[str, Callable[[ProviderAPI], bool]] = {
    "rate_limited": lambda api: bool(api.spec.profile.rate_limits),
    "idempotency_conflict": lambda api: api.idempotency_header is not None,
}
#: the rate-limit rule a client's every request counts against (profile.json ``counts``)
_EVERY_REQUEST = "every_operation"
_URL = re.compile(r"https?://[^\s)\"',;]+")


@dataclass(frozen=True)
class Provider:
    """One provider's HTTP surface, as its spec documents it."""

    api: ProviderAPI
    #: the path of the documented base URL ("" where the document gives the bare host)
    base_path: str
    #: what the provider's keys start with, as its demo key shows ("" when unknown)
    key_prefix: str
    #: (call, condition): the errors each call documents, as far as the profile allows
    conditions: frozenset[tuple[str, str]]
    #: (requests, seconds) per account, as documented; None: no documented limit
    rate_limit: tuple[int, float] | None
    #: the task status of a finished job that has its video
    done: str

    @property
    def name(self) -> str:
        return self.api.name

    @property
    def spec(self) -> ProviderSpec:
        return self.api.spec

    @property
    def failed(self) -> str:
        return self.api.failed_state

    @property
    def idempotent(self) -> bool:
        """Submits carry an Idempotency-Key that makes a retry safe."""
        return self.api.idempotency_header is not None

    @property
    def idempotency_header(self) -> str | None:
        return self.api.idempotency_header

    @property
    def env_prefix(self) -> str:
        """The conventional environment prefix: the name in capitals (SEEDANCE2AI)."""
        return self.name.upper()

    def call(self, operation: str) -> Operation:
        """The documented operation behind ``"submit"`` or ``"poll"``."""
        return {SUBMIT: self.api.submit, POLL: self.api.poll}[operation]

    def glob(self, operation: str) -> str:
        """The call's path as a fault-rule glob (a path parameter becomes ``*``)."""
        return re.sub(r"\{\w+\}", "*", self.call(operation).path)

    def documents(self, operation: str, condition: str) -> bool:
        """Whether a client of ``operation`` can meet ``condition``."""
        return (operation, condition) in self.conditions

    def sends_retry_after(self, condition: str) -> bool:
        """Whether the answer for ``condition`` carries Retry-After."""
        kind = self.spec.errors.get(condition)
        return kind is not None and kind.retry_after

    def operation(self, method: str, path: str) -> str:
        """ "submit", "poll" or "other" for a request the client made."""
        for name in (SUBMIT, POLL):
            op = self.call(name)
            if method == op.method and _template(op.path).match(path):
                return name
        return "other"

    def task_status(self, body: Any) -> str | None:
        """The task status a submit or status answer reports, if any."""
        task = self.api.task(body)
        status = task.get(self.api.status_field) if task is not None else None
        return status if isinstance(status, str) else None


@functools.cache
def provider_named(name: str, profile: str = "documented") -> Provider:
    """Provider ``name`` of the registry under ``profile``, read from its spec;
    ValueError for an unknown name, or a spec this module cannot read a fact from."""
    api = ProviderAPI(load_provider(name, profile))
    return Provider(
        api=api,
        base_path=_documented_base_path(api.spec),
        key_prefix=_key_prefix(api.spec),
        conditions=frozenset(_conditions(api)),
        rate_limit=_rate_limit(api.spec),
        done=_done(api),
    )


def _template(path: str) -> re.Pattern[str]:
    """A documented path as a regex; a path parameter matches anything after its
    prefix (an empty id, one with a slash in it: still a status call, gone wrong)."""
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", ".*", re.escape(path)) + "$")


def _conditions(api: ProviderAPI) -> list[tuple[str, str]]:
    """Every error condition each call documents (api.json ``responses``) that the
    profile lets the simulator answer."""
    found = []
    for name, op in ((SUBMIT, api.submit), (POLL, api.poll)):
        for entry in op.responses.values():
            condition = entry.get("error")
            if condition is not None and _ONLY_WITH.get(condition, _always)(api):
                found.append((name, str(condition)))
    return found


def _always(api: ProviderAPI) -> bool:
    return True


def _rate_limit(spec: ProviderSpec) -> tuple[int, float] | None:
    rule = next((r for r in spec.profile.rate_limits if r.counts == _EVERY_REQUEST), None)
    return None if rule is None else (rule.limit, rule.window_seconds)


def _done(api: ProviderAPI) -> str:
    """The state a task reaches when it succeeds: the Task variant the schema marks
    ``x-role: succeeded``, else the one state that is neither the first (in
    progress) nor the failed one."""
    variants = api.spec.schema["$defs"]["Task"].get("oneOf", [])
    marked = [
        s for v, s in zip(variants, api.states, strict=False) if v.get("x-role") == "succeeded"
    ]
    if len(marked) == 1:
        return marked[0]
    ends = [s for s in api.states[1:] if s != api.failed_state]
    if len(ends) != 1:
        raise ValueError(f"{api.name}: cannot tell the finished state among {api.states}")
    return ends[0]


def _key_prefix(spec: ProviderSpec) -> str:
    """The demo key's text before the demo account's id: "sk_live_" of sk_live_demo."""
    demo = spec.profile.demo_account or {}
    keys, account = demo.get("keys") or [], str(demo.get("id") or "")
    prefix, found, _rest = str(keys[0]).partition(account) if keys and account else ("", "", "")
    return prefix if found else ""


def _documented_base_path(spec: ProviderSpec) -> str:
    """The path of the base URL the provider's document gives its clients.

    api.json ``servers`` holds hosts, the operations whole paths; where the
    document gives a base URL with a path (document 004: ``https://seedanceapi.org/v1``),
    the server's ``x-provenance`` quotes it, and the quoted URL on the server's host
    whose path begins every operation's path is the one. "" when none is quoted.
    """
    for server in spec.api["servers"]:
        host = urlsplit(str(server["url"])).hostname
        for quoted in _URL.findall(str(server.get("x-provenance", ""))):
            url = urlsplit(str(quoted))
            path = url.path.rstrip("/")
            if (
                url.hostname == host
                and path
                and any(f"{prefix}/".startswith(f"{path}/") for prefix in spec.path_prefixes)
            ):
                return path
    return ""


def parse_json(text: str) -> Any:
    """``text`` as JSON, or None when it is not (a cut-off body, an empty one)."""
    try:
        return json.loads(text)
    except ValueError:
        return None
