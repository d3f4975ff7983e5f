"""Accounts, keys, the ledger and rate-limit windows in memory."""

from __future__ import annotations

import copy
import dataclasses
from collections import deque
from collections.abc import Sequence

from mockserver.engine.model import (
    Account,
    ApiKey,
    LedgerEntry,
)
from mockserver.engine.store._memory_base import MemoryBase
from mockserver.engine.store.base import (
    AccountExists,
    KeyInUse,
    Window,
    key_digest,
)


class AccountState(MemoryBase):
    # accounts and keys --------------------------------------------------
    def create_account(self, account: Account, keys: list[str], at: float) -> Account:
        with self._lock:
            ident = (account.provider, account.id)
            if ident in self._accounts:
                raise AccountExists(f"{account.provider} account {account.id!r} exists already")
            taken = [k for k in keys if (account.provider, key_digest(k)) in self._keys]
            if taken:
                raise KeyInUse(f"API key {taken[0]!r} already belongs to another account")
            stored = dataclasses.replace(account, created_at=at)
            self._accounts[ident] = stored
            self._ledger[ident] = deque()
            self._opening[ident] = 0
            for key in keys:
                self._keys[(account.provider, key_digest(key))] = ApiKey(
                    account.provider, key, account.id
                )
            self._append(stored, at, "grant", account.credits, task_id=None, note="opening balance")
            return copy.copy(stored)

    def get_account(self, provider: str, account_id: str) -> Account | None:
        with self._lock:
            found = self._accounts.get((provider, account_id))
            return copy.copy(found) if found else None

    def accounts(self, provider: str | None = None) -> list[Account]:
        with self._lock:
            return [copy.copy(a) for a in self._accounts.values() if provider in (None, a.provider)]

    def set_credits(
        self, provider: str, account_id: str, credits: int, at: float, note: str
    ) -> Account:
        with self._lock:
            account = self._account(provider, account_id)
            self._append(
                account, at, "adjustment", credits - account.credits, task_id=None, note=note
            )
            return copy.copy(account)

    def set_purchased(self, provider: str, account_id: str, purchased: bool) -> Account:
        with self._lock:
            account = self._account(provider, account_id)
            account.purchased = purchased
            return copy.copy(account)

    def add_key(self, provider: str, account_id: str, key: str) -> ApiKey:
        with self._lock:
            self._account(provider, account_id)
            existing = self._keys.get((provider, key_digest(key)))
            if existing and existing.account_id != account_id:
                raise KeyInUse(f"API key {key!r} already belongs to another account")
            record = ApiKey(provider, key, account_id)
            self._keys[(provider, key_digest(key))] = record
            return copy.copy(record)

    def revoke_key(self, provider: str, key: str) -> ApiKey | None:
        with self._lock:
            record = self._keys.get((provider, key_digest(key)))
            if record is None:
                return None
            record.revoked = True
            return copy.copy(record)

    def keys_of(self, provider: str, account_id: str) -> list[ApiKey]:
        with self._lock:
            return [
                copy.copy(k)
                for k in self._keys.values()
                if k.provider == provider and k.account_id == account_id
            ]

    def resolve_key(self, provider: str, key: str) -> ApiKey | None:
        with self._lock:
            record = self._keys.get((provider, key_digest(key)))
            return copy.copy(record) if record else None

    def ledger(self, provider: str, account_id: str) -> tuple[int, list[LedgerEntry]]:
        with self._lock:
            self._account(provider, account_id)
            ident = (provider, account_id)
            return self._opening[ident], list(self._ledger[ident])

    # rate limits ----------------------------------------------------------
    def admit(self, windows: Sequence[Window], now: float, *, record: bool = True) -> float | None:
        with self._lock:
            waits = []
            for window in windows:
                times = self._windows.setdefault(window.bucket, deque())
                while times and times[0] <= now - window.seconds:
                    times.popleft()
                if len(times) >= window.limit:
                    waits.append(times[0] + window.seconds - now)
            if waits:
                return max(waits)
            for window in windows if record else ():
                self._windows[window.bucket].append(now)
            return None
