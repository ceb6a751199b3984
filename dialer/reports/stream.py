"""Rows straight from the database to the file: flat memory on any size of campaign.

:func:`write_csv` writes rows made in Python; :func:`copy_csv` lets PostgreSQL write them
(``COPY (query) TO STDOUT``), byte for byte the CSV :func:`write_csv` makes of the same cells.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.sql.compiler import SQLCompiler

from dialer.reports.cells import safe_text

#: Rows fetched per round trip (PostgreSQL: a server-side cursor; SQLite iterates anyway).
BATCH = 1000
#: COPY rows gathered per write to the file.
COPY_BATCH = 2000


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


def copy_csv(
    engine: Engine,
    query: sa.Select[Any],
    out: IO[str],
    header: Sequence[str],
    *,
    on_row: Callable[[], None] | None = None,
) -> int:
    """PostgreSQL: write ``header``, then the rows of ``query`` (its columns the cells, text
    already safe, NULL for empty) as ``COPY`` makes them; the number of rows written.

    COPY ends a row with ``\\n`` and :func:`write_csv` with ``\\r\\n``: libpq hands over one
    whole row at a time, so a batch with as many newlines as rows has none inside a cell and
    all are replaced at once; in a batch with more, each row's last byte is its end (a newline
    inside a quoted cell stays as it is, as :mod:`csv` leaves it). The bytes go to ``out``'s
    binary buffer when it has one (a file, stdout), else decoded."""
    csv.writer(out, lineterminator="\r\n").writerow([safe_text(name) for name in header])
    out.flush()
    binary: IO[bytes] | None = getattr(out, "buffer", None)
    compiled = query.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    params = {name: _bound(compiled, name, value) for name, value in compiled.params.items()}
    statement = f"COPY ({compiled}) TO STDOUT (FORMAT csv)"
    count = 0
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None, "a live DBAPI connection"
        if driver.info.encoding != "utf-8":  # COPY writes in the client's encoding
            binary = None
        encoding = driver.info.encoding
        with driver.cursor() as cursor, cursor.copy(statement, params) as copy:
            batch: list[memoryview] = []
            for data in copy:
                batch.append(data)
                if on_row is not None:
                    on_row()
                if len(batch) == COPY_BATCH:
                    count += _put(binary, out, batch, encoding)
                    batch = []
            count += _put(binary, out, batch, encoding)
        conn.rollback()
    return count


def _bound(compiled: SQLCompiler, name: str, value: Any) -> Any:
    """``value`` as the column's type sends it (a zone-aware time in UTC, say)."""
    bind = compiled.binds.get(name)  # an expanded IN's values have no bind of their own
    processor = None if bind is None else bind.type.bind_processor(compiled.dialect)
    return value if processor is None else processor(value)


def _put(binary: IO[bytes] | None, out: IO[str], rows: list[memoryview], encoding: str) -> int:
    """Write COPY's ``rows`` ending in CRLF; how many."""
    if not rows:
        return 0
    data = b"".join(rows)
    if data.count(b"\n") == len(rows):
        data = data.replace(b"\n", b"\r\n")
    else:  # a cell holds a newline
        data = b"\r\n".join(row[:-1] for row in rows) + b"\r\n"
    if binary is not None:
        binary.write(data)
    else:
        out.write(data.decode(encoding))
    return len(rows)
