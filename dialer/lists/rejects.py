"""The rejects file: every refused row with its line, reason and original values.

Cells that a spreadsheet would run as a formula are prefixed with ``'`` here (only here: the
database keeps values byte-for-byte), because operators open this file in Excel.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+\-]?[0-9 ().\-]*$")


def defuse(cell: str) -> str:
    if cell.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(cell):
        return "'" + cell
    return cell


class RejectsFile:
    """Written to a temporary file and moved into place only when the import commits."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        self._temp = Path(temp)
        self._file: IO[str] = os.fdopen(handle, "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(["line", "reason", "detail", *header])

    def add(self, line: int, reason: str, detail: str, values: list[str]) -> None:
        self._writer.writerow([line, reason, detail, *(defuse(v) for v in values)])

    def commit(self) -> None:
        self._file.close()
        os.replace(self._temp, self._path)

    def discard(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)

    def __enter__(self) -> RejectsFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.discard()
