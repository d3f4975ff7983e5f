"""Serving a simulator with a production WSGI server: gunicorn (the default) or granian.

gunicorn is the default, through EnvelopeWorker, a threaded worker that serves
each request on its event loop's thread once the request has arrived whole (the
loop collects the bytes without blocking), so no number of slow or idle clients
holds up anyone else. A request that waits (a latency fault, a first render, a
client not reading its answer) hands the loop to another of the worker's 8
threads first, so it ties up one thread, not the worker; a dropped-connection
fault really closes the socket; and requests too broken to parse are answered
in the owning provider's JSON envelope. On an SQLite store the threads take
turns in the app behind the runtime's gate, as granian's do (build_app says
why).

granian (``--server granian``, Rust) serves several times the requests per
second (tests/benchmarks). Its 4 request threads per worker take turns behind
the runtime's gate (gate.py), so a latency fault delays no other request. But
it answers HTTP it cannot parse (a malformed request line or header, an unknown
transfer coding) itself with an empty 400, and a dropped-connection fault can
only cut the answer after its status line: the choice for load tests.

For gunicorn the listening socket is bound here, before gunicorn starts, so
``--port 0`` works and the banner shows the real port; gunicorn takes the socket
over as ``fd://N``. granian binds its own socket, so for ``--port 0`` a free port
is picked first. Either way the app is built in each worker, so its clock thread
runs there.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import re
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TextIO

from flask import Flask, Response
from gunicorn import http as gunicorn_http
from gunicorn.app.base import BaseApplication
from gunicorn.http import errors as http_errors
from gunicorn.http import message as gunicorn_message
from gunicorn.util import write_nonblock
from gunicorn.workers.gthread import _DEFER, STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

from mockserver import gate
from mockserver.config import Config
from mockserver.engine.errors import InternalError, InvalidRequest
from mockserver.engine.store import is_shared, sqlite_location
from mockserver.engine.webhooks import is_loopback
from mockserver.providers.context import EXTENSION
from mockserver.settings import setting
from mockserver.spec import ProviderSpec


class RefusedToStart(Exception):
    """The settings would make the simulator unsafe or impossible to serve."""


SERVERS = ("gunicorn", "granian")
#: request threads per worker when --threads is not given: a request that waits
#: (a latency fault, a first render) holds a thread, so gunicorn keeps several,
#: though one serves everything that does not wait (EnvelopeWorker). granian's 4
#: take turns behind the gate (gate.py).
DEFAULT_THREADS = {"gunicorn": 8, "granian": 4}
#: how long gunicorn waits on a client that stopped sending its request (or reading
#: the answer) before it closes the connection; the wait holds no thread
READ_TIMEOUT_SECONDS = 10.0
#: a request larger than this goes to a thread as it is (the app refuses it 413)
_COLLECT_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True)
class ServeOptions:
    """How the simulator is served (each field is a ``serve`` flag too, see settings.py)."""

    host: str = setting(
        "127.0.0.1", "address to listen on; anything but loopback needs --admin-token"
    )
    port: int = setting(8000, "port to listen on; 0 picks a free one")
    threads: int | None = setting(
        None,
        "request threads per worker (default: 4 with granian, taking turns; 8 with gunicorn)",
    )
    access_log: bool = setting(False, "log every request to standard output")
    workers: int = setting(1, "worker processes; more than 1 needs a sqlite or redis store")
    server: str = setting(
        "gunicorn",
        "the WSGI server: gunicorn (every answer in the provider's envelope, real dropped "
        "connections) or granian (several times the requests per second, for load tests; HTTP "
        "it cannot parse gets its own empty 400)",
        choices=("gunicorn", "granian"),
    )

    @property
    def request_threads(self) -> int:
        return DEFAULT_THREADS[self.server] if self.threads is None else self.threads


def check_safe(options: ServeOptions, config: Config) -> None:
    """Refuse a non-loopback address without an admin token (the control plane
    would otherwise be open to the network), and several workers on a store
    they cannot share."""
    if options.server not in SERVERS:
        raise RefusedToStart(f"--server must be one of {', '.join(SERVERS)}")
    if options.workers < 1:
        raise RefusedToStart("--workers must be at least 1")
    if config.store.startswith("sqlite:"):
        try:
            sqlite_location(config.store)
        except ValueError as exc:
            raise RefusedToStart(f"--store: {exc}") from None
    if options.request_threads < 1:
        raise RefusedToStart("--threads must be at least 1")
    if options.workers > 1 and not is_shared(config.store):
        raise RefusedToStart(
            f"--workers {options.workers} needs a store the workers can share: the in-memory "
            "store lives inside one process, so each worker would have its own accounts, "
            "tasks and rate limits. Use --store sqlite:PATH or --store redis://HOST:PORT/DB."
        )
    from mockserver.runtime import load_providers

    names = load_providers(config)
    unknown = sorted({a.provider for a in config.accounts or ()} - set(names))
    if unknown:
        raise RefusedToStart(f"account provider {unknown[0]!r} is not one of {', '.join(names)}")
    if not is_loopback(options.host) and not config.admin_token:
        raise RefusedToStart(
            f"refusing to listen on {options.host}: the control API under /__admin would be "
            "reachable from the network. Set --admin-token (or SEEDANCE_MOCK_ADMIN_TOKEN), "
            "or listen on 127.0.0.1."
        )


def bind(options: ServeOptions) -> socket.socket:
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((options.host, options.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def banner(base_url: str, config: Config, out: TextIO) -> None:
    """What a user needs to start calling: base URLs and keys."""
    from mockserver.runtime import initial_accounts, load_providers

    providers = load_providers(config)
    print(f"seedance-mock listening on {base_url}", file=out)
    for provider in providers.values():
        for line in provider.banner(base_url):
            print(line, file=out)
    print(f"  {'control API':<12} {base_url}/__admin", file=out)
    specs = {name: p.spec for name, p in providers.items()}
    for account in initial_accounts(config, specs):
        # Demo keys are printed so they can be used; keys from --accounts are
        # the user's own and are never written out.
        shown = ", ".join(account.keys) or "(no keys)"
        keys = shown if config.accounts is None else f"{len(account.keys)} key(s)"
        balance = _balance(specs[account.provider], account.credits)
        print(f"  {account.provider} account {account.id!r}: {balance}, keys: {keys}", file=out)
    print(
        f"  profile={config.profile} clock={config.clock} time_scale={config.time_scale:g} "
        f"store={config.store}",
        file=out,
    )
    out.flush()


_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d+)[ \t]*\r?$", re.I | re.M)
_CHUNKED = re.compile(rb"^transfer-encoding[ \t]*:.*chunked", re.I | re.M)


def _collect(conn: Any, cfg: Any) -> bool:
    """Read what the client has sent so far, without blocking; True once the
    request is whole (or the client closed, or it is too big to wait for), with
    every byte handed to the connection's parser."""
    pending: bytearray = getattr(conn, "collected", None) or bytearray()
    if conn.parser is not None:
        pending[:0] = conn.parser.unreader.take_buffered()
    # a pipelined request may be here already; most others come whole in one read:
    # stop as soon as it is whole, before a read that would block
    closed, whole = False, bool(pending) and _whole(pending)
    conn.sock.setblocking(False)
    try:
        while not whole and len(pending) < _COLLECT_LIMIT:
            chunk = conn.sock.recv(65536)
            if not chunk:
                closed = True
                break
            pending += chunk
            whole = _whole(pending)
    except (BlockingIOError, InterruptedError):
        pass
    except OSError:
        closed = True
    finally:
        conn.sock.setblocking(True)
    if not (closed or whole or len(pending) >= _COLLECT_LIMIT):
        conn.collected = pending
        return False
    conn.collected = None
    if conn.parser is None:
        conn.parser = gunicorn_http.get_parser(cfg, conn.sock, conn.client)
    conn.parser.unreader.unread(bytes(pending))
    return True


def _whole(data: bytes | bytearray) -> bool:
    """Whether ``data`` holds a complete request head and its body."""
    end = _HEAD_END.search(data)
    if end is None:
        return False
    head, body = data[: end.start()], len(data) - end.end()
    if _CHUNKED.search(head):  # the last chunk, or anything ending as a chunked body ends
        return body > 0 and (b"\n0\r\n\r\n" in data[end.end() - 2 :] or data.endswith(b"\r\n\r\n"))
    length = _LENGTH.search(head)
    return length is None or body >= int(length.group(1))


class _BoundedSocket(socket.socket):
    """A client socket whose blocking reads and writes give up after
    READ_TIMEOUT_SECONDS (gunicorn switches sockets to blocking mode, which
    would otherwise mean no timeout)."""

    __slots__ = ()  # the same layout as socket.socket, so a socket can become one

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(READ_TIMEOUT_SECONDS)
        else:
            super().setblocking(False)

    # A request served on the event loop's thread must not wait on its client with
    # the loop: a read or write that would block hands the loop over first.

    def recv(self, size: int, flags: int = 0) -> bytes:
        if self.gettimeout() != 0.0 and _serving_on_loop():
            with _nonblocking(self), contextlib.suppress(BlockingIOError, InterruptedError):
                return super().recv(size, flags)
            gate.before_waiting()
        return super().recv(size, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        if self.gettimeout() != 0.0 and _serving_on_loop():
            view = memoryview(data).cast("B")
            with _nonblocking(self), contextlib.suppress(BlockingIOError, InterruptedError):
                while view:
                    view = view[self.send(view, flags) :]
            if not view:
                return
            gate.before_waiting()
            data = view
        super().sendall(data, flags)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        gate.before_waiting()  # a file (a video) may take long to send
        return super().sendfile(file, offset, count)


@contextlib.contextmanager
def _nonblocking(sock: socket.socket) -> Iterator[None]:
    timeout = sock.gettimeout()
    socket.socket.settimeout(sock, 0.0)
    try:
        yield
    finally:
        socket.socket.settimeout(sock, timeout)


#: the target of the request line this thread parsed last (see _remember_targets)
_TARGETS = threading.local()


def _remember_targets() -> None:
    """Keep the path of each request line as gunicorn parses it, so a request
    whose headers then fail to parse (gunicorn drops the half-built request) is
    still answered in the envelope of the provider owning its path. Wraps one
    gunicorn method, in gunicorn's own worker processes only."""
    original = gunicorn_message.Request.parse_request_line
    if getattr(original, "remembers_targets", False):
        return

    def parse_request_line(request: Any, line_bytes: bytes) -> Any:
        _TARGETS.path = _path_of(line_bytes.decode("latin-1"))
        return original(request, line_bytes)

    parse_request_line.remembers_targets = True  # type: ignore[attr-defined]
    gunicorn_message.Request.parse_request_line = parse_request_line


class _Done:
    """A finished request, in the shape gunicorn's finish_request takes (a future's)."""

    __slots__ = ("_error", "_value")

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value, self._error = value, error

    def cancelled(self) -> bool:
        return False

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value


#: the signals gunicorn's workers handle (gunicorn.workers.base.Worker.SIGNALS)
_WORKER_SIGNALS = {
    getattr(signal, f"SIG{name}")
    for name in ("ABRT", "HUP", "QUIT", "INT", "TERM", "USR1", "USR2", "WINCH", "CHLD")
}
#: how long the main thread of a worker waits at most before it runs the handler
#: of a signal that reached another of its threads
_SIGNAL_CHECK_SECONDS = 0.5

#: this process's worker (gunicorn runs one per process)
_WORKER: list[EnvelopeWorker] = []


def _serving_on_loop() -> bool:
    return bool(_WORKER) and _WORKER[0].serving == threading.get_ident()


#: the head of Linux's struct tcp_info (include/uapi/linux/tcp.h): 8 bytes, then u32s
_TCP_INFO = struct.Struct("8B24I")
#: where tcp_info's tcpi_unacked is, for a listening socket the length of its accept queue
_ACCEPT_QUEUE = 12


def _accept_queue(listener: socket.socket) -> int:
    """How many connections wait to be accepted on ``listener`` (0 where the
    system does not say: Linux does, in tcp_info, as gunicorn's arbiter reads it)."""
    try:
        info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO.size)
        waiting: int = _TCP_INFO.unpack(info)[_ACCEPT_QUEUE]
    except (AttributeError, OSError, struct.error):
        return 0
    return waiting


def _more_to_take(held: int, waiting: int, workers: int) -> int:
    """How many of ``waiting`` connections a worker holding ``held`` takes now:
    up to its share of them all (each of ``workers`` does the same as it wakes)."""
    return max(0, -(-(held + waiting) // workers) - held)


class EnvelopeWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker, serving each request on the event loop's own
    thread, and answering requests it cannot even parse (a NUL in a header, a
    broken request line, bad chunking, an unknown transfer coding) in the
    owning provider's JSON envelope instead of gunicorn's HTML page.

    The loop reads what clients send without blocking and serves a request once
    it has arrived whole, right there, with no hand-off to a pool thread and
    back (which cost gthread more CPU than the simulator's own work, and the
    hand-offs' waits for the GIL made its tail). A request about to wait (an
    injected latency fault, a first render, webhooks, a client that does not
    read its answer) first hands the loop over (gate.before_waiting): another of
    the worker's --threads threads takes it, and the waiting request gives its
    connection back to the loop when done, as gthread's threads do. So a
    waiting request holds one of the --threads, never the worker; with all of
    them waiting, the loop waits for one, as gthread's requests wait for a
    thread.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the thread running the event loop now (None: the next free thread takes it)
        self.leader: int | None = None
        #: the thread serving a request on the loop's thread, until it hands the loop over
        self.serving: int | None = None
        #: the thread dispatching a socket event, whose request it may serve itself
        self._inline: int | None = None
        self._turns = threading.Condition()
        self._stopping = False  # a thread has taken the graceful stop on
        self._stopped = threading.Event()
        self._failure: BaseException | None = None  # what ended a thread, raised by run()
        self._lingering = 0  # connections closing on the pool (finish_request)

    def init_process(self) -> None:
        _remember_targets()
        _WORKER[:] = [self]
        gate.on_wait(self.hand_over)
        super().init_process()

    def run(self) -> None:
        self.poller.register(
            self.method_queue.fileno(), selectors.EVENT_READ, self.method_queue.run_callbacks
        )
        self.set_accept_enabled(True)
        for number in range(1, self.cfg.threads):
            threading.Thread(target=self._follow, name=f"request-{number}", daemon=True).start()
        self._follow()
        while not self._stopped.wait(_SIGNAL_CHECK_SECONDS):
            pass
        if self._failure is not None:
            raise self._failure

    def _follow(self) -> None:
        """One of the worker's --threads threads: it runs the event loop when no
        other does, and serves requests on it; once the worker stops, the thread
        leading then (or the first free one) stops it gracefully. An exception
        that escapes stops the worker too (as it ends gthread's loop), and
        run() raises it once the stop is done."""
        me = threading.get_ident()
        if threading.current_thread() is not threading.main_thread():
            # the worker's signals go to the main thread, whose handlers stop it
            signal.pthread_sigmask(signal.SIG_BLOCK, _WORKER_SIGNALS)
        try:
            self._lead_while_alive(me)
        except BaseException as exc:
            with self._turns:
                self._failure = self._failure or exc
                self.alive = False
                if self.leader == me:
                    self.leader = None
                self._turns.notify_all()
            main = threading.current_thread() is threading.main_thread()
            if main and isinstance(exc, SystemExit | KeyboardInterrupt):
                raise  # gunicorn's quit and abort: leave now, as gthread does
        if self._claim_stop(me):
            try:
                self._stop()
            finally:
                self._stopped.set()

    def _lead_while_alive(self, me: int) -> None:
        while True:
            with self._turns:
                while self.leader is not None and self.alive:
                    # a signal may reach another thread of the process: Python runs
                    # its handler only once the main thread runs again
                    self._turns.wait(_SIGNAL_CHECK_SECONDS)
                if not self.alive:
                    self._turns.notify_all()  # the next waiter may be the one to stop it
                    return
                self.leader = me
            while self.alive and self.leader == me:
                self._turn(me)

    def _claim_stop(self, me: int) -> bool:
        with self._turns:
            if self._stopping or self.leader not in (None, me):
                return False
            self._stopping = True
            self.leader = me
            return True

    def hand_over(self) -> None:
        """The request served on the loop's thread is about to wait: a free thread
        takes the loop (when all --threads are busy, the loop waits for one, as
        gthread's requests wait for a thread). A no-op anywhere else."""
        me = threading.get_ident()
        if self.serving != me or self.leader != me:
            return
        self.serving = None
        with self._turns:
            self.leader = None
            self._turns.notify()

    def _turn(self, me: int) -> None:
        """One turn of gthread's loop, stopping as soon as this thread lost it."""
        self.notify()
        can_accept = self.nr_conns < self.worker_connections
        if can_accept != self._accepting:
            self.set_accept_enabled(can_accept)
        try:
            events = self.poller.select(1.0)
        except InterruptedError:
            events = []
        for key, _ in events:
            callback = key.data
            self._inline = me if callback != self.method_queue.run_callbacks else None
            try:
                callback(key.fileobj)
            finally:
                if self._inline == me:
                    self._inline = None
            if self.leader != me:
                return
        if not self.is_parent_alive():
            self.alive = False
        self.murder_keepalived()
        self.murder_pending()

    def _stop(self) -> None:
        """gthread's graceful stop: finish what is in flight, on the pool."""
        self.set_accept_enabled(False)
        self._cap_keepalive(time.monotonic() + STOP_KEEPALIVE_LINGER)
        graceful_timeout = time.monotonic() + self.cfg.graceful_timeout
        while self.nr_conns > 0 and time.monotonic() <= graceful_timeout:
            self.notify()
            timeout = 1.0
            if self.keepalived_conns:
                timeout = min(timeout, max(self.keepalived_conns[0].timeout - time.monotonic(), 0))
            self.wait_for_and_dispatch_events(timeout=timeout)
            self.murder_keepalived()
            self.murder_pending()
        self.murder_keepalived(force=True)
        self.tpool.shutdown(wait=False)
        self.poller.close()
        self.method_queue.close()
        for listener in self.sockets:
            listener.close()

    def accept(self, listener: socket.socket) -> None:
        """gthread's, then this worker's share of the connections already
        waiting: their requests are served from the next turn on. gthread takes
        one connection per turn, and a turn serves every request that came, so
        32 clients connecting at once waited up to 32 turns for their first
        answer (0.1-1 s: the tail at p99 at 32 connections). A worker alone takes
        them all. One of several takes connections until it holds its share of
        those it holds and those waiting, so the workers, woken by the same
        listener, share them out: taking all of them, or a share of those waiting
        only at each turn, left one worker 30 of 32 connections."""
        super().accept(listener)
        more = self.worker_connections
        if self.cfg.workers > 1:
            more = _more_to_take(self.nr_conns, _accept_queue(listener), self.cfg.workers)
        while more > 0 and self.alive and self.leader == threading.get_ident():
            if self.nr_conns >= self.worker_connections:
                return
            try:
                client, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            more -= 1
            self.nr_conns += 1
            conn = TConn(self.cfg, client, address, listener.getsockname())
            self.finish_request(conn, _Done(_DEFER))  # on the poller until its request comes

    def enqueue_req(self, conn: Any) -> None:
        """Serve ``conn`` here when the loop is dispatching a socket event and the
        worker is not stopping; else on the pool, as gthread does."""
        me = threading.get_ident()
        if not (self._inline == me and self.alive and self.leader == me):
            super().enqueue_req(conn)
            return
        self._inline = None  # a second request from the same event goes to the pool
        self.serving = me
        try:
            done = _Done(self.handle(conn))
        except Exception as exc:  # gthread's futures carry it to finish_request
            done = _Done(error=exc)
        except BaseException:  # a quit or an abort: the worker ends
            self.nr_conns -= 1
            conn.close()
            raise
        finally:
            if self.serving == me:
                self.serving = None
        if self.leader == me:
            self.finish_request(conn, done)
        else:  # it waited: the loop went on elsewhere, give it the connection back
            self.method_queue.defer(self.finish_request, conn, done)

    def finish_request(self, conn: Any, fs: Any) -> None:
        """gthread's, except that a connection closing after its answer lingers
        for its client to close too (up to 2 s, so the answer is not cut by a
        reset) on a pool thread, at most --threads at a time (beyond, it closes
        at once): on the loop's, clients that asked to close but never do held
        up everyone 2 s each. It stays counted until closed."""
        try:
            closing = not fs.cancelled() and not fs.result()
        except BaseException:  # gthread closes it at once
            self.nr_conns -= 1
            conn.close()
            return
        if not closing or not self.alive:
            super().finish_request(conn, fs)
            return
        if self._lingering < self.cfg.threads:
            with contextlib.suppress(RuntimeError):  # a pool already shut down
                self.tpool.submit(self._close_lingering, conn)
                self._lingering += 1
                return
        self.nr_conns -= 1
        conn.close()

    def _close_lingering(self, conn: Any) -> None:
        try:
            conn.close(graceful=True)
        finally:
            self.method_queue.defer(self._closed_lingering)

    def _closed_lingering(self) -> None:
        self._lingering -= 1
        self.nr_conns -= 1

    def handle(self, conn: Any) -> Any:
        """Serve ``conn`` once its request has arrived whole; until then hand it
        back to the event loop (gunicorn's defer), so no thread waits on a
        client. gunicorn closes a deferred connection silent for its keepalive."""
        if type(conn.sock) is socket.socket:
            conn.sock.__class__ = _BoundedSocket
            with contextlib.suppress(OSError):  # not TCP (a Unix socket)
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not _collect(conn, self.cfg):
            return _DEFER
        conn.data_ready = True
        return super().handle(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        _TARGETS.path = ""
        try:
            return super().handle_request(req, conn)
        finally:
            req.answered = True  # an error after this (draining the body) sends nothing more

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        status = _status_for(exc)
        if status >= 500:
            self.log.exception("error handling request")
        else:
            self.log.warning("invalid request from %s: %s", (addr or ("",))[0], exc)
        if getattr(req, "answered", False):
            return  # the answer went out; gunicorn closes the connection
        path = _path_of(req or getattr(exc, "req", None)) or getattr(_TARGETS, "path", "")
        _TARGETS.path = ""
        headers, body = _envelope(self.wsgi, path, status, str(exc) or "Bad request.")
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers]
        lines += [f"Content-Length: {len(body)}", "", ""]
        with contextlib.suppress(OSError):
            write_nonblock(client, "\r\n".join(lines).encode("latin-1") + body)


def _path_of(req: Any) -> str:
    """The request path, from a half-read request or a raw request line (which
    gunicorn hangs on its parse errors); "" when unknown."""
    if isinstance(req, str):  # the request line itself: "GET /v1/status?x HTTP/1.1"
        target = [*req.split(" "), "", ""][1]
        return target.split("?", 1)[0]
    return str(getattr(req, "path", "") or "")


def _status_for(exc: BaseException) -> int:
    """Every request gunicorn cannot parse is the client's fault: 400, the status
    every provider documents for a request it cannot take (gunicorn itself would
    answer 414, 431 or 501, which no provider documents)."""
    if isinstance(exc, http_errors.ParseException | http_errors.NoMoreData):
        return 400
    return 500


def _envelope(
    app: Flask, path: str, status: int, message: str
) -> tuple[list[tuple[str, str]], bytes]:
    """The error the provider owning ``path`` would send (seedance2ai's shape
    elsewhere, which is also the control API's): its headers (Content-Type, and
    a provider's own, such as Ark's X-Request-Id) and its body."""
    from mockserver.app import render_outside_routes

    with app.test_request_context(path or "/"):
        error = InternalError(message) if status >= 500 else InvalidRequest(message)
        response: Response = render_outside_routes(app.extensions[EXTENSION], error)
        kept = [
            (name, value)
            for name, value in response.headers.items()
            if name.lower() not in ("content-length", "connection")
        ]
        return kept, bytes(response.get_data())


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, factory: Callable[[], Flask], settings: dict[str, Any]) -> None:
        self._factory = factory
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._settings.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._factory()


def serve(options: ServeOptions, config: Config, out: TextIO = sys.stdout) -> None:
    """Serve every provider until SIGINT or SIGTERM."""
    check_safe(options, config)
    if options.server == "granian":
        _serve_granian(options, config, out)
    else:
        _serve_gunicorn(options, config, out)


def _balance(spec: ProviderSpec, amount: int) -> str:
    """A balance in the provider's unit: credits, or (profile.json ``billing.unit``
    "micro") millionths of the platform's currency, as Ark bills."""
    if spec.profile_json.get("billing", {}).get("unit") == "micro":
        return f"{amount} micro-units ({amount / 1e6:,.2f} of the platform's currency)"
    return f"{amount} credits"


def _base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _serve_gunicorn(options: ServeOptions, config: Config, out: TextIO) -> None:

    sock = bind(options)
    host, port = sock.getsockname()[:2]
    banner(_base_url(host, port), config, out)
    settings = {
        "bind": [f"fd://{sock.fileno()}"],
        "workers": options.workers,
        "worker_class": "mockserver.serve.EnvelopeWorker",
        "threads": options.request_threads,
        "accesslog": "-" if options.access_log else None,
        "errorlog": "-",
        "loglevel": "warning",
        "graceful_timeout": 5,
        # how long a connection may stay silent, between requests or inside one
        "keepalive": 5,
        # A worker's heartbeat is its event loop, which pauses while every request
        # thread waits (serve.EnvelopeWorker): outlast the longest latency fault.
        "timeout": 660,
        # Generous server ceilings (0 = gunicorn's 1 MB maximum line): the app
        # refuses anything over its own 8 KB limits in the provider's envelope.
        "limit_request_line": 0,
        "limit_request_field_size": 65536,
        "proc_name": "seedance-mock",
    }
    os.environ.pop("GUNICORN_CMD_ARGS", None)  # our flags, not the environment's, configure it
    threads = options.request_threads if config.store.startswith("sqlite:") else 1
    _Gunicorn(lambda: build_app(config, threads), settings).run()


def build_app(config: Config, threads: int = 1) -> Flask:
    """The app of one worker (a module-level function: granian may pickle it):
    with several request threads, behind the runtime's gate (see gate.py).

    granian's threads always take turns. gunicorn's take turns on an SQLite store
    only: a step holds the writers' lock all worker processes share, and a step
    whose thread lost the GIL to a sibling kept every other process waiting for
    it. One thread in the app at a time served 6-25 % more GETs and up to 20 %
    more POSTs on two workers with a lower p99 (A/B runs of wrk at 32
    connections, 2026-12-02). On Redis it cost POSTs a fifth (a step waits for
    Redis with the gate closed), and on the memory store it changed nothing.
    """
    from mockserver.app import create_app

    app = create_app(config)
    # What start-up built (specs, validators, the app) lives as long as the worker:
    # out of the collector's sight, a full collection scans only what requests
    # left (the memory store's rows are tuples it does not track; in-process,
    # 30,000 submits: the longest pause 134 -> 48 ms, collection time per request
    # halved, and with untracked rows a full collection at 10,000 tasks 6 -> 1 ms)
    gc.freeze()
    if threads > 1:
        app.wsgi_app = app.extensions[EXTENSION].gate.serialize(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _serve_granian(options: ServeOptions, config: Config, out: TextIO) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    port = options.port
    if port == 0:  # granian binds by itself: take a free port now (another process could
        with bind(options) as probe:  # grab it in between; the start then fails loudly)
            port = probe.getsockname()[1]
    server = Server(
        "mockserver.serve:build_app",  # shown in granian's logs; the loader below builds it
        address=options.host,
        port=port,
        interface=Interfaces.WSGI,
        workers=options.workers,
        blocking_threads=options.request_threads,
        runtime_threads=1,
        http=HTTPModes.http1,
        websockets=False,
        log_level=LogLevels.warning,
        log_access=options.access_log,
    )
    banner(_base_url(options.host, port), config, out)
    loader = functools.partial(build_app, config, options.request_threads)
    server.serve(target_loader=loader, wrap_loader=False)
