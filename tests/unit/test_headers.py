"""Finding the phone and time-zone columns by header, in the languages of our users' CRMs."""

from __future__ import annotations

import pytest

from dialer.lists.errors import ListImportError
from dialer.lists.headers import (
    find_phone_column,
    find_timezone_column,
    match_key,
    normalise_headers,
)

PHONE_HEADERS = [
    "Phone", "PHONE", " phone ", "Phone Number", "phone_number", "Phone-No.", "Telephone",
    "Tel.", "TEL", "Tel. No", "Mobile", "Mobile Phone", "Mobile-Number", "Cell", "Cell #",
    "Cell Phone", "Cellphone", "Contact Number", "MSISDN", "msisdn",
    "Téléphone", "TÉLÉPHONE", "Numéro", "Numéro de téléphone", "N° de téléphone", "Portable",
    "Tél. portable",
    "Teléfono", "Telefono", "Móvil", "Celular", "Número de teléfono", "Tfno.",
    "Telefone", "Telemóvel", "Número do telefone",
    "Telefon", "Telefonnummer", "Telefon-Nr.", "Handy", "Handynummer", "Rufnummer",
    "Mobilnummer",
    "Cellulare", "Numero di telefono",
    "Telefoon", "Telefoonnummer", "Mobiel", "GSM",
    "\ufeffPhone",
]  # fmt: skip


def find(headers: list[str], requested: str | None = None) -> int:
    return find_phone_column(normalise_headers(headers), headers, requested)


@pytest.mark.parametrize("header", PHONE_HEADERS)
def test_phone_header_is_recognised(header: str) -> None:
    assert find(["Name", header, "City", "Notes"]) == 1


@pytest.mark.parametrize(
    "header",
    ["Name", "Account Number", "Phone Type", "Fax", "Telephony Notes", "Nummer der Kunde",
     "numbers", "Phone 2", "Zip"],
)  # fmt: skip
def test_other_headers_are_not_phone_columns(header: str) -> None:
    with pytest.raises(ListImportError, match="no phone column found"):
        find(["Name", header])


def test_match_key_drops_case_accents_and_punctuation() -> None:
    assert match_key("Téléphone") == "telephone"
    assert match_key("  Cell # ") == "cell"
    assert match_key("N° de Téléphone") == "ndetelephone"
    assert match_key("Tel.-Nr.") == "telnr"
    assert match_key("\ufeffPhone_Number") == "phonenumber"


def test_phone_and_mobile_together_are_ambiguous() -> None:
    """Both are phone numbers; which one to call is the operator's choice, never a guess."""
    with pytest.raises(ListImportError) as info:
        find(["Name", "Phone", "Mobile"])
    message = str(info.value)
    assert "several columns could hold the phone number ('Phone', 'Mobile')" in message
    assert "--phone-column" in message
    assert find(["Name", "Phone", "Mobile"], "mobile") == 2


def test_generic_number_header_is_a_fallback_only() -> None:
    assert find(["ID", "Number", "Phone"]) == 2
    assert find(["Nom", "Numéro", "Ville"]) == 1
    with pytest.raises(ListImportError, match=r"several .*\('Number', 'Numéro'\)"):
        find(["Number", "Numéro"])


def test_no_phone_column_lists_every_header() -> None:
    with pytest.raises(ListImportError, match=r"'Nom', 'Ville', 'Remarque'.*--phone-column"):
        find(["Nom", "Ville", "Remarque"])


def test_requested_column_by_field_name_then_by_match_key() -> None:
    headers = ["Nom", "Téléphone", "Téléphone"]
    assert find(headers, "téléphone_2") == 2
    assert find(headers, "téléphone") == 1
    with pytest.raises(ListImportError, match="matches several columns"):
        find(headers, "TELEPHONE")
    with pytest.raises(ListImportError, match="'Fax' is not in the file"):
        find(headers, "Fax")
    with pytest.raises(ListImportError, match="is not in the file"):
        find(headers, "#")


@pytest.mark.parametrize(
    "header",
    ["Timezone", "Time Zone", "time_zone", "TZ", "Fuseau horaire", "Zone horaire",
     "Zona horaria", "Fuso horário", "Zeitzone", "Fuso orario", "Tijdzone"],
)  # fmt: skip
def test_timezone_header_is_recognised(header: str) -> None:
    headers = ["Phone", "Notes", header]
    assert find_timezone_column(normalise_headers(headers), headers, None) == 2


def test_leftmost_timezone_header_wins_and_none_is_fine() -> None:
    headers = ["Phone", "TZ", "Time Zone"]
    assert find_timezone_column(normalise_headers(headers), headers, None) == 1
    headers = ["Phone", "Zone", "Time"]
    assert find_timezone_column(normalise_headers(headers), headers, None) is None
