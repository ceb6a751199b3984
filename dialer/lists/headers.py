"""Header normalisation and finding the phone and time-zone columns.

Two spellings of a header matter. The *field name* (``normalise_name``) keys the stored JSON
and keeps accents: ``"Téléphone"`` → ``téléphone``. The *match key* (``match_key``) only
recognises columns: case, accents, spaces and punctuation are dropped, so ``"Téléphone"``,
``"TELEPHONE"``, ``"Tel."`` and ``"Cell #"`` become ``telephone``, ``telephone``, ``tel`` and
``cell``.
"""

from __future__ import annotations

import re
import unicodedata

from dialer.lists.errors import ListImportError

# Match keys of headers that name the phone number, in the languages of our users' CRMs.
PHONE_KEYS = frozenset(
    {
        # English
        "phone", "phonenumber", "phoneno", "phonenr", "phonenum", "telephone",
        "telephonenumber", "telephoneno", "tel", "telno", "telnr", "telnum", "telnumber",
        "mobile", "mobilenumber", "mobileno", "mobilenr", "mobilephone", "mobilephonenumber",
        "cell", "cellphone", "cellnumber", "cellno", "cellular", "cellphonenumber", "msisdn",
        "contactnumber", "contactno", "contactphone", "primaryphone", "mainphone",
        # French
        "numerodetelephone", "numerotelephone", "ndetelephone", "nodetelephone", "portable",
        "telportable", "telephoneportable", "numerodeportable", "numeroportable",
        # Spanish
        "telefono", "numerodetelefono", "numerotelefono", "tfno", "telf", "tlf", "movil",
        "telefonomovil", "numerodemovil", "numeromovil", "celular", "numerodecelular",
        "numerocelular",
        # Portuguese
        "telefone", "numerodotelefone", "telemovel", "numerodetelemovel",
        "numerodotelemovel", "numerodocelular",
        # German
        "telefon", "telefonnummer", "telefonnr", "handy", "handynummer", "handynr",
        "rufnummer", "mobil", "mobilnummer", "mobilnr", "mobiltelefon", "mobilfunknummer",
        # Italian
        "numeroditelefono", "cellulare", "numerodicellulare", "numerocellulare",
        # Dutch (and Belgian "GSM")
        "telefoon", "telefoonnummer", "mobiel", "mobielnummer", "mobielenummer", "gsm",
        "gsmnummer",
    }
)  # fmt: skip
#: Generic "number" headers: a phone column only when no header above is present, so that
#: ``ID, Number, Phone`` picks Phone while ``Nom; Numéro; Ville`` picks Numéro.
GENERIC_PHONE_KEYS = frozenset({"number", "numero", "nummer"})
TIMEZONE_KEYS = frozenset(
    {
        "timezone", "tz", "zonehoraire", "fuseauhoraire", "zonahoraria", "husohorario",
        "fusohorario", "zeitzone", "fusoorario", "tijdzone",
    }
)  # fmt: skip


def normalise_name(raw: str) -> str:
    """``" Phone Number "`` → ``phone_number``; letters of any script are kept."""
    lowered = raw.replace("\ufeff", "").strip().lower()
    parts = re.split(r"[^\w]+|_+", lowered)
    return "_".join(part for part in parts if part)


def match_key(raw: str) -> str:
    """``"Téléphone"`` → ``telephone``, ``"Cell #"`` → ``cell``: what recognises a column."""
    decomposed = unicodedata.normalize("NFKD", raw).casefold()
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c))


def normalise_headers(raw: list[str]) -> list[str]:
    """Normalised, non-empty and unique names, in column order."""
    names: list[str] = []
    seen: set[str] = set()
    for index, header in enumerate(raw, start=1):
        base = normalise_name(header) or f"column_{index}"
        name, suffix = base, 2
        while name in seen:
            name, suffix = f"{base}_{suffix}", suffix + 1
        seen.add(name)
        names.append(name)
    return names


def find_phone_column(names: list[str], raw: list[str], requested: str | None) -> int:
    """The column holding the number: the requested one, else the only phone-like header.

    Candidates come from the headers as written, so two ``Phone`` columns are two candidates
    (not ``phone`` and an unrecognised ``phone_2``).
    """
    if requested is not None:
        return _requested_column(names, raw, requested, "phone")
    keys = [match_key(header) for header in raw]
    candidates = [i for i, key in enumerate(keys) if key in PHONE_KEYS]
    if not candidates:
        candidates = [i for i, key in enumerate(keys) if key in GENERIC_PHONE_KEYS]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ListImportError(
            "no phone column found: none of the headers "
            f"({_quote_list(raw)}) looks like a phone number column "
            "(phone, mobile, cell, telephone, tel, msisdn, téléphone, teléfono, telefon, "
            "handy, cellulare, telefoon, …); name it with --phone-column"
        )
    names_found = _quote_list([raw[i] for i in candidates])
    raise ListImportError(
        f"several columns could hold the phone number ({names_found}); "
        "choose one with --phone-column"
    )


def find_timezone_column(names: list[str], raw: list[str], requested: str | None) -> int | None:
    """The requested column, else the left-most time-zone-like header, else none."""
    if requested is not None:
        return _requested_column(names, raw, requested, "time-zone")
    for index, header in enumerate(raw):
        if match_key(header) in TIMEZONE_KEYS:
            return index
    return None


def _requested_column(names: list[str], raw: list[str], requested: str, what: str) -> int:
    """By field name first (``phone_2`` picks the second ``Phone``), else by match key."""
    wanted = normalise_name(requested)
    if wanted in names:
        return names.index(wanted)
    key = match_key(requested)
    matches = [i for i, header in enumerate(raw) if key and match_key(header) == key]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ListImportError(
            f"{what} column {requested!r} matches several columns "
            f"({_quote_list([raw[i] for i in matches])}); name one as "
            f"{' or '.join(repr(names[i]) for i in matches[:5])}"
        )
    raise ListImportError(
        f"{what} column {requested!r} is not in the file; its columns are {_quote_list(raw)}"
    )


def _quote_list(values: list[str]) -> str:
    shown = [repr(v) for v in values[:20]]
    if len(values) > 20:
        shown.append(f"… {len(values) - 20} more")
    return ", ".join(shown)
