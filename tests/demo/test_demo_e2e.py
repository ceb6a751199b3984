"""``dialer demo`` as a user runs it (a subprocess, the shipped list and campaign, the in-process
simulator and webhook receiver), judged by its files: the counts agree with each other, with an
import oracle of our own and with what the receiver got, and summary.json is what the CSVs say.

One run serves every check (module fixture); it uses the first :data:`ROWS` rows of the shipped
list, bad rows included, to keep the suite fast.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from dialer.demo.sample_list import DEFAULT_PATH

ROWS = 300
SEED = 5

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Demo:
    out: Path
    data_dir: Path
    stdout: str
    outcomes: list[dict[str, str]]
    cdr: list[dict[str, str]]
    summary: dict[str, Any]
    webhooks: list[dict[str, Any]]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("demo")
    out, data_dir = root / "out", root / "user-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    # a user's own set-up the demo must not use or touch
    env["DIALER_DATA_DIR"] = str(data_dir)
    env["DIALER_LOG_LEVEL"] = "INFO"
    done = subprocess.run(
        [sys.executable, "-m", "dialer", "demo", "--out", str(out), "--no-display",
         "--rows", str(ROWS), "--seed", str(SEED)],
        cwd=root, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    lines = (out / "webhooks.jsonl").read_text(encoding="utf-8").splitlines()
    return Demo(
        out=out,
        data_dir=data_dir,
        stdout=done.stdout,
        outcomes=_csv(out / "outcomes.csv"),
        cdr=_csv(out / "cdr.csv"),
        summary=json.loads((out / "summary.json").read_text(encoding="utf-8")),
        webhooks=[json.loads(line) for line in lines],
    )


def _valid_recipients(rows: int) -> set[str]:
    """The import oracle: distinct valid US/CA numbers of the first rows, premium rate out."""
    with DEFAULT_PATH.open(encoding="utf-8", newline="") as handle:
        data = list(csv.DictReader(handle))[:rows]
    found: set[str] = set()
    for row in data:
        try:
            number = phonenumbers.parse(row["Phone"], "US")
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        if phonenumbers.number_type(number) == PhoneNumberType.PREMIUM_RATE:
            continue
        found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return found


def test_one_outcome_row_per_valid_recipient(demo: Demo) -> None:
    expected = _valid_recipients(ROWS)
    assert len(expected) > ROWS * 0.9
    assert {row["number"] for row in demo.outcomes} == expected
    assert len(demo.outcomes) == len(expected)
    assert {row["status"] for row in demo.outcomes} == {"done"}
    # the list's own columns come through
    assert {"first_name", "email", "plan"} <= set(demo.outcomes[0])


def test_the_attempts_of_the_outcomes_are_the_rows_of_the_cdr(demo: Demo) -> None:
    assert sum(int(row["attempts"]) for row in demo.outcomes) == len(demo.cdr)
    assert all(row["state"] == "ended" and row["outcome"] for row in demo.cdr)
    last_calls = {row["last_call_uuid"] for row in demo.outcomes}
    assert last_calls <= {row["call_uuid"] for row in demo.cdr}
    # a realistic mix, not one path: the scenario's outcomes all show up
    outcomes = Counter(row["outcome"] for row in demo.cdr)
    for outcome in ("no_answer", "busy", "agent_answered", "voicemail_left", "ivr_timeout"):
        assert outcomes[outcome] > 0, outcomes
    # the campaign retries nothing: one call per recipient
    assert {int(row["attempts"]) for row in demo.outcomes} == {1}


def test_every_webhook_was_verified_and_each_call_completed_once(demo: Demo) -> None:
    assert demo.webhooks
    assert all(line["verified"] is True for line in demo.webhooks)
    ids = [line["webhook_id"] for line in demo.webhooks]
    assert len(set(ids)) == len(ids), "an event delivered twice"
    completed = [line for line in demo.webhooks if line["event"] == "campaign.completed"]
    calls = [line["payload"]["data"]["callUuid"] for line in completed]
    assert sorted(calls) == sorted(row["call_uuid"] for row in demo.cdr)
    initiated = {
        line["payload"]["data"]["callUuid"]
        for line in demo.webhooks
        if line["event"] == "campaign.call_initiated"
    }
    assert initiated <= set(calls)
    assert {row["call_uuid"] for row in demo.cdr if row["answered_at"]} <= initiated
    total = len(demo.webhooks)
    assert (
        f"webhooks: {total:,} received, {total:,} signatures verified, "
        f"{len(completed):,} campaign.completed (one per call)"
    ) in demo.stdout


def test_the_summary_is_what_the_cdr_says(demo: Demo) -> None:
    rows = demo.cdr
    dialled = [r for r in rows if r["started_at"]]
    answered = [r for r in rows if r["answered_at"]]
    machine = [r for r in answered if r["amd_result"] == "machine"]
    human = [r for r in answered if r["amd_result"] != "machine"]
    pressed = [
        r for r in human if r["ivr_result"] == "digit_pressed" and r["outcome"] != "opted_out"
    ]
    queued = [r for r in rows if r["handoff_type"] == "queue" or r["queue_name"]]
    agent = [r for r in queued if r["queue_result"] == "answered"]
    summary = demo.summary
    assert summary["funnel"] == {
        "dialled": len(dialled),
        "answered": len(answered),
        "human": len(human),
        "pressed": len(pressed),
        "queued": len(queued),
        "agent_answered": len(agent),
    }
    assert summary["answer_rate"] == round(len(answered) / len(dialled), 4)
    amd = [r for r in answered if r["amd_enabled"].lower() == "true"]
    assert summary["amd_machine_rate"] == round(len(machine) / len(amd), 4)
    assert summary["press1_rate"] == round(len(pressed) / len(human), 4)
    # every queue handoff of the simulated morning is inside the 30-day window
    assert summary["abandonment"]["handoffs"] == len(queued) > 0
    abandoned = [r for r in queued if r["abandoned"].lower() == "true"]
    assert summary["abandonment"]["abandoned"] == len(abandoned)


def test_the_calls_ran_on_a_simulated_tuesday_morning(demo: Demo) -> None:
    starts = sorted(r["started_at"] for r in demo.cdr if r["started_at"])
    assert starts[0].startswith("2026-06-02T15:")  # 11:00 in New York
    assert starts[-1] < "2026-06-02T19:00"
    pattern = re.compile(r"^\+1\d{3}55501\d{2}$")
    assert all(pattern.match(r["to_number"]) for r in demo.cdr)


def test_the_chart_is_a_png_and_the_user_data_is_untouched(demo: Demo) -> None:
    assert (demo.out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (demo.out / "demo.sqlite3").is_file()
    assert not demo.data_dir.exists()
    for name in ("outcomes.csv", "cdr.csv", "summary.json", "chart.png", "webhooks.jsonl"):
        assert str(demo.out / name) in demo.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rows", "0"], "--rows: between 1 and 3000"),
        (["--rows", "999999"], "--rows: between 1 and 3000"),
    ],
)
def test_bad_options_get_one_line_and_no_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dialer", "demo", "--out", str(tmp_path / "out"), "--no-display",
         *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_an_out_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("mine", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "dialer", "demo", "--out", str(target), "--no-display"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "is not a directory" in done.stderr
    assert "Traceback" not in done.stderr
    assert target.read_text(encoding="utf-8") == "mine"
