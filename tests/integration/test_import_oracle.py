"""A generated 50k-row messy file: the importer's counts and stored values match an
independent computation with the csv module and phonenumbers (tests/support/expected_import)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dialer import dnc
from dialer.lists import ImportOptions, import_list
from tests.support.expected_import import Expected, expected_import
from tests.support.messy_csv import GenerationInfo, generate
from tests.support.stored import stored_recipients

ROWS = 50_000


@pytest.fixture(scope="module")
def messy_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationInfo, Expected]:
    path = tmp_path_factory.mktemp("oracle") / "contacts.csv"
    info = generate(path, ROWS, seed=20261121, dnc_share=0.01)
    expected = expected_import(path, dnc=info.dnc)
    return path, info, expected


@pytest.mark.slow
def test_import_matches_independent_computation(
    engine: Engine, messy_file: tuple[Path, GenerationInfo, Expected], tmp_path: Path
) -> None:
    path, info, expected = messy_file
    assert len(info.dnc) > 0
    dnc.add(engine, sorted(info.dnc), source="test")
    rejects = tmp_path / "rejects.csv"

    result = import_list(engine, path, ImportOptions(name="messy", rejects_path=rejects))

    assert result.rows == expected.rows == ROWS
    assert result.accepted == len(expected.accepted)
    assert result.rejected == expected.counts
    # Every reason the contract knows shows up in a file this messy.
    assert set(expected.counts) >= {
        "empty", "unparseable", "invalid_number", "unsupported_type", "duplicate_in_file", "dnc",
    }  # fmt: skip

    stored = stored_recipients(engine)
    assert len(stored) == len(expected.accepted)
    for row in expected.accepted:
        assert stored[row.line] == (row.phone_e164, row.timezones, row.fields), row.line

    with rejects.open(newline="", encoding="utf-8") as handle:
        rejected = [(int(r["line"]), r["reason"]) for r in csv.DictReader(handle)]
    assert sorted(rejected) == sorted((r.line, r.reason) for r in expected.rejected)

    # The same file again: everything it accepted is now a duplicate in the list.
    again = import_list(engine, path, ImportOptions(list_id=result.list_id))
    assert again.accepted == 0
    assert again.rejected["duplicate_in_list"] == len(expected.accepted)
