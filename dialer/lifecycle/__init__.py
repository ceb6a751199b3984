"""The call lifecycle as a pure function: (record, event) → (record, webhook event names).

See :mod:`dialer.lifecycle.machine`; the call flow's part is :mod:`dialer.lifecycle.flow`.
"""

from __future__ import annotations

from dialer.lifecycle.flow import (
    ABANDON_SECONDS,
    AGENT_ANSWERED,
    AI_FIELDS,
    AMD_RESULT,
    FLOW_COLUMNS,
    FLOW_EVENTS,
    IVR_COMPLETED,
    QUEUE_JOINED,
    STAGES,
    Flow,
)
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
    "ABANDON_SECONDS",
    "AGENT_ANSWERED",
    "AI_FIELDS",
    "AMD_RESULT",
    "ANSWERED",
    "CALL_INITIATED",
    "COMPLETED",
    "FLOW_COLUMNS",
    "FLOW_EVENTS",
    "IVR_COMPLETED",
    "QUEUE_JOINED",
    "STAGES",
    "CallRecord",
    "Flow",
    "apply",
    "apply_all",
    "event_headers",
]
