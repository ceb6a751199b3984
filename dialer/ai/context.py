"""What a tool call needs to know about its call, read in one query: the attempt, its
campaign's config, the recipient, and which of the campaign's AI agents is on the line."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.campaigns.callflow import Agent
from dialer.campaigns.model import CampaignConfig, CampaignConfigError, parse_config
from dialer.db.models import CallAttempt, Campaign, CampaignRecipient, Recipient
from dialer.flow.variables import render_dial

log = logging.getLogger(__name__)

_A = cast(sa.Table, CallAttempt.__table__)
_C = cast(sa.Table, Campaign.__table__)
_CR = cast(sa.Table, CampaignRecipient.__table__)
_R = cast(sa.Table, Recipient.__table__)

#: states in which a call can no longer be acted on
OVER_STATES = frozenset({"ended", "cancelled"})


@dataclass(frozen=True)
class CallContext:
    attempt_id: uuid.UUID
    state: str
    fs_node: str | None
    to_number: str
    campaign_id: int | None
    company_id: str | None
    campaign_status: str | None
    config: CampaignConfig | None
    campaign_recipient_id: int | None
    recipient_id: int | None
    recipient_status: str | None
    timezones: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)
    handoff_target: str | None = None
    agent_id: str | None = None

    @property
    def agent(self) -> Agent | None:
        if self.config is None or self.agent_id is None:
            return None
        return self.config.agents.get(self.agent_id)

    @property
    def over(self) -> bool:
        return self.state in OVER_STATES

    def template_values(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The ``recipient.*`` and ``call.*`` values of this call's templates."""
        recipient = {**self.fields, "id": self.recipient_id, "phone": self.to_number}
        call = {
            "attempt_id": str(self.attempt_id),
            "campaign_id": self.campaign_id,
            "to_number": self.to_number,
        }
        return recipient, call


def load_call(engine: Engine, call_id: str) -> CallContext | None:
    """The call ``call_id`` names (an attempt id), or ``None`` if there is no such call."""
    try:
        key = uuid.UUID(call_id)
    except (ValueError, AttributeError, TypeError):
        return None
    query = (
        sa.select(
            _A.c.id,
            _A.c.state,
            _A.c.fs_node,
            _A.c.to_number,
            _A.c.campaign_id,
            _A.c.campaign_recipient_id,
            _A.c.handoff_target,
            _C.c.company_id,
            _C.c.status.label("campaign_status"),
            _C.c.config,
            _CR.c.recipient_id,
            _CR.c.status.label("recipient_status"),
            _R.c.timezones,
            _R.c.fields,
        )
        .select_from(
            _A.outerjoin(_C, _C.c.id == _A.c.campaign_id)
            .outerjoin(_CR, _CR.c.id == _A.c.campaign_recipient_id)
            .outerjoin(_R, _R.c.id == _CR.c.recipient_id)
        )
        .where(_A.c.id == key)
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    config = None
    if row["config"] is not None:
        try:
            config = parse_config(row["config"])
        except CampaignConfigError as exc:  # stored before a rule tightened: no tools of its
            log.warning("campaign config invalid campaign=%s problems=%s",
                        row["campaign_id"], "; ".join(exc.problems))
    context = CallContext(
        attempt_id=row["id"],
        state=row["state"],
        fs_node=row["fs_node"],
        to_number=row["to_number"],
        campaign_id=row["campaign_id"],
        company_id=row["company_id"],
        campaign_status=row["campaign_status"],
        config=config,
        campaign_recipient_id=row["campaign_recipient_id"],
        recipient_id=row["recipient_id"],
        recipient_status=row["recipient_status"],
        timezones=tuple(row["timezones"] or ()),
        fields=dict(row["fields"] or {}),
        handoff_target=row["handoff_target"],
    )
    agent_id = _which_agent(context)
    if agent_id is None:
        return context
    return CallContext(**{**context.__dict__, "agent_id": agent_id})


def _which_agent(call: CallContext) -> str | None:
    """The agent on the line: the one whose dial string the flow reported bridging to; else
    the campaign's only candidate (its handoff agent, or the one agent the IVR offers)."""
    config = call.config
    if config is None or not config.agents:
        return None
    if call.handoff_target and call.campaign_id is not None:
        for agent_id, agent in config.agents.items():
            dial = render_dial(
                agent, attempt_id=str(call.attempt_id), campaign_id=str(call.campaign_id)
            )
            if dial == call.handoff_target:
                return agent_id
    offered: set[str] = set()
    if config.handoff is not None and config.handoff.ai_agent is not None:
        offered.add(config.handoff.ai_agent)
    if config.ivr is not None:
        for action in config.ivr.actions.values():
            chosen: str | None = getattr(action, "ai_agent", None)
            if chosen is not None:
                offered.add(chosen)
    if len(offered) == 1:
        return offered.pop()
    return next(iter(config.agents)) if len(config.agents) == 1 else None
