"""The CDR's PostgreSQL COPY writes byte for byte what the Python rows make of the same
attempts: spreadsheet-safe text, E.164 numbers, ISO times, floats, booleans, empty cells."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.reports.cdr import cdr_report
from dialer.reports.cells import MAX_CELL
from dialer.reports.stream import write_csv
from tests.engine.factories import make_attempt, make_campaign, make_recipient
from tests.reports.seed import ATTEMPTS, T0, update

AWKWARD_TEXT = ["=SUM(A1)", "  +1 call", "-x", "@here", "\tTab", "\rCR", "plain", "a,b",
                'say "hi"', "line\nbreak", "crlf\r\nend", "", " ", "é ü 漢字", "'quoted",
                "x" * (MAX_CELL + 10), "=" + "y" * MAX_CELL]  # fmt: skip
AWKWARD_FLOATS = [0.0, 30.0, 12.5, 0.1, 1e-05, 1.5e-07, 1e15, 123456789.0, 2.675, 1e20, None]
AWKWARD_NUMBERS = ["+12125550111", "+0123", "12125550111", "=1+2", "+1 212 555",
                   "+1234567890123456", "+123456789012345"]  # fmt: skip


def python_csv(engine: Engine, **select: Any) -> str:
    report = cdr_report(engine, **select)
    out = io.StringIO()
    write_csv(out, report.header, report.rows)
    return out.getvalue()


def copied_csv(engine: Engine, **select: Any) -> tuple[str, int]:
    out = io.StringIO()
    written = cdr_report(engine, **select).write(out)
    return out.getvalue(), written


def seed_awkward(engine: Engine) -> int:
    with Session(engine) as session:
        campaign = make_campaign(session)
        person = make_recipient(session, campaign, attempts=1)
        for n in range(max(len(AWKWARD_TEXT), len(AWKWARD_FLOATS), len(AWKWARD_NUMBERS))):
            text = AWKWARD_TEXT[n % len(AWKWARD_TEXT)]
            number = AWKWARD_NUMBERS[n % len(AWKWARD_NUMBERS)]
            progress = person if n == 0 else None
            attempt = make_attempt(session, campaign=campaign, progress=progress, to_number=number)
            zone = timezone(timedelta(hours=n - 5))  # stored as UTC whatever the zone given
            start = datetime(2026, 11, 30, 15, 0, 1, 123_999, tzinfo=zone)
            created = start + timedelta(hours=2 * n)
            update(
                session, ATTEMPTS, attempt.id,
                created_at=created, started_at=None if n % 2 else created,
                answered_at=created + timedelta(microseconds=999_999) if n % 3 else None,
                ended_at=T0 + timedelta(days=n, microseconds=n * 1_001),
                ring_duration_sec=AWKWARD_FLOATS[n % len(AWKWARD_FLOATS)],
                queue_wait_seconds=AWKWARD_FLOATS[-1 - n % len(AWKWARD_FLOATS)],
                billsec=n * 7 if n % 4 else None, amd_enabled=n % 2 == 0,
                abandoned=None if n % 3 == 0 else n % 3 == 1,
                amd_result=text[:30], agent_name=text[:200], handoff_target=text[:200],
                hangup_cause=text[:50], error=text, recording_url=text,
                disposition=text[:100], caller_id_number=AWKWARD_NUMBERS[-1 - n % 6],
                state="ended", outcome="completed",
                metadata={"recipientId": [f"r-{n}", n, "=evil", None, 2.5, True][n % 6]},
            )  # fmt: skip
        session.commit()
        return campaign.id


def test_copy_writes_what_the_python_rows_write(pg_engine: Engine) -> None:
    campaign_id = seed_awkward(pg_engine)
    expected = python_csv(pg_engine, campaign_id=campaign_id)
    copied, written = copied_csv(pg_engine, campaign_id=campaign_id)
    assert written == len(AWKWARD_TEXT)
    assert "'=SUM(A1)" in expected  # the awkward values are there
    assert "crlf\r\nend" in expected
    assert copied == expected


def test_copy_honours_the_range_and_writes_a_file_with_its_bom(
    pg_engine: Engine, tmp_path: Path
) -> None:
    campaign_id = seed_awkward(pg_engine)
    since = datetime(2026, 11, 30, 22, tzinfo=UTC)
    select: dict[str, Any] = {"campaign_id": campaign_id, "since": since,
                              "until": since + timedelta(hours=10)}  # fmt: skip
    target = tmp_path / "cdr.csv"
    with target.open("w", encoding="utf-8-sig", newline="") as out:
        written = cdr_report(pg_engine, **select).write(out)
    expected = python_csv(pg_engine, **select)
    assert 0 < written < len(AWKWARD_TEXT)
    assert target.read_bytes() == b"\xef\xbb\xbf" + expected.encode("utf-8")
    assert uuid.UUID(expected.splitlines()[1].split(",")[0])  # a row, not just the header
