"""Rows straight from the database to the file: flat memory on any size of campaign."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.reports.cells import safe_text

#: Rows fetched per round trip (PostgreSQL: a server-side cursor; SQLite iterates anyway).
BATCH = 1000


def stream(engine: Engine, query: sa.Select[Any]) -> Iterator[sa.RowMapping]:
    """The rows of ``query`` one at a time, never the whole result in memory."""
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(query)
        yield from result.mappings()


def write_csv(
    out: IO[str],
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    on_row: Callable[[], None] | None = None,
) -> int:
    """Write ``header`` and ``rows`` (cells already safe) as CSV; the number of rows written."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_text(name) for name in header])
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
        if on_row is not None:
            on_row()
    return count
