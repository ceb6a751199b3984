"""Polling helper for tests that wait on greenlets."""

from __future__ import annotations

import time
from collections.abc import Callable

import gevent


def wait_until(predicate: Callable[[], object], timeout: float = 3.0) -> bool:
    """True as soon as ``predicate()`` is truthy; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        gevent.sleep(0.005)
    return False
