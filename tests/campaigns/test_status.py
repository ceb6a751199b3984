"""Campaign status counts on a hand-built set of rows, and waiting for a campaign to finish."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.campaigns import (
    CampaignNotFoundError,
    campaign_status,
    cancel_campaign,
    create_campaign,
    parse_config,
    start_campaign,
    wait_for_campaign,
)
from dialer.clock import FrozenClock
from dialer.config import Settings
from dialer.db.models import CallAttempt, Campaign, CampaignRecipient, Recipient
from dialer.lists import ImportOptions, import_list

NOW = "2026-06-02T14:00:00Z"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def make_campaign(engine: Engine, tmp_path: Path, clock: FrozenClock, count: int) -> int:
    path = tmp_path / "list.csv"
    rows = "".join(f"+1212948{n:04d}\n" for n in range(count)) or "not a number\n"
    path.write_text("Phone\n" + rows)
    import_list(engine, path, ImportOptions(name="A"))
    config = parse_config(
        {
            "name": "Status",
            "type": "broadcast",
            "lists": ["A"],
            "caller_id": {"number": "+12125550100"},
            "pacing": {"max_channels": 10, "cps": 5},
        }
    )
    info = create_campaign(engine, config, settings=Settings(trunks_json=None), clock=clock)
    return info.id


def shape(engine: Engine, campaign_id: int, plan: list[tuple[str, str | None, str | None]]) -> None:
    """Give the campaign's recipients, in id order, (status, final_outcome, blocked_reason)."""
    with Session(engine) as s, s.begin():
        ids = s.scalars(
            sa.select(CampaignRecipient.id)
            .where(CampaignRecipient.campaign_id == campaign_id)
            .order_by(CampaignRecipient.id)
        ).all()
        assert len(ids) == len(plan)
        for row_id, (status, outcome, blocked) in zip(ids, plan, strict=True):
            s.execute(
                sa.update(CampaignRecipient)
                .where(CampaignRecipient.id == row_id)
                .values(status=status, final_outcome=outcome, blocked_reason=blocked)
            )


def attempt(
    engine: Engine,
    campaign_id: int,
    recipient_index: int,
    attempt_no: int,
    state: str,
    *,
    outcome: str | None = None,
    sent_at: datetime | None = None,
    **flow: object,
) -> None:
    with Session(engine) as s, s.begin():
        row_id, number = s.execute(
            sa.select(CampaignRecipient.id, Recipient.phone_e164)
            .join(Recipient, Recipient.id == CampaignRecipient.recipient_id)
            .where(CampaignRecipient.campaign_id == campaign_id)
            .order_by(CampaignRecipient.id)
            .offset(recipient_index)
            .limit(1)
        ).one()
        s.add(
            CallAttempt(
                id=uuid.uuid4(),
                campaign_id=campaign_id,
                campaign_recipient_id=row_id,
                attempt_no=attempt_no,
                state=state,
                outcome=outcome,
                **flow,
                to_number=number,
                originate_sent_at=sent_at,
            )
        )


def test_counts_on_a_hand_built_campaign(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    campaign_id = make_campaign(engine, tmp_path, clock, 12)
    start_campaign(engine, campaign_id, clock=clock)
    shape(
        engine,
        campaign_id,
        [
            ("pending", None, None),  # 0: due
            ("pending", None, "outside_window"),  # 1
            ("pending", None, "outside_window"),  # 2
            ("active", None, None),  # 3: ringing now
            ("active", None, None),  # 4: queued
            ("active", None, None),  # 5: answered
            ("done", "busy", None),  # 6
            ("done", "completed", None),  # 7: no answer, then completed
            ("done", "no_answer", None),  # 8
            ("skipped", "dnc", None),  # 9
            ("skipped", "unknown_zone", "unknown_zone"),  # 10: never called, counted, visible
            ("cancelled", None, None),  # 11
        ],
    )
    now = clock.now()
    attempt(engine, campaign_id, 3, 1, "ringing", sent_at=now - timedelta(seconds=5))
    attempt(engine, campaign_id, 4, 1, "queued")
    attempt(engine, campaign_id, 5, 1, "answered", sent_at=now - timedelta(seconds=59))
    attempt(engine, campaign_id, 6, 1, "ended", outcome="busy", sent_at=now - timedelta(seconds=30))
    attempt(engine, campaign_id, 7, 1, "ended", outcome="no_answer",
            sent_at=now - timedelta(hours=1))  # fmt: skip
    attempt(engine, campaign_id, 7, 2, "ended", outcome="completed",
            sent_at=now - timedelta(seconds=61))  # fmt: skip
    attempt(engine, campaign_id, 8, 1, "ended", outcome="no_answer",
            sent_at=now - timedelta(seconds=60))  # fmt: skip
    attempt(engine, campaign_id, 11, 1, "cancelled")

    status = campaign_status(engine, campaign_id, clock=clock)
    assert (status.campaign_id, status.name, status.status) == (campaign_id, "Status", "running")
    assert status.as_of == now
    assert status.started_at == now
    assert status.finished_at is None
    assert status.total == 12
    assert status.recipients == {
        "pending": 3, "active": 3, "done": 3, "skipped": 2, "cancelled": 1,
    }  # fmt: skip
    assert status.final_outcomes == {
        "busy": 1, "completed": 1, "dnc": 1, "no_answer": 1, "unknown_zone": 1,
    }  # fmt: skip
    assert status.blocked == {"outside_window": 2, "unknown_zone": 1}
    assert status.attempts == {
        "queued": 1, "originating": 0, "ringing": 1, "answered": 1, "ended": 4, "cancelled": 1,
    }  # fmt: skip
    assert status.attempt_outcomes == {"no_answer": 2, "busy": 1, "completed": 1}
    assert status.active_calls == 2
    # sent 5 s, 30 s, 59 s and exactly 60 s ago: four in the last minute
    assert status.calls_per_second_last_minute == pytest.approx(4 / 60)
    assert status.progress == pytest.approx(6 / 12)
    assert not status.finished

    data = status.as_json()
    assert data["recipients"]["pending"] == 3
    assert data["as_of"] == "2026-06-02T14:00:00+00:00"
    assert data["finished_at"] is None
    assert set(data) == {
        "campaign_id", "name", "status", "as_of", "started_at", "finished_at", "total",
        "recipients", "final_outcomes", "blocked", "attempts", "attempt_outcomes",
        "active_calls", "calls_per_second_last_minute", "progress", "amd_results",
        "amd_methods", "queue_handoffs",
    }  # fmt: skip
    assert status.amd_results == status.amd_methods == status.queue_handoffs == {}

    clock.advance(120)
    later = campaign_status(engine, campaign_id, clock=clock)
    assert later.calls_per_second_last_minute == 0


def test_a_draft_has_no_counts_yet(engine: Engine, tmp_path: Path, clock: FrozenClock) -> None:
    campaign_id = make_campaign(engine, tmp_path, clock, 3)
    status = campaign_status(engine, campaign_id, clock=clock)
    assert (status.status, status.total, status.progress, status.active_calls) == (
        "draft", 0, 0.0, 0
    )  # fmt: skip
    assert set(status.recipients.values()) == {0}
    assert status.final_outcomes == status.blocked == status.attempt_outcomes == {}


def test_an_empty_finished_campaign_is_all_done(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    campaign_id = make_campaign(engine, tmp_path, clock, 0)
    start_campaign(engine, campaign_id, clock=clock)
    status = campaign_status(engine, campaign_id, clock=clock)
    assert (status.status, status.total, status.progress) == ("completed", 0, 1.0)
    assert status.finished


def test_status_of_a_missing_campaign(engine: Engine) -> None:
    with pytest.raises(CampaignNotFoundError, match="no campaign 42"):
        campaign_status(engine, 42)


def test_wait_returns_none_after_the_timeout_in_wall_seconds(
    sqlite_engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    campaign_id = make_campaign(sqlite_engine, tmp_path, clock, 2)
    start_campaign(sqlite_engine, campaign_id, clock=clock)
    began = time.monotonic()
    assert (
        wait_for_campaign(sqlite_engine, campaign_id, timeout=0.3, clock=clock, poll=0.05) is None
    )
    assert 0.3 <= time.monotonic() - began < 3
    assert clock.now().isoformat() == "2026-06-02T14:00:00+00:00"  # the frozen clock stood still


def test_wait_returns_at_once_for_a_finished_campaign(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    campaign_id = make_campaign(engine, tmp_path, clock, 2)
    cancel_campaign(engine, campaign_id, clock=clock)
    status = wait_for_campaign(engine, campaign_id, timeout=0, clock=clock)
    assert status is not None
    assert status.status == "cancelled"


def test_wait_sees_a_campaign_finish_while_it_waits(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    campaign_id = make_campaign(engine, tmp_path, clock, 2)
    start_campaign(engine, campaign_id, clock=clock)
    timer = threading.Timer(
        0.3, cancel_campaign, args=(engine, campaign_id), kwargs={"clock": clock}
    )
    timer.start()
    try:
        status = wait_for_campaign(engine, campaign_id, timeout=10, clock=clock, poll=0.05)
    finally:
        timer.join()
    assert status is not None
    assert (status.status, status.recipients["cancelled"], status.progress) == ("cancelled", 2, 1.0)


def test_wait_for_a_missing_campaign(engine: Engine) -> None:
    with pytest.raises(CampaignNotFoundError):
        wait_for_campaign(engine, 7, timeout=1)


def test_completed_campaigns_count_their_finish(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    campaign_id = make_campaign(engine, tmp_path, clock, 1)
    start_campaign(engine, campaign_id, clock=clock)
    shape(engine, campaign_id, [("done", "completed", None)])
    clock.advance(10)
    with Session(engine) as s, s.begin():
        s.execute(
            sa.update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(status="completed", finished_at=clock.now())
        )
    status = wait_for_campaign(engine, campaign_id, timeout=1, clock=clock)
    assert status is not None
    assert (status.status, status.finished_at, status.progress) == (
        "completed", clock.now(), 1.0
    )  # fmt: skip


def test_amd_results_the_method_that_decided_and_abandoned_handoffs(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    """A campaign says which AMD it got: mod_amd, or the avmd-only fallback of a node
    without it; and how many humans handed to a queue found nobody within 2 s."""
    campaign_id = make_campaign(engine, tmp_path, clock, 5)
    start_campaign(engine, campaign_id, clock=clock)
    ended = {"state": "ended", "outcome": "completed"}
    attempt(engine, campaign_id, 0, 1, **ended, amd_result="human", amd_method="amd",
            abandoned=False)  # fmt: skip
    attempt(engine, campaign_id, 1, 1, **ended, amd_result="human", amd_method="amd",
            abandoned=True)  # fmt: skip
    attempt(engine, campaign_id, 2, 1, **ended, amd_result="machine", amd_method="avmd")
    attempt(engine, campaign_id, 3, 1, **ended, amd_result="unknown_assumed_human",
            amd_method="avmd")  # fmt: skip
    attempt(engine, campaign_id, 4, 1, **ended)  # AMD off: counted nowhere
    status = campaign_status(engine, campaign_id, clock=clock)
    assert status.amd_results == {"human": 2, "machine": 1, "unknown_assumed_human": 1}
    assert status.amd_methods == {"amd": 2, "avmd": 2}
    assert status.queue_handoffs == {"abandoned": 1, "connected": 1}
    assert status.as_json()["amd_methods"] == {"amd": 2, "avmd": 2}
