"""The summary's chart: the frame behind it, the PNG, and ``summary --chart``, on PostgreSQL and
SQLite."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.reports.chart import (
    DPI,
    FIGURE_SIZE,
    chart_data,
    chart_png,
    outcomes_over_time,
    pick_bucket,
    write_chart,
)
from dialer.reports.outcomes import CampaignNotFoundError
from dialer.reports.summary import attempts_frame, campaign_summary
from tests.engine.factories import make_campaign
from tests.reports.seed import T0, seed
from tests.reports.test_cli_reports import Reports
from tests.reports.test_summary import NOW, seed_flow

WIDTH, HEIGHT = (round(inches * DPI) for inches in FIGURE_SIZE)


def ended_frame(ends: list[tuple[str, timedelta]]) -> pd.DataFrame:
    """Ended attempts with these outcomes and end times (after T0), and one still ringing."""
    rows = [{"state": "ended", "outcome": outcome, "ended_at": T0 + after, "state_changed_at": T0}
            for outcome, after in ends]  # fmt: skip
    rows.append({"state": "ringing", "outcome": None, "ended_at": None, "state_changed_at": T0})
    return pd.DataFrame(rows)


def image_of(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()  # a truncated or corrupt file fails here
    return image


@pytest.mark.parametrize(
    ("span", "label"),
    [
        (timedelta(minutes=59), "minute"),
        (timedelta(hours=1), "minute"),
        (timedelta(hours=2), "5 minutes"),
        (timedelta(hours=23), "hour"),
        (timedelta(days=7), "6 hours"),
        (timedelta(days=30), "day"),
        (timedelta(days=200), "week"),
        (timedelta(days=2000), "week"),
    ],
)
def test_the_bucket_follows_the_span(span: timedelta, label: str) -> None:
    assert pick_bucket(span).label == label


def test_counts_per_bucket_add_up_to_the_ended_attempts() -> None:
    ends = [("busy", timedelta(seconds=10)), ("no_answer", timedelta(seconds=50)),
            ("no_answer", timedelta(minutes=1, seconds=1)), ("completed", timedelta(minutes=30)),
            ("no_answer", timedelta(minutes=59, seconds=59))]  # fmt: skip
    timeline, bucket = outcomes_over_time(ended_frame(ends))
    assert bucket.label == "minute"
    assert int(timeline.to_numpy().sum()) == len(ends)  # the ringing call is not there
    assert list(timeline.columns) == ["no_answer", "busy", "completed"]  # most frequent first
    assert timeline.sum().to_dict() == {"no_answer": 3, "busy": 1, "completed": 1}
    assert len(timeline) == 60  # every minute, the empty ones too
    assert timeline.index[0] == pd.Timestamp(T0)
    assert str(timeline.index.tz) == "UTC"
    assert timeline.loc[pd.Timestamp(T0)].to_dict() == {"no_answer": 1, "busy": 1, "completed": 0}
    assert int(timeline.loc[pd.Timestamp(T0 + timedelta(minutes=59))].sum()) == 1


def test_weeks_start_on_monday() -> None:
    ends = [("busy", timedelta(days=n)) for n in range(0, 400, 3)]  # T0 is a Monday
    timeline, bucket = outcomes_over_time(ended_frame(ends))
    assert bucket.label == "week"
    assert {stamp.weekday() for stamp in timeline.index} == {0}
    assert int(timeline["busy"].sum()) == len(ends)


def test_the_frame_behind_the_chart(engine: Engine) -> None:
    campaign_id = seed_flow(engine, NOW)
    data = chart_data(engine, campaign_id, now=NOW)
    assert data.summary == campaign_summary(engine, campaign_id, now=NOW)
    assert data.summary["funnel"] == {"dialled": 9, "answered": 8, "human": 6, "pressed": 3,
                                      "queued": 4, "agent_answered": 3}  # fmt: skip
    frame = attempts_frame(engine, campaign_id, extra=("state",))
    ended = frame["state"].eq("ended")
    assert (len(frame), int(ended.sum())) == (10, 9)  # the queued one never ended
    assert int(data.timeline.to_numpy().sum()) == 9
    assert data.timeline.sum().to_dict() == frame.loc[ended, "outcome"].value_counts().to_dict()


def test_the_seeded_campaign_as_a_png(engine: Engine, tmp_path: Path) -> None:
    ids = seed(engine)
    target = tmp_path / "chart.png"
    data = write_chart(engine, ids["campaign"], target)
    png = target.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = image_of(png)
    assert (image.format, image.size) == ("PNG", (WIDTH, HEIGHT))
    assert 20_000 < len(png) < 1_000_000
    assert len(image.convert("RGB").getcolors(1 << 24) or ()) > 50  # bars, text: not blank
    # first and busy end at 15:00 (busy at its last state change), second at 17:01
    assert (data.bucket.label, int(data.timeline.to_numpy().sum())) == ("5 minutes", 3)
    assert data.timeline.sum().to_dict() == {"busy": 1, "completed": 1, "no_answer": 1}
    assert image_of(chart_png(engine, ids["campaign"])).size == (WIDTH, HEIGHT)


def test_no_calls_yet_unknown_campaign_and_bad_paths(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        empty = make_campaign(session).id
        session.commit()
    data = write_chart(engine, empty, tmp_path / "empty.png")
    assert (data.attempts, data.timeline.empty) == (0, True)
    assert image_of((tmp_path / "empty.png").read_bytes()).size == (WIDTH, HEIGHT)
    with pytest.raises(CampaignNotFoundError, match="no campaign 4242"):
        write_chart(engine, 4242, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
    missing = tmp_path / "no" / "such" / "chart.png"
    with pytest.raises(FileNotFoundError, match="no directory"):
        write_chart(engine, empty, missing)
    with pytest.raises(IsADirectoryError, match="it is a directory"):
        write_chart(engine, empty, tmp_path)


def test_summary_chart_command(pg_engine: Engine, tmp_path: Path) -> None:
    # fresh processes are slow: one backend here, the library above runs on both
    run = Reports(pg_engine, tmp_path)
    campaign_id = seed_flow(pg_engine, datetime.now(UTC))
    target = tmp_path / "summary.png"
    done = run("summary", str(campaign_id), "--json", "--chart", str(target))
    assert json.loads(done.stdout)["funnel"]["dialled"] == 9  # stdout stays JSON
    assert f"chart written to {target}" in done.stderr
    assert image_of(target.read_bytes()).size == (WIDTH, HEIGHT)
    missing = tmp_path / "nowhere" / "summary.png"
    assert f"cannot write {missing}: no directory" in run.error(
        "summary", str(campaign_id), "--chart", str(missing)
    )
    assert "error: no campaign 999" in run.error("summary", "999", "--chart", str(target))


def test_the_cli_does_not_import_matplotlib_until_a_chart_is_drawn() -> None:
    code = "import sys, dialer.cli.main; print(sorted(m for m in sys.modules if 'matplotlib' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
