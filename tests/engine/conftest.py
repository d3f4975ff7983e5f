"""Fixtures of the engine tests: every store backend (see backends.py)."""

from tests.engine.backends import (
    backend,
    backend_url,
    hammered,
    redis_server,
    store,
    worker_processes,
)

__all__ = ["backend", "backend_url", "hammered", "redis_server", "store", "worker_processes"]
