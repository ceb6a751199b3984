"""Rows for engine tests: a campaign with one list, recipients and attempts as the
scheduler and the originate worker would leave them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dialer.db.models import CallAttempt, Campaign, CampaignRecipient, ContactList, Recipient

RETRIES: dict[str, Any] = {
    "no_answer": {"delay": 600, "max_attempts": 3, "backoff": 2.0},
    "busy": {"delay": 300, "max_attempts": 2},
    "failed": {"delay": 60, "max_attempts": 2},
}


def campaign_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "test campaign",
        "type": "broadcast",
        "lists": [1],
        "caller_id": {"number": "+12125550100"},
        "pacing": {"max_channels": 10, "cps": 5},
        "retries": RETRIES,
        "ring_timeout": 30,
        "max_duration": 300,
    }
    config.update(overrides)
    return config


def make_campaign(session: Session, *, status: str = "running", **config: Any) -> Campaign:
    campaign = Campaign(
        name="test campaign", type="broadcast", status=status, config=campaign_config(**config)
    )
    session.add(campaign)
    session.flush()
    return campaign


_lists = 0


def make_recipient(
    session: Session,
    campaign: Campaign,
    *,
    phone: str = "+12125550111",
    zones: tuple[str, ...] = ("America/New_York",),
    attempts: int = 1,
    status: str = "active",
) -> CampaignRecipient:
    global _lists
    _lists += 1
    contacts = ContactList(name=f"list-{uuid.uuid4().hex[:10]}")
    session.add(contacts)
    session.flush()
    person = Recipient(
        list_id=contacts.id, phone_e164=phone, timezones=list(zones), fields={}, row_no=2
    )
    session.add(person)
    session.flush()
    progress = CampaignRecipient(
        campaign_id=campaign.id, recipient_id=person.id, status=status, attempts=attempts
    )
    session.add(progress)
    session.flush()
    return progress


def make_attempt(
    session: Session,
    *,
    campaign: Campaign | None = None,
    progress: CampaignRecipient | None = None,
    state: str = "originating",
    node: str = "fs1",
    sent_at: datetime | None = None,
    to_number: str = "+12125550111",
    ring_timeout: int = 30,
    max_duration: int = 300,
) -> CallAttempt:
    attempt = CallAttempt(
        id=uuid.uuid4(),
        campaign_id=None if campaign is None else campaign.id,
        campaign_recipient_id=None if progress is None else progress.id,
        attempt_no=1 if progress is None else progress.attempts,
        state=state,
        fs_node=node,
        trunk="default",
        to_number=to_number,
        caller_id_number="+12125550100",
        options={"ring_timeout": ring_timeout, "max_duration": max_duration,
                 "caller_id_name": None, "variables": {}},
        originate_sent_at=sent_at,
        claimed_at=sent_at,
        claimed_by="worker@test:1",
    )
    if sent_at is not None:
        attempt.state_changed_at = sent_at
    session.add(attempt)
    session.flush()
    return attempt
