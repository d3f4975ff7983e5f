"""Where a served GET status spends its time: py-spy on the gunicorn worker under load.

Starts ``seedance-mock serve`` (memory store, limits lifted, as in run.py),
drives ``GET /api/v1/tasks/{id}`` with wrk at 32 connections, samples the
worker with py-spy (only the thread holding the GIL, i.e. the Python work,
with ``--gil``) and prints the functions by inclusive share of the samples.

    .venv/bin/python tests/benchmarks/profile_server.py [--seconds 15] [--all-threads]
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (
    PYDEPS,
    ROOT,
    STATUS_PATH,
    VENV_BIN,
    Server,
    descendants,
    free_port,
    pythonpath_env,
    write_accounts,
    wrk_command,
)
from run import Context, _sim_flags

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


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument(
        "--all-threads", action="store_true", help="sample every thread, not only the GIL holder"
    )
    args = parser.parse_args()
    py_spy = PYDEPS / "bin" / "py-spy"
    if not py_spy.exists():
        print("py-spy is not installed: run `make bench-deps`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="seedance-profile-") as tmp_name:
        tmp = Path(tmp_name)
        ctx = Context(tmp, write_accounts(tmp), args.seconds, 0)
        port = free_port()
        argv = [str(VENV_BIN / "seedance-mock"), "serve", "--port", str(port)]
        server = Server("profile", [*argv, *_sim_flags(ctx, "memory")], port,
                        env=pythonpath_env(), cwd=ROOT, log_dir=tmp)  # fmt: skip
        server.start()
        load = None
        try:
            _, first = server.wait_ready()
            worker = next(p for p in descendants(server.pid) if p != server.pid)
            url = f"http://127.0.0.1:{port}" + STATUS_PATH.format(id=first["id"])
            command = wrk_command(url, connections=32, seconds=args.seconds + 4, script_dir=tmp)
            load = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
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
            if load is not None and load.poll() is None:
                load.terminate()
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
