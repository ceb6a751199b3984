"""The CSV file as pyarrow's streaming reader sees it, read no further ahead than needed.

Arrow's reader fills a background queue of up to 32 blocks on its I/O thread; at 16 MiB a
block that is half a gigabyte of a large file resident while the importer works on one
batch. Here the I/O thread may read ``ahead`` bytes plus one block per batch asked for so far.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

# If the reader ever needs more than a block per batch, waiting this long while it is being
# asked for a batch grants one more block: slower, never a deadlock.
_STALL_SECONDS = 0.5


class PacedFile:
    def __init__(self, path: Path, block_size: int, ahead_blocks: int = 2) -> None:
        self._raw = path.open("rb")
        self._block = block_size
        self._allowed = block_size * ahead_blocks
        self._asking = False
        self._released = False
        self._done = 0
        self._turn = threading.Condition()
        self._io = threading.Lock()

    @property
    def bytes_read(self) -> int:
        return self._done

    # The file protocol pyarrow uses, called on its I/O thread.
    def read(self, size: int = -1) -> bytes:
        with self._turn:
            while self._done >= self._allowed and not self._released:
                if not self._turn.wait(_STALL_SECONDS) and self._asking:
                    self._allowed += self._block
        with self._io:
            if self._released:
                return b""
            data = self._raw.read(size)
        self._done += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._done

    @property
    def closed(self) -> bool:
        return self._raw.closed

    @contextmanager
    def asking(self) -> Iterator[None]:
        """While the caller waits on the reader (opening it, or for a batch): one more block,
        and more if it stalls."""
        with self._turn:
            self._asking = True
            self._allowed += self._block
            self._turn.notify_all()
        try:
            yield
        finally:
            self._asking = False

    def open_csv(self, **options: Any) -> pacsv.CSVStreamingReader:
        with self.asking():
            return pacsv.open_csv(self, **options)

    def next_batch(self, reader: pacsv.CSVStreamingReader) -> pa.RecordBatch:
        """``reader.read_next_batch()``; raises StopIteration at the end."""
        with self.asking():
            batch: pa.RecordBatch = reader.read_next_batch()
            return batch

    def release(self) -> None:
        """From now on the I/O thread reads end of file: call before closing the reader."""
        with self._turn:
            self._released = True
            self._turn.notify_all()

    def close(self) -> None:
        self.release()
        with self._io:
            self._raw.close()

    def __enter__(self) -> PacedFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
