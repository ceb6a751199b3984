"""A campaign as the engine leaves it: recipients with list columns, attempts with their flow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.db.models import CallAttempt, CampaignRecipient, Recipient
from tests.engine.factories import make_attempt, make_campaign, make_recipient

ATTEMPTS = cast(sa.Table, CallAttempt.__table__)
RECIPIENTS = cast(sa.Table, Recipient.__table__)
PROGRESS = cast(sa.Table, CampaignRecipient.__table__)

T0 = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def update(session: Session, table: sa.Table, key: Any, **values: Any) -> None:
    session.execute(sa.update(table).where(table.c.id == key).values(**values))


def seed(engine: Engine) -> dict[str, Any]:
    """Three recipients: one reached twice (the second call pressed 1 and reached an agent),
    one busy, one never called. Returns their ids and call uuids."""
    with Session(engine) as session:
        campaign = make_campaign(session)
        ann = make_recipient(session, campaign, phone="+12125550111", attempts=2, status="done")
        bob = make_recipient(session, campaign, phone="+442071838750", status="done")
        cid = make_recipient(session, campaign, phone="+33142685300", attempts=0,
                             status="pending")  # fmt: skip
        update(session, RECIPIENTS, ann.recipient_id, fields={"plan": "gold", "name": "Ann"})
        update(session, RECIPIENTS, bob.recipient_id, fields={"name": "Bob", "city": "London"})
        update(session, RECIPIENTS, cid.recipient_id, fields={"city": "Paris", "name": "Cid"})
        update(session, PROGRESS, ann.id, final_outcome="completed")
        update(session, PROGRESS, bob.id, final_outcome="busy")
        first = make_attempt(session, campaign=campaign, progress=ann, sent_at=T0)
        update(
            session,
            ATTEMPTS,
            first.id,
            attempt_no=1,
            state="ended",
            outcome="no_answer",
            created_at=T0,
            hangup_cause="NO_ANSWER",
            ended_at=T0 + timedelta(seconds=30),
        )
        second = make_attempt(session, campaign=campaign, progress=ann, sent_at=T0)
        update(
            session,
            ATTEMPTS,
            second.id,
            attempt_no=2,
            state="ended",
            outcome="completed",
            created_at=T0 + timedelta(hours=2),
            started_at=T0 + timedelta(hours=2),
            answered_at=T0 + timedelta(hours=2, seconds=5),
            ended_at=T0 + timedelta(hours=2, seconds=65),
            billsec=60,
            amd_enabled=True,
            amd_result="HUMAN",
            ivr_digit="1",
            queue_name="sales",
            queue_wait_seconds=12.5,
            agent_id="1001",
            agent_name="Dana",
            handoff_type="queue",
            handoff_target="sales",  # no disposition of its own: the report says transferred
            hangup_cause="NORMAL_CLEARING",
            recording_url="/rec/a.wav",
        )
        busy = make_attempt(session, campaign=campaign, progress=bob, sent_at=T0,
                            to_number="+442071838750")  # fmt: skip
        update(
            session,
            ATTEMPTS,
            busy.id,
            state="ended",
            outcome="busy",
            created_at=T0 + timedelta(days=1),
            hangup_cause="USER_BUSY",
        )
        other = make_campaign(session)
        stranger = make_recipient(session, other, phone="+12125550199")
        make_attempt(session, campaign=other, progress=stranger, sent_at=T0)
        session.commit()
        return {"campaign": campaign.id, "other": other.id, "first": str(first.id),
                "second": str(second.id), "busy": str(busy.id),
                "ann": ann.recipient_id, "bob": bob.recipient_id}  # fmt: skip
