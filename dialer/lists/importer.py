"""Contact-list import: a CSV file into a list's recipients, all or nothing.

Fatal problems (unreadable file, no phone column, unknown region, a CSV the parser cannot
follow) raise :class:`ListImportError` before or instead of committing; row problems are
counted per reason and, on request, written to a rejects file.
"""

from __future__ import annotations

import time
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from dialer.db.models import Base
from dialer.lists import store
from dialer.lists.errors import ListImportError
from dialer.lists.fields import fields_json
from dialer.lists.headers import find_phone_column, find_timezone_column, normalise_headers
from dialer.lists.reader import BLOCK_SIZE, Chunk, read_chunks
from dialer.lists.reasons import DNC, DUPLICATE_IN_FILE, DUPLICATE_IN_LIST, MALFORMED_ROW
from dialer.lists.rejects import RejectsFile
from dialer.lists.source import Source, open_csv
from dialer.phone import ZONE_SETS, normalise_column
from dialer.phone.reference import KNOWN_TYPE_NAMES, region_is_known

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportOptions:
    name: str | None = None
    list_id: int | None = None
    default_region: str = "US"
    phone_column: str | None = None
    timezone_column: str | None = None
    rejects_path: Path | None = None
    reject_types: frozenset[str] = frozenset({"premium_rate"})
    #: Bytes the CSV parser reads at a time; also the largest single record it accepts.
    block_size: int = BLOCK_SIZE


@dataclass
class ImportResult:
    list_id: int
    list_name: str
    created: bool
    rows: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    encoding: str = ""
    delimiter: str = ""
    phone_column: str = ""
    rejects_file: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "list_id": self.list_id,
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": dict(sorted(self.rejected.items())),
            "seconds": round(self.seconds, 3),
            "list_name": self.list_name,
            "created": self.created,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "phone_column": self.phone_column,
            "rejects_file": self.rejects_file,
        }


def _validate(options: ImportOptions) -> None:
    if options.list_id is None and not (options.name and options.name.strip()):
        raise ListImportError("give the list a --name, or import into an existing --list ID")
    if options.name is not None and len(options.name) > 200:
        raise ListImportError("list name is longer than 200 characters")
    if not region_is_known(options.default_region):
        raise ListImportError(
            f"unknown default region {options.default_region!r}: use an ISO 3166 code such as "
            "US, GB or DE"
        )
    unknown = sorted(options.reject_types - KNOWN_TYPE_NAMES)
    if unknown:
        raise ListImportError(
            f"unknown number type(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(KNOWN_TYPE_NAMES))}"
        )


@lru_cache(maxsize=1)
def _zone_names() -> pa.Array:
    return pa.array(sorted(zoneinfo.available_timezones()))


class _Importer:
    def __init__(
        self,
        conn: Connection,
        lookup: Connection,
        list_id: int,
        names: list[str],
        phone_index: int,
        tz_index: int | None,
        options: ImportOptions,
        rejects: RejectsFile | None,
        new_list: bool = False,
    ) -> None:
        self.conn = conn
        self.lookup = lookup
        self.list_id = list_id
        self.phone_index = phone_index
        self.tz_index = tz_index
        self.options = options
        self.rejects = rejects
        # A list created by this transaction holds nothing but what we write, and that is
        # already de-duplicated in the file: no need to ask the database.
        self.new_list = new_list
        self.field_indexes = [i for i in range(len(names)) if i != phone_index]
        self.field_names = [names[i] for i in self.field_indexes]
        self.writer = store.RecipientWriter(conn, list_id)
        self.seen: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.rows = 0

    def process(self, chunk: Chunk) -> None:
        self.rows += chunk.num_rows + len(chunk.malformed)
        for row in chunk.malformed:
            self.counts[MALFORMED_ROW] += 1
            if self.rejects is not None:
                detail = f"expected {row.expected} fields, got {row.actual}"
                self.rejects.add(row.line, MALFORMED_ROW, detail, [row.text])
        if chunk.num_rows == 0:
            return
        phones = normalise_column(
            chunk.columns[self.phone_index], self.options.default_region, self.options.reject_types
        )
        reasons = phones.reasons
        numbers: list[str | None] = phones.e164.to_pylist()
        self._dedupe(numbers, reasons)
        open_rows = np.flatnonzero(reasons == None)  # noqa: E711 - element-wise
        candidates = [numbers[i] for i in open_rows]
        found: list[str] = [n for n in candidates if n is not None]
        in_list: set[str] = (
            set() if self.new_list else store.numbers_in_list(self.lookup, self.list_id, found)
        )
        on_dnc = store.numbers_on_dnc(self.lookup, found)
        for i in open_rows.tolist():
            if numbers[i] in in_list:
                reasons[i] = DUPLICATE_IN_LIST
            elif numbers[i] in on_dnc:
                reasons[i] = DNC
        accepted = reasons == None  # noqa: E711
        self._write(chunk, phones.e164, phones.zone_ids, accepted)
        self._reject(chunk, reasons, accepted)

    def _dedupe(self, numbers: list[str | None], reasons: npt.NDArray[np.object_]) -> None:
        seen = self.seen
        for i, (number, reason) in enumerate(zip(numbers, reasons.tolist(), strict=True)):
            if reason is not None or number is None:
                continue
            if number in seen:
                reasons[i] = DUPLICATE_IN_FILE
            else:
                seen.add(number)

    def _write(
        self,
        chunk: Chunk,
        e164: pa.Array,
        zone_ids: npt.NDArray[np.int32],
        accepted: npt.NDArray[np.bool_],
    ) -> None:
        count = int(accepted.sum())
        if count == 0:
            return
        keep = pa.array(accepted)
        columns = [chunk.columns[i].filter(keep) for i in self.field_indexes]
        zones = zone_ids[accepted]
        if self.tz_index is not None:
            zones = self._explicit_zones(chunk.columns[self.tz_index].filter(keep), zones)
        self.writer.write(
            store.AcceptedRows(
                e164.filter(keep),
                zones,
                fields_json(self.field_names, columns, count),
                chunk.lines[accepted],
            )
        )
        self.counts["accepted"] += count

    @staticmethod
    def _explicit_zones(values: pa.Array, zones: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        """A valid IANA zone in the time-zone column overrides the number's zones."""
        trimmed = pc.utf8_trim_whitespace(values)
        valid = np.asarray(
            pc.is_in(trimmed, value_set=_zone_names()).to_numpy(zero_copy_only=False), dtype=bool
        )
        if valid.any():
            zones = zones.copy()
            texts = trimmed.filter(pa.array(valid)).to_pylist()
            zones[valid] = [ZONE_SETS.intern((text,)) for text in texts]
        return zones

    def _reject(
        self, chunk: Chunk, reasons: npt.NDArray[np.object_], accepted: npt.NDArray[np.bool_]
    ) -> None:
        rejected = np.flatnonzero(~accepted)
        if len(rejected) == 0:
            return
        self.counts.update(reasons[rejected].tolist())
        if self.rejects is None:
            return
        take = pa.array(rejected)
        values = [column.take(take).to_pylist() for column in chunk.columns]
        for position, row in enumerate(rejected.tolist()):
            self.rejects.add(
                int(chunk.lines[row]),
                str(reasons[row]),
                "",
                [str(column[position]) for column in values],
            )


def import_list(
    engine: Engine,
    path: Path | str,
    options: ImportOptions,
    progress: ProgressCallback | None = None,
) -> ImportResult:
    """Import ``path`` into a list; see the module docstring for what is fatal."""
    started = time.perf_counter()
    path = Path(path)
    _validate(options)
    source, header = open_csv(path)
    names = normalise_headers(header)
    phone_index = find_phone_column(names, header, options.phone_column)
    tz_index = find_timezone_column(names, header, options.timezone_column)

    rejects = RejectsFile(options.rejects_path, header) if options.rejects_path else None
    try:
        with engine.begin() as conn, _lookup_connection(engine, conn) as lookup:
            list_id, list_name, created = store.lock_or_create_list(
                conn, options.list_id, options.name.strip() if options.name else None
            )
            importer = _Importer(
                conn,
                lookup,
                list_id,
                names,
                phone_index,
                tz_index,
                options,
                rejects,
                new_list=created,
            )
            on_bytes = (lambda done: progress(done, source.size)) if progress else None
            with importer.writer:
                for chunk in read_chunks(source, header, on_bytes, options.block_size):
                    importer.process(chunk)
            if importer.rows == 0:
                raise ListImportError(f"{path}: the file has a header but no data rows")
            accepted = importer.counts.pop("accepted", 0)
            result = ImportResult(
                list_id=list_id,
                list_name=list_name,
                created=created,
                rows=importer.rows,
                accepted=accepted,
                rejected=dict(importer.counts),
                encoding=source.encoding,
                delimiter=source.delimiter_name,
                phone_column=header[phone_index],
                rejects_file=str(options.rejects_path) if options.rejects_path else None,
            )
            result.seconds = time.perf_counter() - started
            _record(conn, source, result)
    except BaseException:
        if rejects is not None:
            rejects.discard()
        raise
    if rejects is not None:
        rejects.commit()
    result.seconds = time.perf_counter() - started
    return result


@contextmanager
def _lookup_connection(engine: Engine, conn: Connection) -> Iterator[Connection]:
    """Where dedupe and DNC look-ups run while the main connection is busy with COPY.

    On PostgreSQL that is a second connection: it sees committed rows only, which is right,
    because the list lock makes any other import into this list wait for ours. SQLite has one
    writer and no COPY, so it reuses the importing connection.
    """
    if conn.dialect.name != "postgresql":
        yield conn
        return
    with engine.connect() as lookup:
        yield lookup


def _record(conn: Connection, source: Source, result: ImportResult) -> None:
    lists = Base.metadata.tables["contact_lists"]
    rejected_total = sum(result.rejected.values())
    conn.execute(
        sa.update(lists)
        .where(lists.c.id == result.list_id)
        .values(
            source_file_name=source.path.name,
            source_sha256=source.sha256,
            recipient_count=lists.c.recipient_count + result.accepted,
            rejected_count=lists.c.rejected_count + rejected_total,
        )
    )
    conn.execute(
        sa.insert(Base.metadata.tables["list_imports"]).values(
            list_id=result.list_id,
            file_name=source.path.name,
            sha256=source.sha256,
            encoding=source.encoding,
            delimiter=result.delimiter,
            phone_column=result.phone_column,
            rows=result.rows,
            accepted=result.accepted,
            rejected=dict(result.rejected),
            seconds=result.seconds,
        )
    )
