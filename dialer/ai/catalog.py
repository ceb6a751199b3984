"""The tools the dialer itself carries out, and the JSON schemas of their arguments.

A customer tool may not take one of these names (the campaign model refuses it): a name means
one thing to the agent, and these act on the call itself.
"""

from __future__ import annotations

from typing import Any

TRANSFER_TO_HUMAN = "transfer_to_human"
END_CALL = "end_call"
SCHEDULE_CALLBACK = "schedule_callback"
OPT_OUT = "opt_out"
UPDATE_LEAD_STATUS = "update_lead_status"

LEAD_STATUSES = ("hot", "warm", "cold")
#: how far ahead a callback may be scheduled
MAX_CALLBACK_DAYS = 30

_TEXT = {"type": "string", "maxLength": 2000}

SCHEMAS: dict[str, dict[str, Any]] = {
    TRANSFER_TO_HUMAN: {
        "type": "object",
        "properties": {"reason": _TEXT, "department": {"type": "string", "maxLength": 200}},
    },
    END_CALL: {
        "type": "object",
        "properties": {"reason": {"type": "string", "maxLength": 200}, "summary": _TEXT},
    },
    SCHEDULE_CALLBACK: {
        "type": "object",
        "properties": {
            "at": {"type": "string", "minLength": 10, "maxLength": 40},
            "in_minutes": {"type": "integer", "minimum": 1, "maximum": MAX_CALLBACK_DAYS * 1440},
            "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
            "notes": _TEXT,
        },
        "oneOf": [{"required": ["at"]}, {"required": ["in_minutes"]}],
    },
    OPT_OUT: {"type": "object", "properties": {"reason": _TEXT}},
    UPDATE_LEAD_STATUS: {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": list(LEAD_STATUSES)},
            # the name the seeds' CRM example uses
            "lead_status": {"type": "string", "enum": list(LEAD_STATUSES)},
            "notes": _TEXT,
        },
        "oneOf": [{"required": ["status"]}, {"required": ["lead_status"]}],
    },
}

OWNED_TOOLS = frozenset(SCHEMAS)
