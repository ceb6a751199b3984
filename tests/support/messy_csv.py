"""Seeded generator of messy contact-list CSV files (test and benchmark support).

Independent of the importer: it never imports ``dialer.lists`` or ``dialer.phone``. The truth
about what an import of a generated file must give is computed by
:mod:`tests.support.expected_import`, never assumed from the categories below.

What a file holds (shares are of the data rows):

* ``dup_share`` (default 5 %) re-use a number written on an earlier *good* row, in a different
  format (so that de-duplication has to work on E.164, not on the text).
* ``bad_share`` (default 10 %) have a messy phone cell: empty or blank, letters only ("n/a"),
  too short, too long, invalid NANP area codes, extensions ("415-555-2671 x123"), vanity letters
  ("1-800-FLOWERS"), full-width or Arabic-Indic digits, formula-looking text, garbage around
  digits. phonenumbers accepts some of these (extensions are dropped, vanity letters and
  non-ASCII digits are converted; about 15 % of bad rows end up accepted, the rest are empty,
  unparseable or invalid_number): the oracle decides, never this category.
* the rest are good numbers: ~77 % US geographic numbers (real area codes and exchanges, checked
  with ``phonenumbers.is_valid_number`` when the pools are built) in a dozen formats, ~20 % other
  countries (GB, DE, FR, MX, IN, BR, AU, CA, ES, IT incl. leading-zero fixed lines, JP) in E.164,
  international format with spaces or dashes or US dialling (``011 ...``), ~2.5 % toll-free
  (US and foreign) and ~0.5 % premium rate (US 900 and foreign).

Other columns: ids with leading zeros, names with accents (and CJK/emoji for UTF-8), e-mails,
companies and notes with commas, quotes, embedded newlines (LF and CRLF), leading/trailing
spaces, unicode, formula-looking values; the time-zone column mostly empty, some valid IANA names
(some padded with spaces), some invalid ("Mars/Base", "america/chicago").

Generation is deterministic for a given set of arguments. Numbers are drawn from pools of
validated prefixes ("templates") built once per seed; a fresh good number is never repeated by
chance (a set of used numbers is kept), so duplicates are exactly the ``dup_share`` rows plus the
few repeated fixed strings of the bad rows (e.g. "1-800-FLOWERS").

CLI: ``python -m tests.support.messy_csv OUT.csv --rows N --seed S [--dnc-out dnc.txt] ...``
"""

from __future__ import annotations

import argparse
import bisect
import csv
import io
import itertools
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

HEADER: tuple[str, ...] = (
    "ID",
    " First Name",
    " Last Name",
    " Phone Number",
    " Email",
    " Company",
    " Notes",
    " Time Zone",
)
"""The header as written; normalised it is id, first_name, last_name, phone_number, email,
company, notes, time_zone."""

NORMALISED_HEADER: tuple[str, ...] = (
    "id",
    "first_name",
    "last_name",
    "phone_number",
    "email",
    "company",
    "notes",
    "time_zone",
)

INTL_REGIONS: tuple[str, ...] = ("GB", "DE", "FR", "MX", "IN", "BR", "AU", "ES", "IT", "JP")
TOLL_FREE_REGIONS: tuple[str, ...] = ("US", "US", "US", "GB", "DE", "FR", "AU", "IT")
PREMIUM_REGIONS: tuple[str, ...] = ("US", "US", "GB", "DE", "FR", "AU")

# Shares of the good rows.
_GOOD_US = 0.77
_GOOD_INTL = 0.20  # of which ~1/8 Canada (NANP)
_GOOD_TOLL_FREE = 0.025
# the rest (0.005): premium rate

_FIXED_OR_MOBILE = frozenset(
    {PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


@dataclass
class GenerationInfo:
    path: Path
    rows: int
    seed: int
    encoding: str
    delimiter: str
    header: tuple[str, ...]
    dnc: frozenset[str]
    """E.164 numbers (of valid numbers written in the file) to load into the DNC table."""
    categories: dict[str, int] = field(default_factory=dict)
    """Rows per generator category: us, canada, intl, toll_free, premium, duplicate, bad."""
    bad_kinds: dict[str, int] = field(default_factory=dict)
    """Bad rows per kind (empty, letters, too_short, ...)."""
    seconds: float = 0.0


# --------------------------------------------------------------------------------------------
# Number pools
# --------------------------------------------------------------------------------------------

_SUFFIX_DIGITS = 3  # an international template is a national number minus its last 3 digits


@dataclass(frozen=True)
class _IntlTemplate:
    region: str
    e164_prefix: str  # "+3361234" (+ 3 digits makes the E.164)
    formats: tuple[str, ...]  # str.format templates taking the 3 suffix digits as {0} {1} {2}


def _valid(e164: str, types: frozenset[int]) -> bool:
    try:
        num = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:  # pragma: no cover - we build E.164 ourselves
        return False
    return phonenumbers.is_valid_number(num) and phonenumbers.number_type(num) in types


def _nanp_prefixes(
    rng: random.Random, region: str, types: frozenset[int], count: int, npas: Sequence[str] = ()
) -> list[str]:
    """``count`` distinct 6-digit NPA-NXX prefixes of ``region`` valid for any 4-digit line
    (checked on 3 random line numbers each)."""
    out: list[str] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < count and attempts < count * 400:
        attempts += 1
        npa = rng.choice(npas) if npas else f"{rng.randint(2, 9)}{rng.randrange(100):02d}"
        prefix = f"{npa}{rng.randint(2, 9)}{rng.randrange(100):02d}"
        if prefix in seen:
            continue
        seen.add(prefix)
        checks = [f"+1{prefix}{rng.randrange(10000):04d}" for _ in range(3)]
        if all(_valid(c, types) for c in checks) and all(
            phonenumbers.region_code_for_number(phonenumbers.parse(c, None)) == region
            for c in checks[:1]
        ):
            out.append(prefix)
    return out


def _intl_templates(
    rng: random.Random, region: str, type_: int, types: frozenset[int], count: int
) -> list[_IntlTemplate]:
    example = phonenumbers.example_number_for_type(region, type_)
    if example is None:  # pragma: no cover - all our regions have examples
        return []
    cc = example.country_code
    nsn = phonenumbers.national_significant_number(example)
    keep = {PhoneNumberType.FIXED_LINE: 1, PhoneNumberType.MOBILE: 2}.get(type_, 3)
    if nsn.startswith("0"):  # Italian leading zero: keep it and the area digit
        keep += 1
    free = len(nsn) - keep - _SUFFIX_DIGITS
    out: list[_IntlTemplate] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < count and attempts < count * 200:
        attempts += 1
        middle = "".join(str(rng.randrange(10)) for _ in range(free))
        national_prefix = nsn[:keep] + middle
        if national_prefix in seen:
            continue
        seen.add(national_prefix)
        prefix = f"+{cc}{national_prefix}"
        checks = [f"{prefix}{rng.randrange(1000):03d}" for _ in range(3)]
        if not all(_valid(c, types) for c in checks):
            continue
        intl = phonenumbers.format_number(
            phonenumbers.parse(prefix + "000", None), PhoneNumberFormat.INTERNATIONAL
        )
        # Replace the last three digits of the formatted number by {0} {1} {2}.
        chars = list(intl)
        slot = 2
        for i in range(len(chars) - 1, -1, -1):
            if chars[i].isdigit():
                chars[i] = "{" + str(slot) + "}"
                slot -= 1
                if slot < 0:
                    break
        spaced = "".join(chars)
        formats = (
            prefix + "{0}{1}{2}",  # E.164
            spaced,  # +33 6 12 34 56 78
            spaced.replace(" ", "-"),  # +33-6-12-34-56-78
            "011 " + spaced[1:],  # dialled from the US
            "+" + spaced[1:].replace(" ", "."),  # +33.6.12.34.56.78
        )
        out.append(_IntlTemplate(region, prefix, formats))
    return out


_US_FORMATS = (
    "({0}) {1}-{2}",
    "{0}-{1}-{2}",
    "{0}.{1}.{2}",
    "{0}{1}{2}",
    "1-{0}-{1}-{2}",
    "+1 {0}-{1}-{2}",
    "+1{0}{1}{2}",
    "+1 ({0}) {1}-{2}",
    "1 ({0}) {1}-{2}",
    "{0} {1} {2}",
    "1{0}{1}{2}",
    "+1.{0}.{1}.{2}",
    " ({0}){1}-{2} ",
)


def _fmt_nanp(digits10: str, fmt: int) -> str:
    return _US_FORMATS[fmt].format(digits10[:3], digits10[3:6], digits10[6:])


class _Pools:
    def __init__(self, seed: int) -> None:
        rng = random.Random(f"messy-csv-pools-{seed}")
        fm = _FIXED_OR_MOBILE
        self.us = _nanp_prefixes(rng, "US", fm, 1500)
        self.ca = _nanp_prefixes(
            rng, "CA", fm, 120, npas=("416", "647", "437", "514", "604", "403", "613", "905")
        )
        self.us_toll_free = _nanp_prefixes(
            rng,
            "US",
            frozenset({PhoneNumberType.TOLL_FREE}),
            200,
            npas=("800", "888", "877", "866", "855", "844", "833"),
        )
        self.us_premium = _nanp_prefixes(
            rng, "US", frozenset({PhoneNumberType.PREMIUM_RATE}), 100, npas=("900",)
        )
        self.intl: list[_IntlTemplate] = []
        for region in INTL_REGIONS:
            for type_ in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE):
                self.intl += _intl_templates(rng, region, type_, fm, 60)
        self.intl_toll_free: list[_IntlTemplate] = []
        for region in sorted(set(TOLL_FREE_REGIONS) - {"US"}):
            self.intl_toll_free += _intl_templates(
                rng,
                region,
                PhoneNumberType.TOLL_FREE,
                frozenset({PhoneNumberType.TOLL_FREE}),
                20,
            )
        self.intl_premium: list[_IntlTemplate] = []
        for region in sorted(set(PREMIUM_REGIONS) - {"US"}):
            self.intl_premium += _intl_templates(
                rng,
                region,
                PhoneNumberType.PREMIUM_RATE,
                frozenset({PhoneNumberType.PREMIUM_RATE}),
                20,
            )


_POOL_CACHE: dict[int, _Pools] = {}


def _pools(seed: int) -> _Pools:
    if seed not in _POOL_CACHE:
        _POOL_CACHE[seed] = _Pools(seed)
    return _POOL_CACHE[seed]


def valid_nanp_prefixes(seed: int) -> tuple[list[str], list[str]]:
    """Validated 6-digit NPA-NXX prefixes (US, Canada) of this seed's pools, for other
    generators (bench/crm_csv.py): any 4 line digits after one make a valid number."""
    pools = _pools(seed)
    return pools.us, pools.ca


def valid_international_formats(seed: int) -> list[tuple[str, ...]]:
    """Per validated foreign prefix, ``str.format`` templates taking 3 more digits as {0} {1}
    {2}: E.164, international with spaces, with dashes, dialled from the US (011), dotted."""
    return [template.formats for template in _pools(seed).intl]


# --------------------------------------------------------------------------------------------
# Text pools for the other columns
# --------------------------------------------------------------------------------------------

_FIRST = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "José", "María", "François", "Zoë", "Søren", "Jürgen", "Chloé", "Ñandú",
    "Łukasz", "Nguyễn", "Ōta", "Željko", "Siobhán", "D'Angelo", "Anne-Marie", "李", "Иван",
    "  Padded  ", "", "=1+1", "@admin", "Renée", "Ångström",
)  # fmt: skip
_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Müller",
    "O'Brien", "García", "Núñez", "Dvořák", "Kowalski", "Østergaard", "Smith, Jr.", "Lee",
    'Doe "JD"', "Straße", "van der Berg", "Tanaka", "山田", "Ivanov", "", "-10+20",
)  # fmt: skip
_COMPANY = (
    "Acme", "Acme, Inc.", "Globex Corporation", 'Smith "and" Sons', "Initech", "Umbrella Corp",
    "Société Générale", "Müller & Söhne GmbH", "", "", "", "=HYPERLINK(\"http://evil\",\"x\")",
    "+SUM(A1:A9)", "@SUM(1+1)", "-2+3", "Caffè Nero", "AT&T", "Wayne Enterprises; Gotham",
    "Tab\tSeparated", "Pipe|Co", "  spaced  ",
)  # fmt: skip
_NOTES = (
    "call after 5pm",
    "VIP, do not call before 9",
    'said "not interested"',
    'He said, "call me back"',
    "line one\nline two",
    "multi\r\nline\r\nCRLF note",
    "\nstarts with newline",
    "ends with newline\n",
    "=cmd|' /C calc'!A0",
    "+SUM(A1)",
    "@foo",
    "-2+3",
    '=HYPERLINK("http://example.com")',
    "café crème",
    "naïve résumé",
    "€100 owed",
    "Grüße aus Köln",
    "emoji 😀👍🏽",
    "日本語のメモ",
    "semi;colon",
    "pipe|separated",
    "tab\there",
    "  leading and trailing spaces  ",
    "'quoted single'",
    '""',
    '"unbalanced quote',
    "back\\slash",
    "NULL",
    "N/A",
    "0",
    "00123",
    "1e10",
    "true",
)
_TZ_VALID = (
    "America/Chicago",
    "America/New_York",
    "America/Los_Angeles",
    "America/Denver",
    "Europe/London",
    "Europe/Paris",
    "Asia/Kolkata",
    "Australia/Sydney",
    "  America/Chicago  ",
    "UTC",
)
_TZ_INVALID = (
    "Mars/Base",
    "america/chicago",
    "Central Time",
    "GMT+5",
    "UTC+02:00",
    "America/Springfield",
    "CST6",
    "n/a",
)

_BAD_LETTERS = ("n/a", "N/A", "unknown", "none", "-", "TBD", "no phone", "#N/A", "null", "?")
_BAD_VANITY = (
    "1-800-FLOWERS",
    "1-800-GOT-JUNK",
    "1-888-NEW-CARS",
    "+1 800 CALL ATT",
    "800-MATTRESS",
    "1-900-HOT-LINE",
)
_BAD_FORMULA = ("=4155552671", "+SUM(A1)", "=cmd|' /C calc'!A0", "@4155552671", "-2+3")
_EXT_FORMATS = (" x{0}", " ext. {0}", " ext {0}", ";ext={0}", " #{0}", " extension {0}")
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

# Kind of bad phone cell -> weight. The last four are partly or wholly accepted by phonenumbers
# (extensions dropped, letters and non-ASCII digits converted): ~85 % of bad rows are rejected.
_BAD_WEIGHTS: dict[str, float] = {
    "empty": 1.5,
    "letters": 1.5,
    "too_short": 1.5,
    "too_long": 1.0,
    "invalid_area_code": 1.5,
    "formula": 0.8,
    "extension": 0.6,
    "vanity": 0.4,
    "unicode_digits": 0.4,
    "mixed_garbage": 0.8,
}
_BAD_KINDS = tuple(_BAD_WEIGHTS)


def _encodable(values: Sequence[str], encoding: str) -> tuple[str, ...]:
    out = []
    for v in values:
        try:
            v.encode(encoding)
        except UnicodeEncodeError:
            continue
        out.append(v)
    return tuple(out)


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


class _Numbers:
    """Draws fresh (never seen before) good numbers and formats them."""

    def __init__(self, pools: _Pools, rng: random.Random) -> None:
        self.pools = pools
        self.rng = rng
        self.used: set[str] = set()

    def nanp(self, prefixes: Sequence[str]) -> str:
        """A fresh 10-digit NANP number from one of ``prefixes``."""
        rng = self.rng
        while True:
            digits = f"{rng.choice(prefixes)}{rng.randrange(10000):04d}"
            if digits not in self.used:
                self.used.add(digits)
                return digits

    def intl(self, templates: Sequence[_IntlTemplate]) -> tuple[_IntlTemplate, str]:
        rng = self.rng
        while True:
            tpl = rng.choice(templates)
            suffix = f"{rng.randrange(1000):03d}"
            key = tpl.e164_prefix + suffix
            if key not in self.used:
                self.used.add(key)
                return tpl, suffix


# A written good number: ("nanp", digits10, fmt) or ("intl", template, suffix, fmt); kept to
# write duplicates of it later in another format.
_Written = tuple[str, "str | _IntlTemplate", str, int]


def generate(
    path: str | Path,
    rows: int,
    seed: int,
    *,
    bad_share: float = 0.10,
    dup_share: float = 0.05,
    encoding: str = "utf-8",
    delimiter: str = ",",
    dnc_share: float = 0.0,
    lineterminator: str = "\r\n",
) -> GenerationInfo:
    """Write a messy contact CSV of ``rows`` data rows (plus the header) to ``path``.

    ``encoding`` is any Python codec ("utf-8", "utf-8-sig" for a BOM, "cp1252", "latin-1");
    values that the codec cannot represent (emoji, CJK) are left out of the pools.
    ``dnc_share``: that share of the good (non-duplicate) rows have their E.164 number put in
    ``info.dnc`` (each checked valid with phonenumbers).
    """
    started = time.perf_counter()
    path = Path(path)
    if rows < 0:
        raise ValueError("rows must be >= 0")
    if not 0 <= bad_share + dup_share <= 1:
        raise ValueError("bad_share + dup_share must be within [0, 1]")
    pools = _pools(seed)
    rng = random.Random(f"messy-csv-rows-{seed}")
    numbers = _Numbers(pools, rng)

    first = _encodable(_FIRST, encoding)
    last = _encodable(_LAST, encoding)
    company = _encodable(_COMPANY, encoding)
    notes = _encodable(_NOTES, encoding)

    written: list[_Written] = []
    dnc: set[str] = set()
    categories = dict.fromkeys(
        ("us", "canada", "intl", "toll_free", "premium", "duplicate", "bad"), 0
    )
    bad_kinds = dict.fromkeys(_BAD_KINDS, 0)
    bad_cum = list(itertools.accumulate(_BAD_WEIGHTS[k] for k in _BAD_KINDS))

    t_dup = bad_share + dup_share
    g = 1.0 - t_dup
    t_us = t_dup + g * _GOOD_US
    t_intl = t_us + g * _GOOD_INTL
    t_tf = t_intl + g * _GOOD_TOLL_FREE

    def good_nanp(prefixes: Sequence[str]) -> str:
        digits = numbers.nanp(prefixes)
        fmt = rng.randrange(len(_US_FORMATS))
        written.append(("nanp", digits, "", fmt))
        if dnc_share and rng.random() < dnc_share:
            dnc.add("+1" + digits)
        return _fmt_nanp(digits, fmt)

    def good_intl(templates: Sequence[_IntlTemplate]) -> str:
        tpl, suffix = numbers.intl(templates)
        fmt = rng.randrange(len(tpl.formats))
        written.append(("intl", tpl, suffix, fmt))
        if dnc_share and rng.random() < dnc_share:
            dnc.add(tpl.e164_prefix + suffix)
        return tpl.formats[fmt].format(*suffix)

    def duplicate() -> str:
        kind, data, suffix, fmt = written[rng.randrange(len(written))]
        if kind == "nanp":
            assert isinstance(data, str)
            other = (fmt + rng.randrange(1, len(_US_FORMATS))) % len(_US_FORMATS)
            return _fmt_nanp(data, other)
        assert isinstance(data, _IntlTemplate)
        other = (fmt + rng.randrange(1, len(data.formats))) % len(data.formats)
        return data.formats[other].format(*suffix)

    def bad() -> str:
        kind = _BAD_KINDS[bisect.bisect(bad_cum, rng.random() * bad_cum[-1])]
        bad_kinds[kind] += 1
        r = rng.random()
        if kind == "empty":
            return ("", " ", "   ", "\t")[int(r * 4)]
        if kind == "letters":
            return _BAD_LETTERS[int(r * len(_BAD_LETTERS))]
        if kind == "too_short":
            n = rng.randint(1, 6)
            digits = "".join(str(rng.randrange(10)) for _ in range(n))
            return digits if r < 0.5 else f"555-{digits}"
        if kind == "too_long":
            n = rng.randint(14, 22)
            digits = str(rng.randint(1, 9)) + "".join(str(rng.randrange(10)) for _ in range(n))
            return ("+" + digits) if r < 0.3 else digits
        if kind == "invalid_area_code":
            npa = f"{rng.randint(0, 1)}{rng.randrange(100):02d}"  # NANP area codes never start 0/1
            line = f"{rng.randint(2, 9)}{rng.randrange(100):02d}{rng.randrange(10000):04d}"
            return _fmt_nanp(npa + line, rng.randrange(len(_US_FORMATS)))
        if kind == "extension":
            digits = numbers.nanp(pools.us)
            ext = str(rng.randrange(1, 10000))
            return _fmt_nanp(digits, rng.randrange(6)) + _EXT_FORMATS[
                int(r * len(_EXT_FORMATS))
            ].format(ext)
        if kind == "vanity":
            return _BAD_VANITY[int(r * len(_BAD_VANITY))]
        if kind == "formula":
            return _BAD_FORMULA[int(r * len(_BAD_FORMULA))]
        if kind == "unicode_digits":
            digits = numbers.nanp(pools.us)
            table = _FULLWIDTH if r < 0.5 else _ARABIC_INDIC
            text = _fmt_nanp(digits, rng.randrange(4)).translate(table)
            try:
                text.encode(encoding)
            except UnicodeEncodeError:
                return _fmt_nanp(digits, 3) + "O"  # letter O for zero: typo
            return text
        # mixed_garbage
        digits = numbers.nanp(pools.us)
        choices = (
            f"{digits[:3]}-{digits[3:6]}-{digits[6:8]}AB",
            f"phone: {digits}",
            f"{digits} / {digits[:6]}0000",
            f"({digits[:3]} {digits[3:]}",
            f"++1{digits}",
            f"{digits[:3]}--{digits[3:]}",
            f"+{digits}",
        )
        return choices[int(r * len(choices))]

    def phone() -> str:
        u = rng.random()
        if u < bad_share:
            categories["bad"] += 1
            return bad()
        if u < t_dup and written:
            categories["duplicate"] += 1
            return duplicate()
        if u < t_us:  # (also a duplicate row while there is no earlier number yet)
            categories["us"] += 1
            return good_nanp(pools.us)
        if u < t_intl:
            if rng.random() < 0.125:
                categories["canada"] += 1
                return good_nanp(pools.ca)
            categories["intl"] += 1
            return good_intl(pools.intl)
        if u < t_tf:
            categories["toll_free"] += 1
            if rng.random() < 0.6:
                return good_nanp(pools.us_toll_free)
            return good_intl(pools.intl_toll_free)
        categories["premium"] += 1
        if rng.random() < 0.5:
            return good_nanp(pools.us_premium)
        return good_intl(pools.intl_premium)

    chunk = 20_000
    with path.open("w", encoding=encoding, newline="") as fh:
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=delimiter, lineterminator=lineterminator)
        writer.writerow(HEADER)
        done = 0
        while done < rows:
            n = min(chunk, rows - done)
            firsts = rng.choices(first, k=n)
            lasts = rng.choices(last, k=n)
            companies = rng.choices(company, k=n)
            r_id = [rng.random() for _ in range(n)]
            r_note = [rng.random() for _ in range(n)]
            r_tz = [rng.random() for _ in range(n)]
            out = []
            for i in range(n):
                idx = done + i + 1
                # id: 30 % zero-padded, 2 % empty
                u = r_id[i]
                if u < 0.30:
                    ident = f"{idx:06d}"
                elif u < 0.32:
                    ident = ""
                else:
                    ident = str(idx)
                # notes: 25 % present
                u = r_note[i]
                note = notes[int(u * 4 * len(notes))] if u < 0.25 else ""
                # time zone: 85 % empty, 10 % valid, 5 % invalid
                u = r_tz[i]
                if u < 0.85:
                    tz = ""
                elif u < 0.95:
                    tz = _TZ_VALID[int((u - 0.85) * 10 * len(_TZ_VALID))]
                else:
                    tz = _TZ_INVALID[int((u - 0.95) * 20 * len(_TZ_INVALID))]
                email = f"user{idx}@example.com" if idx % 5 else ""
                out.append((ident, firsts[i], lasts[i], phone(), email, companies[i], note, tz))
            writer.writerows(out)
            fh.write(buf.getvalue())
            buf.seek(0)
            buf.truncate()
            done += n

    # Keep only DNC numbers phonenumbers agrees are valid (they are, by construction).
    dnc_valid = frozenset(
        e for e in dnc if phonenumbers.is_valid_number(phonenumbers.parse(e, None))
    )
    return GenerationInfo(
        path=path,
        rows=rows,
        seed=seed,
        encoding=encoding,
        delimiter=delimiter,
        header=HEADER,
        dnc=dnc_valid,
        categories=categories,
        bad_kinds=bad_kinds,
        seconds=time.perf_counter() - started,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.messy_csv", description="Write a seeded messy contact CSV."
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bad-share", type=float, default=0.10)
    parser.add_argument("--dup-share", type=float, default=0.05)
    parser.add_argument("--dnc-share", type=float, default=0.0)
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--delimiter", default=",", help="one character; 'tab' or '\\t' for a tab")
    parser.add_argument(
        "--dnc-out", type=Path, help="write the DNC numbers here, one E.164 per line"
    )
    args = parser.parse_args(argv)
    delimiter = "\t" if args.delimiter in ("tab", "\\t") else args.delimiter
    info = generate(
        args.out,
        args.rows,
        args.seed,
        bad_share=args.bad_share,
        dup_share=args.dup_share,
        encoding=args.encoding,
        delimiter=delimiter,
        dnc_share=args.dnc_share,
    )
    if args.dnc_out:
        args.dnc_out.write_text("".join(f"{e}\n" for e in sorted(info.dnc)), encoding="utf-8")
    json.dump(
        {
            "path": str(info.path),
            "rows": info.rows,
            "seed": info.seed,
            "encoding": info.encoding,
            "delimiter": info.delimiter,
            "dnc": len(info.dnc),
            "categories": info.categories,
            "bad_kinds": info.bad_kinds,
            "seconds": round(info.seconds, 3),
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
