"""``dialer campaigns create`` prints what is valid but probably not meant."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import SAMPLE
from tests.integration.test_cli_campaigns import SAMPLE_CAMPAIGN, Operator


def test_create_warns_about_a_broadcast_without_message(tmp_path: Path) -> None:
    op = Operator(tmp_path / "data")
    op("lists", "import", str(SAMPLE), "--name", "Sample list")
    done = op("campaigns", "create", str(SAMPLE_CAMPAIGN))
    assert " ".join(done.stderr.split()) == (
        "warning: message: not set, so this broadcast plays nothing to those it reaches"
    )
    assert "created as draft" in done.stdout

    with_message = tmp_path / "with_message.yaml"
    with_message.write_text(
        SAMPLE_CAMPAIGN.read_text(encoding="utf-8") + "message: sounds/offer.wav\n",
        encoding="utf-8",
    )
    done = op("campaigns", "create", str(with_message), "--json")
    assert done.stderr == ""
