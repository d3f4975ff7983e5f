"""Where a request's time goes in the store, in-process, on any store: the CPU
time of a GET (a poll of one task) or a POST (a fresh submit) through the app's
test client, and the part of it spent in each store call: the reads, each
atomic step by name, the journal append.

    .venv/bin/python tests/benchmarks/profile_store.py --store sqlite --load get
    .venv/bin/python tests/benchmarks/profile_store.py --store redis://127.0.0.1:6379/9 --load post

``--store sqlite`` takes a new file in a temporary directory. Run it on the
memory store and on a shared one: the difference is what sharing costs a
request, beside the scale-out ceiling of ``make bench``. The figures are CPU
time of this one thread (``time.thread_time_ns``), so a Redis round trip's wait
is not in them, only its client's work. Like ``make bench``, the limits are
lifted and the clock is manual.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench_inprocess import ACCOUNTS, BODY, KEY, LIFTED

from mockserver.app import create_app
from mockserver.config import Config
from mockserver.providers.context import EXTENSION


def _timed(spent: collections.Counter[str], name: Callable[..., str], call: Any) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time_ns()
        try:
            return call(*args, **kwargs)
        finally:
            spent[name(*args)] += time.thread_time_ns() - start

    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="memory", help="memory, sqlite or a redis:// URL")
    parser.add_argument("--load", choices=("get", "post"), default="get")
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    store = args.store
    if store == "sqlite":
        store = f"sqlite:{tempfile.mkdtemp(prefix='profile-store-')}/state.db"
    config = Config(
        clock="manual", background=False, accounts=ACCOUNTS, overrides=LIFTED, store=store
    )
    app = create_app(config)
    runtime = app.extensions[EXTENSION]
    backend = runtime.store.backend
    spent: collections.Counter[str] = collections.Counter()
    backend.read = _timed(spent, lambda work: "reads", backend.read)
    backend.append_log = _timed(spent, lambda *a: "journal append", backend.append_log)
    backend.atomically = _timed(
        spent, lambda work: f"step {work.__qualname__.replace('.<locals>', '')}", backend.atomically
    )
    client = app.test_client()
    auth = {"Authorization": f"Bearer {KEY}"}
    keys = itertools.count()

    def post() -> Any:
        headers = {**auth, "Idempotency-Key": f"profile-{next(keys)}"}
        return client.post("/api/v1/video/seedance2", json=BODY, headers=headers)

    task_id = post().get_json()["id"]

    def get() -> Any:
        return client.get(f"/api/v1/tasks/{task_id}", headers=auth)

    request = get if args.load == "get" else post
    for _ in range(300):  # warm-up
        request()
    spent.clear()
    start = time.thread_time_ns()
    for _ in range(args.requests):
        request()
    whole = (time.thread_time_ns() - start) / args.requests / 1e3
    runtime.close()
    print(f"{args.store} · {args.load.upper()}: {whole:,.0f} CPU µs per request, of which")
    for name, ns in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {ns / args.requests / 1e3:7,.0f} µs  {name}")


if __name__ == "__main__":
    main()
