"""Accounts, keys, the ledger and rate-limit windows."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from mockserver.engine import rules
from mockserver.engine.errors import AccountExists, KeyInUse, UnknownAccount
from mockserver.engine.model import Account, ApiKey, LedgerEntry, Window
from mockserver.engine.rules import window_start, window_wait
from mockserver.engine.state._base import StateBase, acct, key_name
from mockserver.engine.store import Tx


class AccountState(StateBase):
    # accounts and keys -----------------------------------------------------------------
    def create_account(self, account: Account, keys: list[str], at: float) -> Account:
        name = acct(account.provider, account.id)

        def create(tx: Tx) -> Account:
            if tx.get("account", name) is not None:
                raise AccountExists(f"{account.provider} account {account.id!r} exists already")
            names = [key_name(account.provider, k) for k in keys]
            taken = [
                k for k, found in zip(keys, tx.get_many("apikey", names), strict=True) if found
            ]
            if taken:
                raise KeyInUse(f"API key {taken[0]!r} already belongs to another account")
            stored = dataclasses.replace(account, created_at=at)
            stored, entry = rules.move_credits(
                stored, at, "grant", account.credits, task_id=None, note="opening balance"
            )
            seq = tx.next_number()
            tx.put("account", name, stored)
            tx.add("accounts", name, seq)
            tx.put("opening", name, 0)
            self._write_entry(tx, entry)
            for key, ident in zip(keys, names, strict=True):
                tx.put("apikey", ident, ApiKey(account.provider, key, account.id))
                tx.add(f"keys:{name}", ident, tx.next_number())
            return stored

        created: Account = self.backend.atomically(create)
        return created

    def get_account(self, provider: str, account_id: str) -> Account | None:
        found: Account | None = self.backend.read(
            lambda tx: tx.get("account", acct(provider, account_id))
        )
        return found

    def accounts(self, provider: str | None = None) -> list[Account]:
        def listed(tx: Tx) -> list[Account]:
            names = [member for member, _ in tx.scan("accounts")]
            return [a for a in tx.get_many("account", names) if a is not None]

        found: list[Account] = self.backend.read(listed)
        return [a for a in found if provider in (None, a.provider)]

    def set_credits(
        self, provider: str, account_id: str, credits: int, at: float, note: str
    ) -> Account:
        def adjust(tx: Tx) -> Account:
            account, entry = rules.adjust(
                self._account(tx, provider, account_id), credits, at, note
            )
            tx.put("account", acct(provider, account_id), account)
            self._write_entry(tx, entry)
            return account

        moved: Account = self.backend.atomically(adjust)
        return moved

    def set_purchased(self, provider: str, account_id: str, purchased: bool) -> Account:
        def mark(tx: Tx) -> Account:
            account = self._account(tx, provider, account_id)
            marked = dataclasses.replace(account, purchased=purchased)
            tx.put("account", acct(provider, account_id), marked)
            return marked

        marked: Account = self.backend.atomically(mark)
        return marked

    def add_key(self, provider: str, account_id: str, key: str) -> ApiKey:
        ident = key_name(provider, key)

        def add(tx: Tx) -> ApiKey:
            self._account(tx, provider, account_id)
            existing: ApiKey | None = tx.get("apikey", ident)
            if existing and existing.account_id != account_id:
                raise KeyInUse(f"API key {key!r} already belongs to another account")
            record = ApiKey(provider, key, account_id)
            tx.put("apikey", ident, record)
            if existing is None:
                tx.add(f"keys:{acct(provider, account_id)}", ident, tx.next_number())
            return record

        added: ApiKey = self.backend.atomically(add)
        return added

    def revoke_key(self, provider: str, key: str) -> ApiKey | None:
        ident = key_name(provider, key)

        def revoke(tx: Tx) -> ApiKey | None:
            record: ApiKey | None = tx.get("apikey", ident)
            if record is None:
                return None
            revoked = dataclasses.replace(record, revoked=True)
            tx.put("apikey", ident, revoked)
            return revoked

        found: ApiKey | None = self.backend.atomically(revoke)
        return found

    def keys_of(self, provider: str, account_id: str) -> list[ApiKey]:
        def listed(tx: Tx) -> list[ApiKey]:
            names = [m for m, _ in tx.scan(f"keys:{acct(provider, account_id)}")]
            return [k for k in tx.get_many("apikey", names) if k is not None]

        found: list[ApiKey] = self.backend.read(listed)
        return found

    def resolve_key(self, provider: str, key: str) -> ApiKey | None:
        found: ApiKey | None = self.backend.read(
            lambda tx: tx.get("apikey", key_name(provider, key))
        )
        return found

    def ledger(self, provider: str, account_id: str) -> tuple[int, list[LedgerEntry]]:
        """The opening balance and every entry since (older entries folded in)."""
        name = acct(provider, account_id)

        def read(tx: Tx) -> tuple[int, list[LedgerEntry]]:
            opening = tx.get("opening", name)
            if opening is None:
                raise UnknownAccount(f"no {provider} account {account_id!r}")
            keys = [m for m, _ in tx.scan(f"ledger:{name}")]
            return int(opening), [e for e in tx.get_many("ledger", keys) if e is not None]

        found: tuple[int, list[LedgerEntry]] = self.backend.read(read)
        return found

    # rate limits ------------------------------------------------------------------------
    # A window's log is run-length: one member per distinct admission time
    # ("<time>|<admissions at it>", scored by the time), and a record of
    # [admissions in the log, newest time, admissions at it, oldest time].
    # Admissions at one instant (a frozen or manual clock) share one member; the
    # count in the window is the record's total less what has left the window
    # (read only when the oldest time says something has), and what has left is
    # trimmed at the next admission: so a step reads O(log n) plus what expired
    # since the last one, whatever the traffic, and a window never used (a
    # client's failed authentications, the usual case) costs one record read.
    def admit(self, windows: Sequence[Window], now: float, *, record: bool = True) -> float | None:
        """Admit one request into every window at once, or into none and return
        the seconds until all of them have room. Refused requests are not counted;
        with ``record=False`` nothing is counted either (a look, not an admission)."""

        def decide(tx: Tx) -> float | None:
            logs = [_WindowLog.read(tx, window, now) for window in windows]
            waits = [w for w in (log.wait(tx) for log in logs) if w is not None]
            if waits:
                return max(waits)
            for log in logs if record else ():
                log.admit_one(tx)
            return None

        if not record:
            looked: float | None = self.backend.read(decide)
            return looked
        wait: float | None = self.backend.atomically(decide)
        return wait


@dataclasses.dataclass(slots=True)
class _WindowLog:
    """One window's log as one step sees it at ``now``."""

    window: Window
    now: float
    #: admissions inside the window
    held: int
    #: the log's members that have left the window
    gone: list[tuple[str, float]]
    #: the newest member's time and admissions (None: an empty log)
    newest: tuple[float, int] | None
    #: the oldest member's time (None: an empty log)
    oldest: float | None

    @property
    def index(self) -> str:
        return f"window:{self.window.bucket}"

    @classmethod
    def read(cls, tx: Tx, window: Window, now: float) -> _WindowLog:
        found = tx.get("window", window.bucket)
        if not found:
            return cls(window, now, 0, [], None, None)
        total, newest_at, at_newest, oldest = found
        gone = []
        if oldest <= now - window.seconds:  # something has left the window
            gone = tx.scan(f"window:{window.bucket}", upto=now - window.seconds)
        held = max(0, total - sum(_admissions(member) for member, _ in gone))
        return cls(window, now, held, gone, (newest_at, at_newest), oldest)

    def wait(self, tx: Tx) -> float | None:
        """None when the window has room, else the seconds until it has."""
        window, now = self.window, self.now
        if self.held < window.limit:
            return None
        needed = self.held - window.limit + 1  # the admission that keeps it full is this oldest
        for member, at in tx.scan(self.index, start=window_start(window, now), limit=needed):
            needed -= _admissions(member)
            if needed <= 0:
                return window_wait(window, self.held, at, now)
        return window_wait(window, self.held, None, now)

    def admit_one(self, tx: Tx) -> None:
        """Count one admission at ``now``; what left the window leaves the log."""
        now, seconds = self.now, self.window.seconds
        oldest = now if self.oldest is None else self.oldest
        if self.gone:
            tx.trim(self.index, now - seconds)
            kept = tx.scan(self.index, start=window_start(self.window, now), limit=1)
            oldest = kept[0][1] if kept else now
        at_now = 0
        if self.newest is not None and self.newest[0] == now and seconds > 0:
            at_now = self.newest[1]  # an earlier admission at this instant: one member more
            tx.remove(self.index, _member(now, at_now))
        tx.add(self.index, _member(now, at_now + 1), now)
        tx.put("window", self.window.bucket, [self.held + 1, now, at_now + 1, oldest])
        tx.add("windows", self.window.bucket, now)  # its last admission, for the sweep


def forget_window(tx: Tx, bucket: str) -> None:
    """Drop a window's whole log (the sweep's, once it has been idle)."""
    tx.trim(f"window:{bucket}", math.inf)
    tx.delete("window", bucket)
    tx.remove("windows", bucket)


def _member(at: float, admissions: int) -> str:
    return f"{at!r}|{admissions}"


def _admissions(member: str) -> int:
    """How many admissions a window log's member stands for (one for a member
    written before logs were run-length, "<time>:<random>", in a kept store)."""
    _, run_length, count = member.rpartition("|")
    return int(count) if run_length else 1
