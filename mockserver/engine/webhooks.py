"""Webhook deliveries: scheduled on the clock, sent off the request path,
retried with exponential backoff, every attempt recorded.

Only loopback addresses and allow-listed hosts are contacted; any other
destination is recorded as "not delivered: host not allowed". Redirects are
never followed. Deliveries run on a small thread pool so a receiver that hangs
holds up only its own delivery.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import logging
import posixpath
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from mockserver.engine.clock import Clock
from mockserver.engine.model import Attempt, Delivery, Task
from mockserver.engine.state import State
from mockserver.spec.profile import WebhookPolicy

log = logging.getLogger("seedance_mock.webhooks")

USER_AGENT = "seedance-mock-webhook/1"
BLOCKED = "not delivered: host not allowed"
OWN_CONTROL_PLANE = "not delivered: the simulator's own control plane"
#: paths under which the simulator answers control calls (and the dashboard)
CONTROL_PREFIX = "/__admin"


def targets_control_plane(url: str) -> bool:
    """Whether ``url`` could reach the simulator's control plane on any host,
    however its path is spelt: percent-encoded (even several times), with dot
    segments, doubled slashes, or another letter case. Such a delivery is never
    sent: a callback must not reset or steer the simulator it came from."""
    path = urlsplit(url).path or "/"
    for _ in range(4):
        normal = posixpath.normpath("/" + path.replace("\\", "/")).lstrip("/")
        if ("/" + normal).lower().startswith(CONTROL_PREFIX):
            return True
        decoded = unquote(path)
        if decoded == path:
            return False
        path = decoded
    return True  # encoded more deeply than any client would: refuse


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HostPolicy:
    """Which callback hosts may be contacted: loopback always, plus ``allowed``."""

    allowed: tuple[str, ...] = ()

    def permits(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        if "*" in self.allowed or host in {h.lower() for h in self.allowed}:
            return True
        return is_loopback(host)


@dataclass(frozen=True)
class PostResult:
    status: int | None
    error: str | None


def _abort(connection: http.client.HTTPConnection, fired: threading.Event) -> None:
    fired.set()
    if connection.sock is not None:
        with contextlib.suppress(OSError):
            connection.sock.shutdown(socket.SHUT_RDWR)


def post_json(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> PostResult:
    """POST ``body`` with the standard library (never through a test's HTTP mock),
    without following redirects. ``timeout`` bounds the whole exchange, so a
    receiver that answers a byte at a time cannot hold a delivery open."""
    parts = urlsplit(url)
    factory = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    connection = factory(parts.hostname or "", parts.port, timeout=timeout)
    fired = threading.Event()
    deadline = threading.Timer(timeout, _abort, args=(connection, fired))
    deadline.start()
    try:
        connection.request("POST", path, body=body, headers=dict(headers))
        response = connection.getresponse()
        response.read(65536)
        if fired.is_set():
            raise TimeoutError
        return PostResult(response.status, None)
    except (OSError, http.client.HTTPException) as exc:
        if fired.is_set() or isinstance(exc, TimeoutError):
            return PostResult(None, f"timeout: no complete answer within {timeout:g} s")
        return PostResult(None, f"{type(exc).__name__}: {exc}".rstrip(": "))
    finally:
        deadline.cancel()
        connection.close()


class WebhookDispatcher:
    """Schedules a delivery when a task with a callback ends, and sends due ones."""

    def __init__(
        self,
        store: State,
        *,
        clock: Clock,
        policies: Mapping[str, WebhookPolicy | None],
        payload: Callable[[Task], Any],
        hosts: HostPolicy,
        rng: random.Random,
        duplicate_probability: float = 0.0,
        reorder_jitter_seconds: float = 0.0,
        sender: Callable[[str, bytes, Mapping[str, str], float], PostResult] = post_json,
        workers: int = 8,
    ) -> None:
        self._store = store
        self._clock = clock
        self._policies = policies
        self._payload = payload
        self._hosts = hosts
        self._rng = rng
        self._duplicate = duplicate_probability
        self._jitter = reorder_jitter_seconds
        self._send = sender
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook")
        self._lock = threading.Lock()

    def schedule(self, task: Task) -> None:
        """Queue the notification of a task's change (if it has a callback and
        its provider notifies this status), with the body as it is now."""
        policy = self._policies.get(task.provider)
        if not task.callback_url or policy is None or task.status not in policy.statuses:
            return
        with self._lock:
            copies = 2 if self._rng.random() < self._duplicate else 1
            delays = [self._rng.uniform(0, self._jitter) for _ in range(copies)]
        ident = "whd_" + secrets.token_hex(8)
        body = json.dumps(self._payload(task), ensure_ascii=False)
        attempts = policy.max_attempts if task.status in policy.retried else 1
        for index, delay in enumerate(delays):
            self._store.add_delivery(
                Delivery(
                    id=ident if index == 0 else f"{ident}-dup{index}",
                    task_id=task.id,
                    provider=task.provider,
                    account_id=task.account_id,
                    url=task.callback_url,
                    due_at=task.updated_at + delay,
                    created_at=task.updated_at,
                    duplicate=index > 0,
                    status=task.status,
                    body=body,
                    max_attempts=attempts,
                )
            )

    def deliver_due(self, now: float, *, wait: bool = True) -> int:
        """Send every delivery due at ``now``; return how many attempts started.

        ``wait``: return only when they are done, and send the retries that fall
        due meanwhile too (what advancing the clock promises). The background tick
        does not wait, so a receiver that hangs holds up only its own delivery:
        claimed deliveries are "sending" and are never claimed twice.
        """
        attempts = 0
        while True:
            batch = self._store.claim_deliveries(now, limit=64)
            if not batch:
                return attempts
            attempts += len(batch)
            try:
                futures = [self._pool.submit(self._attempt, d) for d in batch]
            except RuntimeError:  # the pool was shut down (a reset): nothing more to send
                return attempts
            if not wait:
                continue
            for future in futures:
                try:
                    future.result()
                except (CancelledError, Exception):  # a delivery never fails the caller
                    log.exception("webhook delivery did not finish")

    def _attempt(self, delivery: Delivery) -> None:
        try:
            self._try(delivery)
        except Exception as exc:  # a delivery must end recorded, never stuck in "sending"
            log.exception("webhook delivery %s failed unexpectedly", delivery.id)
            attempt = Attempt(
                len(delivery.attempts) + 1, delivery.due_at, "failed", error=repr(exc)
            )
            self._store.record_attempt(delivery.id, attempt, "failed", None)

    def _try(self, delivery: Delivery) -> None:
        policy = self._policies[delivery.provider]
        assert policy is not None
        number = len(delivery.attempts) + 1
        refusal = (
            OWN_CONTROL_PLANE
            if targets_control_plane(delivery.url)
            else None
            if self._hosts.permits(delivery.url)
            else BLOCKED
        )
        if refusal is not None:
            attempt = Attempt(number, delivery.due_at, refusal)
            self._store.record_attempt(delivery.id, attempt, "blocked", None)
            return
        body = delivery.body.encode()
        if not body:
            task = self._store.get_task(delivery.task_id)
            if task is None:
                self._store.record_attempt(
                    delivery.id,
                    Attempt(number, delivery.due_at, "failed", error="task expired"),
                    "failed",
                    None,
                )
                return
            body = json.dumps(self._payload(task), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Seedance-Mock-Delivery": delivery.id,
            "X-Seedance-Mock-Attempt": str(number),
        }
        started = time.perf_counter()
        result = self._send(delivery.url, body, headers, policy.timeout_seconds)
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        ok = result.status is not None and 200 <= result.status < 300
        error = result.error or (None if ok else f"HTTP {result.status}")
        attempt = Attempt(
            number, delivery.due_at, "delivered" if ok else "failed", result.status, error, elapsed
        )
        retry_at = None
        if not ok and number < (delivery.max_attempts or policy.max_attempts):
            retry_at = delivery.created_at + policy.delay_before(number + 1)
            retry_at = max(retry_at, delivery.due_at)
        state = "delivered" if ok else ("pending" if retry_at is not None else "failed")
        self._store.record_attempt(delivery.id, attempt, state, retry_at)

    def deliveries(
        self, provider: str | None = None, account_id: str | None = None, task_id: str | None = None
    ) -> list[Delivery]:
        """Every delivery kept (filtered), with its attempts."""
        return self._store.deliveries(provider, account_id, task_id)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
