"""What an SQLite store keeps when its process dies (DECISIONS C20).

Commits are handed to the operating system without a sync (``synchronous`` OFF):
a process killed right after a step, even by SIGKILL, loses nothing it
committed. ``sqlite:PATH?synchronous=normal|full`` syncs as well, for those who
need the file to survive an operating-system crash.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mockserver.engine.store import open_backend
from mockserver.engine.store.sqlite import SQLiteBackend

_WRITE_THEN_DIE = """
import os, signal, sys
from mockserver.engine.store import open_backend

store = open_backend(sys.argv[1])
for n in range(200):
    store.atomically(lambda tx, n=n: tx.put("notes", f"t{n}", {"n": n}))
print("committed", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _synchronous(store: SQLiteBackend) -> int:
    return int(store.connection().execute("PRAGMA synchronous").fetchone()[0])


@pytest.mark.parametrize(
    ("suffix", "expected"), [("", 0), ("?synchronous=normal", 1), ("?synchronous=FULL", 2)]
)
def test_the_store_url_chooses_what_a_commit_syncs(
    tmp_path: Path, suffix: str, expected: int
) -> None:
    store = open_backend(f"sqlite:{tmp_path / 'state.db'}{suffix}")
    assert isinstance(store, SQLiteBackend)
    assert store.path == str(tmp_path / "state.db")
    seen: list[int] = []
    worker = threading.Thread(target=lambda: seen.append(_synchronous(store)))
    worker.start()
    worker.join()
    assert [_synchronous(store), *seen] == [expected, expected]  # every thread's connection
    store.close()


@pytest.mark.parametrize("query", ["synchronous=sometimes", "sync=full", "synchronous", "x"])
def test_anything_else_after_the_path_is_refused_with_the_choices(
    tmp_path: Path, query: str
) -> None:
    """A misspelt option must not become part of the file's name (a new, empty store)."""
    with pytest.raises(ValueError, match=r"takes one option, \?synchronous=off\|normal\|full"):
        open_backend(f"sqlite:{tmp_path / 'state.db'}?{query}")
    assert not list(tmp_path.iterdir())


def test_serve_refuses_a_bad_option_before_it_starts(tmp_path: Path) -> None:
    from mockserver.config import Config
    from mockserver.serve import RefusedToStart, ServeOptions, check_safe

    config = Config(store=f"sqlite:{tmp_path / 'state.db'}?synchronous=always")
    with pytest.raises(RefusedToStart, match=r"--store: sqlite:PATH takes one option"):
        check_safe(ServeOptions(), config)


def test_a_process_killed_right_after_its_commits_loses_none_of_them(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'state.db'}"
    done = subprocess.run(
        [sys.executable, "-c", _WRITE_THEN_DIE, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.strip() == "committed"
    store = open_backend(url)
    kept = store.read(lambda tx: [tx.get("notes", f"t{n}") for n in range(200)])
    assert kept == [{"n": n} for n in range(200)]
    store.close()
