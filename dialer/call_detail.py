"""One call as the customer-facing contract shows it (DESIGN §5, seeds/001 ``getCampaignDetail``):
the ``data`` object of ``campaign.completed``, built from the attempt row.

Library first: ``dialer calls show`` prints it, and the webhooks and the HTTP API carry the same
object. Field names are the contract's (camelCase); times are UTC ISO 8601 with milliseconds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql

from dialer.campaigns.model import CampaignConfig
from dialer.db.models import CallAttempt, Campaign
from dialer.flow.variables import render_dial
from dialer.recordings import recording_url
from dialer.timefmt import iso_ms as _iso

_ATTEMPTS = cast(sa.Table, CallAttempt.__table__)
_CAMPAIGNS = cast(sa.Table, Campaign.__table__)


#: The JSON Schema of the object (shipped: receivers and the tests check payloads against it).
DETAIL_SCHEMA: dict[str, Any] = json.loads(
    (resources.files("dialer") / "schemas" / "call_detail.schema.json").read_text("utf-8")
)


class Detail(NamedTuple):
    #: the dialer's campaign id (``data.campaignId`` may be the caller's own, from metadata)
    campaign_id: int | None
    data: dict[str, Any]


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
    with engine.connect() as conn:
        found = call_details(conn, [key], recordings_url=recordings_url)
    if key not in found:
        raise CallNotFoundError(f"no call {key}")
    return found[key].data


def call_details(
    conn: Connection, call_uuids: Collection[uuid.UUID], *, recordings_url: str = ""
) -> dict[uuid.UUID, Detail]:
    """:func:`call_detail` of many calls in one query, on the caller's connection (the
    webhook outbox builds its payloads in the transaction that changed the calls)."""
    if not call_uuids:
        return {}
    a, c = _ATTEMPTS, _CAMPAIGNS
    if conn.dialect.name == "postgresql":
        ids = sa.bindparam("ids", sorted(call_uuids), type_=postgresql.ARRAY(a.c.id.type))
        picked = a.c.id == sa.any_(ids)
    else:
        picked = a.c.id.in_(sorted(call_uuids))
    # the campaign's config only when it changed since it was last read (it is the biggest
    # column, and the same for every call of the campaign)
    rows = conn.execute(
        sa.select(a, c.c.name.label("campaign_name"), c.c.company_id.label("campaign_company"),
                  c.c.updated_at.label("campaign_updated"))
        .select_from(a.outerjoin(c, c.c.id == a.c.campaign_id))
        .where(picked)
    ).mappings().all()  # fmt: skip
    contexts = _contexts_of(conn, rows)
    return {
        row["id"]: Detail(
            row["campaign_id"],
            detail_of(row, contexts[row["campaign_id"]], recordings_url=recordings_url),
        )
        for row in rows
    }


#: Campaign contexts by (id, updated_at): a config is validated once per change, not per call.
_contexts: dict[tuple[int, datetime | None], _Context] = {}
_CONTEXTS_KEPT = 256


def _contexts_of(conn: Connection, rows: Sequence[Any]) -> dict[int | None, _Context]:
    found: dict[int | None, _Context] = {None: _Context(None, None, None)}
    missing: dict[int, tuple[int, datetime | None]] = {}
    for row in rows:
        campaign_id = row["campaign_id"]
        if campaign_id is None or campaign_id in found:
            continue
        key = (campaign_id, row["campaign_updated"])
        if key in _contexts:
            found[campaign_id] = _contexts[key]
        else:
            missing[campaign_id] = key
    if missing:
        c = _CAMPAIGNS
        read = conn.execute(
            sa.select(c.c.id, c.c.name, c.c.config, c.c.company_id, c.c.updated_at).where(
                c.c.id.in_(sorted(missing))
            )
        ).all()
        if len(_contexts) + len(read) > _CONTEXTS_KEPT:
            _contexts.clear()
        for campaign in read:
            config = CampaignConfig.model_validate(campaign.config) if campaign.config else None
            context = _Context(campaign.name, config, campaign.company_id)
            _contexts[(campaign.id, campaign.updated_at)] = context
            found[campaign.id] = context
    for row in rows:  # a campaign deleted meanwhile (cannot be: RESTRICT) reads as none
        found.setdefault(row["campaign_id"], _Context(None, None, None))
    return found


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
