"""The campaign lifecycle on real PostgreSQL and SQLite, at frozen instants."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer import dnc
from dialer.campaigns import (
    CampaignError,
    CampaignNotFoundError,
    CampaignStateError,
    cancel_campaign,
    complete_if_done,
    create_campaign,
    get_campaign,
    list_campaigns,
    parse_config,
    pause_campaign,
    resume_campaign,
    start_campaign,
)
from dialer.clock import FrozenClock
from dialer.config import Settings
from dialer.db.models import CAMPAIGN_STATUSES, CallAttempt, Campaign, CampaignRecipient, Recipient
from dialer.lists import ImportOptions, import_list

NOW = "2026-06-02T14:00:00Z"


def phone(n: int) -> str:
    return f"+1212948{n:04d}"


def make_list(engine: Engine, tmp_path: Path, name: str, numbers: list[int]) -> int:
    path = tmp_path / f"{name}.csv"
    path.write_text("Name,Phone\n" + "".join(f"P{n},{phone(n)}\n" for n in numbers))
    return import_list(engine, path, ImportOptions(name=name)).list_id


def config(**overrides: Any) -> Any:
    data: dict[str, Any] = {
        "name": "Spring",
        "type": "broadcast",
        "lists": ["A"],
        "caller_id": {"number": "+12125550100"},
        "pacing": {"max_channels": 10, "cps": 5},
        "retries": {"no_answer": {"delay": 600, "max_attempts": 3}},
        "metadata": {"companyId": "acme"},
    }
    data.update(overrides)
    return parse_config(data)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def settings() -> Settings:
    return Settings(trunks_json=None)


def new_campaign(engine: Engine, settings: Settings, clock: FrozenClock, **overrides: Any) -> int:
    return create_campaign(engine, config(**overrides), settings=settings, clock=clock).id


def recipients(engine: Engine, campaign_id: int) -> dict[str, CampaignRecipient]:
    """The campaign's recipients by phone number."""
    with Session(engine) as s:
        rows = s.execute(
            sa.select(Recipient.phone_e164, CampaignRecipient)
            .join(Recipient, Recipient.id == CampaignRecipient.recipient_id)
            .where(CampaignRecipient.campaign_id == campaign_id)
        ).all()
        s.expunge_all()
    return dict(rows)


def set_status(engine: Engine, campaign_id: int, status: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(Campaign).where(Campaign.id == campaign_id).values(status=status))


# -- create -----------------------------------------------------------------------------------


def test_create_stores_a_draft_with_lists_resolved(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    a = make_list(engine, tmp_path, "A", [1, 2])
    b = make_list(engine, tmp_path, "B", [3])
    info = create_campaign(engine, config(lists=["A", b, "A", a]), settings=settings, clock=clock)
    assert info.status == "draft"
    assert [(ref.id, ref.name) for ref in info.lists] == [(a, "A"), (b, "B")]
    assert info.company_id == "acme"
    assert info.trunk == "default"
    assert (info.pacing.max_channels, info.pacing.cps) == (10, 5.0)
    assert info.created_at == info.updated_at == clock.now()
    assert info.started_at is None
    assert info.finished_at is None
    with Session(engine) as s:
        stored = s.get_one(Campaign, info.id)
        assert stored.config["lists"] == [a, b]
        assert stored.config["retries"]["no_answer"]["max_attempts"] == 3
        assert stored.company_id == "acme"
        assert stored.type == "broadcast"
    assert get_campaign(engine, info.id) == info
    assert list_campaigns(engine) == [info]
    assert list_campaigns(engine, status="running") == []
    assert list_campaigns(engine, company_id="acme") == [info]


def test_create_names_unknown_lists_and_trunks(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    make_list(engine, tmp_path, "A", [1])
    with pytest.raises(CampaignError) as caught:
        create_campaign(engine, config(lists=["A", "Nope", 99]), settings=settings, clock=clock)
    assert str(caught.value) == "lists: unknown list 'Nope'; unknown list id 99"
    with pytest.raises(CampaignError) as caught:
        create_campaign(engine, config(trunk="carrier"), settings=settings, clock=clock)
    assert str(caught.value) == (
        "trunk: unknown trunk 'carrier' (configured in DIALER_TRUNKS: 'default')"
    )
    assert list_campaigns(engine) == []
    two = Settings(
        trunks_json='[{"name": "carrier", "dial": "sofia/gateway/c/{number}"},'
        ' {"name": "backup", "dial": "sofia/gateway/b/{number}"}]'
    )
    with pytest.raises(CampaignError, match="'carrier', 'backup'"):
        create_campaign(engine, config(), settings=two, clock=clock)
    assert create_campaign(engine, config(trunk="backup"), settings=two, clock=clock).trunk == (
        "backup"
    )


# -- start ------------------------------------------------------------------------------------


def test_start_dedupes_across_lists_and_skips_dnc(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    make_list(engine, tmp_path, "A", [1, 2, 3])
    make_list(engine, tmp_path, "B", [3, 4, 5])
    make_list(engine, tmp_path, "C", [5, 1, 6])
    dnc.add(engine, [phone(2), phone(6)], region="US", reason="asked")
    campaign_id = new_campaign(engine, settings, clock, lists=["A", "B", "C"])
    clock.advance(60)
    result = start_campaign(engine, campaign_id, clock=clock)

    assert result.campaign.status == "running"
    assert result.campaign.started_at == result.campaign.updated_at == clock.now()
    assert (result.recipients, result.skipped_dnc, result.duplicates) == (6, 2, 3)
    rows = recipients(engine, campaign_id)
    assert sorted(rows) == [phone(n) for n in range(1, 7)]
    for number, row in rows.items():
        assert row.attempts == 0
        assert row.blocked_reason is None
        assert row.updated_at == clock.now()
        if number in (phone(2), phone(6)):
            assert (row.status, row.final_outcome, row.next_attempt_at) == ("skipped", "dnc", None)
        else:
            assert (row.status, row.final_outcome) == ("pending", None)
            assert row.next_attempt_at == clock.now()
    # a number in several lists is the recipient of the first list (in campaign order) with it
    with Session(engine) as s:
        found = s.execute(
            sa.select(Recipient.phone_e164, Recipient.list_id).where(
                Recipient.id.in_([row.recipient_id for row in rows.values()])
            )
        )
        lists_of = dict(found.all())
    info = get_campaign(engine, campaign_id)
    a, b, c = (ref.id for ref in info.lists)
    assert (lists_of[phone(3)], lists_of[phone(5)], lists_of[phone(1)]) == (a, b, a)
    assert lists_of[phone(6)] == c


def test_start_with_future_start_is_scheduled_and_due_then(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    make_list(engine, tmp_path, "A", [1, 2])
    start = clock.now() + timedelta(days=1)
    campaign_id = new_campaign(engine, settings, clock, schedule={"start": start.isoformat()})
    result = start_campaign(engine, campaign_id, clock=clock)
    assert result.campaign.status == "scheduled"
    assert result.campaign.started_at == clock.now()
    assert {row.next_attempt_at for row in recipients(engine, campaign_id).values()} == {start}


def test_start_after_the_start_time_is_running_and_due_now(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    make_list(engine, tmp_path, "A", [1])
    start = clock.now() - timedelta(hours=1)
    campaign_id = new_campaign(engine, settings, clock, schedule={"start": start.isoformat()})
    assert start_campaign(engine, campaign_id, clock=clock).campaign.status == "running"
    assert [r.next_attempt_at for r in recipients(engine, campaign_id).values()] == [clock.now()]


def test_start_of_an_empty_or_all_dnc_campaign_completes_at_once(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("Name,Phone\nAnn,not a number\n")
    import_list(engine, path, ImportOptions(name="A"))
    campaign_id = new_campaign(engine, settings, clock)
    result = start_campaign(engine, campaign_id, clock=clock)
    assert (result.recipients, result.campaign.status) == (0, "completed")
    assert result.campaign.finished_at == clock.now()

    make_list(engine, tmp_path, "B", [1])
    dnc.add(engine, [phone(1)], region="US")
    campaign_id = new_campaign(engine, settings, clock, lists=["B"])
    result = start_campaign(engine, campaign_id, clock=clock)
    assert (result.recipients, result.skipped_dnc, result.campaign.status) == (1, 1, "completed")


def test_start_twice_is_refused_and_adds_nobody(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    make_list(engine, tmp_path, "A", [1, 2])
    campaign_id = new_campaign(engine, settings, clock)
    start_campaign(engine, campaign_id, clock=clock)
    with pytest.raises(CampaignStateError) as caught:
        start_campaign(engine, campaign_id, clock=clock)
    assert str(caught.value) == (
        f"campaign {campaign_id} is running: only a draft campaign can be started"
    )
    assert len(recipients(engine, campaign_id)) == 2


def test_start_of_a_campaign_whose_list_was_deleted_changes_nothing(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    list_id = make_list(engine, tmp_path, "A", [1])
    campaign_id = new_campaign(engine, settings, clock)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM recipients WHERE list_id = :id"), {"id": list_id})
        conn.execute(sa.text("DELETE FROM contact_lists WHERE id = :id"), {"id": list_id})
    with pytest.raises(CampaignError, match=f"lists: list {list_id} no longer exists"):
        start_campaign(engine, campaign_id, clock=clock)
    info = get_campaign(engine, campaign_id)
    assert info.status == "draft"
    assert info.lists[0].name is None


# -- transitions ------------------------------------------------------------------------------

ALLOWED = {
    "start": ("draft",),
    "pause": ("running", "scheduled"),
    "resume": ("paused",),
    "cancel": ("draft", "scheduled", "running", "paused"),
}
EXPECTED_MESSAGE = {
    "start": "only a draft campaign can be started",
    "pause": "only a running or scheduled campaign can be paused",
    "resume": "only a paused campaign can be resumed",
    "cancel": "only a draft, scheduled, running or paused campaign can be cancelled",
}
AFTER = {"start": "running", "pause": "paused", "resume": "running", "cancel": "cancelled"}


def run(action: str, engine: Engine, campaign_id: int, clock: FrozenClock) -> str:
    if action == "start":
        return start_campaign(engine, campaign_id, clock=clock).campaign.status
    if action == "cancel":
        return cancel_campaign(engine, campaign_id, clock=clock).campaign.status
    do = {"pause": pause_campaign, "resume": resume_campaign}[action]
    return do(engine, campaign_id, clock=clock).status


@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_every_transition_from_every_status(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock, action: str
) -> None:
    make_list(engine, tmp_path, "A", [1, 2])
    for status in CAMPAIGN_STATUSES:
        campaign_id = new_campaign(engine, settings, clock)
        set_status(engine, campaign_id, status)
        before = get_campaign(engine, campaign_id)
        clock.advance(10)
        if status in ALLOWED[action]:
            assert run(action, engine, campaign_id, clock) == AFTER[action], status
            assert get_campaign(engine, campaign_id).updated_at == clock.now()
        else:
            with pytest.raises(CampaignStateError) as caught:
                run(action, engine, campaign_id, clock)
            assert str(caught.value) == (
                f"campaign {campaign_id} is {status}: {EXPECTED_MESSAGE[action]}"
            )
            assert get_campaign(engine, campaign_id) == before
    with pytest.raises(CampaignNotFoundError, match="no campaign 999"):
        run(action, engine, 999, clock)


def test_pause_and_resume_keep_a_future_start_scheduled(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    make_list(engine, tmp_path, "A", [1])
    start = clock.now() + timedelta(hours=2)
    campaign_id = new_campaign(engine, settings, clock, schedule={"start": start.isoformat()})
    assert start_campaign(engine, campaign_id, clock=clock).campaign.status == "scheduled"
    assert pause_campaign(engine, campaign_id, clock=clock).status == "paused"
    clock.advance(3600)
    assert resume_campaign(engine, campaign_id, clock=clock).status == "scheduled"
    pause_campaign(engine, campaign_id, clock=clock)
    clock.advance(3600)
    info = resume_campaign(engine, campaign_id, clock=clock)
    assert (info.status, info.updated_at) == ("running", clock.now())
    assert info.started_at == clock.now() - timedelta(hours=2)


def test_get_of_a_missing_campaign(engine: Engine) -> None:
    with pytest.raises(CampaignNotFoundError, match="no campaign 5"):
        get_campaign(engine, 5)


# -- cancel -----------------------------------------------------------------------------------


def add_attempt(
    engine: Engine,
    campaign_id: int,
    row: CampaignRecipient,
    number: str,
    state: str,
    *,
    outcome: str | None = None,
    at: datetime,
) -> uuid.UUID:
    attempt_id = uuid.uuid4()
    with Session(engine) as s, s.begin():
        s.add(
            CallAttempt(
                id=attempt_id,
                campaign_id=campaign_id,
                campaign_recipient_id=row.id,
                attempt_no=1,
                state=state,
                outcome=outcome,
                to_number=number,
                state_changed_at=at,
                created_at=at,
                claimed_by="scheduler",
            )
        )
        s.execute(
            sa.update(CampaignRecipient)
            .where(CampaignRecipient.id == row.id)
            .values(
                status="active" if outcome is None else "done",
                final_outcome=outcome,
                attempts=1,
            )
        )
    return attempt_id


def test_cancel_cancels_pending_and_queued_but_leaves_live_calls(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    make_list(engine, tmp_path, "A", [1, 2, 3, 4, 5])
    campaign_id = new_campaign(engine, settings, clock)
    start_campaign(engine, campaign_id, clock=clock)
    rows = recipients(engine, campaign_id)
    earlier = clock.now()
    queued = add_attempt(engine, campaign_id, rows[phone(1)], phone(1), "queued", at=earlier)
    ringing = add_attempt(engine, campaign_id, rows[phone(2)], phone(2), "ringing", at=earlier)
    ended = add_attempt(
        engine, campaign_id, rows[phone(3)], phone(3), "ended", outcome="busy", at=earlier
    )
    clock.advance(30)

    result = cancel_campaign(engine, campaign_id, clock=clock)
    assert result.campaign.status == "cancelled"
    assert result.campaign.finished_at == result.campaign.updated_at == clock.now()
    assert (result.recipients_cancelled, result.attempts_cancelled, result.live_calls) == (3, 1, 1)

    after = recipients(engine, campaign_id)
    assert {n: r.status for n, r in after.items()} == {
        phone(1): "cancelled",
        phone(2): "active",
        phone(3): "done",
        phone(4): "cancelled",
        phone(5): "cancelled",
    }
    assert all(after[phone(n)].updated_at == clock.now() for n in (1, 4, 5))
    assert after[phone(4)].next_attempt_at is None
    with Session(engine) as s:
        states = {
            a.id: (a.state, a.state_changed_at, a.claimed_by)
            for a in s.scalars(sa.select(CallAttempt))
        }
    assert states[queued] == ("cancelled", clock.now(), "campaign-cancel")
    assert states[ringing] == ("ringing", earlier, "scheduler")
    assert states[ended] == ("ended", earlier, "scheduler")
    with pytest.raises(CampaignStateError, match="is cancelled: only a draft"):
        cancel_campaign(engine, campaign_id, clock=clock)


def test_cancel_of_a_draft_touches_no_recipients(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    make_list(engine, tmp_path, "A", [1])
    campaign_id = new_campaign(engine, settings, clock)
    result = cancel_campaign(engine, campaign_id, clock=clock)
    assert (result.campaign.status, result.recipients_cancelled) == ("cancelled", 0)
    with pytest.raises(CampaignStateError, match="only a draft campaign can be started"):
        start_campaign(engine, campaign_id, clock=clock)


# -- complete_if_done -------------------------------------------------------------------------


def test_complete_if_done_waits_for_every_recipient_and_call(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    make_list(engine, tmp_path, "A", [1, 2])
    campaign_id = new_campaign(engine, settings, clock)
    start_campaign(engine, campaign_id, clock=clock)
    rows = recipients(engine, campaign_id)

    def done() -> bool:
        with Session(engine) as s, s.begin():
            return complete_if_done(s, campaign_id, clock=clock)

    assert not done()  # two pending
    add_attempt(engine, campaign_id, rows[phone(1)], phone(1), "ended", outcome="busy",
                at=clock.now())  # fmt: skip
    live = add_attempt(engine, campaign_id, rows[phone(2)], phone(2), "answered", at=clock.now())
    assert not done()  # one active
    with engine.begin() as conn:  # the recipient is final but its call is still up
        conn.execute(
            sa.update(CampaignRecipient)
            .where(CampaignRecipient.id == rows[phone(2)].id)
            .values(status="done", final_outcome="completed")
        )
    assert not done()
    set_status(engine, campaign_id, "paused")
    with engine.begin() as conn:
        conn.execute(
            sa.update(CallAttempt)
            .where(CallAttempt.id == live)
            .values(state="ended", outcome="completed")
        )
    assert not done()  # only a running campaign completes
    set_status(engine, campaign_id, "running")
    clock.advance(5)
    assert done()
    info = get_campaign(engine, campaign_id)
    assert (info.status, info.finished_at, info.updated_at) == (
        "completed", clock.now(), clock.now()
    )  # fmt: skip
    assert not done()


def test_complete_if_done_in_the_callers_transaction_rolls_back_with_it(
    engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("Name,Phone\nAnn,x\n")
    import_list(engine, path, ImportOptions(name="A"))
    campaign_id = new_campaign(engine, settings, clock)
    set_status(engine, campaign_id, "running")
    with Session(engine) as s, s.begin():
        assert complete_if_done(s, campaign_id, clock=clock)
        s.rollback()
    assert get_campaign(engine, campaign_id).status == "running"


# -- concurrency ------------------------------------------------------------------------------


def test_a_transition_waits_for_a_concurrent_one_and_then_sees_its_result(
    pg_engine: Engine, tmp_path: Path, settings: Settings, clock: FrozenClock
) -> None:
    """Compare-and-set: a pause racing a cancel is refused once the cancel commits."""
    make_list(pg_engine, tmp_path, "A", [1])
    campaign_id = new_campaign(pg_engine, settings, clock)
    start_campaign(pg_engine, campaign_id, clock=clock)
    outcome: list[BaseException | str] = []
    with pg_engine.connect() as other:
        tx = other.begin()
        other.execute(  # a cancel in flight: holds the row
            sa.update(Campaign).where(Campaign.id == campaign_id).values(status="cancelled")
        )

        def pause() -> None:
            try:
                outcome.append(pause_campaign(pg_engine, campaign_id, clock=clock).status)
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=pause)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the pause should wait for the row"
        tx.commit()
        thread.join(10)
    assert len(outcome) == 1
    assert isinstance(outcome[0], CampaignStateError)
    assert f"campaign {campaign_id} is cancelled" in str(outcome[0])
