"""The test oracle (tests/support/expected_import.py) and the messy CSV generator behave.

Hand-written files with answers worked out by hand; no importer code involved.
"""

from __future__ import annotations

import re
from pathlib import Path

import phonenumbers
import pytest

from tests.support.expected_import import (
    Expected,
    decode,
    detect_delimiter,
    expected_import,
    normalise_header,
    normalise_name,
)
from tests.support.messy_csv import NORMALISED_HEADER, generate


def write(tmp_path: Path, data: bytes | str, name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def outcomes(exp: Expected) -> list[tuple[int, str]]:
    """(line, reason or "ok") for every row, in line order."""
    return sorted(
        [(r.line, r.reason) for r in exp.rejected] + [(a.line, "ok") for a in exp.accepted]
    )


# --- header ----------------------------------------------------------------------------------


def test_normalise_name() -> None:
    assert normalise_name("\ufeff Phone Number ") == "phone_number"
    assert normalise_name("First-Name") == "first_name"
    assert normalise_name("  E-Mail  Addr. ") == "e_mail_addr"
    assert normalise_name("Émail__(Privé)") == "émail_privé"
    assert normalise_name("#") == ""
    assert normalise_name("Tel.No") == "tel_no"


def test_normalise_header_empty_and_duplicates() -> None:
    raw = ["Phone", "", "Notes", "notes", "NOTES!!", "notes_2", " ", "column_2"]
    assert normalise_header(raw) == [
        "phone",
        "column_2",
        "notes",
        "notes_2",
        "notes_3",
        "notes_2_2",
        "column_7",
        "column_2_2",
    ]


def test_phone_column_detection(tmp_path: Path) -> None:
    two = write(tmp_path, "Mobile,Cell Phone\n4155552671,4155552672\n")
    with pytest.raises(ValueError, match="2 phone column candidates"):
        expected_import(two)
    assert expected_import(two, phone_column="Cell-Phone").phone_column == "cell_phone"
    none = write(tmp_path, "name,fax\nx,4155552671\n", "none.csv")
    with pytest.raises(ValueError, match="0 phone column candidates"):
        expected_import(none)
    with pytest.raises(ValueError, match="not in header"):
        expected_import(none, phone_column="phone")
    # Two "Phone" columns are two candidates; the field name phone_2 picks the second.
    dup = write(tmp_path, "Phone,Phone\n4155552671,2125550199\n", "dup.csv")
    with pytest.raises(ValueError, match="2 phone column candidates"):
        expected_import(dup)
    exp = expected_import(dup, phone_column="phone_2")
    assert exp.header == ["phone", "phone_2"]
    assert exp.accepted[0].phone_e164 == "+12125550199"
    assert exp.accepted[0].fields == {"phone": "4155552671"}


def test_phone_column_detection_ignores_case_accents_and_punctuation(tmp_path: Path) -> None:
    headers = {
        "Téléphone": "téléphone", "NUMÉRO": "numéro", "Teléfono": "teléfono", "Móvil": "móvil",
        "Telemóvel": "telemóvel", "Rufnummer": "rufnummer", "Cell #": "cell", "Tel.": "tel",
        "Mobile Phone": "mobile_phone", "Telefoon": "telefoon", "MSISDN": "msisdn",
    }  # fmt: skip
    for written, name in headers.items():
        path = write(tmp_path, f"Nom;{written};Ville\nAnn;4155552671;Paris\n", "h.csv")
        assert expected_import(path).phone_column == name, written
    # A generic "number" header counts only when no phone header is there.
    both = write(tmp_path, "Number,Phone\n7,4155552671\n", "both.csv")
    assert expected_import(both).phone_column == "phone"
    # A requested column is found by its match key too.
    french = write(tmp_path, "Nom;Téléphone\nAnn;4155552671\n", "fr.csv")
    assert expected_import(french, phone_column="TELEPHONE").phone_column == "téléphone"
    zones = write(tmp_path, "Phone,Fuseau horaire,Zeitzone\n4155552671,UTC,x\n", "tz.csv")
    assert expected_import(zones).timezone_column == "fuseau_horaire"


def test_header_is_first_record_after_leading_blank_lines(tmp_path: Path) -> None:
    exp = expected_import(write(tmp_path, "\r\n\r\nTel\r\n4155552671\r\n"))
    assert exp.rows == 1
    assert exp.accepted[0].line == 4


def test_empty_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty file"):
        expected_import(write(tmp_path, b""))
    assert expected_import(write(tmp_path, "phone\r\n", "h.csv")).rows == 0


# --- decoding and delimiters -----------------------------------------------------------------


def test_bom_is_stripped(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbfPhone,Name\r\n4155552671,Zo\xc3\xab\r\n")
    exp = expected_import(path)
    assert exp.encoding == "utf-8-sig"
    assert exp.header == ["phone", "name"]
    assert exp.accepted[0].fields == {"name": "Zoë"}


def test_cp1252_and_latin1_fallback() -> None:
    assert decode(b"Caf\xe9 \x80") == ("Café €", "cp1252")
    assert decode(b"\x81\xe9") == ("\x81é", "latin-1")  # 0x81 is undefined in cp1252
    assert decode("Zoë".encode()) == ("Zoë", "utf-8")


def test_cp1252_file_semicolons(tmp_path: Path) -> None:
    path = write(tmp_path, b"Phone;Nom;Note\r\n4155552671;Caf\xe9;\x80 5, \x93ok\x94\r\n")
    exp = expected_import(path)
    assert (exp.encoding, exp.delimiter) == ("cp1252", ";")
    assert exp.accepted[0].fields == {"nom": "Café", "note": "€ 5, “ok”"}


@pytest.mark.parametrize(
    ("first_line", "delimiter"),
    [
        ("a,b;c,d", ","),
        ("a;b;c,d", ";"),
        ("a\tb\tc", "\t"),
        ("a|b|c;d", "|"),
        ('"x,y,z";b', ";"),
        ("a;b,c", ","),  # tie: comma first
        ("phone", ","),
    ],
)
def test_detect_delimiter(first_line: str, delimiter: str) -> None:
    assert detect_delimiter(first_line + "\r\nq,w,e;r;t;y\r\n") == delimiter


# --- line numbers ----------------------------------------------------------------------------


def test_line_numbers_with_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    text = (
        "Phone,Notes\r\n"  # 1
        '4155552671,"two\r\nlines"\r\n'  # 2-3
        "\r\n"  # 4 blank: skipped, not counted
        '2125550199,"three\nlines\n"\r\n'  # 5-7
        "n/a,x\r\n"  # 8
        '"(212) 555-0100","a ""quoted"", value"\n'  # 9 (LF ending)
        "\n"  # 10 blank
        "+44 20 7946 0958,last"  # 11, no final newline
    )
    exp = expected_import(write(tmp_path, text))
    assert exp.rows == 5
    assert outcomes(exp) == [
        (2, "ok"),
        (5, "ok"),
        (8, "unparseable"),
        (9, "ok"),
        (11, "ok"),
    ]
    notes = [a.fields["notes"] for a in exp.accepted]
    assert notes == ["two\r\nlines", "three\nlines\n", 'a "quoted", value', "last"]


def test_malformed_rows(tmp_path: Path) -> None:
    text = "phone,name\n4155552671,a,extra\n2125550199\n2125550199,b\n"
    exp = expected_import(write(tmp_path, text))
    assert outcomes(exp) == [
        (2, "malformed_row"),
        (3, "malformed_row"),
        (4, "ok"),  # not a duplicate: the malformed row never got that far
    ]
    assert exp.counts == {"malformed_row": 2}


# --- reasons ---------------------------------------------------------------------------------


def test_duplicates_in_different_formats(tmp_path: Path) -> None:
    text = (
        "phone\n(415) 555-2671\n+14155552671\n415.555.2671\n1-415-555-2671 x12\n"
        "+44 20 7946 0958\n011 44 20 7946 0958\n+442079460958\n"
    )
    exp = expected_import(write(tmp_path, text))
    assert [a.phone_e164 for a in exp.accepted] == ["+14155552671", "+442079460958"]
    assert exp.counts == {"duplicate_in_file": 5}
    assert [r.line for r in exp.rejected] == [3, 4, 5, 7, 8]


def test_reason_precedence(tmp_path: Path) -> None:
    rows = [
        "",  # 2 empty
        "   ",  # 3 empty
        "n/a",  # 4 unparseable
        "123456789012345678901",  # 5 unparseable (too long)
        "(123) 456-7890",  # 6 invalid_number
        "(123) 456-7890",  # 7 invalid_number again (never a duplicate)
        "+1 900-234-5678",  # 8 unsupported_type (premium)
        "1-900-234-5678",  # 9 unsupported_type again, not duplicate_in_file
        "2125550199",  # 10 dnc
        "(212) 555-0199",  # 11 duplicate_in_file (earlier row passed, then was dnc)
        "+1 416-555-0199",  # 12 in list and dnc: duplicate_in_list wins
        "416.555.0199",  # 13 duplicate_in_file
        "1-800-FLOWERS",  # 14 ok (vanity letters are converted)
        "+800 1234 5678",  # 15 ok, no time zone known
    ]
    text = "phone\n" + "".join(f'"{r}"\n' for r in rows)
    exp = expected_import(
        write(tmp_path, text),
        existing_in_list={"+14165550199"},
        dnc={"+12125550199", "+14165550199"},
    )
    assert outcomes(exp) == [
        (2, "empty"),
        (3, "empty"),
        (4, "unparseable"),
        (5, "unparseable"),
        (6, "invalid_number"),
        (7, "invalid_number"),
        (8, "unsupported_type"),
        (9, "unsupported_type"),
        (10, "dnc"),
        (11, "duplicate_in_file"),
        (12, "duplicate_in_list"),
        (13, "duplicate_in_file"),
        (14, "ok"),
        (15, "ok"),
    ]
    assert [(a.phone_e164, len(a.timezones)) for a in exp.accepted] == [
        ("+18003569377", len(exp.accepted[0].timezones)),
        ("+80012345678", 0),
    ]
    assert len(exp.accepted[0].timezones) > 1
    assert sum(exp.counts.values()) == len(exp.rejected) == exp.rows - len(exp.accepted)

    # No type rejected: the premium number is accepted, its copy is a duplicate.
    exp = expected_import(write(tmp_path, text), reject_types=())
    assert exp.counts["duplicate_in_file"] == 3
    assert "unsupported_type" not in exp.counts


def test_default_region(tmp_path: Path) -> None:
    path = write(tmp_path, "phone\n020 7946 0958\n+1 415 555 2671\n")
    assert expected_import(path).counts == {"invalid_number": 1}
    exp = expected_import(path, default_region="GB")
    assert [a.phone_e164 for a in exp.accepted] == ["+442079460958", "+14155552671"]


# --- time zones and fields -------------------------------------------------------------------


def test_timezones(tmp_path: Path) -> None:
    text = (
        "Phone,TZ,Notes\n"
        "4155552671,  America/Chicago ,a\n"
        "2125550199,Mars/Base,b\n"
        "+1 416-555-0199,america/chicago,c\n"
        "+442079460958,,d\n"
    )
    exp = expected_import(write(tmp_path, text))
    assert exp.timezone_column == "tz"
    assert [a.timezones for a in exp.accepted] == [
        ["America/Chicago"],
        ["America/New_York"],
        ["America/Toronto"],
        ["Europe/London"],
    ]
    # The raw cell is kept as a field, unstripped.
    assert exp.accepted[0].fields == {"tz": "  America/Chicago ", "notes": "a"}
    # An explicit column (normalised) instead of the default names.
    exp = expected_import(write(tmp_path, text), timezone_column="Notes")
    assert exp.accepted[0].timezones == ["America/Los_Angeles"]


def test_fields_are_raw_strings(tmp_path: Path) -> None:
    hostile = ["=cmd|' /C calc'!A0", "+SUM(A1)", "@foo", "-2+3", "  spaced  ", "😀 é", "00123"]
    body = "".join(f'"{h}", 4155552671 ,{i:05d}\n' for i, h in enumerate(hostile))
    exp = expected_import(write(tmp_path, "Notes,Phone,ID\n" + body))
    assert exp.counts == {"duplicate_in_file": len(hostile) - 1}
    assert exp.accepted[0].fields == {"notes": hostile[0], "id": "00000"}


def test_huge_cell(tmp_path: Path) -> None:
    big = "x" * 1_100_000
    exp = expected_import(write(tmp_path, f'phone,notes\n4155552671,"{big}"\n'))
    assert exp.accepted[0].fields["notes"] == big


# --- the generator ---------------------------------------------------------------------------


def test_generator_is_deterministic(tmp_path: Path) -> None:
    a = generate(tmp_path / "a.csv", 2000, 5, dnc_share=0.02)
    b = generate(tmp_path / "b.csv", 2000, 5, dnc_share=0.02)
    c = generate(tmp_path / "c.csv", 2000, 6, dnc_share=0.02)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.dnc == b.dnc
    assert a.categories == b.categories
    assert a.path.read_bytes() != c.path.read_bytes()


def test_generated_file_against_oracle(tmp_path: Path) -> None:
    info = generate(tmp_path / "m.csv", 5000, 11, dnc_share=0.02)
    assert sum(info.categories.values()) == 5000
    assert 400 <= info.categories["bad"] <= 600
    assert 150 <= info.categories["duplicate"] <= 350
    assert info.dnc
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(e, None)) for e in info.dnc)
    exp = expected_import(info.path, dnc=info.dnc)
    assert tuple(exp.header) == NORMALISED_HEADER
    assert exp.phone_column == "phone_number"
    assert exp.timezone_column == "time_zone"
    assert exp.rows == 5000
    assert len(exp.accepted) + len(exp.rejected) == 5000
    # Every DNC number is on a good row; premium ones are rejected for their type first.
    assert 0 < exp.counts["dnc"] <= len(info.dnc)
    for reason in ("empty", "unparseable", "invalid_number", "unsupported_type"):
        assert exp.counts[reason] > 0
    assert exp.counts["duplicate_in_file"] >= info.categories["duplicate"] * 0.9
    assert 0.80 <= len(exp.accepted) / exp.rows <= 0.90
    # Some accepted rows have notes spanning lines; line numbers point at the row's first line.
    lines = re.split(r"\r\n|\r|\n", info.path.read_text(encoding="utf-8"))
    multi = 0
    for row in exp.accepted:
        assert lines[row.line - 1].startswith(row.fields["id"] + ",")
        multi += "\n" in row.fields["notes"]
    assert multi > 0
    assert any(f.fields["id"].startswith("0") for f in exp.accepted)
    assert any(a.fields["time_zone"].strip() == a.timezones[0] != "" for a in exp.accepted)


def test_generator_good_numbers_are_all_valid_and_unique(tmp_path: Path) -> None:
    info = generate(tmp_path / "g.csv", 3000, 12, bad_share=0.0, dup_share=0.0)
    exp = expected_import(info.path)
    # Only premium-rate numbers are rejected: everything else is valid and distinct.
    assert exp.counts == {"unsupported_type": info.categories["premium"]}
    regions = {
        phonenumbers.region_code_for_number(phonenumbers.parse(a.phone_e164)) for a in exp.accepted
    }
    assert {"US", "CA", "GB", "DE", "FR", "MX", "IN", "BR", "AU", "ES", "IT", "JP"} <= regions
    assert any(a.phone_e164.startswith("+390") for a in exp.accepted)  # Italian leading zero


def test_duplicates_are_exact(tmp_path: Path) -> None:
    info = generate(tmp_path / "d.csv", 3000, 13, bad_share=0.0, dup_share=0.3)
    exp = expected_import(info.path)
    # A duplicate of a premium number is rejected for its type, not as a duplicate.
    assert exp.counts["duplicate_in_file"] + exp.counts["unsupported_type"] == (
        info.categories["duplicate"] + info.categories["premium"]
    )


@pytest.mark.parametrize(("encoding", "delimiter"), [("cp1252", ";"), ("utf-8-sig", "\t")])
def test_generator_encodings_and_delimiters(tmp_path: Path, encoding: str, delimiter: str) -> None:
    info = generate(tmp_path / "e.csv", 500, 14, encoding=encoding, delimiter=delimiter)
    exp = expected_import(info.path)
    assert (exp.encoding, exp.delimiter) == (encoding, delimiter)
    assert tuple(exp.header) == NORMALISED_HEADER
    assert exp.rows == 500
