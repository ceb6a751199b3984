"""The demo's contact list, ``dialer/samples/demo_contacts.csv``: a seeded, repeatable CRM export.

    .venv/bin/python -m dialer.demo.sample_list [--rows 3000] [--seed 2026] [PATH]

Every number is a fictional NANP line, ``NPA-555-01XX`` (the range set aside for fiction), in
area codes of the four continental US zones and two Canadian ones, written the ways people
write numbers. A few rows are bad on purpose, as in any real export: a number written twice in
another format, cells that are no number at all, a premium-rate (900) number, empty cells.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
from pathlib import Path

DEFAULT_ROWS = 3000
DEFAULT_SEED = 2026
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "samples" / "demo_contacts.csv"

HEADER = ("Customer ID", "First Name", "Last Name", "Phone", "Email", "Plan", "Renewal Date")

#: Area codes by the zone their numbers are in (two Canadian ones at the end of their zones).
AREA_CODES = {
    "America/New_York": ("212", "305", "404", "617", "215", "313", "704", "202", "407", "919",
                         "416"),
    "America/Chicago": ("312", "713", "214", "615", "504", "612", "314", "414", "816"),
    "America/Denver": ("303", "801", "505", "406"),
    "America/Phoenix": ("602",),
    "America/Los_Angeles": ("206", "415", "213", "503", "702", "619", "916", "604"),
}  # fmt: skip
LINES_PER_AREA = 100  # 555-0100 … 555-0199

#: Shares of the rows that are bad on purpose (the rest are distinct, valid numbers).
DUPLICATE_SHARE = 0.012
GARBAGE_SHARE = 0.008
EMPTY_SHARE = 0.004
PREMIUM_ROWS = 3

_FORMATS = (
    "({0}) {1}-{2}", "{0}-{1}-{2}", "{0}.{1}.{2}", "+1 {0} {1} {2}", "+1 ({0}) {1}-{2}",
    "1-{0}-{1}-{2}", "{0}{1}{2}", "+1{0}{1}{2}",
)  # fmt: skip
_GARBAGE = ("n/a", "555-01", "call office", "TBD", "12345", "see notes", "0", "(212) 555-01AB")
_FIRST = (
    "James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "David", "Linda", "José",
    "María", "Wei", "Priya", "Chloé", "Siobhán", "D'Angelo", "Renée", "Omar", "Aiko", "Lars",
    "Fatima", "Noah", "Emma", "Liam", "Olivia", "Mateo", "Sofia", "Ethan", "Ava", "Lucas", "Mia",
)  # fmt: skip
_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "García", "Miller", "Davis", "Nguyen",
    "Patel", "O'Brien", "Müller", "Kowalski", "Tanaka", "Rossi", "Dubois", "Kim", "Cohen",
    "Okafor", "Larsen", "Silva", "Chen", "Martin", "Lopez", "Wilson",
)  # fmt: skip
_PLANS = ("Basic", "Plus", "Premium", "Family")


def fictional_numbers(rng: random.Random) -> list[tuple[str, str]]:
    """Every (area code, line) of the pool, shuffled: ``NPA`` + ``555`` + ``01XX``."""
    pool = [
        (area, f"{100 + line:04d}")
        for areas in AREA_CODES.values()
        for area in areas
        for line in range(LINES_PER_AREA)
    ]
    rng.shuffle(pool)
    return pool


def written(area: str, line: str, rng: random.Random) -> str:
    return rng.choice(_FORMATS).format(area, "555", line)


def rows(count: int, seed: int) -> list[tuple[str, ...]]:
    """``count`` data rows; the same arguments give the same rows."""
    rng = random.Random(seed)
    pool = fictional_numbers(rng)
    bad = {
        "duplicate": round(count * DUPLICATE_SHARE),
        "garbage": round(count * GARBAGE_SHARE),
        "empty": round(count * EMPTY_SHARE),
        "premium": PREMIUM_ROWS if count >= 100 else 0,
    }
    good = count - sum(bad.values())
    if good > len(pool):
        raise ValueError(f"at most {len(pool) + sum(bad.values())} rows: the fictional pool ends")
    kinds = ["good"] * good + [kind for kind, n in bad.items() for _ in range(n)]
    # the first rows are good, so a duplicate always has an earlier number to repeat
    head, tail = kinds[:10], kinds[10:]
    rng.shuffle(tail)
    used: list[tuple[str, str]] = []
    out: list[tuple[str, ...]] = []
    for index, kind in enumerate(head + tail, start=1):
        if kind == "good":
            number = pool[len(used)]
            used.append(number)
            phone = written(*number, rng)
        elif kind == "duplicate":
            phone = written(*rng.choice(used), rng)
        elif kind == "garbage":
            phone = rng.choice(_GARBAGE)
        elif kind == "premium":
            phone = written("900", f"{100 + rng.randrange(LINES_PER_AREA):04d}", rng)
        else:
            phone = rng.choice(("", " "))
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"{_ascii(first)}.{_ascii(last)}{index}@example.com".lower()
        renewal = f"2026-{rng.randint(7, 12):02d}-{rng.randint(1, 28):02d}"
        out.append((f"C{index:05d}", first, last, phone, email, rng.choice(_PLANS), renewal))
    return out


def render(count: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows(count, seed))
    return buffer.getvalue()


def _ascii(name: str) -> str:
    table = str.maketrans("éíáüñ", "eiaun", "'")
    return name.translate(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    args.path.write_text(render(args.rows, args.seed), encoding="utf-8")
    print(f"{args.rows} rows written to {args.path}")


if __name__ == "__main__":
    main()
