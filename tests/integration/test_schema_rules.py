"""The data model's rules, on both backends: call history survives deletes, states are
constrained, events dedupe per switch instance, times come back aware, updated_at moves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.db.models import (
    CallAttempt,
    CallEvent,
    Campaign,
    CampaignRecipient,
    ContactList,
    Recipient,
)

T0 = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)


def _history(engine: Engine) -> tuple[int, int, uuid.UUID]:
    """A list, a campaign, one recipient in it and one ended call: the ids."""
    with Session(engine) as s, s.begin():
        lst = ContactList(name="L")
        s.add(lst)
        s.flush()
        rec = Recipient(list_id=lst.id, phone_e164="+12125550123", timezones=[], fields={},
                        row_no=2)
        camp = Campaign(name="C", type="broadcast", config={})
        s.add_all([rec, camp])
        s.flush()
        cr = CampaignRecipient(campaign_id=camp.id, recipient_id=rec.id, status="done",
                               final_outcome="completed")
        s.add(cr)
        s.flush()
        attempt = CallAttempt(campaign_id=camp.id, campaign_recipient_id=cr.id,
                              to_number=rec.phone_e164, state="ended", outcome="completed")
        s.add(attempt)
        s.flush()
        s.add(CallEvent(attempt_id=attempt.id, fs_node="fs1", core_uuid="core-a",
                        event_sequence=1, name="CHANNEL_HANGUP_COMPLETE", ts=T0, payload={}))
        return lst.id, camp.id, attempt.id


@pytest.mark.parametrize("table", ["contact_lists", "campaigns"])
def test_deleting_a_list_or_campaign_never_deletes_call_history(
    engine: Engine, table: str
) -> None:
    list_id, campaign_id, attempt_id = _history(engine)
    row_id = list_id if table == "contact_lists" else campaign_id
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {table} WHERE id = :id"), {"id": row_id})
    with Session(engine) as s:
        assert s.get(CallAttempt, attempt_id) is not None
        assert s.scalar(sa.select(sa.func.count()).select_from(CallEvent)) == 1


def test_deleting_an_attempt_with_events_is_refused(engine: Engine) -> None:
    _, _, attempt_id = _history(engine)
    with pytest.raises(sa.exc.IntegrityError), Session(engine) as s, s.begin():
        s.execute(sa.delete(CallAttempt).where(CallAttempt.id == attempt_id))


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("call_attempts", "state", "failed"),
        ("call_attempts", "outcome", "maybe"),
        ("campaign_recipients", "status", "in_progress"),
        ("campaigns", "status", "started"),
    ],
)
def test_states_are_constrained(engine: Engine, table: str, column: str, value: str) -> None:
    _history(engine)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {table} SET {column} = :v"), {"v": value})


def test_an_ended_attempt_must_have_an_outcome(engine: Engine) -> None:
    _history(engine)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text("UPDATE call_attempts SET outcome = NULL"))


def test_event_sequence_restarts_with_a_new_core_uuid(engine: Engine) -> None:
    _, _, attempt_id = _history(engine)
    with Session(engine) as s, s.begin():  # the restarted switch counts from 1 again
        s.add(CallEvent(attempt_id=attempt_id, fs_node="fs1", core_uuid="core-b",
                        event_sequence=1, name="CHANNEL_CREATE", ts=T0, payload={}))
    with pytest.raises(sa.exc.IntegrityError), Session(engine) as s, s.begin():
        s.add(CallEvent(attempt_id=attempt_id, fs_node="fs1", core_uuid="core-b",
                        event_sequence=1, name="CHANNEL_CREATE", ts=T0, payload={}))


def test_times_come_back_aware_in_utc(engine: Engine) -> None:
    _, _, attempt_id = _history(engine)
    local = datetime.fromisoformat("2026-06-02T09:00:00-05:00")
    with Session(engine) as s, s.begin():
        s.get_one(CallAttempt, attempt_id).answered_at = local
    with Session(engine) as s:
        attempt = s.get_one(CallAttempt, attempt_id)
        assert attempt.answered_at == local
        assert attempt.answered_at is not None
        assert attempt.answered_at.tzinfo is UTC
        assert attempt.created_at.tzinfo is UTC
        # comparisons in SQL use the same representation as the stored values
        found = s.scalar(
            sa.select(sa.func.count()).where(CallAttempt.answered_at <= T0)
        )
        assert found == 1


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    _, _, attempt_id = _history(engine)
    with Session(engine) as s:
        s.get_one(CallAttempt, attempt_id).answered_at = datetime(2026, 6, 2, 9)
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            s.commit()


def test_campaign_updated_at_moves_on_update(engine: Engine) -> None:
    _, campaign_id, _ = _history(engine)
    with Session(engine) as s, s.begin():
        s.execute(sa.update(Campaign).values(updated_at=datetime(2020, 1, 1, tzinfo=UTC)))
    with Session(engine) as s, s.begin():
        s.get_one(Campaign, campaign_id).status = "running"
    with Session(engine) as s:
        assert s.get_one(Campaign, campaign_id).updated_at > datetime(2025, 1, 1, tzinfo=UTC)


def test_a_single_call_needs_no_campaign(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        s.add(CallAttempt(to_number="+12125550123", idempotency_key="k1",
                          call_metadata={"companyId": "comp-789"}))
    with Session(engine) as s:
        attempt = s.scalars(sa.select(CallAttempt)).one()
        assert attempt.campaign_id is None
        assert attempt.call_metadata == {"companyId": "comp-789"}
        assert attempt.state == "queued"
