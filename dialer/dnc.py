"""The do-not-call list: numbers that are never dialled, checked at import and before dialling."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from dialer.db.models import Base
from dialer.lists.headers import find_phone_column, normalise_headers
from dialer.lists.reader import read_chunks
from dialer.lists.source import open_csv
from dialer.lists.store import numbers_on_dnc
from dialer.phone import normalise_column
from dialer.phone.reference import classify


class DncError(ValueError):
    """A number given to a DNC command is not a valid phone number."""


@dataclass(frozen=True)
class DncImportResult:
    rows: int
    added: int
    already_listed: int
    invalid: int


def to_e164(numbers: Iterable[str], region: str) -> list[str]:
    """Normalise every number or raise naming all that are not valid."""
    result: list[str] = []
    bad: list[str] = []
    for raw in numbers:
        verdict = classify(raw, region, frozenset())
        if verdict.e164 is None:
            bad.append(f"{raw!r} ({verdict.reason})")
        else:
            result.append(verdict.e164)
    if bad:
        raise DncError("not valid phone numbers: " + ", ".join(bad))
    return result


def insert_dnc_rows(conn: Connection, rows: list[dict[str, str | None]]) -> int:
    """Insert the numbers not listed yet; returns how many were new."""
    if not rows:
        return 0
    listed = numbers_on_dnc(conn, [str(row["phone_e164"]) for row in rows])
    fresh = [row for row in rows if row["phone_e164"] not in listed]
    if fresh:
        table = Base.metadata.tables["dnc_numbers"]
        statement = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)
        # A concurrent writer may add the same number meanwhile: that is not an error.
        conn.execute(statement.on_conflict_do_nothing(index_elements=["phone_e164"]), fresh)
    return len(fresh)


def add(
    engine: Engine,
    numbers: Iterable[str],
    *,
    region: str = "US",
    source: str = "manual",
    reason: str | None = None,
) -> int:
    """Add numbers; returns how many were new."""
    e164 = sorted(set(to_e164(numbers, region)))
    with engine.begin() as conn:
        return insert_dnc_rows(
            conn, [{"phone_e164": n, "source": source, "reason": reason} for n in e164]
        )


def remove(engine: Engine, numbers: Iterable[str], *, region: str = "US") -> int:
    e164 = to_e164(numbers, region)
    table = Base.metadata.tables["dnc_numbers"]
    with engine.begin() as conn:
        result = conn.execute(sa.delete(table).where(table.c.phone_e164.in_(e164)))
        return int(result.rowcount or 0)


def check(engine: Engine, numbers: Iterable[str], *, region: str = "US") -> dict[str, bool]:
    """For each given number (as typed): is it on the DNC list?"""
    raw = list(numbers)
    e164 = to_e164(raw, region)
    with engine.connect() as conn:
        listed = numbers_on_dnc(conn, e164)
    return {original: number in listed for original, number in zip(raw, e164, strict=True)}


def import_file(
    engine: Engine,
    path: Path,
    *,
    region: str = "US",
    source: str = "import",
    reason: str | None = None,
    phone_column: str | None = None,
) -> DncImportResult:
    """Add every valid number of a CSV file (same reader and detection as list import)."""
    file, header = open_csv(Path(path))
    phone_index = find_phone_column(normalise_headers(header), header, phone_column)
    rows = added = invalid = 0
    with engine.begin() as conn:
        for chunk in read_chunks(file, header):
            rows += chunk.num_rows + len(chunk.malformed)
            invalid += len(chunk.malformed)
            if chunk.num_rows == 0:
                continue
            phones = normalise_column(chunk.columns[phone_index], region, frozenset())
            valid = phones.reasons == None  # noqa: E711 - element-wise
            invalid += int((~valid).sum())
            numbers = sorted(set(phones.e164.filter(pa.array(np.asarray(valid))).to_pylist()))
            added += insert_dnc_rows(
                conn, [{"phone_e164": n, "source": source, "reason": reason} for n in numbers]
            )
    return DncImportResult(
        rows=rows, added=added, already_listed=rows - invalid - added, invalid=invalid
    )


__all__ = [
    "DncError",
    "DncImportResult",
    "add",
    "check",
    "import_file",
    "remove",
    "to_e164",
]
