"""What every long-running process does the same way: its metrics endpoint and its
"only one of us at a time" locks."""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import uuid
from collections.abc import Iterator

from prometheus_client import start_http_server

from dialer.config import Settings

log = logging.getLogger("dialer.runtime")

#: How many ports above DIALER_METRICS_PORT a process tries when the port is taken (two
#: workers on one host with the same settings each get their own).
METRICS_PORT_SPAN = 20

_started: dict[str, int] = {}
_local_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


#: Allocations between two young-generation collections in long-running processes.
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """For a long-running process: what was loaded at start-up is frozen out of every
    collection, and the young generation is collected every 50,000 allocations instead of
    700. Each event or task allocates thousands of short-lived objects (one parsed event is
    ~150 headers), so the default collected hundreds of times a second, which showed as a
    few per cent of the consumer's and the workers' CPU. Nothing here forms cycles per call,
    so memory stays flat (the stack tests watch the processes for hours of calls)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def start_metrics_server(settings: Settings, role: str, port: int | None = None) -> int | None:
    """Serve /metrics on ``port`` (or ``DIALER_METRICS_PORT``), the next free one if taken.
    Returns the port, or None when no port is configured. Once per process."""
    port = settings.metrics_port if port is None else port
    if port is None:
        return None
    with _guard:
        if role in _started:
            return _started[role]
        for candidate in [port] if port == 0 else range(port, port + METRICS_PORT_SPAN):
            try:
                server, _thread = start_http_server(candidate)
            except OSError:
                continue
            bound = int(server.server_address[1])
            _started[role] = bound
            log.info("metrics role=%s port=%d", role, bound)
            return bound
    log.error("metrics role=%s: no free port in %d..%d", role, port, port + METRICS_PORT_SPAN)
    return None


@contextlib.contextmanager
def tick_lock(settings: Settings, name: str, ttl: float) -> Iterator[bool]:
    """Yields True while this process holds the lock ``name``; False when someone else does.

    Redis (``SET NX PX``) when configured, so ticks on different hosts never overlap; a
    process lock otherwise. The Redis lock expires after ``ttl`` seconds should its holder
    die, and is released only by its holder (compare-and-delete).
    """
    if settings.redis_url is None:
        with _guard:
            lock = _local_locks.setdefault(name, threading.Lock())
        acquired = lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()
        return
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    key, token = f"dialer:lock:{name}", uuid.uuid4().hex
    acquired = bool(client.set(key, token, nx=True, px=int(ttl * 1000)))
    try:
        yield acquired
    finally:
        if acquired:
            client.eval(_RELEASE, 1, key, token)
        client.close()


_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
