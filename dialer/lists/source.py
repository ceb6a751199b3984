"""Look at a CSV file before parsing it: checksum, encoding, delimiter, blank lines.

One streaming pass over the bytes decides the encoding for the whole file (not a sample), so a
stray cp1252 byte on row 900,000 cannot fail an import half way.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from dialer.lists.errors import ListImportError

_READ_SIZE = 1 << 20
_SAMPLE_SIZE = 1 << 16
DELIMITERS = (",", ";", "\t", "|")
_CONTROL_BYTES = bytes(c for c in range(0x20) if c not in (9, 10, 13))
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass(frozen=True)
class Source:
    path: Path
    size: int
    sha256: str
    #: Python codec name: utf-8, utf-8-sig, utf-16, cp1252 or latin-1.
    encoding: str
    delimiter: str
    #: True when some line is empty: line numbers then need an exact (slower) count.
    has_blank_lines: bool
    #: An odd number of ``"`` bytes: a quoted field may never be closed.
    odd_quotes: bool
    sample: str

    @property
    def delimiter_name(self) -> str:
        return _DELIMITER_NAMES[self.delimiter]


def inspect(path: Path) -> Source:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise ListImportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ListImportError(f"{path}: is a directory, not a CSV file") from None
    except PermissionError:
        raise ListImportError(f"{path}: permission denied") from None
    digest = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    utf8_ok = True
    has_nul = False
    has_blank = False
    controls = 0
    quotes = 0
    size = 0
    head = b""
    tail = b""
    with handle:
        while chunk := handle.read(_READ_SIZE):
            if not head:
                head = chunk[: _SAMPLE_SIZE * 4]
            size += len(chunk)
            digest.update(chunk)
            if utf8_ok:
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    utf8_ok = False
            window = tail + chunk
            has_nul = has_nul or b"\x00" in chunk
            has_blank = has_blank or b"\n\n" in window or b"\n\r\n" in window
            controls += len(chunk) - len(chunk.translate(None, _CONTROL_BYTES))
            quotes += chunk.count(b'"')
            tail = chunk[-2:]
    if utf8_ok:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_ok = False

    encoding = _choose_encoding(path, head, utf8_ok, has_nul, controls, size)
    if encoding == "utf-16":
        has_blank = True  # byte patterns above are meaningless for UTF-16: count exactly
    sample = _decoded_sample(head, encoding)
    if not sample.strip():
        raise ListImportError(f"{path}: the file is empty")
    delimiter = sniff_delimiter(sample)
    odd_quotes = quotes % 2 == 1 or encoding == "utf-16"
    return Source(
        path, size, digest.hexdigest(), encoding, delimiter, has_blank, odd_quotes, sample
    )


def _choose_encoding(
    path: Path, head: bytes, utf8_ok: bool, has_nul: bool, controls: int, size: int
) -> str:
    if size == 0:
        raise ListImportError(f"{path}: the file is empty")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if has_nul:
        raise ListImportError(
            f"{path}: contains NUL bytes; this is not a text CSV file "
            "(binary, a spreadsheet such as .xlsx, or UTF-16 without a byte-order mark). "
            "Export it as CSV (UTF-8) and try again."
        )
    if utf8_ok:
        return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    if controls > max(16, size // 100):
        raise ListImportError(
            f"{path}: is neither UTF-8 nor Windows-1252/Latin-1 text "
            f"({controls} control bytes); the encoding cannot be recognised. "
            "Export it as CSV (UTF-8) and try again."
        )
    try:
        with path.open("r", encoding="cp1252", newline="") as text:
            while text.read(_READ_SIZE):
                pass
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def _decoded_sample(head: bytes, encoding: str) -> str:
    text = head[: _SAMPLE_SIZE * 4].decode(encoding, errors="ignore")
    return text.lstrip("\ufeff")


def sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the header and keeps the field count steady over rows."""
    records = _quote_aware_records(sample, limit=200)
    if len(records) > 1:
        records = records[:-1]  # the sample may end mid-record
    best: tuple[float, int, int] | None = None
    choice = ","
    for order, delimiter in enumerate(DELIMITERS):
        counts = [_count_outside_quotes(record, delimiter) for record in records]
        header = counts[0] if counts else 0
        if header == 0:
            continue
        steady = sum(1 for c in counts if c == header) / len(counts)
        score = (steady, header, -order)
        if best is None or score > best:
            best, choice = score, delimiter
    return choice


def _quote_aware_records(sample: str, limit: int) -> list[str]:
    records: list[str] = []
    current: list[str] = []
    in_quotes = False
    for char in sample:
        if char == '"':
            in_quotes = not in_quotes
        if char == "\n" and not in_quotes:
            record = "".join(current).rstrip("\r")
            if record:
                records.append(record)
                if len(records) >= limit:
                    return records
            current = []
        else:
            current.append(char)
    if current:
        records.append("".join(current).rstrip("\r"))
    return records


def _count_outside_quotes(record: str, delimiter: str) -> int:
    count = 0
    in_quotes = False
    for char in record:
        if char == '"':
            in_quotes = not in_quotes
        elif char == delimiter and not in_quotes:
            count += 1
    return count


def header_row(source: Source) -> list[str]:
    reader = csv.reader(io.StringIO(source.sample, newline=""), delimiter=source.delimiter)
    for record in reader:
        if record:
            return record
    raise ListImportError(f"{source.path}: the file is empty")


def record_start_lines(source: Source) -> list[int]:
    """Exact start line of every non-blank record, header included (files with blank lines)."""
    starts: list[int] = []
    with source.path.open("r", encoding=source.encoding, newline="") as text:
        reader = csv.reader(text, delimiter=source.delimiter)
        previous_end = 0
        for record in reader:
            if record:
                # Blank lines come back as [] records, so a record starts right after the
                # previous one (blank or not) ended.
                starts.append(previous_end + 1)
            previous_end = reader.line_num
    return starts


def unterminated_quote_line(source: Source) -> int | None:
    """The line where a quoted field opens and is never closed, if any.

    A CSV parser reads such a field to the end of the file, swallowing every row after it; we
    refuse the file instead. Only files with an odd number of quotes need this scan.
    """
    delimiter = source.delimiter
    in_quotes = False
    opened_at = 0
    with source.path.open("r", encoding=source.encoding, newline="") as text:
        for number, line in enumerate(text, start=1):
            if not in_quotes and '"' not in line:
                continue
            field_start = 0 if not in_quotes else -1
            index, length = 0, len(line)
            while index < length:
                char = line[index]
                if in_quotes:
                    if char == '"':
                        if index + 1 < length and line[index + 1] == '"':
                            index += 1
                        else:
                            in_quotes = False
                elif char == delimiter:
                    field_start = index + 1
                elif char == '"' and index == field_start:
                    in_quotes, opened_at = True, number
                index += 1
    return opened_at if in_quotes else None


def open_csv(path: Path) -> tuple[Source, list[str]]:
    """Inspect a CSV file and read its header, refusing what no parser should guess at.

    Every reader of uploaded CSVs (list import, DNC import) starts here, so the same fatal
    checks apply to all of them.
    """
    source = inspect(path)
    header = header_row(source)
    if source.odd_quotes and (line := unterminated_quote_line(source)) is not None:
        raise ListImportError(
            f"{path}: line {line}: a quoted field is never closed (unbalanced double quote), "
            "so every row after it would be read as part of that field"
        )
    return source, header
