"""Stream a CSV file as Arrow record batches of strings, with the line each record starts on.

pyarrow parses in C++ and, with every column typed as string, never turns ``000123`` into 123.
Rows with the wrong number of fields come out separately, in record order, as malformed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dialer.lists.errors import ListImportError
from dialer.lists.paced_file import PacedFile
from dialer.lists.source import Source, record_start_lines

BLOCK_SIZE = 16 << 20

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class MalformedRow:
    line: int
    text: str
    expected: int
    actual: int


@dataclass(frozen=True)
class Chunk:
    """Good rows (all columns as strings) with their start lines, and the malformed rows."""

    columns: list[pa.Array]
    lines: npt.NDArray[np.int64]
    malformed: list[MalformedRow]

    @property
    def num_rows(self) -> int:
        return len(self.lines)


class _Numbering:
    """Assigns start lines to records as they come out of the parser, good and malformed."""

    def __init__(self, source: Source, header_span: int) -> None:
        self._exact = record_start_lines(source) if source.has_blank_lines else None
        self.next_record = 2  # record 1 is the header
        self.next_line = 1 + header_span
        self.pending: dict[int, tuple[str, int, int]] = {}  # number -> (text, expected, actual)
        self.unnumbered: list[tuple[str, int, int]] = []

    def on_invalid(self, row: Any) -> str:
        item = (row.text, row.expected_columns, row.actual_columns)
        if row.number is None:
            self.unnumbered.append(item)
        else:
            self.pending[int(row.number)] = item
        return "skip"

    def _line_of(self, record: int, running_line: int) -> int:
        if self._exact is not None and record - 1 < len(self._exact):
            return self._exact[record - 1]
        return running_line

    def number(
        self, spans: npt.NDArray[np.int64], final: bool
    ) -> tuple[npt.NDArray[np.int64], list[MalformedRow]]:
        """Lines for ``len(spans)`` good rows; malformed rows that came before them."""
        lines = np.empty(len(spans), dtype=np.int64)
        malformed: list[MalformedRow] = []
        record, line = self.next_record, self.next_line
        for index, span in enumerate(spans.tolist()):
            while record in self.pending:
                text, expected, actual = self.pending.pop(record)
                malformed.append(MalformedRow(self._line_of(record, line), text, expected, actual))
                line += 1 + text.count("\n")
                record += 1
            lines[index] = self._line_of(record, line)
            line += span
            record += 1
        if final:
            for number in sorted(self.pending):
                text, expected, actual = self.pending.pop(number)
                malformed.append(MalformedRow(self._line_of(number, line), text, expected, actual))
                line += 1 + text.count("\n")
        for text, expected, actual in self.unnumbered:
            malformed.append(MalformedRow(line, text, expected, actual))
        self.unnumbered.clear()
        self.next_record, self.next_line = record, line
        return lines, malformed


def _string_options(names: list[str]) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


def read_chunks(
    source: Source,
    header: list[str],
    progress: ProgressCallback | None = None,
    block_size: int = BLOCK_SIZE,
) -> Iterator[Chunk]:
    header_span = 1 + sum(cell.count("\n") for cell in header)
    numbering = _Numbering(source, header_span)
    read_options = pacsv.ReadOptions(
        encoding=source.encoding, block_size=block_size, use_threads=False
    )
    parse_options = pacsv.ParseOptions(
        delimiter=source.delimiter,
        newlines_in_values=True,
        ignore_empty_lines=True,
        invalid_row_handler=numbering.on_invalid,
    )
    try:
        names = _arrow_header(source, read_options, parse_options)
        if len(names) != len(header):
            raise ListImportError(
                f"{source.path}: the header has {len(header)} columns but the CSV parser saw "
                f"{len(names)}; check the quoting of the first line"
            )
        # The probe above already reported the first block's bad rows; forget them.
        numbering.pending.clear()
        numbering.unnumbered.clear()
        with (
            PacedFile(source.path, block_size) as raw,
            raw.open_csv(
                read_options=read_options,
                parse_options=parse_options,
                convert_options=_string_options(names),
            ) as reader,
        ):
            try:
                yield from _numbered_chunks(raw, reader, numbering, names, progress)
            finally:
                raw.release()  # an I/O thread waiting to read must see the end, not hang
    except pa.ArrowInvalid as exc:
        message = _arrow_message(exc, block_size)
        raise ListImportError(f"{source.path}: cannot parse the CSV: {message}") from None


def _numbered_chunks(
    raw: PacedFile,
    reader: pacsv.CSVStreamingReader,
    numbering: _Numbering,
    names: list[str],
    progress: ProgressCallback | None,
) -> Iterator[Chunk]:
    batch = _next_batch(raw, reader)
    while batch is not None:
        if progress is not None:
            progress(raw.bytes_read)
        following = _next_batch(raw, reader)
        columns = list(batch.columns)
        spans = _record_spans(columns, batch.num_rows)
        lines, malformed = numbering.number(spans, final=following is None)
        yield Chunk(columns, lines, malformed)
        batch = following
    if numbering.pending or numbering.unnumbered:
        _, malformed = numbering.number(np.zeros(0, dtype=np.int64), final=True)
        yield Chunk([pa.array([], pa.string()) for _ in names], np.zeros(0, np.int64), malformed)


def _arrow_header(
    source: Source, read_options: pacsv.ReadOptions, parse_options: pacsv.ParseOptions
) -> list[str]:
    with PacedFile(source.path, read_options.block_size) as raw:
        try:
            with raw.open_csv(read_options=read_options, parse_options=parse_options) as probe:
                return list(probe.schema.names)
        finally:
            raw.release()


def _next_batch(raw: PacedFile, reader: pacsv.CSVStreamingReader) -> pa.RecordBatch | None:
    try:
        return raw.next_batch(reader)
    except StopIteration:
        return None


def _record_spans(columns: list[pa.Array], rows: int) -> npt.NDArray[np.int64]:
    """Physical lines each record covers: one plus the newlines inside its quoted values."""
    spans = np.ones(rows, dtype=np.int64)
    for column in columns:
        counts = pc.count_substring(column, "\n")
        if pc.max(counts).as_py():
            spans += np.asarray(counts.to_numpy(zero_copy_only=False), dtype=np.int64)
    return spans


def _arrow_message(exc: Exception, block_size: int) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "straddling" in message or "block size" in message:
        message += (
            f" (a single record is larger than {block_size >> 20} MiB; "
            "raise DIALER_IMPORT_BLOCK_MIB)"
        )
    return message
