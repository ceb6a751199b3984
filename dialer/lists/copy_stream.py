"""One ``COPY ... FROM STDIN`` for a whole import, fed from a bounded queue by a thread.

A COPY statement per batch makes Python wait while PostgreSQL parses, checks and indexes
each batch. Streaming a single COPY lets the server ingest batch N while Python prepares
batch N+1 (PostgreSQL runs in its own process, so this uses the second core). The queue holds
at most two batches, so memory stays bounded when the server is the slower side.
"""

from __future__ import annotations

import queue
import threading
from types import TracebackType
from typing import Any

_DONE = object()


class CopyStream:
    def __init__(self, driver_connection: Any, statement: str, depth: int = 2) -> None:
        self._driver = driver_connection
        self._statement = statement
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._failed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dialer-copy", daemon=True)
        self._cursor: Any = None
        self._copy_cm: Any = None
        self._copy: Any = None

    def __enter__(self) -> CopyStream:
        self._cursor = self._driver.cursor()
        self._copy_cm = self._cursor.copy(self._statement)
        self._copy = self._copy_cm.__enter__()
        self._thread.start()
        return self

    def write(self, data: bytes | memoryview) -> None:
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(data, timeout=0.5)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not _DONE:
                self._copy.write(item)
        except BaseException as exc:  # handed to the importing thread
            self._error = exc
            self._failed.set()
            while self._queue.get() is not _DONE:  # unblock the producer until it stops
                pass

    def _raise_if_failed(self) -> None:
        if self._failed.is_set() and self._error is not None:
            raise self._error

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._queue.put(_DONE)
        self._thread.join()
        try:
            if exc is None and self._error is not None:
                failure: BaseException = self._error
                self._copy_cm.__exit__(type(failure), failure, failure.__traceback__)
                raise failure
            # On any error psycopg ends the COPY with CopyFail and the transaction rolls back.
            self._copy_cm.__exit__(exc_type, exc, tb)
        finally:
            self._cursor.close()
