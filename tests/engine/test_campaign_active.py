"""getCampaignActive: a campaign's live calls against its channel limit, and their stage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.campaigns.active import campaign_active
from tests.engine.factories import make_attempt, make_campaign, make_recipient

T0 = datetime(2026, 6, 2, 15, 0, tzinfo=UTC)


def test_live_calls_oldest_first_with_their_stage(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as s:
        campaign = make_campaign(s, pacing={"max_channels": 7, "cps": 5})
        plans: list[tuple[str, dict[str, object]]] = [
            ("ringing", {}),
            ("answered", {"amd_result": "human"}),
            ("answered", {"queue_entered_at": T0, "handoff_type": "queue"}),
            ("answered", {"queue_result": "answered", "handoff_type": "queue"}),
            ("answered", {"state": "ended", "outcome": "completed"}),  # not live
            ("originating", {}),
        ]
        ids = []
        for n, (state, columns) in enumerate(plans):
            progress = make_recipient(s, campaign, phone=_phone(n))
            row = make_attempt(s, campaign=campaign, progress=progress, state=state,
                               sent_at=T0 + timedelta(seconds=n), to_number=_phone(n))
            for name, value in columns.items():
                setattr(row, name, value)
            ids.append(str(row.id))
        s.commit()
    active = campaign_active(engine, campaign.id)
    assert (active["activeChannels"], active["maxChannels"]) == (5, 7)
    got = [(c["callUuid"], c["status"], c["stage"]) for c in active["calls"]]
    assert got == [
        (ids[0], "ringing", "ringing"),
        (ids[1], "in_progress", "human"),
        (ids[2], "in_progress", "queue"),
        (ids[3], "in_progress", "agent"),
        (ids[5], "dialing", "originating"),
    ]
    assert active["calls"][0]["startedAt"] == "2026-06-02T15:00:00.000Z"


def _phone(n: int) -> str:
    return f"+1212555020{n}"
