"""Serving a simulator with gunicorn (a production WSGI server).

The listening socket is bound here, before gunicorn starts, so ``--port 0``
works and the banner shows the real port; gunicorn takes the socket over as
``fd://N``. The app is built in the worker, so its clock thread runs there.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from flask import Flask
from gunicorn.app.base import BaseApplication

from mockserver.config import Config
from mockserver.engine.store import is_shared


class RefusedToStart(Exception):
    """The settings would make the simulator unsafe or impossible to serve."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = 16
    access_log: bool = False
    workers: int = 1


def check_safe(options: ServeOptions, config: Config) -> None:
    """Refuse a non-loopback address without an admin token (the control plane
    would otherwise be open to the network), and several workers on a store
    they cannot share."""
    if options.workers < 1:
        raise RefusedToStart("--workers must be at least 1")
    if options.workers > 1 and not is_shared(config.store):
        raise RefusedToStart(
            f"--workers {options.workers} needs a store the workers can share: the in-memory "
            "store lives inside one process, so each worker would have its own accounts, "
            "tasks and rate limits. Use --store sqlite:PATH or --store redis://HOST:PORT/DB."
        )
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
    print(f"seedance-mock listening on {base_url}", file=out)
    print(
        f"  seedance2ai  {base_url}/api/v1   (POST /video/seedance2, GET /tasks/{{id}})", file=out
    )
    print(f"  seedanceapi  {base_url}/v1       (POST /generate, GET /status?task_id=)", file=out)
    print(f"  control API  {base_url}/__admin", file=out)
    for account in config.initial_accounts():
        keys = ", ".join(account.keys) or "(no keys)"
        print(
            f"  {account.provider} account {account.id!r}: {account.credits} credits, keys: {keys}",
            file=out,
        )
    print(
        f"  profile={config.profile} clock={config.clock} time_scale={config.time_scale:g} "
        f"store={config.store}",
        file=out,
    )
    out.flush()


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
    """Serve both providers until SIGINT or SIGTERM."""
    from mockserver.app import create_app

    check_safe(options, config)
    sock = bind(options)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    banner(f"http://{shown}:{port}", config, out)
    settings = {
        "bind": [f"fd://{sock.fileno()}"],
        "workers": options.workers,
        "worker_class": "gthread",
        "threads": options.threads,
        "accesslog": "-" if options.access_log else None,
        "errorlog": "-",
        "loglevel": "warning",
        "graceful_timeout": 5,
        "timeout": 120,
        # Generous server ceilings (0 = gunicorn's 1 MB maximum line): the app
        # refuses anything over its own 8 KB limits in the provider's envelope.
        "limit_request_line": 0,
        "limit_request_field_size": 65536,
        "proc_name": "seedance-mock",
    }
    os.environ.pop("GUNICORN_CMD_ARGS", None)  # our flags, not the environment's, configure it
    _Gunicorn(lambda: create_app(config), settings).run()
