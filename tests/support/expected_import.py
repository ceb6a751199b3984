"""Independent computation of what importing a contact CSV must produce (the test oracle).

Deliberately simple and slow: only the ``csv`` module and ``phonenumbers``, one record at a
time. It never imports ``dialer.lists`` or ``dialer.phone``: the importer is checked against it.

The contract, implemented literally:

* Decoding: UTF-8 (a leading BOM stripped) if the whole file decodes as UTF-8, else cp1252,
  else latin-1.
* Records are read with ``csv.reader`` (``newline=''``, no field size limit). The delimiter is
  given, or detected: the one of ``, ; \\t |`` occurring most often outside quotes in the first
  physical line; ties go in that order; none at all means ",". The header is the first record
  that is not blank (blank lines before it are skipped); an empty file raises ``ValueError``.
* Header names are normalised (see :func:`normalise_name`) and de-duplicated (see
  :func:`normalise_header`).
* Phone column: the given one (its normalised name, else the only header with its match key),
  else the only header as written whose match key (:func:`match_key`) is in
  :data:`PHONE_NAMES`, else the only one in :data:`GENERIC_PHONE_NAMES` (``ValueError`` if
  none or several). Time-zone column: the given one, else the left-most header whose match
  key is in :data:`TIMEZONE_NAMES`, else none.
* Blank records (``[]``) are skipped and not counted. A record whose field count differs from
  the header's is rejected as ``malformed_row``.
* ``line`` is the 1-based physical line on which the record starts (the header's first line
  is 1; quoted newlines and blank lines count as lines).
* Phone reasons, in this order: ``empty`` (empty after ``str.strip()``), ``unparseable``
  (``phonenumbers.parse`` raises), ``invalid_number`` (not ``is_valid_number``),
  ``unsupported_type`` (lower-cased ``PhoneNumberType`` name in ``reject_types``),
  ``duplicate_in_file`` (the E.164 was seen on an earlier row that passed the checks so far,
  whatever became of that row), ``duplicate_in_list`` (in ``existing_in_list``), ``dnc``
  (in ``dnc``).
* Accepted rows: E.164 from ``format_number(.., E164)`` (an extension is dropped); time zones
  = ``[value]`` when the time-zone cell stripped is in ``zoneinfo.available_timezones()``, else
  ``time_zones_for_number`` in phonenumbers' order without "Etc/Unknown"; fields = every column
  but the phone column, raw cell text as decoded (not stripped).

``counts`` holds only reasons that occurred (reason -> number of rejected rows).

CLI: ``python -m tests.support.expected_import FILE [--dnc dnc.txt] ...`` prints a summary.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
import unicodedata
import zoneinfo
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from phonenumbers import timezone as pn_timezone

# Phone headers, compared by match key (see :func:`match_key`): lower case, accents dropped,
# only letters and digits kept ("Téléphone" -> "telephone", "Cell #" -> "cell").
PHONE_NAMES: frozenset[str] = frozenset(
    [
        "phone",
        "phonenumber",
        "phoneno",
        "phonenr",
        "phonenum",
        "telephone",
        "telephonenumber",
        "telephoneno",
        "tel",
        "telno",
        "telnr",
        "telnum",
        "telnumber",
        "mobile",
        "mobilenumber",
        "mobileno",
        "mobilenr",
        "mobilephone",
        "mobilephonenumber",
        "cell",
        "cellphone",
        "cellnumber",
        "cellno",
        "cellular",
        "cellphonenumber",
        "msisdn",
        "contactnumber",
        "contactno",
        "contactphone",
        "primaryphone",
        "mainphone",
        "numerodetelephone",
        "numerotelephone",
        "ndetelephone",
        "nodetelephone",
        "portable",
        "telportable",
        "telephoneportable",
        "numerodeportable",
        "numeroportable",
        "telefono",
        "numerodetelefono",
        "numerotelefono",
        "tfno",
        "telf",
        "tlf",
        "movil",
        "telefonomovil",
        "numerodemovil",
        "numeromovil",
        "celular",
        "numerodecelular",
        "numerocelular",
        "telefone",
        "numerodotelefone",
        "telemovel",
        "numerodetelemovel",
        "numerodotelemovel",
        "numerodocelular",
        "telefon",
        "telefonnummer",
        "telefonnr",
        "handy",
        "handynummer",
        "handynr",
        "rufnummer",
        "mobil",
        "mobilnummer",
        "mobilnr",
        "mobiltelefon",
        "mobilfunknummer",
        "numeroditelefono",
        "cellulare",
        "numerodicellulare",
        "numerocellulare",
        "telefoon",
        "telefoonnummer",
        "mobiel",
        "mobielnummer",
        "mobielenummer",
        "gsm",
        "gsmnummer",
    ]
)
# Generic "number" headers: candidates only when no header has a name from PHONE_NAMES.
GENERIC_PHONE_NAMES: frozenset[str] = frozenset({"number", "numero", "nummer"})
TIMEZONE_NAMES: frozenset[str] = frozenset(
    [
        "timezone",
        "tz",
        "zonehoraire",
        "fuseauhoraire",
        "zonahoraria",
        "husohorario",
        "fusohorario",
        "zeitzone",
        "fusoorario",
        "tijdzone",
    ]
)
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")

REASONS: tuple[str, ...] = (
    "malformed_row",
    "empty",
    "unparseable",
    "invalid_number",
    "unsupported_type",
    "duplicate_in_file",
    "duplicate_in_list",
    "dnc",
)

_TYPE_NAMES: dict[int, str] = {
    value: name.lower()
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}


@dataclass(frozen=True)
class AcceptedRow:
    line: int
    phone_e164: str
    timezones: list[str]
    fields: dict[str, str]


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str


@dataclass
class Expected:
    rows: int
    """Data records (blank lines excluded, malformed records included)."""
    accepted: list[AcceptedRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    """Rejection reason -> number of rows, only for reasons that occurred."""
    header: list[str] = field(default_factory=list)
    """Normalised, de-duplicated column names."""
    phone_column: str = ""
    timezone_column: str | None = None
    encoding: str = ""
    """"utf-8", "utf-8-sig" (UTF-8 with a BOM), "cp1252" or "latin-1"."""
    delimiter: str = ","

    def summary(self) -> dict[str, object]:
        """The shape of the importer's ``--json`` output (without list_id and seconds)."""
        return {"rows": self.rows, "accepted": len(self.accepted), "rejected": dict(self.counts)}


# --------------------------------------------------------------------------------------------
# Pieces (public so tests can use them on their own)
# --------------------------------------------------------------------------------------------


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name): UTF-8 without its BOM, else cp1252, else latin-1."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if text.startswith("\ufeff"):
            return text[1:], "utf-8-sig"
        return text, "utf-8"
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def normalise_name(name: str) -> str:
    """Strip (and a BOM), lowercase, runs of non-alphanumerics -> "_", trim "_".
    May return "" (the caller names that column ``column_<n>``)."""
    name = name.replace("\ufeff", "").strip().lower()
    out: list[str] = []
    in_run = False
    for ch in name:
        if ch.isalnum():
            out.append(ch)
            in_run = False
        elif not in_run:
            out.append("_")
            in_run = True
    return "".join(out).strip("_")


def normalise_header(names: Sequence[str]) -> list[str]:
    """Normalise every name; "" becomes ``column_<1-based index>``; a name already taken gets
    the first free suffix ``_2``, ``_3``, ... (checked against every name produced so far)."""
    out: list[str] = []
    taken: set[str] = set()
    for index, raw in enumerate(names, start=1):
        name = normalise_name(raw) or f"column_{index}"
        if name in taken:
            k = 2
            while f"{name}_{k}" in taken:
                k += 1
            name = f"{name}_{k}"
        taken.add(name)
        out.append(name)
    return out


def detect_delimiter(text: str) -> str:
    """The candidate occurring most often outside double quotes on the first physical line
    (ties in the order , ; tab |); "," when none occurs."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "\r\n":
            break
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    return best if counts[best] else ","


def match_key(name: str) -> str:
    """Lower case, accents dropped, only letters and digits: "Tél. portable" -> "telportable"."""
    out = []
    for ch in unicodedata.normalize("NFKD", name.lower()):
        if unicodedata.category(ch) == "Mn":
            continue
        if ch.isalnum():
            out.append(ch)
    return "".join(out)


def find_given_column(header: Sequence[str], raw: Sequence[str], given: str) -> str:
    """The column named ``given`` once normalised, else the only one with its match key
    (``ValueError`` if there is none)."""
    name = normalise_name(given)
    if name in header:
        return name
    same_key = [h for h, r in zip(header, raw, strict=True) if match_key(r) == match_key(given)]
    if len(same_key) != 1 or not match_key(given):
        raise ValueError(f"column {given!r} ({name!r}) not in header {list(header)}")
    return same_key[0]


def find_phone_column(header: Sequence[str], raw: Sequence[str], given: str | None = None) -> str:
    if given is not None:
        return find_given_column(header, raw, given)
    keys = [match_key(r) for r in raw]
    candidates = [h for h, k in zip(header, keys, strict=True) if k in PHONE_NAMES]
    if not candidates:
        candidates = [h for h, k in zip(header, keys, strict=True) if k in GENERIC_PHONE_NAMES]
    if len(candidates) != 1:
        raise ValueError(
            f"{len(candidates)} phone column candidates in {list(header)}: {candidates}"
        )
    return candidates[0]


def find_timezone_column(
    header: Sequence[str], raw: Sequence[str], given: str | None = None
) -> str | None:
    if given is not None:
        return find_given_column(header, raw, given)
    for name, written in zip(header, raw, strict=True):
        if match_key(written) in TIMEZONE_NAMES:
            return name
    return None


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def number_timezones(number: phonenumbers.PhoneNumber) -> list[str]:
    return [z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]


# --------------------------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------------------------


def expected_import(
    path: str | Path,
    *,
    default_region: str = "US",
    phone_column: str | None = None,
    timezone_column: str | None = None,
    reject_types: Collection[str] = ("premium_rate",),
    existing_in_list: Collection[str] = frozenset(),
    dnc: Collection[str] = frozenset(),
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Expected:
    """What importing ``path`` must give. ``encoding`` forces a codec instead of detection
    (a leading BOM is still stripped); ``delimiter`` None means detect."""
    data = Path(path).read_bytes()
    if encoding is None:
        text, used_encoding = decode(data)
    else:
        text, used_encoding = data.decode(encoding), encoding
        if text.startswith("\ufeff"):
            text = text[1:]
    if delimiter is None:
        delimiter = detect_delimiter(text)
    existing = set(existing_in_list)
    dnc_set = set(dnc)
    rejected_types = {t.lower() for t in reject_types}
    zones = _zone_names()

    old_limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        prev_line = 0
        raw_header: list[str] | None = None
        for record in reader:
            prev_line = reader.line_num
            if record:
                raw_header = record
                break
        if raw_header is None:
            raise ValueError("empty file: no header")
        header = normalise_header(raw_header)
        phone_name = find_phone_column(header, raw_header, phone_column)
        tz_name = find_timezone_column(header, raw_header, timezone_column)
        phone_index = header.index(phone_name)
        tz_index = header.index(tz_name) if tz_name is not None else None
        others = [(i, name) for i, name in enumerate(header) if i != phone_index]

        result = Expected(
            rows=0,
            header=header,
            phone_column=phone_name,
            timezone_column=tz_name,
            encoding=used_encoding,
            delimiter=delimiter,
        )
        counts: dict[str, int] = {}
        seen: set[str] = set()

        def reject(line: int, reason: str) -> None:
            result.rejected.append(RejectedRow(line, reason))
            counts[reason] = counts.get(reason, 0) + 1

        for record in reader:
            line = prev_line + 1
            prev_line = reader.line_num
            if not record:
                continue
            result.rows += 1
            if len(record) != len(header):
                reject(line, "malformed_row")
                continue
            value = record[phone_index].strip()
            if not value:
                reject(line, "empty")
                continue
            try:
                number = phonenumbers.parse(value, default_region)
            except phonenumbers.NumberParseException:
                reject(line, "unparseable")
                continue
            if not phonenumbers.is_valid_number(number):
                reject(line, "invalid_number")
                continue
            if _TYPE_NAMES.get(phonenumbers.number_type(number)) in rejected_types:
                reject(line, "unsupported_type")
                continue
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            if e164 in seen:
                reject(line, "duplicate_in_file")
                continue
            seen.add(e164)
            if e164 in existing:
                reject(line, "duplicate_in_list")
                continue
            if e164 in dnc_set:
                reject(line, "dnc")
                continue
            tz_value = record[tz_index].strip() if tz_index is not None else ""
            timezones = [tz_value] if tz_value in zones else number_timezones(number)
            fields = {name: record[i] for i, name in others}
            result.accepted.append(AcceptedRow(line, e164, timezones, fields))
    finally:
        csv.field_size_limit(old_limit)
    result.counts = counts
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.expected_import",
        description="Print what importing a CSV must give (the test oracle).",
    )
    parser.add_argument("path", type=Path)
    parser.add_argument("--default-region", default="US")
    parser.add_argument("--phone-column")
    parser.add_argument("--timezone-column")
    parser.add_argument("--dnc", type=Path, help="file of E.164 numbers, one per line")
    parser.add_argument(
        "--reject-type", action="append", help="phonenumbers type name (default premium_rate)"
    )
    args = parser.parse_args(argv)
    dnc = (
        frozenset(x.strip() for x in args.dnc.read_text().splitlines() if x.strip())
        if args.dnc
        else frozenset()
    )
    started = time.perf_counter()
    expected = expected_import(
        args.path,
        default_region=args.default_region,
        phone_column=args.phone_column,
        timezone_column=args.timezone_column,
        reject_types=tuple(args.reject_type or ("premium_rate",)),
        dnc=dnc,
    )
    summary = expected.summary()
    summary.update(
        encoding=expected.encoding,
        delimiter=expected.delimiter,
        phone_column=expected.phone_column,
        timezone_column=expected.timezone_column,
        seconds=round(time.perf_counter() - started, 3),
    )
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
