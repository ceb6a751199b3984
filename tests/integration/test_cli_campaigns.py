"""``dialer campaigns`` as an operator runs it: real processes on the embedded SQLite file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_cli import ROOT, SAMPLE, dialer

SAMPLE_CAMPAIGN = ROOT / "dialer" / "samples" / "campaign.yaml"


class Operator:
    """One data directory; every command is a fresh ``python -m dialer`` process."""

    def __init__(self, data: Path) -> None:
        self.env = {"DIALER_DATA_DIR": str(data), "COLUMNS": "200"}

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = dialer(*args, env=self.env)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stdout + done.stderr
        return done

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self(*args, "--json", code=code).stdout)

    def error(self, *args: str) -> str:
        """The ``error: …`` a failing command prints (exit 2), with rich's wrapping undone."""
        done = self(*args, code=2)
        assert done.stderr.startswith("error: "), done.stderr
        return " ".join(done.stderr.split())


@pytest.fixture
def op(tmp_path: Path) -> Operator:
    return Operator(tmp_path / "data")


@pytest.fixture
def sample(op: Operator) -> int:
    """The sample list imported under the name the sample campaign uses."""
    return int(op.json("lists", "import", str(SAMPLE), "--name", "Sample list")["list_id"])


def test_a_campaign_from_create_to_cancel(op: Operator, sample: int) -> None:
    created = op.json("campaigns", "create", str(SAMPLE_CAMPAIGN))
    campaign_id = created["id"]
    assert created["status"] == "draft"
    assert created["lists"] == [{"id": sample, "name": "Sample list"}]
    assert created["pacing"] == {"max_channels": 10, "cps": 5.0}
    assert created["config"]["ring_timeout"] == 20
    assert created["company_id"] == "sample"

    assert [c["id"] for c in op.json("campaigns", "list")] == [campaign_id]
    assert op.json("campaigns", "show", str(campaign_id)) == created

    started = op("campaigns", "start", str(campaign_id)).stdout
    assert f"campaign {campaign_id} started: now running; 61 recipients" in " ".join(
        started.split()
    )
    status = op.json("campaigns", "status", str(campaign_id))
    assert status["status"] == "running"
    assert (status["total"], status["recipients"]["pending"], status["progress"]) == (61, 61, 0)

    assert "paused: now paused" in op("campaigns", "pause", str(campaign_id)).stdout
    assert "resumed: now running" in op("campaigns", "resume", str(campaign_id)).stdout

    waited = op("campaigns", "wait", str(campaign_id), "--timeout", "1", code=1)
    assert f"timed out after 1s; campaign {campaign_id} is running" in waited.stdout
    assert "pending" in waited.stdout
    assert op.json("campaigns", "wait", str(campaign_id), "--timeout", "1", code=1)["status"] == (
        "running"
    )

    cancelled = " ".join(op("campaigns", "cancel", str(campaign_id)).stdout.split())
    assert f"campaign {campaign_id} cancelled: 61 recipients and 0 queued calls cancelled" in (
        cancelled
    )
    final = op.json("campaigns", "wait", str(campaign_id), "--timeout", "1")
    assert (final["status"], final["recipients"]["cancelled"], final["progress"]) == (
        "cancelled", 61, 1.0
    )  # fmt: skip
    assert "cancelled" in op("campaigns", "wait", str(campaign_id)).stdout


def test_human_output(op: Operator, sample: int) -> None:
    campaign_id = str(op.json("campaigns", "create", str(SAMPLE_CAMPAIGN))["id"])
    created = op("campaigns", "create", str(SAMPLE_CAMPAIGN)).stdout
    assert "created as draft; start it with: dialer campaigns start 2" in " ".join(created.split())
    listing = op("campaigns", "list").stdout
    assert "Sample broadcast" in listing
    assert "draft" in listing
    shown = op("campaigns", "show", campaign_id).stdout
    for text in ("+12125550100 (Sample Co)", "10 channels, 5 calls/s", "08:00-21:00", "no_answer"):
        assert text in shown
    op("campaigns", "start", campaign_id)
    status = op("campaigns", "status", campaign_id).stdout
    assert "running, 0.0% of 61 recipients final" in " ".join(status.split())
    assert "pending" in status
    assert "queued" in status


def test_errors_are_one_line_and_exit_2(op: Operator, sample: int, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert op.error("campaigns", "create", str(missing)) == f"error: {missing}: no such file"

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nlists: [a, b\n")
    assert "not valid YAML at line" in op.error("campaigns", "create", str(broken))

    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(
        SAMPLE_CAMPAIGN.read_text()
        .replace("cps: 5 ", "cps: 0 ")
        .replace("ring_timeout: 20", "ring_timeout: 2")
        .replace("name: Sample broadcast", "name: Sample broadcast\ncolour: red")
    )
    message = op.error("campaigns", "create", str(invalid))
    assert message == (
        "error: invalid campaign: pacing.cps: must be > 0 ring_timeout: must be >= 5 "
        "colour: unknown key (not part of the campaign format)"
    )

    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(SAMPLE_CAMPAIGN.read_text().replace("- Sample list", "- '[bold]Other'"))
    assert op.error("campaigns", "create", str(unknown)) == (
        "error: lists: unknown list '[bold]Other'"
    )
    trunk = tmp_path / "trunk.yaml"
    trunk.write_text(SAMPLE_CAMPAIGN.read_text().replace("trunk: default", "trunk: carrier"))
    assert op.error("campaigns", "create", str(trunk)) == (
        "error: trunk: unknown trunk 'carrier' (configured in DIALER_TRUNKS: 'default')"
    )
    assert op.json("campaigns", "list") == []

    assert op.error("campaigns", "show", "99") == "error: no campaign 99"
    assert op.error("campaigns", "status", "99") == "error: no campaign 99"
    assert op.error("campaigns", "wait", "99", "--timeout", "1") == "error: no campaign 99"
    campaign_id = str(op.json("campaigns", "create", str(SAMPLE_CAMPAIGN))["id"])
    assert op.error("campaigns", "pause", campaign_id) == (
        f"error: campaign {campaign_id} is draft: only a running or scheduled campaign can be "
        "paused"
    )
    assert op.error("campaigns", "resume", campaign_id) == (
        f"error: campaign {campaign_id} is draft: only a paused campaign can be resumed"
    )
    op("campaigns", "start", campaign_id)
    assert op.error("campaigns", "start", campaign_id) == (
        f"error: campaign {campaign_id} is running: only a draft campaign can be started"
    )
    op("campaigns", "cancel", campaign_id)
    assert op.error("campaigns", "cancel", campaign_id) == (
        f"error: campaign {campaign_id} is cancelled: only a draft, scheduled, running or paused "
        "campaign can be cancelled"
    )


def test_hostile_files_are_clear_errors(op: Operator, tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"name: " + b"a" * (10 << 20))
    assert "larger than 1024 KiB" in op.error("campaigns", "create", str(huge))
    deep = tmp_path / "deep.yaml"
    deep.write_text("metadata: " + "{a: " * 5000 + "}" * 5000)
    assert "nested more than 32 levels deep" in op.error("campaigns", "create", str(deep))


def test_usage_errors_exit_2(op: Operator) -> None:
    done = op("campaigns", "show", "not-a-number", code=2)
    assert "Traceback" not in done.stderr
    done = op("campaigns", "wait", "1", "--timeout", "-1", code=2)
    assert "--timeout" in done.stderr


def test_active_calls_of_a_campaign_before_any_call_and_of_no_campaign(
    op: Operator, sample: int
) -> None:
    campaign_id = op.json("campaigns", "create", str(SAMPLE_CAMPAIGN))["id"]
    assert op.json("campaigns", "active", str(campaign_id)) == {
        "activeChannels": 0, "maxChannels": 10, "calls": [],
    }  # fmt: skip
    assert "0/10 channels in use" in op("campaigns", "active", str(campaign_id)).stdout
    assert "no campaign 999" in op.error("campaigns", "active", "999")
