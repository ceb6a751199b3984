"""The shipped demo list: made by its generator (byte for byte), fictional numbers only."""

from __future__ import annotations

import csv
import fnmatch
import re
import tomllib
from pathlib import Path

from dialer.demo.sample_list import DEFAULT_PATH, render

FICTIONAL = re.compile(r"^\+1\d{3}55501\d{2}$")


def test_the_shipped_csv_is_what_the_generator_writes() -> None:
    assert DEFAULT_PATH.read_text(encoding="utf-8") == render()


def test_every_number_is_a_fictional_555_01xx_line() -> None:
    with Path(DEFAULT_PATH).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert 2900 <= len(rows) <= 3100
    digits = [re.sub(r"\D", "", row["Phone"]) for row in rows]
    numbers = ["+1" + d[-10:] for d in digits if len(d) in (10, 11)]
    assert numbers, "no numbers at all"
    for number in numbers:
        assert FICTIONAL.match(number), number


def test_the_demo_files_ship_in_the_package() -> None:
    """pyproject's package-data globs take the list, the campaign and the scenario into a
    wheel (the demo reads them with importlib.resources)."""
    root = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["package-data"]["dialer"]
    for name in (
        "samples/demo_contacts.csv",
        "samples/demo_campaign.yaml",
        "simulator/profiles/demo.yaml",
    ):
        assert (root / "dialer" / name).is_file(), name
        assert any(fnmatch.fnmatch(name, pattern) for pattern in globs), name
