"""Call detail of calls not yet ended, and of no call: the same schema, a clear error."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import jsonschema
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.call_detail import DETAIL_SCHEMA, CallNotFoundError, call_detail
from tests.engine.factories import make_attempt, make_campaign, make_recipient


def test_a_live_call_shows_what_is_known_so_far(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as s:
        campaign = make_campaign(s)
        progress = make_recipient(s, campaign, phone="+12125550188")
        row = make_attempt(s, campaign=campaign, progress=progress, state="answered")
        row.started_at = datetime(2026, 6, 2, 15, 0, 0, 250000, tzinfo=UTC)
        row.answered_at = datetime(2026, 6, 2, 15, 0, 4, tzinfo=UTC)
        row.amd_enabled, row.amd_result, row.amd_duration_ms = True, "human", 1400
        s.commit()
    detail = call_detail(engine, str(row.id))
    jsonschema.validate(detail, DETAIL_SCHEMA)
    assert (detail["status"], detail["outcome"]) == ("in_progress", None)
    assert detail["timing"]["startedAt"] == "2026-06-02T15:00:00.250Z"
    assert detail["timing"]["endedAt"] is None
    assert detail["timing"]["totalDurationSec"] is None
    assert detail["amd"] == {"enabled": True, "result": "human", "durationMs": 1400}
    assert detail["queue"]["entered"] is False
    assert detail["recording"] == {"enabled": False, "url": None, "durationSec": None}


def test_no_such_call_is_a_clear_error(engine: Engine) -> None:
    with pytest.raises(CallNotFoundError, match="'nope' is not a call uuid"):
        call_detail(engine, "nope")
    unknown = str(uuid.uuid4())
    with pytest.raises(CallNotFoundError, match=f"no call {unknown}"):
        call_detail(engine, unknown)
