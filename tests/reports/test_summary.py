"""The campaign summary: funnel, rates, queue waits and abandonment, on PostgreSQL and SQLite."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.reports.outcomes import CampaignNotFoundError
from dialer.reports.summary import campaign_summary
from tests.engine.factories import make_attempt, make_campaign
from tests.reports.seed import ATTEMPTS, update
from tests.reports.test_cli_reports import Reports

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def seed_flow(engine: Engine, now: datetime) -> int:
    """Ten attempts: one never dialled, one unanswered, two machines, six humans of which three
    pressed 1 (and one more opted out), four queued (one 40 days ago), one abandoned lately."""
    day = now - timedelta(days=1)
    human = {"answered_at": day, "amd_enabled": True, "amd_result": "human"}
    pressed = {**human, "ivr_result": "digit_pressed", "ivr_digit": "1"}
    queued = {**pressed, "handoff_type": "queue", "queue_name": "sales"}
    flows: list[dict[str, Any]] = [
        {"state": "queued"},
        {"sent": True},
        {"answered_at": day, "amd_enabled": True, "amd_result": "machine"},
        {"answered_at": day, "amd_enabled": True, "amd_result": "machine"},
        {**queued, "amd_result": "unknown_assumed_human", "queue_result": "answered",
         "queue_wait_seconds": 1.0, "abandoned": False},
        {**queued, "queue_result": "answered", "queue_wait_seconds": 3.0, "abandoned": False},
        {**queued, "queue_result": "timeout", "queue_wait_seconds": 20.0, "abandoned": True},
        {**pressed, "outcome": "opted_out", "ivr_digit": "9"},
        {"answered_at": day, "ivr_result": "timeout"},
        {"answered_at": now - timedelta(days=40), "handoff_type": "queue", "queue_name": "sales",
         "queue_result": "answered", "queue_wait_seconds": 5.0, "abandoned": True},
    ]  # fmt: skip
    with Session(engine) as session:
        campaign = make_campaign(session)
        for flow in flows:
            queued_only = flow.pop("state", None) == "queued"
            flow.pop("sent", None)
            attempt = make_attempt(session, campaign=campaign,
                                   state="queued" if queued_only else "originating",
                                   sent_at=None if queued_only else day)  # fmt: skip
            if not queued_only:
                flow.setdefault("outcome", "completed" if "answered_at" in flow else "no_answer")
                update(session, ATTEMPTS, attempt.id, state="ended", **flow)
        session.commit()
        return campaign.id


def test_the_funnel_and_its_rates(engine: Engine) -> None:
    campaign_id = seed_flow(engine, NOW)
    summary = campaign_summary(engine, campaign_id, now=NOW)
    assert summary["funnel"] == {"dialled": 9, "answered": 8, "human": 6, "pressed": 3,
                                 "queued": 4, "agent_answered": 3}  # fmt: skip
    assert (summary["answer_rate"], summary["amd_machine_rate"], summary["press1_rate"]) == (
        0.8889,
        0.3333,
        0.5,
    )
    # waits 1, 3, 5, 20: p90 between 5 and 20, 70 % of the way
    assert summary["queue_wait"] == {"average_seconds": 7.25, "p90_seconds": 15.5}
    assert summary["abandonment"] == {
        "since": "2026-11-01T12:00:00.000Z", "handoffs": 3, "abandoned": 1, "rate": 0.3333,
        "limit": 0.03, "over_limit": True,
    }  # fmt: skip


def test_the_window_drops_old_calls_and_an_empty_campaign_has_no_rates(engine: Engine) -> None:
    campaign_id = seed_flow(engine, NOW)
    later = campaign_summary(engine, campaign_id, now=NOW + timedelta(days=31))
    assert later["abandonment"]["handoffs"] == 0
    assert (later["abandonment"]["rate"], later["abandonment"]["over_limit"]) == (None, False)
    with Session(engine) as session:
        empty = make_campaign(session).id
        session.commit()
    summary = campaign_summary(engine, empty, now=NOW)
    assert set(summary["funnel"].values()) == {0}
    assert (summary["answer_rate"], summary["press1_rate"]) == (None, None)
    assert summary["queue_wait"] == {"average_seconds": None, "p90_seconds": None}
    with pytest.raises(CampaignNotFoundError, match="no campaign 4242"):
        campaign_summary(engine, 4242)


def test_summary_command(engine: Engine, tmp_path: Path) -> None:
    run = Reports(engine, tmp_path)
    campaign_id = seed_flow(engine, datetime.now(UTC))
    figures = json.loads(run("summary", str(campaign_id), "--json").stdout)
    assert figures["funnel"]["queued"] == 4
    assert figures["abandonment"]["abandoned"] == 1
    text = " ".join(run("summary", str(campaign_id)).stdout.split())
    assert "funnel: dialled 9 > answered 8 > human 6 > pressed 3 > queued 4 > agent answered 3" in (
        text
    )
    assert "answer rate 88.9 %, AMD machine rate 33.3 %, press-1 rate 50.0 %" in text
    assert "queue wait: average 7.2 s, p90 15.5 s" in text
    assert "1 of 3 queue handoffs, 33.3 %, limit 3.0 %: OVER the limit" in text
    assert "error: no campaign 999" in run.error("summary", "999")
