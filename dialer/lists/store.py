"""Database side of an import: list rows, existence checks, and fast bulk writes.

PostgreSQL gets the rows through ``COPY ... FROM STDIN (FORMAT csv)`` with the CSV built by
Arrow in C++; SQLite gets ``executemany``. Both run inside the caller's transaction, so a
failed import leaves nothing behind.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy import Connection

from dialer.db.models import Base
from dialer.lists.copy_stream import CopyStream
from dialer.lists.errors import ListImportError
from dialer.phone.timezones import ZONE_SETS

_SQLITE_PARAMS = 900  # stay under SQLite's host-parameter limit


def lock_or_create_list(
    conn: Connection, list_id: int | None, name: str | None
) -> tuple[int, str, bool]:
    """The target list, write-locked for this transaction; created when it does not exist.

    The lock serialises concurrent imports into one list, so their dedupe sees each other.
    """
    table = Base.metadata.tables["contact_lists"]
    if list_id is not None:
        row = conn.execute(
            sa.update(table)
            .where(table.c.id == list_id)
            .values(name=table.c.name)
            .returning(table.c.id, table.c.name)
        ).first()
        if row is None:
            raise ListImportError(f"list {list_id} does not exist")
        return int(row.id), str(row.name), False
    assert name is not None
    found = conn.execute(sa.select(table.c.id).where(table.c.name == name)).scalar()
    if found is not None:
        return lock_or_create_list(conn, int(found), None)
    created = conn.execute(
        sa.insert(table)
        .values(name=name, recipient_count=0, rejected_count=0)
        .returning(table.c.id)
    ).scalar_one()
    return int(created), name, True


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def numbers_in_list(conn: Connection, list_id: int, numbers: list[str]) -> set[str]:
    table = Base.metadata.tables["recipients"]
    found: set[str] = set()
    if not numbers:
        return found
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            sa.text(
                "SELECT phone_e164 FROM recipients WHERE list_id = :list_id "
                "AND phone_e164 = ANY(:numbers)"
            ),
            {"list_id": list_id, "numbers": numbers},
        )
        return {row[0] for row in rows}
    for part in _chunks(numbers, _SQLITE_PARAMS):
        query = sa.select(table.c.phone_e164).where(
            table.c.list_id == list_id, table.c.phone_e164.in_(part)
        )
        found.update(conn.execute(query).scalars())
    return found


def numbers_on_dnc(conn: Connection, numbers: list[str]) -> set[str]:
    table = Base.metadata.tables["dnc_numbers"]
    if not numbers:
        return set()
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            sa.text("SELECT phone_e164 FROM dnc_numbers WHERE phone_e164 = ANY(:numbers)"),
            {"numbers": numbers},
        )
        return {row[0] for row in rows}
    found: set[str] = set()
    for part in _chunks(numbers, _SQLITE_PARAMS):
        found.update(
            conn.execute(
                sa.select(table.c.phone_e164).where(table.c.phone_e164.in_(part))
            ).scalars()
        )
    return found


class _ZoneLiterals:
    """PostgreSQL array literals for the interned zone sets, rebuilt only when sets are added."""

    def __init__(self) -> None:
        self._array: pa.Array = pa.array([], pa.string())

    def take(self, ids: npt.NDArray[np.int32]) -> pa.Array:
        if len(self._array) < len(ZONE_SETS):
            self._array = pa.array(
                ["{" + ",".join(ZONE_SETS.zones(i)) + "}" for i in range(len(ZONE_SETS))],
                pa.string(),
            )
        return self._array.take(pa.array(ids))


@dataclass(frozen=True)
class AcceptedRows:
    """One batch of accepted recipients, column-wise."""

    e164: pa.Array
    zone_ids: npt.NDArray[np.int32]
    fields: pa.Array
    lines: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.e164)


class RecipientWriter:
    """Writes accepted recipients in the caller's transaction; use as a context manager."""

    _COPY = (
        "COPY recipients (list_id, phone_e164, timezones, fields, row_no) FROM STDIN (FORMAT csv)"
    )

    def __init__(self, conn: Connection, list_id: int) -> None:
        self._conn = conn
        self._list_id = list_id
        self._zones = _ZoneLiterals()
        self._stream: CopyStream | None = None
        self.written = 0

    def __enter__(self) -> RecipientWriter:
        if self._conn.dialect.name == "postgresql":
            self._stream = CopyStream(self._conn.connection.driver_connection, self._COPY)
            self._stream.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            self._stream.__exit__(exc_type, exc, tb)

    def write(self, rows: AcceptedRows) -> None:
        if len(rows) == 0:
            return
        if self._stream is not None:
            self._stream.write(self._csv(rows))
        else:
            self._insert(rows)
        self.written += len(rows)

    def _csv(self, rows: AcceptedRows) -> bytes:
        table = pa.table(
            {
                "list_id": pa.array(np.full(len(rows), self._list_id, dtype=np.int64)),
                "phone_e164": rows.e164,
                "timezones": self._zones.take(rows.zone_ids),
                "fields": rows.fields,
                "row_no": pa.array(rows.lines),
            }
        )
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
        return buffer.getvalue()

    def _insert(self, rows: AcceptedRows) -> None:
        zones = [json.dumps(list(ZONE_SETS.zones(i))) for i in range(len(ZONE_SETS))]
        values = [
            (self._list_id, number, zones[zone], document, line)
            for number, zone, document, line in zip(
                rows.e164.to_pylist(),
                rows.zone_ids.tolist(),
                rows.fields.to_pylist(),
                rows.lines.tolist(),
                strict=True,
            )
        ]
        self._conn.exec_driver_sql(
            "INSERT INTO recipients (list_id, phone_e164, timezones, fields, row_no) "
            "VALUES (?, ?, ?, ?, ?)",
            values,
        )
