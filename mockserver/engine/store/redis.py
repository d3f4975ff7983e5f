"""The Redis store: simulator instances on any number of hosts share one state.

Every operation that reads and then writes is one Lua script (see
redis_scripts.py), which Redis runs to the end before any other command; the
rest are single commands or MULTI blocks. Keys live under
``seedance-mock:<name>:`` (``?prefix=<name>`` in the URL, default ``default``),
so the rest of the database is never touched, ``clear()`` included.

While Redis cannot be reached every call raises ServiceBusy, which both
providers answer with their 503 and a Retry-After; redis-py reconnects on the
next call once Redis is back. Needs Redis 6.2 or later, not Redis Cluster.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from mockserver.engine.clock import ClockAnchor, ClockState
from mockserver.engine.errors import InsufficientCredits, ServiceBusy
from mockserver.engine.model import Account, ApiKey, Attempt, Delivery, LedgerEntry, Task
from mockserver.engine.store import redis_scripts as lua
from mockserver.engine.store.base import (
    AccountExists,
    Claim,
    Claimed,
    ClaimPolicy,
    Conflict,
    IdempotencyScope,
    KeyInUse,
    Replay,
    Settlement,
    UnknownAccount,
    Window,
    key_digest,
)
from mockserver.engine.store.codec import dump, load_delivery, load_task

_HOUR = 3600.0
_ROOT = "seedance-mock"
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
#: short, so a request fails fast with 503 rather than hanging while Redis is away
_SOCKET_TIMEOUT = 2.0
_HEALTH_CHECK_SECONDS = 10
_CLEAR_BATCH = 500
_STATE_LOST = (
    "The simulator's state is gone (Redis restarted without persistence); "
    "POST /__admin/reset to start again."
)
_COUNTED = ("accounts", "keys", "tasks", "idempotency_records", "ledger_entries", "deliveries")

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _busy_while_down(method: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(method)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise ServiceBusy(
                "The simulator's state store (Redis) is unreachable; retry shortly.",
                retry_after=1,
            ) from exc

    return guarded


_T = TypeVar("_T", bound=type)


def _public_methods_busy_while_down(cls: _T) -> _T:
    """Guard every public method, so none can be added and forgotten."""
    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_"):
            setattr(cls, name, _busy_while_down(value))
    return cls


def split_url(url: str) -> tuple[str, str]:
    """The redis-py URL and the key prefix a ``--store`` URL names."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = [value for key, value in query if key == "prefix"] or ["default"]
    if not _NAME.fullmatch(names[-1]):
        raise ValueError(f"redis store prefix {names[-1]!r}: use letters, digits, '_', '.', '-'")
    rest = urlencode([(key, value) for key, value in query if key != "prefix"])
    return urlunsplit(parts._replace(query=rest)), f"{_ROOT}:{names[-1]}:"


def _ident(*parts: str) -> str:
    """A record's name inside a key: unambiguous whatever the parts hold."""
    return json.dumps(parts, separators=(",", ":"), ensure_ascii=False)


def _key_ident(provider: str, key: str) -> str:
    """An API key's name: its digest, so the secret is never part of a key name."""
    return _ident(provider, key_digest(key))


def _num(value: float) -> str:
    """A float as text Lua and Redis read back to the same double."""
    return repr(float(value))


def _fields(flat: list[str]) -> dict[str, str]:
    """A hash as Redis lists it (field, value, ...) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _flat(fields: dict[str, str]) -> list[str]:
    """A dict as HSET's field, value, ... arguments."""
    return [text for item in fields.items() for text in item]


class _SharedClock:
    """The clock anchor in the ``clock`` hash, read by every instance."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store

    @_busy_while_down
    def read(self) -> ClockAnchor:
        found = self._store._hash(self._store.prefix + "clock")
        if found is None:  # Redis restarted without persistence: the simulator's state is gone
            raise ServiceBusy(_STATE_LOST)
        return ClockAnchor(float(found["wall"]), float(found["virtual"]), float(found["offset"]))

    @_busy_while_down
    def add(self, seconds: float) -> None:
        if not self._store._run(lua.CLOCK_ADD, _num(seconds)):
            raise ServiceBusy(_STATE_LOST)


@_public_methods_busy_while_down
class RedisStore:
    """State in Redis under one key prefix (see the module docstring)."""

    def __init__(self, url: str) -> None:
        client_url, self.prefix = split_url(url)
        self.client: redis.Redis = redis.Redis.from_url(
            client_url,
            decode_responses=True,
            socket_timeout=_SOCKET_TIMEOUT,
            socket_connect_timeout=_SOCKET_TIMEOUT,
            health_check_interval=_HEALTH_CHECK_SECONDS,
            # One quick retry on a fresh connection covers a pooled socket that
            # a Redis restart closed. Not on timeouts: the script may have run.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._scripts: dict[str, Script] = {}

    def _run(self, source: str, *args: str | int) -> Any:
        """Run one of redis_scripts' scripts with this store's prefix."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.client.register_script(source)
        return script(args=[self.prefix, *args])

    # life of the store ---------------------------------------------------------
    def bootstrap(self, anchor: ClockAnchor) -> bool:
        values = (_num(anchor.wall), _num(anchor.virtual), _num(anchor.offset))
        return bool(self._run(lua.BOOTSTRAP, *values))

    def clock_state(self) -> ClockState:
        return _SharedClock(self)

    def clear(self) -> None:
        """Delete this store's keys, a batch at a time (never the rest of the database)."""
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + "*"
        batch: list[str] = []
        for key in self.client.scan_iter(match=pattern, count=_CLEAR_BATCH):
            batch.append(key)
            if len(batch) == _CLEAR_BATCH:
                self.client.unlink(*batch)
                batch.clear()
        if batch:
            self.client.unlink(*batch)

    def close(self) -> None:
        self.client.close()

    # accounts and keys ---------------------------------------------------------
    def create_account(self, account: Account, keys: list[str], at: float) -> Account:
        provider, ident = account.provider, account.id
        pairs = [v for key in keys for v in (_key_ident(provider, key), key)]
        purchased = "1" if account.purchased else "0"
        status, *rest = self._run(
            lua.CREATE_ACCOUNT, _ident(provider, ident), provider, ident,
            account.credits, purchased, _num(at), *pairs,
        )  # fmt: skip
        if status == "exists":
            raise AccountExists(f"{provider} account {ident!r} exists already")
        if status == "key_in_use":
            raise KeyInUse(f"API key {rest[0]!r} already belongs to another account")
        return dataclasses.replace(account, created_at=at)

    def get_account(self, provider: str, account_id: str) -> Account | None:
        found = self._hash(self._key("account", _ident(provider, account_id)))
        return _account(found) if found else None

    def accounts(self, provider: str | None = None) -> list[Account]:
        found = [_account(_fields(f)) for f in self._records("accounts", "account:")]
        return [a for a in found if provider in (None, a.provider)]

    def set_credits(
        self, provider: str, account_id: str, credits: int, at: float, note: str
    ) -> Account:
        acct = _ident(provider, account_id)
        reply = self._run(lua.SET_CREDITS, acct, credits, _num(at), note)
        return self._account_reply(reply, provider, account_id)

    def set_purchased(self, provider: str, account_id: str, purchased: bool) -> Account:
        acct = _ident(provider, account_id)
        reply = self._run(lua.SET_PURCHASED, acct, "1" if purchased else "0")
        return self._account_reply(reply, provider, account_id)

    def add_key(self, provider: str, account_id: str, key: str) -> ApiKey:
        acct, ident = _ident(provider, account_id), _key_ident(provider, key)
        (status,) = self._run(lua.ADD_KEY, acct, ident, provider, key, account_id)
        if status == "unknown":
            raise UnknownAccount(f"no {provider} account {account_id!r}")
        if status == "key_in_use":
            raise KeyInUse(f"API key {key!r} already belongs to another account")
        return ApiKey(provider, key, account_id)

    def revoke_key(self, provider: str, key: str) -> ApiKey | None:
        found = self._run(lua.REVOKE_KEY, _key_ident(provider, key))
        return _api_key(_fields(found)) if found else None

    def keys_of(self, provider: str, account_id: str) -> list[ApiKey]:
        index = "keys-of:" + _ident(provider, account_id)
        return [_api_key(_fields(f)) for f in self._records(index, "apikey:")]

    def resolve_key(self, provider: str, key: str) -> ApiKey | None:
        found = self._hash(self._key("apikey", _key_ident(provider, key)))
        return _api_key(found) if found else None

    def ledger(self, provider: str, account_id: str) -> tuple[int, list[LedgerEntry]]:
        acct = _ident(provider, account_id)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hget(self._key("account", acct), "opening")
            pipe.lrange(self._key("ledger", acct), 0, -1)
            opening, raw = pipe.execute()
        if opening is None:
            raise UnknownAccount(f"no {provider} account {account_id!r}")
        return int(opening), [_entry(provider, account_id, text) for text in raw]

    # rate limits -----------------------------------------------------------------
    def admit(self, windows: Sequence[Window], now: float, *, record: bool = True) -> float | None:
        limits = [v for w in windows for v in (w.bucket, _num(now - w.seconds), w.limit)]
        oldest = self._run(lua.ADMIT, _num(now), "1" if record else "0", *limits)
        if oldest is None:
            return None
        return max(float(o) + w.seconds - now for o, w in zip(oldest, windows, strict=True) if o)

    # idempotency and creation --------------------------------------------------------
    def claim(
        self, scope: IdempotencyScope, fingerprint: str, now: float, policy: ClaimPolicy
    ) -> Claim:
        lease_end = _num(now + policy.lease_seconds)
        flag = "1" if policy.conflict_while_processing else "0"
        status, *rest = self._run(lua.CLAIM, _scope(scope), fingerprint, _num(now), lease_end, flag)
        if status == "claimed":
            return Claimed()
        return Conflict(rest[0]) if status == "conflict" else Replay(rest[0])

    def release(self, scope: IdempotencyScope) -> None:
        self._run(lua.RELEASE, _scope(scope))

    def create_task(self, task: Task, scope: IdempotencyScope | None, ttl: float) -> Task:
        acct = _ident(task.provider, task.account_id)
        due = "" if task.due_at is None else _num(task.due_at)
        bound = "" if scope is None else _scope(scope)
        status, *rest = self._run(
            lua.CREATE_TASK, acct, task.id, task.credits, _num(task.created_at), due,
            _num(task.expires_at), task.media_token, task.provider, bound,
            _num(task.created_at + ttl), *_task_fields(task, acct),
        )  # fmt: skip
        if status == "unknown":
            raise UnknownAccount(f"no {task.provider} account {task.account_id!r}")
        if status == "short":
            raise InsufficientCredits(task.credits, int(rest[0]))
        return dataclasses.replace(task)

    # tasks ---------------------------------------------------------------------------
    def get_task(self, task_id: str) -> Task | None:
        found = self._hash(self._key("task", task_id))
        return _task(found) if found else None

    def task_by_media_token(self, token: str) -> Task | None:
        task_id = cast("str | None", self.client.hget(self.prefix + "media", token))
        return self.get_task(task_id) if task_id else None

    def tasks(
        self, provider: str | None = None, account_id: str | None = None, limit: int = 100
    ) -> list[Task]:
        if limit <= 0:
            return []
        if account_id is not None and provider is not None:
            index, stop = "tasks-by-account:" + _ident(provider, account_id), limit - 1
        elif provider is not None:
            index, stop = "tasks-by-provider:" + provider, limit - 1
        else:  # every task, filtered here when only the account is given
            index, stop = "tasks", -1 if account_id is not None else limit - 1
        found = [_task(_fields(f)) for f in self._records(index, "task:", stop, newest=True)]
        return [t for t in found if account_id in (None, t.account_id)][:limit]

    def next_due(self) -> float | None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zrange(self.prefix + "due", 0, 0, withscores=True)
            pipe.zrange(self.prefix + "delivery-due", 0, 0, withscores=True)
            firsts = pipe.execute()
        candidates = [float(first[0][1]) for first in firsts if first]
        return min(candidates) if candidates else None

    def settle_due(self, now: float) -> list[Settlement]:
        settled = self._run(lua.SETTLE_DUE, _num(now))
        return [Settlement(_task(_fields(task)), int(refund)) for task, refund in settled]

    def force(
        self, task_id: str, outcome: str, at: float, code: str | None, message: str | None
    ) -> Settlement | None:
        status, *rest = self._run(lua.FORCE, task_id, outcome, _num(at), code or "", message or "")
        if status == "invalid":
            raise ValueError(f"cannot force a task to {outcome!r}")
        return Settlement(_task(_fields(rest[1])), int(rest[0])) if status == "ok" else None

    # webhooks --------------------------------------------------------------------------
    def add_delivery(self, delivery: Delivery) -> None:
        stored = dataclasses.replace(delivery, attempts=[])
        fields = {
            "data": dump(stored),
            "task_id": stored.task_id,
            "state": stored.state,
            "due_at": _num(stored.due_at),
            "attempts": "[]",
        }
        self._run(lua.ADD_DELIVERY, stored.id, _num(stored.due_at), *_flat(fields))

    def claim_deliveries(self, now: float, limit: int) -> list[Delivery]:
        claimed = self._run(lua.CLAIM_DELIVERIES, _num(now), limit)
        return [_delivery(_fields(flat)) for flat in claimed]

    def record_attempt(
        self, delivery_id: str, attempt: Attempt, state: str, next_due: float | None
    ) -> Delivery:
        due = "" if next_due is None else _num(next_due)
        found = self._run(lua.RECORD_ATTEMPT, delivery_id, dump(attempt), state, due)
        if not found:
            raise KeyError(delivery_id)
        return _delivery(_fields(found))

    def deliveries(
        self, provider: str | None = None, account_id: str | None = None, task_id: str | None = None
    ) -> list[Delivery]:
        found = [_delivery(_fields(f)) for f in self._records("deliveries", "delivery:")]
        return [
            d
            for d in found
            if provider in (None, d.provider)
            and account_id in (None, d.account_id)
            and task_id in (None, d.task_id)
        ]

    # fault rules and journal ---------------------------------------------------------------
    def add_fault(self, rule: dict[str, Any]) -> None:
        fields = {"data": json.dumps(rule)}
        if "hits" in rule:
            fields["hits"] = str(rule["hits"])
        if rule.get("times") is not None:
            fields["times"] = str(rule["times"])
        self._run(lua.ADD_FAULT, rule["id"], *_flat(fields))

    def faults(self) -> list[dict[str, Any]]:
        return [_fault(_fields(flat)) for flat in self._records("faults", "fault:")]

    def remove_fault(self, rule_id: str) -> bool:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(self._key("fault", rule_id))
            pipe.zrem(self.prefix + "faults", rule_id)
            deleted, _ = pipe.execute()
        return bool(deleted)

    def clear_faults(self) -> None:
        self._run(lua.CLEAR_FAULTS)

    def spend_fault(self, rule_id: str) -> bool:
        return bool(self._run(lua.SPEND_FAULT, rule_id))

    def journal_append(self, entry: dict[str, Any], size: int) -> int:
        return int(self._run(lua.JOURNAL_APPEND, json.dumps(entry), size))

    def journal(self) -> list[dict[str, Any]]:
        kept = []
        for item in cast("list[str]", self.client.lrange(self.prefix + "journal", 0, -1)):
            ident, _, text = item.partition(" ")
            kept.append({**json.loads(text), "id": int(ident)})
        return kept

    def clear_journal(self) -> None:
        self.client.delete(self.prefix + "journal")

    # upkeep ------------------------------------------------------------------------------------
    def expire(self, now: float) -> int:
        return int(self._run(lua.EXPIRE, _num(now), _num(now - _HOUR)))

    def counts(self) -> dict[str, int]:
        return dict(zip(_COUNTED, map(int, self._run(lua.COUNTS)), strict=True))

    # helpers ------------------------------------------------------------------------------------
    def _hash(self, key: str) -> dict[str, str] | None:
        found = cast("dict[str, str]", self.client.hgetall(key))
        return found or None

    def _key(self, kind: str, ident: str) -> str:
        return f"{self.prefix}{kind}:{ident}"

    def _records(
        self, index: str, kind: str, stop: int = -1, *, newest: bool = False
    ) -> list[list[str]]:
        found: list[list[str]] = self._run(
            lua.READ_RECORDS, index, kind, 0, stop, "rev" if newest else ""
        )
        return found

    @staticmethod
    def _account_reply(reply: list[Any], provider: str, account_id: str) -> Account:
        if reply[0] == "unknown":
            raise UnknownAccount(f"no {provider} account {account_id!r}")
        if reply[0] == "negative":
            raise AssertionError("a balance never goes below zero")
        return _account(_fields(reply[1]))


def _scope(scope: IdempotencyScope) -> str:
    return _ident(scope.provider, scope.account_id, scope.key)


def _task_fields(task: Task, acct: str) -> list[str]:
    """The task's hash: its JSON as created, plus the fields the scripts read or change."""
    fields = {
        "data": dump(task),
        "acct": acct,
        "provider": task.provider,
        "media_token": task.media_token,
        "credits": str(task.credits),
        "planned": task.planned,
        "refund": "1" if task.refund_on_failure else "0",
        "created_at": _num(task.created_at),
        "status": task.status,
        "updated_at": _num(task.updated_at),
        "refunded": str(task.refunded),
    }
    optional = {
        "due_at": None if task.due_at is None else _num(task.due_at),
        "error_code": task.error_code,
        "error_message": task.error_message,
    }
    fields.update({name: value for name, value in optional.items() if value is not None})
    return _flat(fields)


def _task(fields: dict[str, str]) -> Task:
    task = load_task(fields["data"])
    task.status = fields["status"]
    task.updated_at = float(fields["updated_at"])
    task.due_at = float(fields["due_at"]) if "due_at" in fields else None
    task.refunded = int(fields["refunded"])
    task.error_code = fields.get("error_code")
    task.error_message = fields.get("error_message")
    return task


def _delivery(fields: dict[str, str]) -> Delivery:
    delivery = load_delivery(fields["data"])
    delivery.state = fields["state"]
    delivery.due_at = float(fields["due_at"])
    delivery.attempts = [Attempt(**a) for a in json.loads(fields["attempts"])]
    return delivery


def _account(fields: dict[str, str]) -> Account:
    return Account(
        fields["provider"],
        fields["id"],
        int(fields["credits"]),
        fields["purchased"] == "1",
        float(fields["created_at"]),
    )


def _api_key(fields: dict[str, str]) -> ApiKey:
    return ApiKey(fields["provider"], fields["key"], fields["account_id"], fields["revoked"] == "1")


def _entry(provider: str, account_id: str, text: str) -> LedgerEntry:
    at, kind, amount, balance, task_id, note = json.loads(text)
    return LedgerEntry(provider, account_id, float(at), kind, amount, balance, task_id, note)


def _fault(fields: dict[str, str]) -> dict[str, Any]:
    rule: dict[str, Any] = json.loads(fields["data"])
    for counter in ("hits", "times"):
        if counter in fields:
            rule[counter] = int(fields[counter])
    return rule
