"""The accounts and tasks of every caller, as the control plane sees them."""

from __future__ import annotations

from collections.abc import Mapping

from mockserver.engine.clock import Clock
from mockserver.engine.errors import InvalidControlValue, UnknownAccount, UnknownKey, UnknownTask
from mockserver.engine.model import Account, ApiKey, LedgerEntry, Task
from mockserver.engine.state import State
from mockserver.spec import ProviderSpec


class AccountBook:
    """Part of Simulation: accounts, keys, balances and every account's tasks."""

    specs: Mapping[str, ProviderSpec]
    clock: Clock
    store: State

    def create_account(
        self, provider: str, account_id: str, credits: int, keys: list[str], purchased: bool = True
    ) -> Account:
        if provider not in self.specs:
            raise InvalidControlValue(
                f"unknown provider {provider!r}; choose one of {', '.join(self.specs)}"
            )
        _check_credits(credits)
        if not isinstance(account_id, str) or not account_id:
            raise InvalidControlValue("id must be a non-empty string")
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            raise InvalidControlValue("keys must be a list of non-empty strings")
        account = Account(provider, account_id, credits, purchased)
        return self.store.create_account(account, keys, self.clock.now())

    def account(self, provider: str, account_id: str) -> Account:
        found = self.store.get_account(provider, account_id)
        if found is None:
            raise UnknownAccount(f"No {provider} account {account_id!r}.")
        return found

    def accounts(self, provider: str | None = None) -> list[Account]:
        return self.store.accounts(provider)

    def set_credits(self, provider: str, account_id: str, credits: int, note: str) -> Account:
        _check_credits(credits)
        return self.store.set_credits(provider, account_id, credits, self.clock.now(), note)

    def set_purchased(self, provider: str, account_id: str, purchased: bool) -> Account:
        """Mark whether the account ever bought credits (observed purchase_required)."""
        return self.store.set_purchased(provider, account_id, purchased)

    def add_key(self, provider: str, account_id: str, key: str) -> ApiKey:
        if not isinstance(key, str) or not key:
            raise InvalidControlValue("key must be a non-empty string.")
        return self.store.add_key(provider, account_id, key)

    def revoke_key(self, provider: str, account_id: str, key: str) -> ApiKey:
        record = self.store.resolve_key(provider, key)
        if record is None or record.account_id != account_id:
            raise UnknownKey("No such key on this account.")
        revoked = self.store.revoke_key(provider, key)
        assert revoked is not None
        return revoked

    def keys_of(self, provider: str, account_id: str) -> list[ApiKey]:
        return self.store.keys_of(provider, account_id)

    def account_of_key(self, provider: str, key: str) -> str | None:
        """The account a key belongs to, revoked or not (fault rules match on it)."""
        record = self.store.resolve_key(provider, key)
        return record.account_id if record else None

    def ledger(self, provider: str, account_id: str) -> tuple[int, list[LedgerEntry]]:
        """The opening balance and every credit movement since."""
        return self.store.ledger(provider, account_id)

    # every account's tasks ----------------------------------------------------------------
    def find_task(self, task_id: str) -> Task:
        """Any account's task; UnknownTask when there is none."""
        found = self.store.get_task(task_id)
        if found is None:
            raise UnknownTask(f"No task {task_id!r}.")
        return found

    def all_tasks(
        self, provider: str | None = None, account_id: str | None = None, limit: int = 100
    ) -> list[Task]:
        """Newest first."""
        return self.store.tasks(provider, account_id, limit)


#: the largest balance every client reads exactly (a JSON number beyond it loses
#: digits in JavaScript and in any client that reads numbers as doubles)
MAX_CREDITS = 2**53 - 1


def _check_credits(credits: object) -> None:
    if not isinstance(credits, int) or isinstance(credits, bool) or not 0 <= credits <= MAX_CREDITS:
        raise InvalidControlValue(f"credits must be a whole number from 0 to {MAX_CREDITS}.")
