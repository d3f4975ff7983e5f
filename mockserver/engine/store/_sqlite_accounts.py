"""Accounts, keys, the ledger and rate-limit windows in SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from mockserver.engine.model import (
    Account,
    ApiKey,
    LedgerEntry,
)
from mockserver.engine.store._sqlite_base import _ACCOUNT_BY_ID, SQLiteBase, _account
from mockserver.engine.store.base import (
    AccountExists,
    KeyInUse,
    Window,
    key_digest,
)


class AccountRows(SQLiteBase):
    def create_account(self, account: Account, keys: list[str], at: float) -> Account:
        with self.transaction() as db:
            exists = db.execute(
                "SELECT 1 FROM accounts WHERE provider = ? AND id = ?",
                (account.provider, account.id),
            ).fetchone()
            if exists:
                raise AccountExists(f"{account.provider} account {account.id!r} exists already")
            for key in keys:
                if db.execute(
                    "SELECT 1 FROM keys WHERE provider = ? AND digest = ?",
                    (account.provider, key_digest(key)),
                ).fetchone():
                    raise KeyInUse(f"API key {key!r} already belongs to another account")
            db.execute(
                "INSERT INTO accounts VALUES (?, ?, ?, ?, ?)",
                (account.provider, account.id, account.credits, int(account.purchased), at),
            )
            db.execute("INSERT INTO openings VALUES (?, ?, 0)", (account.provider, account.id))
            db.executemany(
                "INSERT INTO keys VALUES (?, ?, ?, ?, 0)",
                [(account.provider, key_digest(k), k, account.id) for k in keys],
            )
            self._entry(
                db,
                account.provider,
                account.id,
                at,
                "grant",
                account.credits,
                account.credits,
                None,
                "opening balance",
            )
            return replace(account, created_at=at)

    def get_account(self, provider: str, account_id: str) -> Account | None:
        row = (
            self.connection()
            .execute(
                _ACCOUNT_BY_ID,
                (provider, account_id),
            )
            .fetchone()
        )
        return _account(row) if row else None

    def accounts(self, provider: str | None = None) -> list[Account]:
        rows = (
            self.connection()
            .execute(
                "SELECT provider, id, credits, purchased, created_at FROM accounts "
                "WHERE ? IS NULL OR provider = ? ORDER BY rowid",
                (provider, provider),
            )
            .fetchall()
        )
        return [_account(row) for row in rows]

    def set_credits(
        self, provider: str, account_id: str, credits: int, at: float, note: str
    ) -> Account:
        with self.transaction() as db:
            account = self._account(db, provider, account_id)
            self._move(
                db, account, at, "adjustment", credits - account.credits, task_id=None, note=note
            )
            return replace(account, credits=credits)

    def set_purchased(self, provider: str, account_id: str, purchased: bool) -> Account:
        with self.transaction() as db:
            account = self._account(db, provider, account_id)
            db.execute(
                "UPDATE accounts SET purchased = ? WHERE provider = ? AND id = ?",
                (int(purchased), provider, account_id),
            )
            return replace(account, purchased=purchased)

    def add_key(self, provider: str, account_id: str, key: str) -> ApiKey:
        with self.transaction() as db:
            self._account(db, provider, account_id)
            row = db.execute(
                "SELECT account_id FROM keys WHERE provider = ? AND digest = ?",
                (provider, key_digest(key)),
            ).fetchone()
            if row and row[0] != account_id:
                raise KeyInUse(f"API key {key!r} already belongs to another account")
            db.execute(
                "INSERT OR REPLACE INTO keys VALUES (?, ?, ?, ?, 0)",
                (provider, key_digest(key), key, account_id),
            )
            return ApiKey(provider, key, account_id)

    def revoke_key(self, provider: str, key: str) -> ApiKey | None:
        with self.transaction() as db:
            db.execute(
                "UPDATE keys SET revoked = 1 WHERE provider = ? AND digest = ?",
                (provider, key_digest(key)),
            )
            return self.resolve_key(provider, key)

    def keys_of(self, provider: str, account_id: str) -> list[ApiKey]:
        rows = (
            self.connection()
            .execute(
                "SELECT key, revoked FROM keys WHERE provider = ? AND account_id = ? "
                "ORDER BY rowid",
                (provider, account_id),
            )
            .fetchall()
        )
        return [ApiKey(provider, key, account_id, bool(revoked)) for key, revoked in rows]

    def resolve_key(self, provider: str, key: str) -> ApiKey | None:
        row = (
            self.connection()
            .execute(
                "SELECT account_id, revoked FROM keys WHERE provider = ? AND digest = ?",
                (provider, key_digest(key)),
            )
            .fetchone()
        )
        return ApiKey(provider, key, row[0], bool(row[1])) if row else None

    def ledger(self, provider: str, account_id: str) -> tuple[int, list[LedgerEntry]]:
        db = self.connection()
        with self.transaction():
            self._account(db, provider, account_id)
            opening = db.execute(
                "SELECT amount FROM openings WHERE provider = ? AND account_id = ?",
                (provider, account_id),
            ).fetchone()[0]
            rows = db.execute(
                "SELECT provider, account_id, at, kind, amount, balance, task_id, note FROM ledger "
                "WHERE provider = ? AND account_id = ? ORDER BY seq",
                (provider, account_id),
            ).fetchall()
        return int(opening), [LedgerEntry(*row) for row in rows]

    # rate limits -----------------------------------------------------------------
    def admit(self, windows: Sequence[Window], now: float, *, record: bool = True) -> float | None:
        with self.transaction() as db:
            waits = []
            for window in windows:
                db.execute(
                    "DELETE FROM admissions WHERE bucket = ? AND at <= ?",
                    (window.bucket, now - window.seconds),
                )
                count, oldest = db.execute(
                    "SELECT COUNT(*), MIN(at) FROM admissions WHERE bucket = ?", (window.bucket,)
                ).fetchone()
                if count >= window.limit:
                    waits.append(float(oldest) + window.seconds - now)
            if waits:
                return max(waits)
            if record:
                db.executemany(
                    "INSERT INTO admissions VALUES (?, ?)", [(w.bucket, now) for w in windows]
                )
            return None

    # idempotency and creation --------------------------------------------------------
