"""The outcomes and CDR reports as library calls, on PostgreSQL and SQLite."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.reports.cdr import HEADER, cdr_report
from dialer.reports.outcomes import CampaignNotFoundError, Report, outcomes_report
from dialer.reports.stream import write_csv
from tests.engine.factories import make_campaign, make_recipient
from tests.reports.seed import RECIPIENTS, T0, seed, update


def parsed(report: Report) -> list[dict[str, str]]:
    out = io.StringIO()
    write_csv(out, report.header, report.rows)
    return list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))


def test_outcomes_one_row_per_recipient_with_its_last_call(engine: Engine) -> None:
    ids = seed(engine)
    report = outcomes_report(engine, ids["campaign"])
    assert report.total == 3
    assert list(report.header[:4]) == ["number", "name", "plan", "city"]
    ann, bob, cid = parsed(report)
    assert ann == {
        "number": "+12125550111", "name": "Ann", "plan": "gold", "city": "",
        "status": "done", "final_outcome": "completed", "attempts": "2",
        "last_call_uuid": ids["second"], "started_at": "2026-11-30T17:00:00.000Z",
        "answered_at": "2026-11-30T17:00:05.000Z", "ended_at": "2026-11-30T17:01:05.000Z",
        "billsec": "60", "amd_result": "HUMAN", "digit_pressed": "1",
        "queue_wait_seconds": "12.5", "agent_id": "1001", "agent_name": "Dana",
        "disposition": "transferred", "hangup_cause": "NORMAL_CLEARING",
    }  # fmt: skip
    assert (bob["number"], bob["city"], bob["last_call_uuid"]) == (
        "+442071838750",
        "London",
        ids["busy"],
    )
    assert (bob["final_outcome"], bob["hangup_cause"], bob["started_at"]) == (
        "busy",
        "USER_BUSY",
        "2026-11-30T15:00:00.000Z",
    )
    assert (cid["status"], cid["last_call_uuid"], cid["ended_at"], cid["name"]) == (
        "pending",
        "",
        "",
        "Cid",
    )


def test_an_unknown_campaign_is_a_clear_error(engine: Engine) -> None:
    with pytest.raises(CampaignNotFoundError, match="no campaign 4242"):
        outcomes_report(engine, 4242)
    with pytest.raises(CampaignNotFoundError, match="no campaign 4242"):
        cdr_report(engine, campaign_id=4242)


def test_a_list_column_named_like_a_report_column_is_prefixed(engine: Engine) -> None:
    with Session(engine) as session:
        campaign = make_campaign(session)
        one = make_recipient(session, campaign)
        update(session, RECIPIENTS, one.recipient_id, fields={"status": "VIP", "number": "7"})
        campaign_id = campaign.id
        session.commit()
    (row,) = parsed(report := outcomes_report(engine, campaign_id))
    assert list(report.header[:3]) == ["number", "list.number", "list.status"]
    assert (row["number"], row["list.status"], row["list.number"], row["status"]) == (
        "+12125550111",
        "VIP",
        "7",
        "active",
    )


def test_cdr_one_row_per_attempt_of_the_campaign_oldest_first(engine: Engine) -> None:
    ids = seed(engine)
    rows = parsed(report := cdr_report(engine, campaign_id=ids["campaign"]))
    assert tuple(report.header) == HEADER
    assert report.total == 3
    assert [r["call_uuid"] for r in rows] == [ids["first"], ids["second"], ids["busy"]]
    second = rows[1]
    assert {k: second[k] for k in ("campaign_id", "recipient_id", "to_number",
            "caller_id_number", "attempt_no", "state", "outcome", "billsec", "amd_enabled",
            "amd_result", "ivr_digit", "queue_name", "queue_wait_seconds", "agent_id",
            "handoff_type", "handoff_target", "recording_path", "hangup_cause", "fs_node",
            "error", "abandoned")} == {
        "campaign_id": str(ids["campaign"]), "recipient_id": str(ids["ann"]),
        "to_number": "+12125550111", "caller_id_number": "+12125550100", "attempt_no": "2",
        "state": "ended", "outcome": "completed", "billsec": "60", "amd_enabled": "true",
        "amd_result": "HUMAN", "ivr_digit": "1", "queue_name": "sales",
        "queue_wait_seconds": "12.5", "agent_id": "1001", "handoff_type": "queue",
        "handoff_target": "sales", "recording_path": "/rec/a.wav",
        "hangup_cause": "NORMAL_CLEARING", "fs_node": "fs1", "error": "", "abandoned": "",
    }  # fmt: skip
    assert rows[2]["recipient_id"] == str(ids["bob"])
    assert len(parsed(cdr_report(engine))) == 4  # every campaign's


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (T0, T0 + timedelta(hours=1), ["first"]),
        (T0 + timedelta(hours=1), None, ["second", "busy"]),
        (None, T0 + timedelta(days=1), ["first", "second"]),
    ],
)
def test_cdr_range_is_on_creation_since_inclusive_until_exclusive(
    engine: Engine, since: Any, until: Any, expected: list[str]
) -> None:
    ids = seed(engine)
    report = cdr_report(engine, campaign_id=ids["campaign"], since=since, until=until)
    assert [r["call_uuid"] for r in parsed(report)] == [ids[name] for name in expected]
    assert report.total == len(expected)
