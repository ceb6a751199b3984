"""A campaign's calls up now, as the seeds' ``getCampaignActive`` returns them:
``{activeChannels, maxChannels, calls: [...]}`` (library first: the CLI and the HTTP API)."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.campaigns.model import CampaignConfig
from dialer.campaigns.service import CampaignNotFoundError
from dialer.db.models import LIVE_ATTEMPT_STATES, CallAttempt, Campaign
from dialer.timefmt import iso_ms as _iso

_ATTEMPTS = cast(sa.Table, CallAttempt.__table__)
_CAMPAIGNS = cast(sa.Table, Campaign.__table__)
#: what a live call is doing, from what the flow has recorded so far
_STATUS = {"originating": "dialing", "ringing": "ringing", "answered": "in_progress"}


def campaign_active(engine: Engine, campaign_id: int) -> dict[str, Any]:
    """The campaign's live calls (dialling, ringing or answered), oldest first, and its
    channel limit. Raises :class:`CampaignNotFoundError`."""
    a = _ATTEMPTS
    with engine.connect() as conn:
        config = conn.execute(
            sa.select(_CAMPAIGNS.c.config).where(_CAMPAIGNS.c.id == campaign_id)
        ).scalar_one_or_none()
        if config is None:
            raise CampaignNotFoundError(f"no campaign {campaign_id}")
        rows = conn.execute(
            sa.select(
                a.c.id, a.c.state, a.c.to_number, a.c.fs_node, a.c.originate_sent_at,
                a.c.answered_at, a.c.amd_result, a.c.ivr_result, a.c.queue_entered_at,
                a.c.queue_result, a.c.handoff_type,
            )
            .where(a.c.campaign_id == campaign_id, a.c.state.in_(LIVE_ATTEMPT_STATES))
            .order_by(a.c.originate_sent_at, a.c.id)
        ).all()  # fmt: skip
    calls = [
        {
            "callUuid": str(row.id),
            "toNumber": row.to_number,
            "status": _STATUS.get(row.state, row.state),
            "stage": _stage(row),
            "node": row.fs_node,
            "startedAt": _iso(row.originate_sent_at),
            "answeredAt": _iso(row.answered_at),
        }
        for row in rows
    ]
    limit = CampaignConfig.model_validate(config).pacing.max_channels
    return {"activeChannels": len(calls), "maxChannels": limit, "calls": calls}


def _stage(row: Any) -> str:
    """Where the call is in the flow: the furthest stage it has recorded."""
    if row.state != "answered":
        return str(row.state)
    if row.queue_result == "answered":
        return "agent"
    if row.handoff_type == "ai_agent":
        return "ai_agent"
    if row.queue_entered_at is not None or row.handoff_type == "queue":
        return "queue"
    if row.handoff_type == "extension":
        return "transferred"
    if row.ivr_result is not None:
        return "ivr_done"
    if row.amd_result is not None:
        return "machine" if row.amd_result == "machine" else "human"
    return "answered"
