"""A campaign.* event as the receiver gets it: ``{event, timestamp, data}`` (seeds/001), its
``webhook-id`` and its place in the call.

The id is derived from the call and the event name, so a call's event has one id however many
times it is written (a consumer and a reconcile that both saw an end), retried or replayed:
receivers dedupe on it.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from dialer.timefmt import iso_ms
from dialer.webhooks.endpoints import EVENT_NAMES

#: The event ``dialer webhooks test`` sends: not a call's, so no CRM mistakes it for one.
TEST_EVENT = "webhook.test"
#: Position of each event within its call: the order of delivery per call and endpoint.
SEQUENCE = {name: n for n, name in enumerate(EVENT_NAMES)}
_IDS = uuid.UUID("6f1d7c3e-2b9a-5c41-8e0d-4a7b9f3c2d10")  # the namespace of event ids


def event_id(call_uuid: uuid.UUID | str, event: str) -> str:
    """The ``webhook-id`` of ``event`` of the call: ``msg_`` and 32 hex digits."""
    return "msg_" + uuid.uuid5(_IDS, f"{call_uuid}/{event}").hex


def probe_id() -> str:
    """The id of a `dialer webhooks test` event: new each time (it is no call's)."""
    return "msg_" + uuid.uuid4().hex


def envelope(event: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, "timestamp": iso_ms(at), "data": data}


def occurred_at(event: str, detail: dict[str, Any], now: datetime) -> datetime:
    """When the event happened, as far as the record says: the call's start, answer or end
    for those three, else the moment it was recorded (a stage's own time is not a column)."""
    timing = detail.get("timing") or {}
    key = {"campaign.call_initiated": "startedAt", "campaign.answered": "answeredAt",
           "campaign.completed": "endedAt"}.get(event)  # fmt: skip
    value = timing.get(key) if key else None
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return now


def body_of(payload: dict[str, Any]) -> str:
    """The bytes sent and signed: compact JSON, UTF-8 kept as it is."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
