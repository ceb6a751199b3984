"""Exports from CRMs in other languages, imported into real PostgreSQL and SQLite.

Headers are matched ignoring case, accents and punctuation (``Téléphone``, ``Móvil``,
``Cell #``); every file here is checked by hand and against the independent oracle.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from dialer.lists import ImportOptions, ListImportError, import_list
from tests.integration.test_import_corpus import CORPUS, list_count, run, stored
from tests.support.expected_import import expected_import

# file -> (default region, phone header as written, stored E.164 numbers in row order)
LANGUAGES: dict[str, tuple[str, str, list[str]]] = {
    "french_cp1252.csv": (
        "FR", "Téléphone", ["+33142685300", "+33612345678", "+33142685301"],
    ),
    "german.csv": ("DE", "Telefonnummer", ["+4930901820", "+498912345678", "+4915123456789"]),
    "spanish.csv": ("ES", "Móvil", ["+34612345678", "+34912345678"]),
    "portuguese.csv": ("PT", "Telemóvel", ["+351912345678", "+351212345678"]),
    "dutch.csv": ("NL", "Telefoonnummer", ["+31201234567", "+31612345678", "+32470123456"]),
    "italian.csv": ("IT", "Cellulare", ["+393123456789", "+390669812345"]),
    "english_variants.csv": ("US", "Cell #", ["+12125550123", "+12125550199"]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_exports_in_other_languages_import(engine: Engine, name: str) -> None:
    region, header, numbers = LANGUAGES[name]
    result = run(engine, name, default_region=region)
    assert result.phone_column == header
    rows = stored(engine)
    assert [r["phone_e164"] for r in rows] == numbers

    expected = expected_import(CORPUS / name, default_region=region)
    assert (result.rows, result.accepted, result.rejected) == (
        expected.rows,
        len(expected.accepted),
        expected.counts,
    )
    assert [(r["row_no"], r["phone_e164"], r["timezones"], r["fields"]) for r in rows] == [
        (a.line, a.phone_e164, a.timezones, a.fields) for a in expected.accepted
    ]


def test_french_cp1252_semicolon_export(engine: Engine) -> None:
    """The export that used to fail with "no phone column found"."""
    result = run(engine, "french_cp1252.csv", default_region="FR")
    assert (result.encoding, result.delimiter) == ("cp1252", "semicolon")
    assert result.rejected == {"unparseable": 1, "duplicate_in_file": 1}  # "n/a"; +33 6 … again
    first = stored(engine)[0]
    assert first["fields"] == {
        "nom": "Amélie Poulain",
        "ville": "Paris",
        "remarque": "Rappeler après 18h; merci",
    }
    assert first["timezones"] == ["Europe/Paris"]


def test_timezone_headers_in_other_languages(engine: Engine) -> None:
    run(engine, "german.csv", default_region="DE")  # Zeitzone
    run(engine, "spanish.csv", name="es", default_region="ES")  # Zona horaria
    zones = {r["phone_e164"]: r["timezones"] for r in stored(engine)}
    assert zones["+4930901820"] == ["Europe/Berlin"]
    assert zones["+34612345678"] == ["Europe/Madrid"]
    # "Time Zone" in an English export, with a valid zone overriding the number's.
    run(engine, "english_variants.csv", name="en")
    zones = {r["phone_e164"]: r["timezones"] for r in stored(engine)}
    assert zones["+12125550199"] == ["America/Chicago"]


def test_generic_number_header_gives_way_to_a_phone_header(engine: Engine) -> None:
    result = run(engine, "number_and_phone.csv")
    assert result.phone_column == "Phone"
    assert [r["fields"] for r in stored(engine)] == [{"number": "7", "name": "Ann"}]


def test_two_columns_with_the_same_phone_header_are_ambiguous(engine: Engine) -> None:
    with pytest.raises(ListImportError, match=r"several columns .*\('Phone', 'Phone'\)"):
        run(engine, "duplicate_phone_headers.csv")
    assert list_count(engine) == 0
    result = run(engine, "duplicate_phone_headers.csv", phone_column="phone_2")
    assert result.accepted == 1
    [row] = stored(engine)
    assert (row["phone_e164"], row["fields"]) == (
        "+14155552672",
        {"phone": "+14155552671", "name": "Ann"},
    )


def test_requested_column_matches_ignoring_accents_and_case(engine: Engine) -> None:
    result = run(engine, "french_cp1252.csv", default_region="FR", phone_column="TELEPHONE")
    assert (result.phone_column, result.accepted) == ("Téléphone", 3)


def test_requested_column_matching_several_headers_is_fatal(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("Téléphone,Telephone\n+14155552671,+14155552672\n", encoding="utf-8")
    with pytest.raises(
        ListImportError, match=r"matches several columns \('Téléphone', 'Telephone'\)"
    ):
        import_list(engine, path, ImportOptions(name="x", phone_column="Teléphone"))
    assert list_count(engine) == 0
    # Its field name picks one exactly.
    result = import_list(engine, path, ImportOptions(name="x", phone_column="telephone"))
    assert stored(engine)[0]["phone_e164"] == "+14155552672"
    assert result.phone_column == "Telephone"
