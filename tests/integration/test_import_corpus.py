"""The nasty-CSV corpus, imported into real PostgreSQL and SQLite."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from dialer import dnc
from dialer.lists import ImportOptions, ListImportError, import_list

CORPUS = Path(__file__).resolve().parents[1] / "data" / "csv"


def run(engine: Engine, file: str, **options: Any) -> Any:
    options.setdefault("name", "corpus")
    return import_list(engine, CORPUS / file, ImportOptions(**options))


def stored(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT phone_e164, timezones, fields, row_no FROM recipients ORDER BY row_no")
        ).mappings()
        result = []
        for row in rows:
            item = dict(row)
            for key in ("timezones", "fields"):
                if isinstance(item[key], str):  # SQLite returns JSON text to raw SQL
                    item[key] = json.loads(item[key])
            result.append(item)
        return result


def list_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM contact_lists")).scalar_one())


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "the file is empty"),
        ("header_only.csv", "has a header but no data rows"),
        ("no_phone_column.csv", "no phone column found"),
        (
            "two_phone_columns.csv",
            "several columns could hold the phone number ('Phone', 'Mobile')",
        ),
        ("binary.csv", "contains NUL bytes"),
        ("unterminated_quote.csv", "line 3: a quoted field is never closed"),
        ("missing.csv", "no such file"),
    ],
)
def test_fatal_files_import_nothing_and_say_why(engine: Engine, name: str, message: str) -> None:
    with pytest.raises(ListImportError) as info:
        run(engine, name)
    assert message in str(info.value)
    assert list_count(engine) == 0
    assert stored(engine) == []


def test_no_phone_column_lists_the_headers(engine: Engine) -> None:
    with pytest.raises(ListImportError, match=r"'Name', 'Email', 'City'.*--phone-column"):
        run(engine, "no_phone_column.csv")


def test_explicit_phone_column_resolves_two_candidates(engine: Engine) -> None:
    result = run(engine, "two_phone_columns.csv", phone_column="Mobile")
    assert result.accepted == 1
    [row] = stored(engine)
    assert row["phone_e164"] == "+14155552672"
    assert row["fields"] == {"name": "Ann", "phone": "+14155552671"}


def test_unknown_requested_column_and_region_are_fatal(engine: Engine) -> None:
    with pytest.raises(ListImportError, match="phone column 'Cell' is not in the file"):
        run(engine, "bom.csv", phone_column="Cell")
    with pytest.raises(ListImportError, match="unknown default region 'XX'"):
        run(engine, "bom.csv", default_region="XX")
    assert list_count(engine) == 0


def test_bom_is_not_part_of_the_first_header(engine: Engine) -> None:
    result = run(engine, "bom.csv")
    assert (result.encoding, result.phone_column, result.accepted) == ("utf-8-sig", "Phone", 1)
    assert stored(engine)[0]["fields"] == {"name": "Ann"}


def test_cp1252_is_detected_and_decoded(engine: Engine) -> None:
    result = run(engine, "cp1252.csv")
    assert result.encoding == "cp1252"
    assert [r["fields"] for r in stored(engine)] == [
        {"name": "José Müller", "price": "5€"},
        {"name": "Zoë “quoted”", "price": "10"},
    ]


def test_crlf_line_endings_leave_no_carriage_returns(engine: Engine) -> None:
    run(engine, "crlf.csv")
    assert [r["fields"]["name"] for r in stored(engine)] == ["Ann", "Bob"]


def test_quoted_newlines_are_kept_and_lines_counted(engine: Engine, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    result = run(engine, "quoted_newlines.csv", rejects_path=rejects)
    assert (result.rows, result.accepted) == (4, 2)
    assert result.rejected == {"unparseable": 1, "empty": 1}
    rows = stored(engine)
    assert [r["row_no"] for r in rows] == [2, 6]
    assert rows[0]["fields"]["notes"] == "line one\nline two\nline three"
    assert rows[1]["fields"]["notes"] == "a\r\nb"
    assert [(r["line"], r["reason"]) for r in read_rejects(rejects)] == [
        ("5", "unparseable"),
        ("8", "empty"),
    ]


def test_blank_lines_do_not_shift_line_numbers(engine: Engine, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    run(engine, "blank_lines.csv", rejects_path=rejects)
    assert [r["row_no"] for r in stored(engine)] == [3, 7]
    assert [r["line"] for r in read_rejects(rejects)] == ["6", "10"]


def test_huge_cell_is_stored_intact(engine: Engine, tmp_path: Path) -> None:
    huge = "x" * (1 << 20) + ',"quoted"\n' + "y" * 1000
    path = tmp_path / "huge.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["Phone", "Notes"], ["+14155552671", huge]])
    result = import_list(engine, path, ImportOptions(name="huge"))
    assert result.accepted == 1
    assert stored(engine)[0]["fields"]["notes"] == huge


def test_formula_looking_values_stay_inert(engine: Engine, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    run(engine, "formulas.csv", rejects_path=rejects)
    fields = [r["fields"] for r in stored(engine)]
    assert fields == [
        {"name": "=cmd|' /C calc'!A0", "notes": '=HYPERLINK("http://x","y")'},
        {"name": "@SUM(1+1)", "notes": "-2+3"},
    ]
    [reject] = read_rejects(rejects)
    assert reject["reason"] == "unparseable"
    # The rejects file is opened in spreadsheets: formulas are defused there, only there.
    assert reject["Phone"] == "'=1+2"
    assert reject["Notes"] == 'back\\\\slash "dq"'


def test_letters_and_extensions(engine: Engine) -> None:
    result = run(engine, "letters_extensions.csv")
    assert [r["phone_e164"] for r in stored(engine)] == [
        "+18003569377",  # 1-800-FLOWERS, vanity letters
        "+14155552671",  # extension dropped, number kept
        "+12125550100",
    ]
    # "call me maybe" and "12ab34" are not numbers to phonenumbers, the reference.
    assert result.rejected == {"unparseable": 2}


def test_international_numbers(engine: Engine) -> None:
    result = run(engine, "international.csv")
    numbers = [r["phone_e164"] for r in stored(engine)]
    assert numbers == [
        "+442079460958", "+4930901820", "+33142685300", "+525553422262", "+919876543210",
        "+39066982", "+390669812345", "+61293744000", "+81332249999",
    ]  # fmt: skip
    assert result.rejected == {"unparseable": 1}  # +999 is no country code
    zones = {r["phone_e164"]: r["timezones"] for r in stored(engine)}
    assert zones["+442079460958"] == ["Europe/London"]
    assert zones["+61293744000"] == ["Australia/Sydney"]


def test_national_numbers_use_the_default_region(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "gb.csv"
    path.write_text("Phone\n020 7946 0958\n07911 123456\n")
    result = import_list(engine, path, ImportOptions(name="gb", default_region="GB"))
    assert result.accepted == 2
    assert [r["phone_e164"] for r in stored(engine)] == ["+442079460958", "+447911123456"]


def test_duplicates_in_other_formats(engine: Engine) -> None:
    result = run(engine, "duplicates.csv")
    assert result.accepted == 2
    assert result.rejected == {"duplicate_in_file": 3}
    assert [r["fields"]["name"] for r in stored(engine)] == ["first", "other"]


def test_reimport_adds_nothing(engine: Engine) -> None:
    first = run(engine, "duplicates.csv")
    second = run(engine, "duplicates.csv")
    assert (first.list_id, first.created) == (second.list_id, True)
    assert second.accepted == 0
    assert second.rejected == {"duplicate_in_file": 3, "duplicate_in_list": 2}
    assert len(stored(engine)) == 2


def test_dnc_hits(engine: Engine) -> None:
    dnc.add(engine, ["+14155552671", "646-555-0199"], reason="asked")
    result = run(engine, "dnc_hits.csv")
    assert result.rejected == {"dnc": 2}
    assert [r["phone_e164"] for r in stored(engine)] == ["+12125550100"]


@pytest.mark.parametrize(
    ("name", "delimiter"),
    [("semicolon.csv", "semicolon"), ("tab.tsv", "tab"), ("pipe.csv", "pipe")],
)
def test_delimiters_are_detected(engine: Engine, name: str, delimiter: str) -> None:
    result = run(engine, name)
    assert (result.delimiter, result.accepted) == (delimiter, 2)
    assert stored(engine)[0]["fields"]["city"] in {"Paris, France", "Paris"}


def test_malformed_rows_are_rejected_not_fatal(engine: Engine, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    result = run(engine, "malformed_rows.csv", rejects_path=rejects)
    assert (result.rows, result.accepted, result.rejected) == (4, 2, {"malformed_row": 2})
    assert [r["row_no"] for r in stored(engine)] == [2, 5]
    assert [(r["line"], r["detail"]) for r in read_rejects(rejects)] == [
        ("3", "expected 3 fields, got 2"),
        ("4", "expected 3 fields, got 4"),
    ]


def test_leading_zeros_are_kept(engine: Engine) -> None:
    run(engine, "leading_zeros.csv")
    assert [r["fields"] for r in stored(engine)] == [
        {"id": "000123", "zip": "02134"},
        {"id": "0042", "zip": "00501"},
    ]


def test_timezone_column_overrides_only_when_valid(engine: Engine) -> None:
    run(engine, "timezones.csv")
    assert [r["timezones"] for r in stored(engine)] == [
        ["America/New_York"],
        ["America/New_York"],
        ["America/New_York"],
    ]
    run(engine, "timezones.csv", name="other", timezone_column="Name")
    assert stored(engine)[-1]["timezones"] == ["America/New_York"]


def test_explicit_zone_differs_from_number(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "tz.csv"
    path.write_text("Phone,TZ\n+14155552671,America/Chicago\n+14155552672,nowhere\n")
    import_list(engine, path, ImportOptions(name="tz", timezone_column="TZ"))
    zones = {r["phone_e164"]: r["timezones"] for r in stored(engine)}
    assert zones["+14155552671"] == ["America/Chicago"]
    assert zones["+14155552672"] == ["America/Los_Angeles"]


def test_premium_rate_is_unsupported_by_default_and_configurable(engine: Engine) -> None:
    result = run(engine, "premium.csv")
    assert (result.accepted, result.rejected) == (2, {"unsupported_type": 1})
    result = run(engine, "premium.csv", name="tf", reject_types=frozenset({"toll_free"}))
    assert (result.accepted, result.rejected) == (2, {"unsupported_type": 1})


def test_rejects_file_is_not_written_when_import_fails(engine: Engine, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    with pytest.raises(ListImportError):
        run(engine, "unterminated_quote.csv", rejects_path=rejects)
    assert not rejects.exists()
    assert [p.name for p in tmp_path.iterdir() if "rejects" in p.name] == []


def test_database_failure_mid_import_rolls_back(engine: Engine) -> None:
    """A failure after rows were written leaves neither the list nor any recipient."""
    calls = {"n": 0}

    def explode(done: int, total: int) -> None:
        calls["n"] += 1
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        import_list(engine, CORPUS / "duplicates.csv", ImportOptions(name="x"), progress=explode)
    assert calls["n"] >= 1
    assert list_count(engine) == 0
    assert stored(engine) == []


def test_concurrent_imports_into_one_list_never_double_a_number(pg_engine: Engine) -> None:
    """Two imports of the same file into one list at once: the list lock serialises them."""
    import threading

    first = run(pg_engine, "bom.csv", name="shared")  # create the list
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(run(pg_engine, "duplicates.csv", list_id=first.list_id, name=None))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(r.accepted for r in results) == [0, 1]  # +14155552671 came with bom.csv
    assert sorted(r["phone_e164"] for r in stored(pg_engine)) == ["+12125550100", "+14155552671"]


def test_dnc_import_refuses_what_list_import_refuses(engine: Engine) -> None:
    with pytest.raises(ListImportError, match="line 3: a quoted field is never closed"):
        dnc.import_file(engine, CORPUS / "unterminated_quote.csv")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dnc_numbers")).scalar_one() == 0


def test_record_larger_than_a_block_is_fatal_until_the_block_grows(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["Phone", "Notes"], ["+14155552671", "x" * (3 << 20)]])
    with pytest.raises(ListImportError, match="larger than 1 MiB; raise DIALER_IMPORT_BLOCK_MIB"):
        import_list(engine, path, ImportOptions(name="big", block_size=1 << 20))
    assert list_count(engine) == 0
    result = import_list(engine, path, ImportOptions(name="big", block_size=4 << 20))
    assert result.accepted == 1
