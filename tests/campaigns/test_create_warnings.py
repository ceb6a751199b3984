"""``dialer campaigns create`` prints what is valid but probably not meant."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import SAMPLE
from tests.integration.test_cli_campaigns import SAMPLE_CAMPAIGN, Operator


def test_create_warns_about_a_broadcast_without_message(tmp_path: Path) -> None:
    op = Operator(tmp_path / "data")
    op("lists", "import", str(SAMPLE), "--name", "Sample list")
    sample = SAMPLE_CAMPAIGN.read_text(encoding="utf-8")
    lines = sample.splitlines(keepends=True)
    silent = tmp_path / "silent.yaml"
    silent.write_text("".join(line for line in lines if not line.startswith("message:")))
    assert len(silent.read_text().splitlines()) == len(lines) - 1  # the sample has a message
    done = op("campaigns", "create", str(silent))
    assert " ".join(done.stderr.split()) == (
        "warning: message: not set, so this broadcast plays nothing to those it reaches"
    )
    assert "created as draft" in done.stdout

    # the shipped sample says what to play: no warning
    done = op("campaigns", "create", str(SAMPLE_CAMPAIGN), "--json")
    assert done.stderr == ""
