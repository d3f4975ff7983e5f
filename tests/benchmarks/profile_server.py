"""Where a served request spends its time: py-spy on a worker under load.

Starts ``seedance-mock serve`` (limits lifted, as in run.py) on the chosen store,
drives ``GET /api/v1/tasks/{id}`` (or, with ``--load post``, a valid submit)
with wrk at 32 connections, samples one worker with py-spy (only the thread
holding the GIL, i.e. the Python work, with ``--gil``) and prints the functions
by inclusive and by own share of the samples.

    .venv/bin/python tests/benchmarks/profile_server.py [--seconds 15] [--load get|post]
        [--store memory|sqlite|redis] [--workers N] [--server gunicorn|granian]
        [--empty-windows] [--all-threads]

``--store redis`` starts its own redis-server on a free port; ``--empty-windows``
keeps the rate limiter's log empty (benchlib.EMPTY_WINDOWS), to see the rest.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchlib import (
    PYDEPS,
    ROOT,
    STATUS_PATH,
    SUBMIT_PATH,
    VENV_BIN,
    Server,
    descendants,
    free_port,
    pythonpath_env,
    write_accounts,
    wrk_command,
)
from plans import Context, sim_flags

_PREFIXES = re.compile(
    r"\((?:/[^()]*?/(?:site-packages|python3\.\d+)/|" + re.escape(str(ROOT)) + "/)"
)


_LINE = re.compile(r":\d+\)$")


def summarize(folded: Path, top: int) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        # per function, not per line: "handle (gunicorn/workers/gthread.py)"
        frames = [_LINE.sub(")", _PREFIXES.sub("(", f)) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    print(f"{total} samples\n\nby inclusive share:")
    for frame, n in inclusive.most_common(top):
        print(f"{100 * n / total:5.1f}%  {frame}")
    print("\nby own share:")
    for frame, n in own.most_common(top // 2):
        print(f"{100 * n / total:5.1f}%  {frame}")


@contextlib.contextmanager
def store_url(store: str, tmp: Path) -> Iterator[str]:
    """The --store value, with a redis-server of its own for ``redis``."""
    if store != "redis":
        yield "memory" if store == "memory" else f"sqlite:{tmp / 'profile.db'}"
        return
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        redis.terminate()
        redis.wait(timeout=10)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--load", choices=["get", "post"], default="get")
    parser.add_argument("--store", choices=["memory", "sqlite", "redis"], default="memory")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--server", choices=["gunicorn", "granian"], default="gunicorn")
    parser.add_argument(
        "--empty-windows", action="store_true", help="keep the rate limiter's log empty"
    )
    parser.add_argument(
        "--all-threads", action="store_true", help="sample every thread, not only the GIL holder"
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    py_spy = PYDEPS / "bin" / "py-spy"
    if not py_spy.exists():
        print("py-spy is not installed: run `make bench-deps`", file=sys.stderr)
        return 2
    with (
        tempfile.TemporaryDirectory(prefix="seedance-profile-") as tmp_name,
        store_url(args.store, Path(tmp_name)) as store,
    ):
        tmp = Path(tmp_name)
        ctx = Context(tmp, write_accounts(tmp), args.seconds, 0)
        port = free_port()
        argv = [str(VENV_BIN / "seedance-mock"), "serve", "--port", str(port),
                "--workers", str(args.workers), "--server", args.server,
                *sim_flags(ctx, store, args.empty_windows)]  # fmt: skip
        server = Server("profile", argv, port, env=pythonpath_env(), cwd=ROOT, log_dir=tmp)
        server.start()
        try:
            _, first = server.wait_ready()
            profile(server, first.get("id", ""), args, py_spy, tmp)
        finally:
            server.stop()
    return 0


def profile(server: Server, task_id: str, args: argparse.Namespace, py_spy: Path,
            tmp: Path) -> None:  # fmt: skip
    # a worker: the first process under the master that is not the master
    worker = next(p for p in descendants(server.pid) if p != server.pid)
    base = f"http://127.0.0.1:{server.port}"
    url = base + (STATUS_PATH.format(id=task_id) if args.load == "get" else SUBMIT_PATH)
    command = wrk_command(url, connections=32, seconds=args.seconds + 4, script_dir=tmp,
                          kind=args.load, args=[f"p{time.time_ns()}"] if args.load == "post"
                          else ())  # fmt: skip
    load = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        folded = tmp / "profile.folded"
        record = [str(py_spy), "record", "-p", str(worker), "-d", str(round(args.seconds)),
                  "-r", "200", "-f", "raw", "-o", str(folded), "--nonblocking"]  # fmt: skip
        if not args.all_threads:
            record.append("--gil")
        subprocess.run(record, check=True, capture_output=True)
        load.wait(timeout=60)
        summarize(folded, args.top)
    finally:
        if load.poll() is None:
            load.terminate()


if __name__ == "__main__":
    raise SystemExit(main())
