"""A generated CRM export (formatted numbers, extensions, garbage, 3 KB notes): the importer's
counts and stored rows match the independent oracle (tests/support/expected_import)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from bench.crm_csv import generate_crm
from dialer.lists import ImportOptions, import_list
from tests.support.expected_import import Expected, expected_import
from tests.support.stored import stored_recipients

ROWS = 20_000


@pytest.fixture(scope="module")
def crm_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    path = tmp_path_factory.mktemp("crm") / "export.csv"
    generate_crm(path, ROWS, seed=20261201)
    return path, expected_import(path)


@pytest.mark.slow
def test_crm_export_matches_independent_computation(
    engine: Engine, crm_file: tuple[Path, Expected]
) -> None:
    path, expected = crm_file
    result = import_list(engine, path, ImportOptions(name="crm"))

    assert result.rows == expected.rows == ROWS
    assert result.accepted == len(expected.accepted)
    assert result.rejected == expected.counts
    assert set(expected.counts) >= {"empty", "unparseable", "invalid_number", "duplicate_in_file"}
    stored = stored_recipients(engine)
    assert len(stored) == len(expected.accepted)
    for row in expected.accepted:
        assert stored[row.line] == (row.phone_e164, row.timezones, row.fields), row.line
