"""The JSON Schema of each campaign.* webhook payload, as shipped in ``dialer/schemas/``.

Each is the envelope ``{event, timestamp, data}`` with ``data`` the call detail
(``call_detail.schema.json``) and what the event promises on top of it: ``campaign.answered``
has an answer time, ``campaign.amd_result`` an AMD result, … ``campaign.completed`` an outcome,
an end time and a final status. The files are generated from this module
(``python -m dialer.webhooks.schemas``); a test holds them equal.
"""

from __future__ import annotations

import copy
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from dialer.call_detail import DETAIL_SCHEMA
from dialer.webhooks.endpoints import EVENT_NAMES

_SET = {"not": {"type": "null"}}


def _section(name: str, **fields: Any) -> dict[str, Any]:
    return {"properties": {name: {"properties": fields, "required": sorted(fields)}}}


#: What each event's data holds for sure, beyond the detail's own schema.
PROMISES: dict[str, dict[str, Any]] = {
    "campaign.call_initiated": {},
    "campaign.answered": _section("timing", answeredAt=_SET),
    "campaign.amd_result": _section("amd", enabled={"const": True}, result=_SET),
    "campaign.ivr_completed": _section("ivr", result=_SET),
    "campaign.queue_joined": _section("queue", entered={"const": True}, queueName=_SET),
    "campaign.agent_answered": _section("queue", answeredBy=_SET),
    "campaign.completed": {
        "properties": {
            "outcome": _SET,
            "status": {"enum": ["completed", "failed"]},
            "timing": {"properties": {"endedAt": _SET}, "required": ["endedAt"]},
        },
        "required": ["outcome", "status", "timing"],
    },
}


def event_schema(event: str) -> dict[str, Any]:
    detail = copy.deepcopy(DETAIL_SCHEMA)
    defs = detail.pop("$defs", {})
    for key in ("$schema", "$id", "title"):
        detail.pop(key, None)
    data = {"allOf": [detail, PROMISES[event]]} if PROMISES[event] else detail
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://dialer.example/schemas/{event}.schema.json",
        "title": f"{event} webhook payload",
        "type": "object",
        "additionalProperties": False,
        "required": ["event", "timestamp", "data"],
        "$defs": defs,
        "properties": {
            "event": {"const": event},
            "timestamp": {"type": "string", "pattern": defs["time"]["pattern"]},
            "data": data,
        },
    }


def shipped_schema(event: str) -> dict[str, Any]:
    """The schema file of ``event`` as the package ships it."""
    text = (resources.files("dialer") / "schemas" / f"{event}.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def render(event: str) -> str:
    return json.dumps(event_schema(event), indent=2) + "\n"


def main(argv: list[str]) -> int:
    """Write the schema files into the directory given (default: the package's)."""
    target = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "schemas"
    for event in EVENT_NAMES:
        (target / f"{event}.schema.json").write_text(render(event), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
