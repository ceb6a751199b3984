"""Seeded generator of a CRM-style contact export for the import benchmark (``--shape crm``).

What a CRM export looks like, as opposed to the torture test of ``tests/support/messy_csv``:

* phone cells: ~70 % NANP numbers formatted by people (``(212) 555-0123``, ``212-555-0123``,
  ``212.555.0123``, ``+1 (212) 555-0123``, ``1-212-555-0123``, surrounding spaces; ~6 % of them
  with an extension ``x123`` / ``ext. 45``), ~10 % international numbers (E.164, spaced,
  dashed, dotted, some dialled from the US with ``011``), ~8 % duplicates of an earlier number
  in another format, ~10 % garbage (empty, ``n/a``, local 7-digit numbers, too short or long,
  invalid area codes, e-mails, formulas, letter-O typos, two numbers in one cell), ~2 % plain
  E.164 or ten digits;
* ~300 bytes of other columns per row: zero-padded account numbers and ZIP codes, names with
  accents, e-mails, company, title, a street address that sometimes holds a quoted newline,
  dates, tags, and notes: one row in ten holds a ~3 KB text with commas, quotes and newlines,
  some hold formula-looking values (``=HYPERLINK(…)``, ``@SUM(…)``, ``+1 call back``).

The numbers come from the validated pools of ``tests.support.messy_csv``; what an import must
give is never assumed from these categories (the benchmark only times it).
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from pathlib import Path

from tests.support.messy_csv import valid_international_formats, valid_nanp_prefixes

HEADER = (
    "Account No", "First Name", "Last Name", "Email", "Secondary Email", "Phone", "Company",
    "Title", "Street", "City", "State", "ZIP", "Website", "Industry", "Created", "Last Activity",
    "Owner", "Lead Source", "Campaign", "Tags", "Notes",
)  # fmt: skip

_NANP_FORMATS = (
    "({0}) {1}-{2}", "{0}-{1}-{2}", "{0}.{1}.{2}", "+1 ({0}) {1}-{2}", "1-{0}-{1}-{2}",
    "+1 {0}-{1}-{2}", "+1.{0}.{1}.{2}", "1 ({0}) {1}-{2}", "({0}){1}-{2}", " {0}-{1}-{2} ",
    "{0} {1} {2}", "  ({0}) {1}-{2}",
)  # fmt: skip
_PLAIN_FORMATS = ("+1{0}{1}{2}", "{0}{1}{2}")
_EXTENSIONS = (" x{0}", " ext. {0}", " ext {0}", " Ext.{0}", " extension {0}", " x {0}", " #{0}")
_GARBAGE_WORDS = (
    "n/a", "N/A", "none", "unknown", "TBD", "-", "?", "#N/A", "no phone", "see notes",
    "call office", "refused", "NULL", "0",
)  # fmt: skip

_FIRST = (
    "James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "José", "María", "François",
    "Zoë", "Jürgen", "Chloé", "Siobhán", "Anne-Marie", "D'Angelo", "Renée", "Wei", "Priya",
)  # fmt: skip
_LAST = (
    "Smith", "Johnson", "Williams", "García", "Müller", "O'Brien", "Núñez", "Kowalski",
    "van der Berg", "Nguyen", "Patel", "Smith, Jr.", 'Doe "JD"', "Østergaard",
)  # fmt: skip
_COMPANIES = (
    "Acme, Inc.", "Globex Corporation", "Initech LLC", 'Smith "and" Sons', "Umbrella Corp",
    "Société Générale", "Müller & Söhne GmbH", "Wayne Enterprises; Gotham", "Stark Industries",
)  # fmt: skip
_TITLES = ("VP Sales", "Office Manager", "CEO", "Buyer", "Head of Procurement", "Owner", "")
_STREETS = ("Main St", "Oak Avenue", "Broadway", "Elm Street", "Market St", "Park Road")
_CITIES = ("New York", "Chicago", "Springfield", "Austin", "Seattle", "Boston", "Toronto")
_STATES = ("NY", "IL", "MA", "TX", "WA", "CA", "ON")
_SOURCES = ("Web form", "Trade show", "Referral", "Cold call", "Partner", "Import 2023")
_INDUSTRIES = ("Manufacturing", "Healthcare", "Retail", "Financial Services", "Education")
_CAMPAIGNS = ("Spring Promo 2024", "Webinar follow-up", "Renewal Q4", "Win-back (lapsed)")
_TAGS = ("vip", "newsletter", "q3-campaign", "do-not-email", "spanish", "enterprise", "smb")
_SHORT_NOTES = (
    "call after 5pm", 'said "not interested"', "=HYPERLINK(\"http://example.com\",\"x\")",
    "@SUM(1+1)", "+1 call back", "-2+3", "prefers e-mail, not phone", "line one\nline two",
    "café crème", "=cmd|' /C calc'!A0",
)  # fmt: skip


def _long_notes(rng: random.Random, count: int) -> list[str]:
    """~3 KB meeting notes with commas, quotes and newlines."""
    sentences = (
        'Discussed renewal, pricing and the "premium" tier.',
        "Customer asked for a callback next week; prefers mornings.",
        "Sent the proposal (v2) by e-mail, awaiting sign-off from finance.",
        "Follow-up: check the invoice #4411, it was paid twice.",
        "Notes from the call:\n- budget approved\n- start in Q3\n- needs training",
    )
    notes = []
    for _ in range(count):
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < 3000:
            parts.append(rng.choice(sentences))
        notes.append(" ".join(parts))
    return notes


class _PhoneCells:
    def __init__(self, rng: random.Random, seed: int) -> None:
        self.rng = rng
        us, ca = valid_nanp_prefixes(seed)
        self.nanp_prefixes = us * 19 + ca  # ~5 % Canada
        self.intl_formats = valid_international_formats(seed)
        self.written: list[tuple[str, tuple[str, ...]]] = []  # (digits, formats) for duplicates
        self.used: set[str] = set()

    def _fresh(self, make: Callable[[], str]) -> str:
        while True:
            digits = make()
            if digits not in self.used:
                self.used.add(digits)
                return digits

    def nanp(self, formats: tuple[str, ...]) -> str:
        rng = self.rng
        digits = self._fresh(lambda: rng.choice(self.nanp_prefixes) + f"{rng.randrange(10000):04d}")
        self.written.append((digits, _NANP_FORMATS))
        cell = rng.choice(formats).format(digits[:3], digits[3:6], digits[6:])
        if formats is _NANP_FORMATS and rng.random() < 0.06:
            cell += rng.choice(_EXTENSIONS).format(rng.randrange(1, 10000))
        return cell

    def international(self) -> str:
        rng = self.rng
        while True:
            formats = rng.choice(self.intl_formats)
            suffix = f"{rng.randrange(1000):03d}"
            e164 = formats[0].format(*suffix)
            if e164 not in self.used:
                self.used.add(e164)
                break
        self.written.append((suffix, formats))
        # Dialled from the US with 011 only now and then; E.164 and spaced forms dominate.
        style = rng.choices(range(len(formats)), weights=(4, 4, 1, 0.5, 1))[0]
        return formats[style].format(*suffix)

    def duplicate(self) -> str:
        rng = self.rng
        digits, formats = rng.choice(self.written)
        if formats is _NANP_FORMATS:
            return rng.choice(formats).format(digits[:3], digits[3:6], digits[6:])
        return rng.choice(formats).format(*digits)

    def garbage(self) -> str:
        rng = self.rng
        kind = rng.randrange(10)
        line = f"{rng.randint(200, 999)}-{rng.randrange(10000):04d}"
        if kind == 0:
            return rng.choice(("", " ", "  "))
        if kind == 1:
            return rng.choice(_GARBAGE_WORDS)
        if kind == 2:
            return line  # a local number without its area code
        if kind == 3:
            return str(rng.randrange(10 ** rng.randint(1, 6)))
        if kind == 4:
            return ("+" if rng.random() < 0.3 else "") + str(rng.randrange(10**11, 10**19))
        if kind == 5:
            return f"({rng.randint(0, 1)}{rng.randrange(100):02d}) {line}"  # no such area code
        if kind == 6:
            return f"{rng.choice(_FIRST).lower()}@example.com"
        if kind == 7:
            return rng.choice(("=+12125550123", "=SUM(A1:A3)", "@4155552671", "-2+3"))
        if kind == 8:
            return f"212-555-{rng.randrange(1000):03d}O"  # letter O for zero
        return f"212-555-{rng.randrange(10000):04d} / 212-555-0199"


def generate_crm(path: Path, rows: int, seed: int) -> None:
    """Write ``rows`` CRM-style data rows (plus the header) to ``path`` as UTF-8."""
    rng = random.Random(f"crm-csv-{seed}")
    phones = _PhoneCells(rng, seed)
    long_notes = _long_notes(rng, 64)

    def phone() -> str:
        u = rng.random()
        if u < 0.70:
            return phones.nanp(_NANP_FORMATS)
        if u < 0.80:
            return phones.international()
        if u < 0.88 and phones.written:
            return phones.duplicate()
        if u < 0.98:
            return phones.garbage()
        return phones.nanp(_PLAIN_FORMATS)

    def notes() -> str:
        u = rng.random()
        if u < 0.10:
            return rng.choice(long_notes)
        if u < 0.35:
            return rng.choice(_SHORT_NOTES)
        return ""

    with path.open("w", encoding="utf-8", newline="") as handle:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(HEADER)
        for index in range(1, rows + 1):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            street = f"{rng.randint(1, 9999)} {rng.choice(_STREETS)}"
            if rng.random() < 0.05:
                street += "\nSuite " + str(rng.randint(100, 999))  # a quoted newline
            writer.writerow(
                (
                    f"{index:010d}",
                    first,
                    last,
                    f"{first[:1].lower()}.{index}@{rng.choice(('example.com', 'mail.test'))}",
                    f"{last.lower().replace(' ', '.')}{index % 89}@personal.example.org",
                    phone(),
                    rng.choice(_COMPANIES),
                    rng.choice(_TITLES),
                    street,
                    rng.choice(_CITIES),
                    rng.choice(_STATES),
                    f"{rng.randrange(100000):05d}",
                    f"https://www.{last.lower().replace(' ', '-')}-{index % 997}.example.com/",
                    rng.choice(_INDUSTRIES),
                    f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 09:{index % 60:02d}",
                    f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T14:{index % 60:02d}Z",
                    f"owner{rng.randrange(40)}@sales.example.com",
                    rng.choice(_SOURCES),
                    rng.choice(_CAMPAIGNS),
                    ";".join(rng.sample(_TAGS, rng.randint(1, 3))),
                    notes(),
                )
            )
            if index % 20_000 == 0:
                handle.write(buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
        handle.write(buffer.getvalue())
