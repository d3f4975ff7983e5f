"""Records as JSON text, and the decoded records a process keeps of them."""

from __future__ import annotations

from mockserver.engine.model import Account
from mockserver.engine.store import codec


def test_a_record_comes_back_equal() -> None:
    account = Account("seedance2ai", "acme", 10**30, purchased=True)
    assert codec.load("account", codec.dump(account)) == account


def test_unchanged_text_gives_an_equal_record_of_its_own() -> None:
    decoded = codec.Decoded()
    text = codec.dump(Account("seedance2ai", "acme", 100))
    first = decoded.load("account", "acme", text)
    first.credits = 5
    again = decoded.load("account", "acme", text)
    assert again == Account("seedance2ai", "acme", 100)
    assert again is not first
    again.credits = 7
    assert decoded.load("account", "acme", text).credits == 100


def test_changed_text_is_decoded_again() -> None:
    decoded = codec.Decoded()
    decoded.load("account", "acme", codec.dump(Account("seedance2ai", "acme", 100)))
    changed = codec.dump(Account("seedance2ai", "acme", 40))
    assert decoded.load("account", "acme", changed).credits == 40
    # the same text under another key is that key's record
    assert decoded.load("account", "other", changed).credits == 40


def test_it_keeps_at_most_its_size() -> None:
    decoded = codec.Decoded(size=3)
    for n in range(10):
        decoded.load("account", f"a{n}", codec.dump(Account("seedance2ai", f"a{n}", n)))
        assert len(decoded) <= 3
    assert decoded.load("account", "a9", codec.dump(Account("seedance2ai", "a9", 9))).credits == 9
