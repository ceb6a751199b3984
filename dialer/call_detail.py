"""One call as the customer-facing contract shows it (DESIGN §5, seeds/001 ``getCampaignDetail``):
the ``data`` object of ``campaign.completed``, built from the attempt row.

Library first: ``dialer calls show`` prints it, and the webhooks and the HTTP API carry the same
object. Field names are the contract's (camelCase); times are UTC ISO 8601 with milliseconds.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.campaigns.model import CampaignConfig
from dialer.db.models import CallAttempt, Campaign
from dialer.flow.variables import render_dial
from dialer.recordings import recording_url

_ATTEMPTS = cast(sa.Table, CallAttempt.__table__)
_CAMPAIGNS = cast(sa.Table, Campaign.__table__)


#: The JSON Schema of the object (shipped: receivers and the tests check payloads against it).
DETAIL_SCHEMA: dict[str, Any] = json.loads(
    (resources.files("dialer") / "schemas" / "call_detail.schema.json").read_text("utf-8")
)


class CallNotFoundError(LookupError):
    """No call has this uuid (the message says which)."""


@dataclass(frozen=True)
class _Context:
    """What the row alone does not say: its campaign's name, config and company."""

    name: str | None
    config: CampaignConfig | None
    company_id: str | None


def call_detail(
    engine: Engine, call_uuid: str | uuid.UUID, *, recordings_url: str = ""
) -> dict[str, Any]:
    """The ``data`` of ``campaign.completed`` for the call ``call_uuid`` (ended or not: a live
    call has what is known so far). Raises :class:`CallNotFoundError`."""
    try:
        key = call_uuid if isinstance(call_uuid, uuid.UUID) else uuid.UUID(str(call_uuid).strip())
    except ValueError:
        raise CallNotFoundError(f"{call_uuid!r} is not a call uuid") from None
    a, c = _ATTEMPTS, _CAMPAIGNS
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(a, c.c.name.label("campaign_name"), c.c.config.label("campaign_config"),
                      c.c.company_id.label("campaign_company"))
            .select_from(a.outerjoin(c, c.c.id == a.c.campaign_id))
            .where(a.c.id == key)
        ).mappings().first()  # fmt: skip
    if row is None:
        raise CallNotFoundError(f"no call {key}")
    config = None
    if row["campaign_config"] is not None:
        config = CampaignConfig.model_validate(row["campaign_config"])
    context = _Context(row["campaign_name"], config, row["campaign_company"])
    return detail_of(row, context, recordings_url=recordings_url)


def detail_of(row: Any, context: _Context, *, recordings_url: str = "") -> dict[str, Any]:
    """The contract's object from an attempt row (a mapping of its columns)."""
    metadata = dict(row["metadata"] or {})
    campaign_id = row["campaign_id"]
    started, answered, ended = row["started_at"], row["answered_at"], row["ended_at"]
    total = None
    if ended is not None and (started or row["originate_sent_at"]) is not None:
        total = round((ended - (started or row["originate_sent_at"])).total_seconds())
    detail: dict[str, Any] = {
        "callUuid": str(row["id"]),
        "campaignId": metadata.get("campaignId")
        or (None if campaign_id is None else str(campaign_id)),
        "recipientId": metadata.get("recipientId"),
        "companyId": metadata.get("companyId") or context.company_id,
        "toNumber": row["to_number"],
        "callerIdNumber": row["caller_id_number"],
        "outcome": row["outcome"],
        "timing": {
            "startedAt": _iso(started or row["originate_sent_at"]),
            "answeredAt": _iso(answered),
            "endedAt": _iso(ended),
            "ringDurationSec": _whole(row["ring_duration_sec"]),
            "totalDurationSec": total,
            "billsec": row["billsec"],
        },
        "amd": {
            "enabled": bool(row["amd_enabled"]),
            "result": row["amd_result"],
            "durationMs": row["amd_duration_ms"],
        },
        "ivr": {
            "menuName": context.name if _has_ivr(context) else None,
            "digitPressed": row["ivr_digit"],
            "attempts": row["ivr_attempts"] or 0,
            "result": row["ivr_result"],
        },
        "queue": {
            "entered": row["queue_entered_at"] is not None or row["queue_name"] is not None,
            "queueName": _queue_name(context.config, row["queue_name"]),
            "queueId": row["queue_id"],
            "waitSeconds": _whole(row["queue_wait_seconds"]),
            "result": row["queue_result"],
            "answeredBy": row["agent_id"],
            "answeredByName": row["agent_name"],
            "talkSeconds": row["talk_seconds"],
        },
        "recording": {
            "enabled": bool(row["recording_enabled"]),
            "url": recording_url(recordings_url, row["fs_node"], row["recording_url"]),
            "durationSec": row["recording_duration_sec"],
        },
        "hangupCause": row["hangup_cause"],
        "status": _status(row["state"], row["outcome"]),
        "disposition": disposition_of(row["disposition"], row["handoff_type"]),
    }
    if row["handoff_type"] == "ai_agent" or row["ai"]:
        detail["ai"] = _ai(row, context.config)
    return detail


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _whole(value: float | None) -> int | None:
    return None if value is None else round(value)


def _has_ivr(context: _Context) -> bool:
    return context.config is not None and context.config.ivr is not None


def _queue_name(config: CampaignConfig | None, target: str | None) -> str | None:
    """The campaign's name for the queue (``queues.<key>.name``), else its target."""
    if target is None:
        return None
    for queue in (config.queues.values() if config is not None else ()):
        if queue.target == target and queue.name:
            return queue.name
    return target


_LIVE = {"queued": "queued", "originating": "dialing", "ringing": "ringing",
         "answered": "in_progress"}  # fmt: skip


def _status(state: str, outcome: str | None) -> str:
    if state == "ended":
        return "failed" if outcome == "failed" else "completed"
    if state == "cancelled":
        return "cancelled"
    return _LIVE.get(state, state)


def disposition_of(disposition: str | None, handoff: str | None) -> str | None:
    """The call's own disposition (an AI agent's lead status), else what the call became."""
    if disposition:
        return disposition
    if handoff in ("queue", "extension"):
        return "transferred"
    return None


def _ai(row: Any, config: CampaignConfig | None) -> dict[str, Any]:
    """The AI agent part: which agent (its registry name), how the call ended, what it did."""
    record = dict(row["ai"] or {})
    target = record.get("agentId")
    if target is None and row["handoff_type"] == "ai_agent":
        target = row["handoff_target"]
    agent_id = target
    if config is not None and target is not None and row["campaign_id"] is not None:
        ids = {"attempt_id": str(row["id"]), "campaign_id": str(row["campaign_id"])}
        for name, agent in config.agents.items():
            if render_dial(agent, **ids) == target:
                agent_id = name
                break
    return {
        "agentId": agent_id,
        "endReason": record.get("endReason"),
        "summary": record.get("summary"),
        "leadStatus": record.get("leadStatus"),
        "toolCalls": list(record.get("toolCalls") or []),
    }
