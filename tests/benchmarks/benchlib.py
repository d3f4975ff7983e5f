"""Process, load and memory helpers shared by run.py and bench_soak.py.

Every server is started in its own session (process group) and stopped by
that group id, so a run leaves nothing behind and touches no other process.
Load comes from wrk over loopback; its Lua hooks print one JSON line per run
(``BENCH_JSON {...}``) so nothing is scraped from wrk's human output.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV_BIN = Path(sys.executable).parent
#: where bench-deps puts what the project itself does not depend on
BENCH_HOME = Path(
    os.environ.get("SEEDANCE_BENCH_HOME", Path.home() / ".cache" / "seedance-mock-bench")
)
PYDEPS = BENCH_HOME / "pydeps"
PEERS = BENCH_HOME / "peers" / "node_modules"

SIM_KEY = "sk_live_demo"
#: a valid seedance2ai submit body (document 000's example prompt)
SUBMIT_BODY = '{"prompt": "A cinematic shot of a glass train crossing a snowy mountain bridge"}'
SUBMIT_PATH = "/api/v1/video/seedance2"
STATUS_PATH = "/api/v1/tasks/{id}"
#: the rate limits lifted for throughput runs, so they measure the server, not the limiter
LIFTED_LIMITS = (
    "--set",
    "seedance2ai.rate_limits.requests.limit=1000000000",
    "--set",
    "seedance2ai.rate_limits.media_validations.limit=1000000000",
)
#: the same windows at 0 s: with the manual clock, a window of 0 s forgets each admission
#: at the next request, so the limiter's log of admission times never holds more than
#: one. (At 60 s it keeps every admission since the start, and each request filters
#: and rewrites the whole log: rows with this are the limiter's cost taken out.)
EMPTY_WINDOWS = (
    "--set",
    "seedance2ai.rate_limits.requests.window_seconds=0",
    "--set",
    "seedance2ai.rate_limits.media_validations.window_seconds=0",
)
HUGE_CREDITS = 10**12

_nonce = itertools.count()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_accounts(directory: Path) -> Path:
    """The demo keys on accounts with a balance no run can exhaust."""
    path = directory / "accounts.json"
    accounts = [
        {"provider": "seedance2ai", "id": "bench", "credits": HUGE_CREDITS, "keys": [SIM_KEY]},
        {
            "provider": "seedanceapi",
            "id": "bench",
            "credits": HUGE_CREDITS,
            "keys": ["sa_demo_key"],
        },
    ]
    path.write_text(json.dumps(accounts), encoding="utf-8")
    return path


def pythonpath_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a server or tool that imports wsgi_apps or granian."""
    env = dict(os.environ)
    parts = [str(HERE), str(ROOT), str(PYDEPS)]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.pop("GUNICORN_CMD_ARGS", None)
    env.update(extra or {})
    return env


# --- processes -----------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it."""
    tree = _children()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def _status_kb(pid: int, field_name: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    """Resident set size of one process (VmRSS)."""
    return _status_kb(pid, "VmRSS") / 1024


def pss_mb(pid: int) -> float:
    """Proportional set size of one process: shared pages divided among their users,
    so a process tree's PSS adds up to what it really occupies."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return rss_mb(pid)


@dataclass
class Memory:
    pss_mb: float
    rss_mb: float
    processes: int


def tree_memory(pid: int) -> Memory:
    pids = [p for p in descendants(pid) if _status_kb(p, "VmRSS")]
    return Memory(sum(pss_mb(p) for p in pids), sum(rss_mb(p) for p in pids), len(pids))


def tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU time used so far by ``pid`` and every process under it."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for each in descendants(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


class StartFailed(Exception):
    pass


@dataclass
class Server:
    """A server under test, in its own process group."""

    name: str
    argv: Sequence[str]
    port: int
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    log_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    log_path: Path | None = None

    def start(self) -> None:
        safe = "".join(c if c.isalnum() else "-" for c in self.name)
        self.log_path = self.log_dir / f"{safe}.log"
        log = self.log_path.open("wb")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            list(self.argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(self.env) if self.env is not None else None,
            cwd=self.cwd,
            start_new_session=True,
        )
        log.close()

    def log_tail(self, lines: int = 3) -> str:
        """The server's last words: its last exception line if it raised, else its last lines."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = [t.strip() for t in self.log_path.read_text(errors="replace").splitlines()]
        raised = [t for t in text if re.match(r"^[\w.]*(Error|Exception)\b.*?: ", t)]
        if raised:
            return raised[-1]
        return " | ".join(t for t in text[-lines:] if t)

    def wait_ready(self, timeout: float = 90.0) -> tuple[float, dict[str, Any]]:
        """Seconds from spawn to the first successful (2xx) submit, and its JSON body."""
        assert self.proc is not None
        deadline = self.started_at + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise StartFailed(f"exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                status, body = submit(self.port, timeout=5.0)
            except (OSError, http.client.HTTPException):
                time.sleep(0.005)
                continue
            if 200 <= status < 300:
                elapsed = time.perf_counter() - self.started_at
                try:
                    data = json.loads(body)
                except ValueError:
                    data = {}
                return elapsed, data if isinstance(data, dict) else {}
            time.sleep(0.005)
        raise StartFailed(f"no 2xx answer within {timeout:.0f} s: {self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # workers that outlived their master (same group): end them too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None


def submit(port: int, timeout: float = 5.0) -> tuple[int, bytes]:
    """One valid seedance2ai submit with a fresh idempotency key."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST",
            SUBMIT_PATH,
            body=SUBMIT_BODY,
            headers={
                "Authorization": f"Bearer {SIM_KEY}",
                "Idempotency-Key": f"probe-{os.getpid()}-{time.time_ns()}-{next(_nonce)}",
                "Content-Type": "application/json",
            },
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def get_json(port: int, path: str, headers: Mapping[str, str] | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        response = conn.getresponse()
        return json.loads(response.read())
    finally:
        conn.close()


# --- load (wrk) ------------------------------------------------------------------

_LUA_REPORT = r"""
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function done(summary, latency, requests)
  local ok = 0
  for _, t in ipairs(threads) do ok = ok + (t:get("ok") or 0) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f,"counted_ok":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, ok))
end
"""

_LUA_POST = r"""
wrk.method = "POST"
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
local counter = 0
local prefix = "bench"
function init(args)
  prefix = string.format("bench-%%s-%%d-", args[1] or "run", tid or 0)
  limit = tonumber(args[2] or "0")
  ok = 0
end
function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = prefix .. counter
  return wrk.format()
end
"""

# Only in fill runs: counting responses costs wrk time, so throughput runs skip it.
_LUA_COUNT = r"""
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 end
  if limit > 0 and ok >= limit then wrk.thread:stop() end
end
"""


@dataclass
class Load:
    """What one wrk run measured."""

    seconds: float
    requests: int
    non2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    counted_ok: int = 0

    @property
    def rps(self) -> float:
        """Successful (2xx) responses per second."""
        good = self.requests - self.non2xx
        return good / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _script(directory: Path, kind: str) -> Path:
    path = directory / f"{kind}.lua"
    if not path.exists():
        post = _LUA_POST % {"body": json.dumps(SUBMIT_BODY), "key": SIM_KEY}
        text = {
            "get": _LUA_REPORT,
            "post": post + _LUA_REPORT,
            "fill": post + _LUA_COUNT + _LUA_REPORT,
        }[kind]
        path.write_text(text, encoding="utf-8")
    return path


def wrk_command(
    url: str,
    *,
    connections: int,
    seconds: float,
    kind: str = "get",
    threads: int = 1,
    script_dir: Path,
    args: Sequence[str] = (),
    timeout_s: int = 10,
) -> list[str]:
    """A bounded wrk run over loopback; ``kind`` is get, post (distinct idempotency
    keys) or fill (post, each thread stops after ``args[1]`` successful answers)."""
    wrk = wrk_path()
    if wrk is None:
        raise RuntimeError("wrk is not installed (make bench-deps installs it)")
    command = [
        wrk,
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(_script(script_dir, kind)),
    ]
    if kind == "get":
        command += ["-H", f"Authorization: Bearer {SIM_KEY}"]
    command.append(url)
    if args:
        command += ["--", *args]
    return command


def parse_wrk(stdout: str, stderr: str = "") -> Load:
    line = next((row for row in stdout.splitlines() if row.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {stdout[-400:]} {stderr[-400:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return Load(
        seconds=data["duration_us"] / 1e6,
        requests=data["requests"],
        non2xx=data["non2xx"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        counted_ok=data["counted_ok"],
    )


def run_wrk(url: str, *, seconds: float, **options: Any) -> Load:
    """Run wrk (see wrk_command) and return what it measured."""
    command = wrk_command(url, seconds=seconds, **options)
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    return parse_wrk(done.stdout, done.stderr)


def command_version(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """The first line a ``--version`` style command prints, or why it printed none."""
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=dict(env) if env is not None else None,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc.__class__.__name__})"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"
