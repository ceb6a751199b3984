"""A large export streams: memory at 50,000 attempts is about what it is at 5,000."""

from __future__ import annotations

import tracemalloc
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.reports.cdr import cdr_report
from dialer.reports.stream import write_csv
from tests.engine.factories import make_campaign
from tests.reports.seed import ATTEMPTS, T0


class Sink:
    """A file that keeps nothing but its length."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)


def add_attempts(engine: Engine, campaign_id: int, count: int) -> None:
    rows: list[dict[str, Any]] = [
        {"id": uuid.uuid4(), "campaign_id": campaign_id, "attempt_no": 1, "state": "ended",
         "to_number": f"+1212555{n % 10000:04d}", "caller_id_number": "+12125550100",
         "options": {}, "metadata": {}, "outcome": "completed", "billsec": 30,
         "created_at": T0 + timedelta(seconds=n), "hangup_cause": "NORMAL_CLEARING",
         "disposition": "x" * 60}
        for n in range(count)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(ATTEMPTS.insert(), rows)


def peak_of_export(engine: Engine, campaign_id: int) -> tuple[int, int]:
    tracemalloc.start()
    try:
        report = cdr_report(engine, campaign_id=campaign_id)
        written = write_csv(Sink(), report.header, report.rows)  # type: ignore[arg-type]
        return written, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_fifty_thousand_attempts_export_in_flat_memory(engine: Engine) -> None:
    with Session(engine) as session:
        small, large = make_campaign(session).id, make_campaign(session).id
        session.commit()
    add_attempts(engine, small, 5_000)
    add_attempts(engine, large, 50_000)
    written_small, peak_small = peak_of_export(engine, small)
    written_large, peak_large = peak_of_export(engine, large)
    assert (written_small, written_large) == (5_000, 50_000)
    # Holding 50,000 rows would take tens of MB; streamed, the peak barely moves.
    assert peak_large < 2 * peak_small + 1_000_000, (peak_small, peak_large)
