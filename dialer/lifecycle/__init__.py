"""The call lifecycle as a pure function: (record, event) → (record, webhook event names).

See :mod:`dialer.lifecycle.machine`.
"""

from __future__ import annotations

from dialer.lifecycle.machine import (
    ANSWERED,
    CALL_INITIATED,
    COMPLETED,
    CallRecord,
    apply,
    apply_all,
    event_headers,
)

__all__ = [
    "ANSWERED",
    "CALL_INITIATED",
    "COMPLETED",
    "CallRecord",
    "apply",
    "apply_all",
    "event_headers",
]
